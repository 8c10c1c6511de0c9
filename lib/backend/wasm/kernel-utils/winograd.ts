/**
 * 3 × 3 stride-1 convolutions by Winograd's F(2×2, 3×3) (winograd-loops.ts has the transforms):
 * 16 matrix products of [tiles, Cin] × [Cin, Cout] through XNNPACK instead of one convolution,
 * 2.25 times fewer multiplications. resnet18 at batch 16: its twelve 3 × 3 stride-1
 * convolutions are 80 % of a forward pass. Used for the fused convolutions of fused-conv.ts
 * (inference, outside gradient recording); the results differ from the direct convolution's
 * by float rounding (the transforms add and halve).
 *
 * The transformed filters (16 × Cin × Cout, 1.8 times the filter) are made once per filter
 * tensor and freed with it. The images go through in chunks, so that the 16 transformed inputs
 * and products stay under about 16 MB each.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { onFreed } from '../lazy';
import { wasmLoops } from '../loops';
import { free, heap, kernelFunc, ptr, type TensorInfo } from './util';

type DataId = TensorInfo['dataId'];

let enabled = true;

/** Turns the Winograd path on or off (on by default; for comparisons and tests). */
export function setWinograd(on: boolean): void {
  enabled = on;
}

/** Whether a convolution takes the Winograd path: 3 × 3, stride 1, no dilation, padding 0–2, channels multiples of 4 (at least 16). */
export function winogradFits(info: tf.backend_util.Conv2DInfo, depthwise: boolean): boolean {
  const p = info.padInfo;
  return enabled && !depthwise && info.filterHeight === 3 && info.filterWidth === 3 && info.strideHeight === 1 && info.strideWidth === 1
    && info.dilationHeight === 1 && info.dilationWidth === 1 && info.inChannels % 4 === 0 && info.outChannels % 4 === 0
    && info.inChannels >= 16 && info.outChannels >= 16 && info.outHeight >= 2 && info.outWidth >= 2
    && [p.top, p.bottom, p.left, p.right].every((x) => x >= 0 && x <= 2);
}

const transformed = new Map<DataId, { backend: BackendWasm; u: TensorInfo[] }>();
let listening = false;

/** U_k = (G g Gᵀ)_k for every input and output channel: 16 tensors [1, Cin, Cout], made once per filter. */
function filterTransform(backend: BackendWasm, filter: TensorInfo): TensorInfo[] {
  const cached = transformed.get(filter.dataId);
  if (cached) return cached.u;
  if (!listening) {
    onFreed((dataId) => {
      const entry = transformed.get(dataId);
      if (!entry) return;
      transformed.delete(dataId);
      for (const t of entry.u) entry.backend.disposeData(t.dataId);
    });
    listening = true;
  }
  const [, , ci, co] = filter.shape;
  const u = Array.from({ length: 16 }, () => backend.makeOutput([1, ci, co], 'float32'));
  const g = heap(backend, filter);
  const out = u.map((t) => heap(backend, t));
  const plane = ci * co;
  for (let c = 0; c < ci; c++) {
    for (let o = 0; o < co; o++) {
      const at = c * co + o;
      const w = (a: number, b: number): number => g[(a * 3 + b) * plane + at];
      // Rows of G g (4 × 3), then each row times Gᵀ (4 values).
      for (let i = 0; i < 4; i++) {
        const r = (b: number): number => (i === 0 ? w(0, b) : i === 3 ? w(2, b)
          : i === 1 ? (w(0, b) + w(1, b) + w(2, b)) / 2 : (w(0, b) - w(1, b) + w(2, b)) / 2);
        const r0 = r(0), r1 = r(1), r2 = r(2);
        out[4 * i][at] = r0;
        out[4 * i + 1][at] = (r0 + r1 + r2) / 2;
        out[4 * i + 2][at] = (r0 - r1 + r2) / 2;
        out[4 * i + 3][at] = r2;
      }
    }
  }
  transformed.set(filter.dataId, { backend, u });
  return u;
}

/** Values of the 16 transformed inputs (or products) of one chunk, at most. */
const CHUNK_FLOATS = 4 * 2 ** 20;

/** A table of 16 pointers in the backend's memory (an int32 tensor). */
function pointerTable(backend: BackendWasm, infos: TensorInfo[]): TensorInfo {
  const table = backend.makeOutput([16], 'int32');
  (backend.typedArrayFromHeap(table) as Int32Array).set(infos.map((t) => ptr(backend, t)));
  return table;
}

/**
 * The convolution of `x` by the 3 × 3 `filter` with `bias` (or none) and the clamp [lo, hi],
 * written into `out`, by F(2×2, 3×3).
 */
export function winogradConv(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, bias: TensorInfo | undefined,
  info: tf.backend_util.Conv2DInfo, lo: number, hi: number, out: TensorInfo): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  const th = Math.ceil(oh / 2);
  const tw = Math.ceil(ow / 2);
  const hp = 2 * th + 2;
  const wp = 2 * tw + 2;
  const u = filterTransform(backend, filter);
  const zeros = bias ? null : backend.makeOutput([co], 'float32');
  if (zeros) heap(backend, zeros).fill(0);
  const loops = wasmLoops(backend);
  const perImage = 16 * th * tw * Math.max(ci, co);
  const chunk = Math.max(1, Math.min(n, Math.floor(CHUNK_FLOATS / perImage)));
  try {
    for (let b0 = 0; b0 < n; b0 += chunk) {
      const nb = Math.min(chunk, n - b0);
      const tiles = nb * th * tw;
      // The chunk's images in zero padding: [nb, hp, wp, ci].
      const padded = backend.makeOutput([nb, hp, wp, ci], 'float32');
      const v = Array.from({ length: 16 }, () => backend.makeOutput([1, tiles, ci], 'float32'));
      const vTable = pointerTable(backend, v);
      {
        const mem = new Float32Array(heap(backend, padded).buffer);
        const dst = ptr(backend, padded) / 4;
        const src = ptr(backend, x) / 4;
        mem.fill(0, dst, dst + nb * hp * wp * ci);
        const row = w * ci;
        for (let i = 0; i < nb; i++) {
          for (let y = 0; y < h; y++) {
            const from = src + ((b0 + i) * h + y) * row;
            mem.copyWithin(dst + ((i * hp + y + top) * wp + left) * ci, from, from + row);
          }
        }
      }
      loops.winogradInput(ptr(backend, padded), ptr(backend, vTable), nb, th, tw, wp, ci);
      free(backend, padded, vTable);
      const m = v.map((vk, k) => {
        const product = kernelFunc('BatchMatMul')({ inputs: { a: vk, b: u[k] }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
        free(backend, vk);
        return product;
      });
      const mTable = pointerTable(backend, m);
      loops.winogradOutput(ptr(backend, mTable), ptr(backend, out) + b0 * oh * ow * co * 4, ptr(backend, bias ?? zeros!),
        nb, th, tw, oh, ow, co, lo, hi);
      free(backend, mTable, ...m);
    }
  } finally {
    if (zeros) free(backend, zeros);
  }
}
