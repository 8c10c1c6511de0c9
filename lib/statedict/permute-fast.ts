/**
 * Fast paths of permute for 32-bit values: the permutations that, once adjacent axes that stay
 * together are merged, swap the first and last of two or three axes ([1, 0], [2, 1, 0]), with
 * any leading axes kept ([0, 2, 1], ...). That is every PyTorch ↔ TF.js weight layout (conv,
 * dense, depthwise, transposed conv). They run as a WebAssembly SIMD loop
 * (lib/backend/wasm/transpose-loop.ts) on a private memory: the values are copied in,
 * transposed, and copied out — three passes of plain copies' speed instead of one
 * element-at-a-time JavaScript loop (10 times slower).
 */
import { transposeModule, WA, type TransposeOIT } from '../backend/wasm/transpose-loop';

/** A permutation with adjacent kept-together input axes merged: new dims and perm. */
export function mergeAxes(shape: readonly number[], perm: readonly number[]): { dims: number[]; perm: number[] } {
  // Runs of output positions whose input axes are consecutive, in output order.
  const runs: number[][] = [];
  for (const axis of perm) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] + 1 === axis) last.push(axis);
    else runs.push([axis]);
  }
  // Size-1 axes could merge further; not needed for weight layouts.
  const byInput = [...runs].sort((a, b) => a[0] - b[0]);
  const dims = byInput.map((run) => run.reduce((p, a) => p * shape[a], 1));
  return { dims, perm: runs.map((run) => byInput.indexOf(run)) };
}

/** The (batch, O, I, T) of a permutation transposeOIT can do, or null. */
export function oitPlan(shape: readonly number[], perm: readonly number[]): { batch: number; o: number; i: number; t: number } | null {
  const { dims, perm: p } = mergeAxes(shape, perm);
  let lead = 0;
  while (lead < p.length && p[lead] === lead) lead++;
  const rest = p.slice(lead).map((a) => a - lead);
  const batch = dims.slice(0, lead).reduce((a, b) => a * b, 1);
  const d = dims.slice(lead);
  if (rest.length === 2 && rest[0] === 1 && rest[1] === 0) return { batch, o: d[0], i: 1, t: d[1] };
  if (rest.length === 3 && rest[0] === 2 && rest[1] === 1 && rest[2] === 0) return { batch, o: d[0], i: d[1], t: d[2] };
  return null;
}

const PAGE = 65536;
let memory: { buffer: ArrayBuffer; grow(pages: number): number } | null = null;
let transpose: TransposeOIT | null = null;
let idle: NodeJS.Timeout | null = null;

/** The private memory with room for `bytes`, and the loop bound to it (kept for a second after use, then let go). */
function scratch(bytes: number): { buffer: ArrayBuffer; run: TransposeOIT } {
  if (memory == null || memory.buffer.byteLength < bytes) {
    const pages = Math.ceil(bytes / PAGE);
    if (memory == null) memory = new WA.Memory({ initial: pages });
    else memory.grow(pages - memory.buffer.byteLength / PAGE);
    transpose = (new WA.Instance(transposeModule(false), { env: { memory } }).exports as { transposeOIT: TransposeOIT }).transposeOIT;
  }
  if (idle) clearTimeout(idle);
  idle = setTimeout(() => { memory = null; transpose = null; idle = null; }, 1000);
  idle.unref();
  return { buffer: memory.buffer, run: transpose! };
}

/** Values below which the JavaScript loop is as fast (the copies in and out dominate). */
const MIN_VALUES = 1024;

/**
 * `src` (32-bit values, shape `shape`) permuted by `perm` into a new array of the same type, or
 * null when this permutation has no fast path.
 */
export function permute32Fast<A extends Float32Array | Int32Array | Uint32Array>(src: A, shape: readonly number[], perm: readonly number[]): A | null {
  if (src.length < MIN_VALUES || typeof WA !== 'object') return null;
  const plan = oitPlan(shape, perm);
  if (plan == null) return null;
  const bytes = src.length * 4;
  const { buffer, run } = scratch(2 * bytes);
  new Uint8Array(buffer, 0, bytes).set(new Uint8Array(src.buffer, src.byteOffset, bytes));
  const block = plan.o * plan.i * plan.t * 4;
  for (let b = 0; b < plan.batch; b++) run(b * block, bytes + b * block, plan.o, plan.i, plan.t);
  const out = new (src.constructor as new (n: number) => A)(src.length);
  new Uint8Array(out.buffer).set(new Uint8Array(buffer, bytes, bytes));
  return out;
}
