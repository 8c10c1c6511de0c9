/**
 * A small writer of WebAssembly binaries, for loops that run on the wasm backend's own memory
 * (lib/backend/wasm/loops.ts). JavaScript's typed-array loops pay a mispredicted branch for
 * every data-dependent comparison and use no SIMD; the same loops as WebAssembly are branch-free
 * (select, bitselect) and four lanes wide.
 *
 * A function is written as a flat list of instruction bytes built by the helpers below; the
 * module imports one memory (`env.memory`) and exports its functions by name. Only what the
 * loops use is here: i32/f32 scalars, v128 (SIMD, shuffles), blocks, loops, branches, memory.fill.
 */

export type Code = number[];
export type ValType = 'i32' | 'f32' | 'v128';

const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

function unsigned(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function signed(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function name(s: string): number[] {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [...unsigned(bytes.length), ...bytes];
}

function section(id: number, body: number[]): number[] {
  return [id, ...unsigned(body.length), ...body];
}

function vector(items: number[][]): number[] {
  return [...unsigned(items.length), ...items.flat()];
}

const simd = (op: number): Code => [0xfd, ...unsigned(op)];
/** memarg: alignment (log2 bytes) and a constant offset. */
const memarg = (align: number, offset = 0): Code => [...unsigned(align), ...unsigned(offset)];

/** Instructions. Locals are numbered: parameters first, then declared locals. */
export const I = {
  get: (l: number): Code => [0x20, ...unsigned(l)],
  set: (l: number): Code => [0x21, ...unsigned(l)],
  tee: (l: number): Code => [0x22, ...unsigned(l)],
  i32: (n: number): Code => [0x41, ...signed(n)],
  f32: (x: number): Code => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, x, true);
    return [0x43, ...b];
  },
  // i32 arithmetic and comparisons (results of comparisons are i32 0/1)
  add: [0x6a], sub: [0x6b], mul: [0x6c], and: [0x71], or: [0x72], shl: [0x74],
  eqz: [0x45], eq: [0x46], ne: [0x47], lt: [0x48], gt: [0x4a], le: [0x4c], ge: [0x4e],
  i32load: (offset = 0): Code => [0x28, ...memarg(2, offset)],
  // f32
  f32load: (offset = 0): Code => [0x2a, ...memarg(2, offset)],
  f32store: (offset = 0): Code => [0x38, ...memarg(2, offset)],
  f32add: [0x92], f32gt: [0x5e],
  select: [0x1b],
  drop: [0x1a],
  // v128
  load: (offset = 0): Code => [...simd(0x00), ...memarg(4, offset)],
  store: (offset = 0): Code => [...simd(0x0b), ...memarg(4, offset)],
  i32x4: (a: number, b: number, c: number, d: number): Code => {
    const bytes = new Uint8Array(16);
    const view = new DataView(bytes.buffer);
    [a, b, c, d].forEach((v, i) => view.setInt32(4 * i, v, true));
    return [...simd(0x0c), ...bytes];
  },
  /** i8x16.shuffle of two v128s picking four 32-bit lanes (0-3: the first operand, 4-7: the second). */
  shuffle32: (a: number, b: number, c: number, d: number): Code => [...simd(0x0d), ...[a, b, c, d].flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])],
  i32x4splat: simd(0x11), f32x4splat: simd(0x13),
  i32x4lane: (lane: number): Code => [...simd(0x1b), lane],
  f32x4lane: (lane: number): Code => [...simd(0x1f), lane],
  f32x4gt: simd(0x44), bitselect: simd(0x52),
  f32x4add: simd(0xe4), f32x4sub: simd(0xe5), f32x4min: simd(0xe8), f32x4max: simd(0xe9), i32x4add: simd(0xae),
  /** Two floats into the low half of a v128 (the high half zeroed). */
  load64zero: (offset = 0): Code => [...simd(0x5d), ...memarg(3, offset)],
  f64x2promoteLow: simd(0x5f), f64x2add: simd(0xf0),
  // control
  block: (...body: Code[]): Code => [0x02, 0x40, ...body.flat(), 0x0b],
  loop: (...body: Code[]): Code => [0x03, 0x40, ...body.flat(), 0x0b],
  if: (...body: Code[]): Code => [0x04, 0x40, ...body.flat(), 0x0b],
  br: (depth: number): Code => [0x0c, ...unsigned(depth)],
  brIf: (depth: number): Code => [0x0d, ...unsigned(depth)],
  // memory.fill(dest, value, length)
  fill: [0xfc, ...unsigned(11), 0x00],
};

/** Sequence of instructions. */
export const seq = (...parts: Code[]): Code => parts.flat();

/**
 * `for (i = from; i < to; i += step) body` over an i32 local; `to` and `step` are code pushing an
 * i32, evaluated every iteration. The body must not branch to the loop's own labels.
 */
export function forRange(i: number, from: Code, to: Code, step: Code, ...body: Code[]): Code {
  return seq(
    from, I.set(i),
    I.block(
      I.loop(
        I.get(i), to, I.ge, I.brIf(1),
        ...body,
        I.get(i), step, I.add, I.set(i),
        I.br(0),
      ),
    ),
  );
}

export interface WasmFunction {
  name: string;
  params: ValType[];
  locals: ValType[];
  body: Code;
}

/** A module importing env.memory (shared or not, as the memory it will be given) and exporting the functions. */
export function buildModule(functions: WasmFunction[], sharedMemory: boolean): Uint8Array {
  const types = section(1, vector(functions.map((f) => [0x60, ...vector(f.params.map((p) => [VALTYPE[p]])), 0x00])));
  // Shared memories must declare a maximum; 65536 pages (4 GiB) accepts any.
  const limits = sharedMemory ? [0x03, ...unsigned(1), ...unsigned(65536)] : [0x00, ...unsigned(1)];
  const imports = section(2, vector([[...name('env'), ...name('memory'), 0x02, ...limits]]));
  const funcs = section(3, vector(functions.map((_, i) => unsigned(i))));
  const exports = section(7, vector(functions.map((f, i) => [...name(f.name), 0x00, ...unsigned(i)])));
  const code = section(10, vector(functions.map((f) => {
    const locals = vector(f.locals.map((t) => [...unsigned(1), VALTYPE[t]]));
    const body = [...locals, ...f.body, 0x0b];
    return [...unsigned(body.length), ...body];
  })));
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...types, ...imports, ...funcs, ...exports, ...code]);
}
