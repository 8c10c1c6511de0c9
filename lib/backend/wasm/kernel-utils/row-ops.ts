/**
 * Element-wise ops between a tensor [..., C] and a vector [C] by rows of at least 256 elements
 * (bias adds, BatchNorm's scale and shift, their gradients).
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { call, free, heap, kernelFunc, type KernelArgs, type TensorInfo } from './util';

export type RowKind = 'Add' | 'Sub' | 'Multiply' | 'RealDiv';

/**
 * Element-wise ops between a tensor [..., C] and a vector [C] (bias adds, BatchNorm's scale and
 * shift, their gradients). XNNPACK broadcasts one C-long row at a time, slowly for small C; here
 * the tensor is viewed as [R / k, k*C] and the vector repeated k times, so that the rows are
 * at least 256 long: same result, same op, 10 times faster for C = 6.
 */
export function broadcastRows(kind: RowKind) {
  return (args: KernelArgs): TensorInfo => {
    const { inputs, backend } = args;
    const { a, b } = inputs;
    const plan = a.dtype === 'float32' && b.dtype === 'float32' ? rowBroadcast(a.shape, b.shape) : null;
    if (plan == null || plan.rows * plan.cols < 4096) return kernelFunc(kind)(args) as TensorInfo;
    const big = plan.bigIsA ? a : b;
    const small = plan.bigIsA ? b : a;
    return rowsOp(backend, kind, big, heap(backend, small).slice(), plan.bigIsA);
  };
}


/**
 * big (op) vector, or vector (op) big, where the vector runs along big's trailing elements
 * (length cols): big viewed as [R / k, k * cols] and the vector repeated k times, so that the
 * backend's broadcast works on rows of at least 256 elements.
 */
export function rowsOp(backend: BackendWasm, kind: RowKind, big: TensorInfo, vector: Float32Array, bigFirst: boolean): TensorInfo {
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
 * When one shape is a run of 1s followed by the trailing dims of the other (cols elements,
 * at least 2) and the other is strictly larger, the ops above can use rows.
 */
export function rowBroadcast(aShape: number[], bShape: number[]): { bigIsA: boolean; rows: number; cols: number } | null {
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

