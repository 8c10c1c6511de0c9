/**
 * Fast paths of permute for 32-bit values: the permutations that, once adjacent axes that stay
 * together are merged, swap the first and last of two or three axes ([1, 0], [2, 1, 0]), with
 * any leading axes kept ([0, 2, 1], ...). That is every PyTorch ↔ TF.js weight layout (conv,
 * dense, depthwise, transposed conv). They run as a WebAssembly SIMD loop
 * (lib/backend/wasm/transpose-loop.ts) on a private memory: the values are copied in,
 * transposed, and copied out — three passes of plain copies' speed instead of one
 * element-at-a-time JavaScript loop (10 times slower).
 */
import { oitPlan, transposeModule, WA, type TransposeOIT } from '../backend/wasm/transpose-loop';

export { oitPlan };

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
