/**
 * Sum and Mean over leading axes (a bias gradient, BatchNorm's moments and their gradients:
 * [N, H, W, C] -> [C]).
 */
import { wasmLoops } from '../loops';
import { free, heap, kernelFunc, ptr, type KernelArgs, type TensorInfo } from './util';

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
export function reduceLeading(kind: 'Sum' | 'Mean') {
  return (args: KernelArgs): TensorInfo => {
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
    // partial sums (../loops.ts), folded into the columns here with the rows left over.
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

