/**
 * The transpose behind PyTorch ↔ TF.js weight layouts, as a WebAssembly SIMD loop:
 * dst[t, i, o] = src[o, i, t] for float32 (or any 32-bit) values. A convolution's
 * [O, I, kh, kw] → [kh, kw, I, O] is (O, I, T = kh·kw); a dense layer's [out, in] → [in, out] is
 * (O, 1, T = in); a depthwise [C, 1, kh, kw] → [kh, kw, C, 1] is (C, 1, kh·kw).
 *
 * The source is read as an O × (I·T) matrix in 4 × 4 blocks, transposed in registers
 * (shuffles) and written as four 16-byte runs, walking down a block column so that the source
 * lines it loads serve the next three blocks too; edges go one value at a time. Values are
 * moved, never computed: the result is bit for bit the source's. About 0.3 ns a value here,
 * against 3.5 ns for the JavaScript loop.
 */
import { I, buildModule, forRange, seq, type Code, type WasmFunction } from './binary';

const { get, set, i32 } = I;

function fn(name: string, params: string[], locals: Record<string, 'i32' | 'v128'>, body: (v: Record<string, number>) => Code): WasmFunction {
  const v: Record<string, number> = {};
  params.forEach((p, k) => { v[p] = k; });
  Object.keys(locals).forEach((l, k) => { v[l] = params.length + k; });
  return { name, params: params.map(() => 'i32'), locals: Object.values(locals), body: body(v) };
}

/** transposeOIT(src, dst, O, I, T): byte pointers; dst[(t·I + i)·O + o] = src[(o·I + i)·T + t]. */
export const transposeOIT = fn('transposeOIT', ['src', 'dst', 'o', 'i', 't'], {
  j: 'i32', jEnd: 'i32', oEnd: 'i32', ob: 'i32', k: 'i32', row: 'i32', ci: 'i32', ct: 'i32',
  r0: 'i32', r1: 'i32', r2: 'i32', r3: 'i32', rowBytes: 'i32', stride: 'i32', p: 'i32',
  a0: 'v128', a1: 'v128', a2: 'v128', a3: 'v128', t0: 'v128', t1: 'v128', t2: 'v128', t3: 'v128',
}, (v) => {
  // row offset (bytes) in dst of source column (ci, ct): ((ct·I + ci)·O)·4 + dst
  const rowOf = seq(get(v.ct), get(v.i), I.mul, get(v.ci), I.add, get(v.rowBytes), I.mul, get(v.dst), I.add);
  // next column: ct++, wrapping into ci
  const advance = seq(
    get(v.ct), i32(1), I.add, set(v.ct),
    get(v.ct), get(v.t), I.eq,
    I.if(i32(0), set(v.ct), get(v.ci), i32(1), I.add, set(v.ci)),
  );
  // one value: dst[row + o·4] = src[(o·J + j)·4] for o in [from, O)
  const column = (row: number, from: Code, col: Code): Code => forRange(v.k, from, get(v.o), i32(1),
    get(row), get(v.k), i32(2), I.shl, I.add,
    get(v.k), get(v.stride), I.mul, col, I.add, i32(2), I.shl, get(v.src), I.add, I.f32load(),
    I.f32store());
  return seq(
    get(v.o), i32(2), I.shl, set(v.rowBytes),
    get(v.i), get(v.t), I.mul, set(v.stride), // J = I·T, in values
    get(v.stride), i32(-4), I.and, set(v.jEnd),
    get(v.o), i32(-4), I.and, set(v.oEnd),
    i32(0), set(v.ci), i32(0), set(v.ct),
    forRange(v.j, i32(0), get(v.jEnd), i32(4),
      rowOf, set(v.r0), advance,
      rowOf, set(v.r1), advance,
      rowOf, set(v.r2), advance,
      rowOf, set(v.r3), advance,
      forRange(v.ob, i32(0), get(v.oEnd), i32(4),
        // p = src + (ob·J + j)·4
        get(v.ob), get(v.stride), I.mul, get(v.j), I.add, i32(2), I.shl, get(v.src), I.add, set(v.p),
        get(v.p), I.load(), set(v.a0),
        get(v.p), get(v.stride), i32(2), I.shl, I.add, set(v.p), get(v.p), I.load(), set(v.a1),
        get(v.p), get(v.stride), i32(2), I.shl, I.add, set(v.p), get(v.p), I.load(), set(v.a2),
        get(v.p), get(v.stride), i32(2), I.shl, I.add, set(v.p), get(v.p), I.load(), set(v.a3),
        get(v.a0), get(v.a1), I.shuffle32(0, 4, 1, 5), set(v.t0),
        get(v.a0), get(v.a1), I.shuffle32(2, 6, 3, 7), set(v.t1),
        get(v.a2), get(v.a3), I.shuffle32(0, 4, 1, 5), set(v.t2),
        get(v.a2), get(v.a3), I.shuffle32(2, 6, 3, 7), set(v.t3),
        get(v.r0), get(v.ob), i32(2), I.shl, I.add, get(v.t0), get(v.t2), I.shuffle32(0, 1, 4, 5), I.store(),
        get(v.r1), get(v.ob), i32(2), I.shl, I.add, get(v.t0), get(v.t2), I.shuffle32(2, 3, 6, 7), I.store(),
        get(v.r2), get(v.ob), i32(2), I.shl, I.add, get(v.t1), get(v.t3), I.shuffle32(0, 1, 4, 5), I.store(),
        get(v.r3), get(v.ob), i32(2), I.shl, I.add, get(v.t1), get(v.t3), I.shuffle32(2, 3, 6, 7), I.store(),
      ),
      // the last O mod 4 rows of the block
      column(v.r0, get(v.oEnd), get(v.j)),
      column(v.r1, get(v.oEnd), seq(get(v.j), i32(1), I.add)),
      column(v.r2, get(v.oEnd), seq(get(v.j), i32(2), I.add)),
      column(v.r3, get(v.oEnd), seq(get(v.j), i32(3), I.add)),
    ),
    // the last J mod 4 columns
    forRange(v.j, get(v.jEnd), get(v.stride), i32(1),
      rowOf, set(v.row), advance,
      column(v.row, i32(0), get(v.j)),
    ),
  );
});

// ---- which permutations transposeOIT does ----

/** A permutation with adjacent kept-together input axes merged: new dims and perm. */
export function mergeAxes(shape: readonly number[], perm: readonly number[]): { dims: number[]; perm: number[] } {
  // Runs of output positions whose input axes are consecutive, in output order.
  const runs: number[][] = [];
  for (const axis of perm) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] + 1 === axis) last.push(axis);
    else runs.push([axis]);
  }
  const byInput = [...runs].sort((a, b) => a[0] - b[0]);
  const dims = byInput.map((run) => run.reduce((p, a) => p * shape[a], 1));
  return { dims, perm: runs.map((run) => byInput.indexOf(run)) };
}

/** The (batch, O, I, T) of a permutation transposeOIT can do, or null. */
export function oitPlan(shape: readonly number[], perm: readonly number[]): { batch: number; o: number; i: number; t: number } | null {
  // Axes of size 1 go first: they move nothing, and would split runs.
  const kept = shape.map((_, a) => a).filter((a) => shape[a] !== 1);
  const renumber = new Map(kept.map((a, k) => [a, k]));
  const { dims, perm: p } = mergeAxes(kept.map((a) => shape[a]), perm.filter((a) => shape[a] !== 1).map((a) => renumber.get(a)!));
  let lead = 0;
  while (lead < p.length && p[lead] === lead) lead++;
  const rest = p.slice(lead).map((a) => a - lead);
  const batch = dims.slice(0, lead).reduce((a, b) => a * b, 1);
  const d = dims.slice(lead);
  if (rest.length === 2 && rest[0] === 1 && rest[1] === 0) return { batch, o: d[0], i: 1, t: d[1] };
  if (rest.length === 3 && rest[0] === 2 && rest[1] === 1 && rest[2] === 0) return { batch, o: d[0], i: d[1], t: d[2] };
  return null;
}

/** The part of the WebAssembly API used here (the project's TypeScript lib has no WebAssembly types). */
interface WebAssemblyApi {
  Memory: new (descriptor: { initial: number; maximum?: number }) => { buffer: ArrayBuffer; grow(pages: number): number };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
export const WA = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

const compiled = new Map<boolean, object>();

/** The compiled module holding transposeOIT, for a shared or an unshared memory. */
export function transposeModule(sharedMemory: boolean): object {
  let m = compiled.get(sharedMemory);
  if (!m) compiled.set(sharedMemory, (m = new WA.Module(buildModule([transposeOIT], sharedMemory))));
  return m;
}

export type TransposeOIT = (src: number, dst: number, o: number, i: number, t: number) => void;
