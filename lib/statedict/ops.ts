/** Host-side tensor operations the layout adapter needs: permuting axes and reordering rows. */
import { permute32Fast } from './permute-fast';
import { allocate, numel, type HostTensor } from './tensor';

/** A copy of `t` with its axes permuted: result axis i is input axis `perm[i]`. */
export function permute(t: HostTensor, perm: readonly number[]): HostTensor {
  const { shape } = t;
  if (perm.length !== shape.length) throw new RangeError(`permutation [${perm}] does not fit shape [${shape}]`);
  const outShape = perm.map((p) => shape[p]);
  if (t.data instanceof Float32Array || t.data instanceof Int32Array || t.data instanceof Uint32Array) {
    const fast = permute32Fast(t.data, shape, perm);
    if (fast) return { dtype: t.dtype, shape: outShape, data: fast };
  }
  const inStrides = stridesOf(shape);
  const stride = perm.map((p) => inStrides[p]);
  const n = numel(shape);
  const out = allocate(t.dtype, n);
  if (n > 0) {
    // One monomorphic copy loop per array type keeps V8's element access fast.
    if (t.data instanceof Float32Array) gatherF32(t.data, out as Float32Array, outShape, stride);
    else gatherAny(t.data as unknown as Indexed, out as unknown as Indexed, outShape, stride);
  }
  return { dtype: t.dtype, shape: outShape, data: out };
}

type Indexed = { [i: number]: number | bigint };

function gatherF32(src: Float32Array, out: Float32Array, outShape: number[], stride: number[]): void {
  const r = outShape.length;
  const n = out.length;
  const inner = r ? outShape[r - 1] : 1;
  const step = r ? stride[r - 1] : 0;
  const idx = new Int32Array(Math.max(r - 1, 0));
  let at = 0;
  for (let k = 0; k < n; k += inner) {
    for (let j = 0, a = at; j < inner; j++, a += step) out[k + j] = src[a];
    for (let d = r - 2; d >= 0; d--) {
      if (++idx[d] < outShape[d]) { at += stride[d]; break; }
      at -= (outShape[d] - 1) * stride[d];
      idx[d] = 0;
    }
  }
}

function gatherAny(src: Indexed, out: Indexed, outShape: number[], stride: number[]): void {
  const r = outShape.length;
  // The last axis is a strided run; an odometer walks the outer axes once per run.
  const inner = r ? outShape[r - 1] : 1;
  const step = r ? stride[r - 1] : 0;
  const idx = new Array<number>(Math.max(r - 1, 0)).fill(0);
  let at = 0;
  const n = numel(outShape);
  for (let k = 0; k < n; k += inner) {
    for (let j = 0, a = at; j < inner; j++, a += step) out[k + j] = src[a];
    for (let d = r - 2; d >= 0; d--) {
      if (++idx[d] < outShape[d]) { at += stride[d]; break; }
      at -= (outShape[d] - 1) * stride[d];
      idx[d] = 0;
    }
  }
}


/** Row-major strides of a shape, in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

/** A copy of a 2-D tensor whose row `i` is input row `rows[i]`. */
export function takeRows(t: HostTensor, rows: readonly number[]): HostTensor {
  const width = t.shape[1];
  const out = allocate(t.dtype, t.data.length) as unknown as { set(a: ArrayLike<unknown>, o: number): void };
  const src = t.data as unknown as { subarray(a: number, b: number): ArrayLike<unknown> };
  rows.forEach((r, i) => out.set(src.subarray(r * width, (r + 1) * width), i * width));
  return { dtype: t.dtype, shape: [...t.shape], data: out as unknown as HostTensor['data'] };
}

/** For a feature map flattened as [H, W, C] (TF.js), the index each element has when flattened as [C, H, W] (PyTorch). */
export function hwcToChw(h: number, w: number, c: number): number[] {
  const out = new Array<number>(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[(y * w + x) * c + ch] = ch * h * w + y * w + x;
  return out;
}

/** The inverse of a permutation given as an index list. */
export function inverse(p: readonly number[]): number[] {
  const out = new Array<number>(p.length);
  p.forEach((v, i) => { out[v] = i; });
  return out;
}
