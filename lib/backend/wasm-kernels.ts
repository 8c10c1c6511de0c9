/**
 * Training kernels for TF.js's WebAssembly backend.
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22 runs forward passes well but cannot train a conv net:
 * it has no `Conv2DBackpropFilter` (the filter gradient of every Conv2D), no
 * `DepthwiseConv2dNativeBackpropInput`/`...Filter` (depthwise and separable convs) and no
 * `UnsortedSegmentSum` (the gradient of `gather`, i.e. of embeddings). This module registers
 * them, and replaces kernels it does have where profiling a training step found them slow or
 * wrong:
 *
 * - `Conv2DBackpropFilter`, `Conv2DBackpropInput`: rewritten as forward convolutions, which the
 *   backend runs through XNNPACK (SIMD), or as XNNPACK matrix products with a patch matrix where
 *   the convolution would mostly multiply padding (wasm-loops.ts builds and scatters patches).
 *   Its own `Conv2DBackpropInput` is a scalar loop. Both, and the depthwise backprops, run when
 *   their output is first used (wasm-lazy.ts): a gradient TF.js computes and throws away, such
 *   as a fused conv's input gradient in a network's first layer, costs nothing.
 * - `BatchMatMul` with `transposeA`/`transposeB` (both dense-layer gradients): the backend sends
 *   every transposed product to a scalar loop with strided reads; here the operands are
 *   transposed first so that the product takes the XNNPACK path.
 * - `MaxPoolGrad`: the backend's own sends the gradient of an all-negative window to the wrong
 *   pixel and takes the last of tied maxima; here the first, as TensorFlow and the cpu backend,
 *   by a branch-free SIMD loop (wasm-loops.ts) when windows do not overlap.
 * - `Tile` (BatchNorm's gradient: 50 ns an element), `Slice` (copied its whole input first),
 *   `Sum`/`Mean` over leading axes, and `Add`/`Sub`/`Multiply`/`RealDiv` of a tensor and a
 *   vector of its last dimension (bias adds, BatchNorm), `FusedBatchNorm` (as two such ops) and
 *   `Identity` (shares memory instead of copying, as the cpu backend does): same results, 2 to
 *   500 times faster.
 * - `DepthwiseConv2dNativeBackprop*`, `UnsortedSegmentSum`: loops over the tensors' memory in
 *   the WebAssembly heap.
 *
 * Kernels receive and return `TensorInfo`s of the wasm backend; the composite ones call the
 * backend's own kernel functions directly (the engine is not involved, nothing is taped) and
 * free their intermediates with `disposeData`. Every kernel here is checked against the cpu
 * backend by test/unit/wasm-kernels.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { lazyKernel } from './wasm-lazy';
import { wasmLoops } from './wasm-loops';

type TensorInfo = tf.TensorInfo;
type Attrs = tf.NamedAttrMap;
type Inputs = Record<string, TensorInfo>;
type Shape4 = [number, number, number, number];
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

const BACKEND = 'wasm';

/** The kernels this module adds to the wasm backend, which has none of them. */
export const ADDED_WASM_KERNELS = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'UnsortedSegmentSum',
] as const;

/** The wasm backend's own kernels that this module replaces with faster versions. */
export const REPLACED_WASM_KERNELS = [
  'Conv2DBackpropInput', 'BatchMatMul', 'MaxPoolGrad', 'Tile', 'Slice', 'Sum', 'Mean', 'Add', 'Sub', 'Multiply', 'RealDiv',
  'FusedBatchNorm', 'Identity',
] as const;

/** The backend's kernel configs as they were before they were replaced. */
const originals = new Map<string, tf.KernelConfig>();
let registered: { added: string[]; replaced: string[] } | null = null;

function kernelFunc(name: string): tf.KernelConfig['kernelFunc'] {
  const config = originals.get(name) ?? tf.getKernel(name, BACKEND);
  if (config == null) throw new Error(`tsfreeze: the wasm backend has no '${name}' kernel`);
  return config.kernelFunc;
}

/** Runs one of the backend's kernels on TensorInfos (no engine, no tape). */
function call(backend: BackendWasm, name: string, inputs: Inputs, attrs: Attrs = {}): TensorInfo {
  return kernelFunc(name)({ inputs, backend, attrs }) as TensorInfo;
}

function free(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

function heap(backend: BackendWasm, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** Byte offset of a tensor's data in the backend's memory (for wasm-loops.ts). */
function ptr(backend: BackendWasm, info: TensorInfo): number {
  return backend.typedArrayFromHeap(info).byteOffset;
}

function pair(v: number | number[] | undefined): [number, number] {
  if (v == null) return [1, 1];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function requireFloat32(kernel: string, ...infos: TensorInfo[]): void {
  for (const info of infos) {
    if (info.dtype !== 'float32') {
      throw new Error(`tsfreeze wasm ${kernel}: only float32 tensors are supported, got ${info.dtype}`);
    }
  }
}

function requireNHWC(kernel: string, dataFormat: unknown): void {
  if (dataFormat === 'NCHW') {
    throw new Error(`tsfreeze wasm ${kernel}: dataFormat 'NCHW' is not supported (the wasm backend's Conv2D is NHWC only)`);
  }
}

/**
 * Copies x [N, H, W, C] into a new [N, top + (H-1)*sh + 1 + bottom, left + (W-1)*sw + 1 + right, C]
 * tensor of zeros, input row h going to row top + h*sh (likewise columns). Negative pads crop.
 * This is the input of a transposed convolution written as a forward one.
 */
function dilateAndPad(
  backend: BackendWasm, x: TensorInfo, sh: number, sw: number,
  top: number, bottom: number, left: number, right: number,
): TensorInfo {
  const [n, h, w, c] = x.shape as Shape4;
  const oh = top + (h - 1) * sh + 1 + bottom;
  const ow = left + (w - 1) * sw + 1 + right;
  if (oh <= 0 || ow <= 0) throw new Error('tsfreeze wasm: transposed convolution with an empty window');
  const out = backend.makeOutput([n, oh, ow, c], 'float32');
  const src = heap(backend, x);
  const dst = heap(backend, out);
  dst.fill(0);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < h; i++) {
      const r = top + i * sh;
      if (r < 0 || r >= oh) continue;
      for (let j = 0; j < w; j++) {
        const col = left + j * sw;
        if (col < 0 || col >= ow) continue;
        const s = ((b * h + i) * w + j) * c;
        const d = ((b * oh + r) * ow + col) * c;
        if (c === 1) dst[d] = src[s];
        else dst.set(src.subarray(s, s + c), d);
      }
    }
  }
  return out;
}

/**
 * dW[kh, kw, ci, co] = sum over n, oh, ow of x[n, oh*sh + kh - top, ow*sw + kw - left, ci] * dy[n, oh, ow, co]
 *
 * is a forward convolution of x with batch and channels swapped ([Ci, H, W, N]) by dy as the
 * filter ([OH, OW, N, Co]) dilated by the stride, giving [Ci, kh, kw, Co].
 */
function conv2DBackpropFilter(args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  requireNHWC('Conv2DBackpropFilter', attrs.dataFormat);
  requireFloat32('Conv2DBackpropFilter', x, dy);
  const filterShape = attrs.filterShape as Shape4;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4, filterShape, attrs.strides as [number, number], 1, attrs.pad as Pad,
    attrs.dimRoundingMode as Rounding, false, 'channelsLast');
  const { inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const pixels = info.batchSize * oh * ow;
  if (ci === 1 && sh === 1 && sw === 1 && kh * kw * pixels <= MAX_PATCH_FLOATS) {
    // One input channel (a grayscale network's first layer): dW = colsT [kh * kw, pixels] x
    // dy [pixels, Co], a single XNNPACK product with no transposes (the convolution below
    // transposes dy and packs it twice).
    const colsT = backend.makeOutput([1, kh * kw, pixels], 'float32');
    wasmLoops(backend).im2colT1(ptr(backend, x), ptr(backend, colsT), info.batchSize, h, w, oh, ow, kh, kw, top, left);
    const b = call(backend, 'Reshape', { x: dy }, { shape: [1, pixels, co] });
    const product = kernelFunc('BatchMatMul')({ inputs: { a: colsT, b }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
    free(backend, colsT, b);
    const out = call(backend, 'Reshape', { x: product }, { shape: filterShape });
    free(backend, product);
    return out;
  }
  // Bottom/right padding that makes the output exactly kh x kw; negative means the last rows of
  // x are never read (valid padding with a stride that does not divide): compute them, slice.
  const bottom = kh + (oh - 1) * sh - h - top;
  const right = kw + (ow - 1) * sw - w - left;

  const xT = call(backend, 'Transpose', { x }, { perm: [3, 1, 2, 0] });
  const dyT = call(backend, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  let conv = call(backend, 'Conv2D', { x: xT, filter: dyT }, {
    strides: [1, 1], dilations: [sh, sw], dataFormat: 'NHWC',
    pad: [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]],
  });
  free(backend, xT, dyT);
  if (bottom < 0 || right < 0) {
    const sliced = call(backend, 'Slice', { x: conv }, { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] });
    free(backend, conv);
    conv = sliced;
  }
  const out = call(backend, 'Transpose', { x: conv }, { perm: [1, 2, 0, 3] });
  free(backend, conv);
  return out;
}

/**
 * dx = the correlation of dy, zero-stuffed by the stride and padded by (kernel - 1 - pad), with
 * the filter rotated by 180 degrees and its in/out channels swapped: a forward convolution.
 */
function conv2DBackpropInput(args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  if (attrs.dataFormat === 'NCHW' || dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    return kernelFunc('Conv2DBackpropInput')(args) as TensorInfo;
  }
  const inputShape = attrs.inputShape as Shape4;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape as Shape4, attrs.strides as [number, number], 1, attrs.pad as Pad,
    attrs.dimRoundingMode as Rounding, false, 'channelsLast');
  const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  if (preferMatMul(info)) return conv2DBackpropInputByMatMul(backend, dy, filter, info);
  const top = kh - 1 - info.padInfo.top;
  const left = kw - 1 - info.padInfo.left;
  const bottom = h - (oh - 1) * sh - 1 + info.padInfo.top;
  const right = w - (ow - 1) * sw - 1 + info.padInfo.left;

  // One input channel (the gradient TF.js's fused conv computes for a network's input): a
  // convolution with one output channel is XNNPACK's worst case; a depthwise convolution of dy
  // by the flipped filter, summed over channels, is the same and 1.6 times faster.
  const single = info.inChannels === 1;
  const flipped = rotatedFilter(backend, filter);
  const convolve = (x: TensorInfo, pad: Pad): TensorInfo => single
    ? call(backend, 'DepthwiseConv2dNative', { x, filter: flipped }, { strides: [1, 1], dilations: [1, 1], pad: pad as tf.NamedAttrMap[string] })
    : call(backend, 'Conv2D', { x, filter: flipped }, { strides: [1, 1], dilations: [1, 1], dataFormat: 'NHWC', pad: pad as tf.NamedAttrMap[string] });
  let out: TensorInfo;
  if (sh === 1 && sw === 1 && top >= 0 && left >= 0 && bottom >= 0 && right >= 0) {
    out = convolve(dy, [[0, 0], [top, bottom], [left, right], [0, 0]]);
  } else {
    const stuffed = dilateAndPad(backend, dy, sh, sw, top, bottom, left, right);
    out = convolve(stuffed, 'valid');
    free(backend, stuffed);
  }
  free(backend, flipped);
  if (single) {
    const summed = call(backend, 'Sum', { x: out }, { axis: [3], keepDims: true });
    free(backend, out);
    out = summed;
  }
  return out;
}

/**
 * The filter [kh, kw, ci, co] rotated by 180 degrees with its channels swapped: [kh, kw, co, ci].
 * One pass; TF.js's wasm Reverse alone takes about 24 ns an element.
 */
function rotatedFilter(backend: BackendWasm, filter: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape as Shape4;
  const out = backend.makeOutput([kh, kw, co, ci], 'float32');
  const src = heap(backend, filter);
  const dst = heap(backend, out);
  const taps = kh * kw;
  const block = ci * co;
  for (let t = 0; t < taps; t++) {
    const from = (taps - 1 - t) * block;
    const to = t * block;
    for (let c = 0; c < ci; c++) {
      for (let o = 0; o < co; o++) dst[to + o * ci + c] = src[from + c * co + o];
    }
  }
  return out;
}

/** Floats of the patch matrix conv2DBackpropInputByMatMul builds, at most (64 MiB). */
const MAX_PATCH_FLOATS = 16 * 2 ** 20;

/**
 * Whether dx is cheaper as a matrix product and col2im than as the forward convolution of the
 * padded (and, for strides, zero-stuffed) dy. The convolution makes kh * kw * Co multiply-adds
 * for each of dx's N * H * W * Ci values, most of them on padding when the window is large next
 * to dy (LeNet5's second layer: twice the work) or when the stride is not 1 (sh * sw times);
 * the product makes exactly dy's, plus one add per patch value.
 */
function preferMatMul(info: tf.backend_util.Conv2DInfo): boolean {
  const pixels = info.batchSize * info.outHeight * info.outWidth;
  const patch = info.filterHeight * info.filterWidth * info.inChannels;
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || pixels * patch > MAX_PATCH_FLOATS) return false;
  return info.inHeight * info.inWidth > 1.3 * info.outHeight * info.outWidth;
}

/**
 * dx as cols = dy [N * OH * OW, Co] x filter^T [Co, kh * kw * Ci] (XNNPACK), then each row of
 * cols (one output pixel's patch of input gradients) added into dx at its window (col2im, a
 * SIMD loop in wasm-loops.ts).
 */
function conv2DBackpropInputByMatMul(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const pixels = n * oh * ow;
  const patch = kh * kw * ci;
  const a = call(backend, 'Reshape', { x: dy }, { shape: [1, pixels, co] });
  const b = call(backend, 'Reshape', { x: filter }, { shape: [1, patch, co] });
  const cols = batchMatMul({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: true } });
  free(backend, a, b);
  const out = backend.makeOutput([n, h, w, ci], 'float32');
  wasmLoops(backend).col2im(ptr(backend, cols), ptr(backend, out), n, h, w, ci, oh, ow, kh, kw, sh, sw, info.padInfo.top, info.padInfo.left);
  free(backend, cols);
  return out;
}

function swapLastTwo(backend: BackendWasm, x: TensorInfo): TensorInfo {
  const rank = x.shape.length;
  const perm = x.shape.map((_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return call(backend, 'Transpose', { x }, { perm });
}

/**
 * The backend multiplies through XNNPACK only when neither operand is transposed and both have
 * batch 1; every other product goes to a blocked scalar loop, which is fastest with a
 * non-transposed `a` and a transposed `b` (both read along rows). Rewrites to those forms.
 */
function batchMatMul(args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  const transposeA = attrs.transposeA === true;
  const transposeB = attrs.transposeB === true;
  const batchA = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const batchB = b.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const xnn = batchA === 1 && batchB === 1;
  const wantB = xnn ? false : true;
  if (!transposeA && transposeB === wantB) return kernelFunc('BatchMatMul')(args) as TensorInfo;
  const a2 = transposeA ? swapLastTwo(backend, a) : a;
  const b2 = transposeB !== wantB ? swapLastTwo(backend, b) : b;
  const out = kernelFunc('BatchMatMul')({
    inputs: { a: a2, b: b2 }, backend, attrs: { ...attrs, transposeA: false, transposeB: wantB },
  }) as TensorInfo;
  if (a2 !== a) free(backend, a2);
  if (b2 !== b) free(backend, b2);
  return out;
}

function depthwiseInfo(
  xShape: Shape4, filterShape: Shape4, attrs: Attrs,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape, filterShape, attrs.strides as [number, number], pair(attrs.dilations as number | number[]),
    attrs.pad as Pad, attrs.dimRoundingMode as Rounding, true, 'channelsLast');
}

/** dx[n, h, w, c] = sum over taps and multipliers m of dy[n, oh, ow, c*M + m] * W[i, j, c, m]. */
function depthwiseBackpropInput(args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  requireFloat32('DepthwiseConv2dNativeBackpropInput', dy, filter);
  const info = depthwiseInfo(attrs.inputShape as Shape4, filter.shape as Shape4, attrs);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const m = info.outChannels / c;
  const cm = c * m;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = backend.makeOutput([n, h, w, c], 'float32');
  const dx = heap(backend, out);
  const g = heap(backend, dy);
  const f = heap(backend, filter);
  dx.fill(0);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const gOff = ((b * oh + y) * ow + x) * cm;
        for (let i = 0; i < kh; i++) {
          const r = y * sh + i * dh - top;
          if (r < 0 || r >= h) continue;
          for (let j = 0; j < kw; j++) {
            const col = x * sw + j * dw - left;
            if (col < 0 || col >= w) continue;
            const dOff = ((b * h + r) * w + col) * c;
            const fOff = (i * kw + j) * cm;
            if (m === 1) {
              for (let k = 0; k < c; k++) dx[dOff + k] += g[gOff + k] * f[fOff + k];
            } else {
              for (let k = 0; k < c; k++) {
                let acc = 0;
                const base = k * m;
                for (let q = 0; q < m; q++) acc += g[gOff + base + q] * f[fOff + base + q];
                dx[dOff + k] += acc;
              }
            }
          }
        }
      }
    }
  }
  return out;
}

/** dW[i, j, c, m] = sum over n, oh, ow of x[n, oh*sh + i*dh - top, ow*sw + j*dw - left, c] * dy[n, oh, ow, c*M + m]. */
function depthwiseBackpropFilter(args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  requireFloat32('DepthwiseConv2dNativeBackpropFilter', x, dy);
  const filterShape = attrs.filterShape as Shape4;
  const info = depthwiseInfo(x.shape as Shape4, filterShape, attrs);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const m = filterShape[3];
  const cm = c * m;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const acc = new Float64Array(kh * kw * cm);
  const out = backend.makeOutput(filterShape, 'float32');
  const xs = heap(backend, x);
  const g = heap(backend, dy);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let z = 0; z < ow; z++) {
        const gOff = ((b * oh + y) * ow + z) * cm;
        for (let i = 0; i < kh; i++) {
          const r = y * sh + i * dh - top;
          if (r < 0 || r >= h) continue;
          for (let j = 0; j < kw; j++) {
            const col = z * sw + j * dw - left;
            if (col < 0 || col >= w) continue;
            const xOff = ((b * h + r) * w + col) * c;
            const aOff = (i * kw + j) * cm;
            if (m === 1) {
              for (let k = 0; k < c; k++) acc[aOff + k] += xs[xOff + k] * g[gOff + k];
            } else {
              for (let k = 0; k < c; k++) {
                const v = xs[xOff + k];
                const base = k * m;
                for (let q = 0; q < m; q++) acc[aOff + base + q] += v * g[gOff + base + q];
              }
            }
          }
        }
      }
    }
  }
  heap(backend, out).set(acc);
  return out;
}

/** out[s, ...] = sum of x[i, ...] over the i with segmentIds[i] == s (ids outside [0, numSegments) are dropped). */
function unsortedSegmentSum(args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, segmentIds } = inputs;
  const numSegments = attrs.numSegments as number;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`tsfreeze wasm UnsortedSegmentSum: unsupported dtype ${x.dtype}`);
  }
  const idsRank = segmentIds.shape.length;
  const count = segmentIds.shape.reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(idsRank).reduce((p, d) => p * d, 1);
  const out = backend.makeOutput([numSegments, ...x.shape.slice(idsRank)], x.dtype);
  const dst = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  const src = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  dst.fill(0);
  for (let i = 0; i < count; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const d = s * inner;
    const o = i * inner;
    for (let k = 0; k < inner; k++) dst[d + k] += src[o + k];
  }
  return out;
}

/**
 * dx: each window's dy goes to the window's first maximum (TensorFlow's and the cpu backend's
 * rule). The wasm backend's own MaxPoolGrad recomputes the window for every input pixel and
 * starts its search at the smallest positive float, so windows of negative values send their
 * gradient to the wrong pixel.
 */
function maxPoolGrad(args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  requireFloat32('MaxPoolGrad', dy, input);
  const info = tf.backend_util.computePool2DInfo(
    input.shape as Shape4, attrs.filterSize as [number, number], attrs.strides as [number, number], 1,
    attrs.pad as Pad, attrs.dimRoundingMode as Rounding);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = backend.makeOutput(input.shape, 'float32');
  if (sh >= kh && sw >= kw && c >= 4) {
    // Windows that do not overlap (the usual 2x2 pooling): a branch-free SIMD loop, 8 times
    // faster than the JavaScript below (whose comparisons mispredict on real data).
    wasmLoops(backend).maxPoolGrad(ptr(backend, input), ptr(backend, dy), ptr(backend, out), n, h, w, c, oh, ow, kh, kw, sh, sw, top, left);
    return out;
  }
  const dx = heap(backend, out);
  const xs = heap(backend, input);
  const g = heap(backend, dy);
  dx.fill(0);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      const r0 = Math.max(0, y * sh - top);
      const r1 = Math.min(h, y * sh - top + kh);
      for (let z = 0; z < ow; z++) {
        const c0 = Math.max(0, z * sw - left);
        const c1 = Math.min(w, z * sw - left + kw);
        const gOff = ((b * oh + y) * ow + z) * c;
        if (r1 - r0 === 2 && c1 - c0 === 2) {
          // 2x2 windows (the usual pooling) unrolled: twice as fast as the loops below.
          const rowStep = w * c;
          for (let k = 0; k < c; k++) {
            const o0 = ((b * h + r0) * w + c0) * c + k;
            const o1 = o0 + c;
            const o2 = o0 + rowStep;
            const o3 = o2 + c;
            let best = -Infinity;
            let where = -1;
            let v = xs[o0];
            if (v > best) { best = v; where = o0; }
            v = xs[o1];
            if (v > best) { best = v; where = o1; }
            v = xs[o2];
            if (v > best) { best = v; where = o2; }
            v = xs[o3];
            if (v > best) { where = o3; }
            if (where >= 0) dx[where] += g[gOff + k];
          }
          continue;
        }
        for (let k = 0; k < c; k++) {
          let best = -Infinity;
          let where = -1;
          for (let r = r0; r < r1; r++) {
            let off = ((b * h + r) * w + c0) * c + k;
            for (let col = c0; col < c1; col++, off += c) {
              const v = xs[off];
              if (v > best) {
                best = v;
                where = off;
              }
            }
          }
          if (where >= 0) dx[where] += g[gOff + k];
        }
      }
    }
  }
  return out;
}

/**
 * Tile by block copies: each input row is copied once, then every finished block is doubled
 * with copyWithin. The backend's Tile computes an index per element (about 50 ns each: the
 * BatchNorm gradient's tiles of [1, 1, 1, C] took most of a training step).
 */
function tile(args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') {
    return kernelFunc('Tile')(args) as TensorInfo;
  }
  const reps = attrs.reps as number[];
  const rank = x.shape.length;
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = backend.makeOutput(outShape, x.dtype);
  const total = outShape.reduce((p, d) => p * d, 1);
  if (total === 0) return out;
  if (rank === 0) {
    backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(x));
    return out;
  }
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const srcStride = new Array<number>(rank);
  const dstStride = new Array<number>(rank);
  srcStride[rank - 1] = 1;
  dstStride[rank - 1] = 1;
  for (let d = rank - 2; d >= 0; d--) {
    srcStride[d] = srcStride[d + 1] * x.shape[d + 1];
    dstStride[d] = dstStride[d + 1] * outShape[d + 1];
  }
  const repeat = (start: number, block: number, times: number): void => {
    const end = start + block * times;
    let filled = start + block;
    while (filled < end) {
      const n = Math.min(filled - start, end - filled);
      dst.copyWithin(filled, start, start + n);
      filled += n;
    }
  };
  const fill = (d: number, s: number, o: number): void => {
    const len = x.shape[d];
    if (d === rank - 1) {
      if (len === 1) dst[o] = src[s];
      else dst.set(src.subarray(s, s + len), o);
    } else {
      for (let i = 0; i < len; i++) fill(d + 1, s + i * srcStride[d], o + i * dstStride[d]);
    }
    if (reps[d] > 1) repeat(o, len * dstStride[d], reps[d]);
  };
  fill(0, 0, 0);
  return out;
}

/**
 * Slice straight from the heap. The backend's Slice first copies the whole input out of the
 * heap (readSync) and then the slice: taking a batch of 32 from 768 images cost 2.5 ms.
 */
function slice(args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') {
    return kernelFunc('Slice')(args) as TensorInfo;
  }
  const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs.begin as number[], attrs.size as number[]);
  const out = backend.makeOutput(size, x.dtype);
  const total = size.reduce((p, d) => p * d, 1);
  if (total === 0) return out;
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const rank = x.shape.length;
  const strides = tf.util.computeStrides(x.shape);
  if (rank === 0) {
    dst[0] = src[0];
    return out;
  }
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    const from = tf.slice_util.computeFlatOffset(begin, strides);
    dst.set(src.subarray(from, from + total));
    return out;
  }
  // Copy rows of the last dimension, walking the other dimensions like an odometer.
  const row = size[rank - 1];
  const index = new Array<number>(rank - 1).fill(0);
  let o = 0;
  for (;;) {
    let from = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) from += (begin[d] + index[d]) * strides[d];
    if (row < 16) for (let k = 0; k < row; k++) dst[o + k] = src[from + k];
    else dst.set(src.subarray(from, from + row), o);
    o += row;
    let d = rank - 2;
    while (d >= 0 && ++index[d] === size[d]) index[d--] = 0;
    if (d < 0) break;
  }
  return out;
}

/** Axes as a sorted list of non-negative integers. */
function normalizeAxes(axis: number | number[] | undefined, rank: number): number[] {
  const list = axis == null ? [...Array(rank).keys()] : typeof axis === 'number' ? [axis] : axis;
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
}

/**
 * Sum and Mean over leading axes (a bias gradient, BatchNorm's moments and their gradients:
 * [N, H, W, C] -> [C]). The backend transposes the reduced axes innermost first; here a [R, C]
 * view is summed into float64 accumulators by a SIMD loop (8 times faster than JavaScript).
 */
function reduceLeading(kind: 'Sum' | 'Mean') {
  return (args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const { x } = inputs;
    const rank = x.shape.length;
    const axes = normalizeAxes(attrs.axis as number | number[] | undefined, rank);
    const k = axes.length;
    const leading = k > 0 && k < rank && axes.every((a, i) => a === i);
    if (!leading || x.dtype !== 'float32') return kernelFunc(kind)(args) as TensorInfo;
    const kept = x.shape.slice(k);
    const rows = x.shape.slice(0, k).reduce((p, d) => p * d, 1);
    const cols = kept.reduce((p, d) => p * d, 1);
    const outShape = attrs.keepDims === true ? [...Array(k).fill(1), ...kept] : kept;
    const out = backend.makeOutput(outShape, 'float32');
    // Blocks of whole rows and an even number of floats summed by a SIMD loop into float64
    // partial sums (wasm-loops.ts), folded into the columns here with the rows left over.
    const period = cols % 2 === 0 ? cols : 2 * cols;
    const blocks = Math.floor((rows * cols) / period);
    const scratch = backend.makeOutput([2 * period], 'float32');
    const scratchView = heap(backend, scratch);
    const partial = new Float64Array(scratchView.buffer, scratchView.byteOffset, period);
    partial.fill(0);
    wasmLoops(backend).sumBlocks(ptr(backend, x), scratchView.byteOffset, blocks, period);
    const acc = new Float64Array(cols);
    for (let k = 0; k < period; k++) acc[k % cols] += partial[k];
    free(backend, scratch);
    const src = heap(backend, x);
    for (let i = blocks * period; i < rows * cols; i++) acc[i % cols] += src[i];
    if (kind === 'Mean' && rows > 0) for (let c = 0; c < cols; c++) acc[c] /= rows;
    if (kind === 'Mean' && rows === 0) acc.fill(NaN);
    heap(backend, out).set(acc);
    return out;
  };
}

/**
 * Element-wise ops between a tensor [..., C] and a vector [C] (bias adds, BatchNorm's scale and
 * shift, their gradients). XNNPACK broadcasts one C-long row at a time, slowly for small C; here
 * the tensor is viewed as [R / k, k*C] and the vector repeated k times, so that the rows are
 * at least 256 long: same result, same op, 10 times faster for C = 6.
 */
function broadcastRows(kind: RowKind) {
  return (args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo => {
    const { inputs, backend } = args;
    const { a, b } = inputs;
    const plan = a.dtype === 'float32' && b.dtype === 'float32' ? rowBroadcast(a.shape, b.shape) : null;
    if (plan == null || plan.rows * plan.cols < 4096) return kernelFunc(kind)(args) as TensorInfo;
    const big = plan.bigIsA ? a : b;
    const small = plan.bigIsA ? b : a;
    return rowsOp(backend, kind, big, heap(backend, small).slice(), plan.bigIsA);
  };
}

type RowKind = 'Add' | 'Sub' | 'Multiply' | 'RealDiv';

/**
 * big (op) vector, or vector (op) big, where the vector runs along big's trailing elements
 * (length cols): big viewed as [R / k, k * cols] and the vector repeated k times, so that the
 * backend's broadcast works on rows of at least 256 elements.
 */
function rowsOp(backend: BackendWasm, kind: RowKind, big: TensorInfo, vector: Float32Array, bigFirst: boolean): TensorInfo {
  const cols = vector.length;
  const rows = big.shape.reduce((p, d) => p * d, 1) / cols;
  let k = 1;
  const target = Math.ceil(256 / cols);
  for (let cand = Math.min(target, rows); cand >= 1; cand--) {
    if (rows % cand === 0) { k = cand; break; }
  }
  const big2 = call(backend, 'Reshape', { x: big }, { shape: [rows / k, k * cols] });
  const small2 = backend.makeOutput([k * cols], 'float32');
  const rep = heap(backend, small2);
  for (let i = 0; i < k; i++) rep.set(vector, i * cols);
  const out = kernelFunc(kind)({
    inputs: bigFirst ? { a: big2, b: small2 } : { a: small2, b: big2 }, backend, attrs: {},
  }) as TensorInfo;
  free(backend, big2, small2);
  out.shape = big.shape.slice();
  return out;
}

/**
 * Inference-style batch normalisation, x * a + b with a = scale / sqrt(variance + eps) and
 * b = offset - mean * a per channel, as two row-wise ops (the backend's kernel: 4 ns an element).
 */
function fusedBatchNorm(args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, mean, variance, offset, scale } = inputs;
  const rank = x.shape.length;
  const c = rank > 0 ? x.shape[rank - 1] : 0;
  const size = (t: TensorInfo | undefined): number => (t == null ? c : t.shape.reduce((p, d) => p * d, 1));
  const fits = (t: TensorInfo | undefined): boolean => t == null || (t.dtype === 'float32' && (size(t) === c || size(t) === 1) && (t.shape.length === 0 || t.shape[t.shape.length - 1] === size(t)));
  const n = x.shape.reduce((p, d) => p * d, 1);
  if (x.dtype !== 'float32' || c < 2 || n < 4096 || ![mean, variance, offset, scale].every(fits)) {
    return kernelFunc('FusedBatchNorm')(args) as TensorInfo;
  }
  const eps = (attrs.varianceEpsilon as number | undefined) ?? 0.001;
  const read = (t: TensorInfo | undefined, fallback: number): (i: number) => number => {
    if (t == null) return () => fallback;
    const v = heap(backend, t);
    return v.length === 1 ? () => v[0] : (i) => v[i];
  };
  const m = read(mean, 0);
  const vr = read(variance, 1);
  const o = read(offset, 0);
  const sc = read(scale, 1);
  const a = new Float32Array(c);
  const b = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    const ai = sc(i) / Math.sqrt(vr(i) + eps);
    a[i] = ai;
    b[i] = o(i) - m(i) * ai;
  }
  const scaled = rowsOp(backend, 'Multiply', x, a, true);
  const out = rowsOp(backend, 'Add', scaled, b, true);
  free(backend, scaled);
  return out;
}

/** No copy: the output shares the input's memory, as on the cpu backend (tensors are immutable). */
function identity(args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const { x } = args.inputs;
  if (x.dtype === 'string') return kernelFunc('Identity')(args) as TensorInfo;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

/**
 * When one shape is a run of 1s followed by the trailing dims of the other (cols elements,
 * at least 2) and the other is strictly larger, the ops above can use rows.
 */
function rowBroadcast(aShape: number[], bShape: number[]): { bigIsA: boolean; rows: number; cols: number } | null {
  const size = (s: number[]): number => s.reduce((p, d) => p * d, 1);
  const sa = size(aShape);
  const sb = size(bShape);
  if (sa === sb) return null;
  const bigIsA = sa > sb;
  const big = bigIsA ? aShape : bShape;
  const small = bigIsA ? bShape : aShape;
  if (small.length > big.length) return null;
  let first = 0;
  while (first < small.length && small[first] === 1) first++;
  const tail = small.slice(first);
  if (tail.length === 0) return null;
  const bigTail = big.slice(big.length - tail.length);
  if (!tail.every((d, i) => d === bigTail[i])) return null;
  const cols = size(tail);
  if (cols < 2) return null;
  return { bigIsA, rows: size(big) / cols, cols };
}

type WasmKernel = (args: { inputs: Inputs; backend: BackendWasm; attrs: Attrs }) => TensorInfo;

/**
 * The output shape of a convolution's gradient, to compute it on first use (lib/backend/
 * wasm-lazy.ts): float32 NHWC only, else null (run now). The convolution's geometry is checked
 * here, so that bad arguments still fail where the kernel is called.
 */
function gradientShape(kind: 'conv' | 'depthwise', of: 'input' | 'filter') {
  return ({ inputs, attrs }: { inputs: Inputs; attrs: Attrs }): number[] | null => {
    if (attrs.dataFormat === 'NCHW' || Object.values(inputs).some((t) => t.dtype !== 'float32')) return null;
    const shape = (of === 'input' ? attrs.inputShape : attrs.filterShape) as Shape4;
    const xShape = of === 'input' ? shape : inputs.x.shape as Shape4;
    const filterShape = of === 'filter' ? shape : inputs.filter.shape as Shape4;
    if (kind === 'depthwise') depthwiseInfo(xShape, filterShape, attrs);
    else {
      tf.backend_util.computeConv2DInfo(
        xShape, filterShape, attrs.strides as [number, number], 1, attrs.pad as Pad,
        attrs.dimRoundingMode as Rounding, false, 'channelsLast');
    }
    return shape.slice();
  };
}

const ADDED: Record<(typeof ADDED_WASM_KERNELS)[number], WasmKernel> = {
  Conv2DBackpropFilter: lazyKernel(conv2DBackpropFilter, gradientShape('conv', 'filter')),
  DepthwiseConv2dNativeBackpropInput: lazyKernel(depthwiseBackpropInput, gradientShape('depthwise', 'input')),
  DepthwiseConv2dNativeBackpropFilter: lazyKernel(depthwiseBackpropFilter, gradientShape('depthwise', 'filter')),
  UnsortedSegmentSum: unsortedSegmentSum,
};

const REPLACED: Record<(typeof REPLACED_WASM_KERNELS)[number], WasmKernel> = {
  Conv2DBackpropInput: lazyKernel(conv2DBackpropInput, gradientShape('conv', 'input')),
  BatchMatMul: batchMatMul,
  MaxPoolGrad: maxPoolGrad,
  Tile: tile,
  Slice: slice,
  Sum: reduceLeading('Sum'),
  Mean: reduceLeading('Mean'),
  Add: broadcastRows('Add'),
  Sub: broadcastRows('Sub'),
  Multiply: broadcastRows('Multiply'),
  RealDiv: broadcastRows('RealDiv'),
  FusedBatchNorm: fusedBatchNorm,
  Identity: identity,
};

export interface WasmKernelOptions {
  /** Also replace the backend's slow Conv2DBackpropInput and transposed BatchMatMul (default true). */
  replaceSlow?: boolean;
}

export interface WasmKernelReport {
  /** Kernels the wasm backend lacked, now registered. */
  added: string[];
  /** Kernels of the wasm backend replaced by faster ones. */
  replaced: string[];
}

/**
 * Registers the training kernels for the 'wasm' backend. `@tensorflow/tfjs-backend-wasm` must
 * have been loaded first (its kernels are registered when it is imported). Idempotent; kernels
 * that already exist for 'wasm' under an added name (registered by someone else, or by a later
 * TF.js) are left alone.
 */
export function registerWasmTrainingKernels(options: WasmKernelOptions = {}): WasmKernelReport {
  if (registered) return { added: [...registered.added], replaced: [...registered.replaced] };
  if (tf.getKernel('Conv2D', BACKEND) == null) {
    throw new Error("tsfreeze: load '@tensorflow/tfjs-backend-wasm' before registering its training kernels");
  }
  const added: string[] = [];
  const replaced: string[] = [];
  for (const [name, fn] of Object.entries(ADDED)) {
    if (tf.getKernel(name, BACKEND) != null) continue;
    tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc: fn as unknown as tf.KernelFunc });
    added.push(name);
  }
  if (options.replaceSlow !== false) {
    for (const [name, fn] of Object.entries(REPLACED)) {
      const original = tf.getKernel(name, BACKEND);
      if (original == null) continue;
      originals.set(name, original);
      tf.unregisterKernel(name, BACKEND);
      // The original's setupFunc binds its WebAssembly function when the backend initialises,
      // which may happen after this; keep it (and its disposeFunc) on the replacement.
      tf.registerKernel({
        kernelName: name, backendName: BACKEND, kernelFunc: fn as unknown as tf.KernelFunc,
        setupFunc: original.setupFunc, disposeFunc: original.disposeFunc,
      });
      replaced.push(name);
    }
  }
  registered = { added, replaced };
  return { added: [...added], replaced: [...replaced] };
}

/** Undoes registerWasmTrainingKernels (for comparisons and tests): restores the replaced kernels. */
export function unregisterWasmTrainingKernels(): void {
  if (!registered) return;
  for (const name of registered.added) tf.unregisterKernel(name, BACKEND);
  for (const name of registered.replaced) {
    const original = originals.get(name);
    tf.unregisterKernel(name, BACKEND);
    if (original) tf.registerKernel(original);
    originals.delete(name);
  }
  registered = null;
}
