/**
 * The transforms of Winograd's F(2×2, 3×3) convolution as WebAssembly SIMD loops, four channels
 * at a time (kernel-utils/winograd.ts drives them). With d a 4 × 4 input tile, g a 3 × 3 filter:
 *
 *   V = Bᵀ d B,  M = Σ over input channels of U ⊙ V (16 matrix products),  Y = Aᵀ M A (2 × 2),
 *   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  Aᵀ = [1 1 1 0; 0 1 −1 −1],
 *   U = G g Gᵀ with G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1] (made on the host, once per filter).
 *
 * The 16 V and M matrices are separate tensors (the backend multiplies them one by one through
 * XNNPACK); their addresses are passed as a table of 16 pointers.
 */
import { I, forRange, seq, type Code, type ValType, type WasmFunction } from './binary';

const { get, set, i32 } = I;

function fn(name: string, params: Array<[string, ValType]>, locals: Record<string, ValType>, body: (v: Record<string, number>) => Code): WasmFunction {
  const v: Record<string, number> = {};
  params.forEach(([p], k) => { v[p] = k; });
  Object.keys(locals).forEach((l, k) => { v[l] = params.length + k; });
  return { name, params: params.map(([, t]) => t), locals: Object.values(locals), body: body(v) };
}

const ints = (...names: string[]): Array<[string, ValType]> => names.map((n) => [n, 'i32']);
const v128s = (prefix: string, n: number): Record<string, ValType> => Object.fromEntries(Array.from({ length: n }, (_, k) => [`${prefix}${k}`, 'v128']));
const i32s = (prefix: string, n: number): Record<string, ValType> => Object.fromEntries(Array.from({ length: n }, (_, k) => [`${prefix}${k}`, 'i32']));

/**
 * winogradInput(pad, table, n, th, tw, wp, c): for the zero-padded input `pad` [n, 2·th + 2, wp, c]
 * (wp ≥ 2·tw + 2, c a multiple of 4), writes V_k[t, ·] = (Bᵀ d B)_k for each tile
 * t = (image·th + ty)·tw + tx, where table holds the 16 V_k pointers.
 */
export const winogradInput = fn('winogradInput', ints('pad', 'table', 'n', 'th', 'tw', 'wp', 'c'), {
  b: 'i32', ty: 'i32', tx: 'i32', ch: 'i32', base: 'i32', row: 'i32', col: 'i32', out: 'i32', a: 'i32', bytes: 'i32', hp: 'i32',
  ...i32s('v', 16), ...v128s('d', 16), ...v128s('t', 16),
}, (v) => {
  const d = (i: number, j: number): number => v[`d${4 * i + j}`];
  const t = (i: number, j: number): number => v[`t${4 * i + j}`];
  const loadTable = seq(...Array.from({ length: 16 }, (_, k) => seq(get(v.table), I.i32load(4 * k), set(v[`v${k}`]))));
  // d[i][j] = pad[base + i·row + j·col + ch]
  const loads: Code[] = [];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      loads.push(seq(get(v.a), get(v.row), i32(i), I.mul, I.add, get(v.col), i32(j), I.mul, I.add, I.load(), set(d(i, j))));
    }
  }
  // Bᵀ d: rows combined, column by column
  const rows: Code[] = [];
  for (let j = 0; j < 4; j++) {
    rows.push(
      seq(get(d(0, j)), get(d(2, j)), I.f32x4sub, set(t(0, j))),
      seq(get(d(1, j)), get(d(2, j)), I.f32x4add, set(t(1, j))),
      seq(get(d(2, j)), get(d(1, j)), I.f32x4sub, set(t(2, j))),
      seq(get(d(1, j)), get(d(3, j)), I.f32x4sub, set(t(3, j))),
    );
  }
  // (Bᵀ d) B: columns combined, stored to V_{4i+j}[t, ch]
  const store = (k: number, x: Code): Code => seq(get(v[`v${k}`]), get(v.out), I.add, get(v.ch), I.add, x, I.store());
  const cols: Code[] = [];
  for (let i = 0; i < 4; i++) {
    cols.push(
      store(4 * i + 0, seq(get(t(i, 0)), get(t(i, 2)), I.f32x4sub)),
      store(4 * i + 1, seq(get(t(i, 1)), get(t(i, 2)), I.f32x4add)),
      store(4 * i + 2, seq(get(t(i, 2)), get(t(i, 1)), I.f32x4sub)),
      store(4 * i + 3, seq(get(t(i, 1)), get(t(i, 3)), I.f32x4sub)),
    );
  }
  return seq(
    loadTable,
    get(v.c), i32(2), I.shl, set(v.bytes),
    get(v.wp), get(v.bytes), I.mul, set(v.row),
    get(v.bytes), set(v.col),
    get(v.th), i32(1), I.shl, i32(2), I.add, set(v.hp),
    i32(0), set(v.out),
    forRange(v.b, i32(0), get(v.n), i32(1),
      forRange(v.ty, i32(0), get(v.th), i32(1),
        forRange(v.tx, i32(0), get(v.tw), i32(1),
          // base = pad + ((b·hp + 2·ty)·wp + 2·tx)·c·4
          get(v.b), get(v.hp), I.mul, get(v.ty), i32(1), I.shl, I.add, get(v.wp), I.mul, get(v.tx), i32(1), I.shl, I.add,
          get(v.bytes), I.mul, get(v.pad), I.add, set(v.base),
          forRange(v.ch, i32(0), get(v.bytes), i32(16),
            get(v.base), get(v.ch), I.add, set(v.a),
            ...loads, ...rows, ...cols,
          ),
          get(v.out), get(v.bytes), I.add, set(v.out),
        ),
      ),
    ),
  );
});

/**
 * winogradOutput(table, out, bias, n, th, tw, oh, ow, co, lo, hi): for each tile, the 2 × 2
 * outputs Aᵀ M A + bias, clamped to [lo, hi], into out [n, oh, ow, co] (co a multiple of 4;
 * the last tile row / column is cut when oh / ow is odd). bias: a pointer to co floats.
 */
export const winogradOutput = fn('winogradOutput',
  [...ints('table', 'out', 'bias', 'n', 'th', 'tw', 'oh', 'ow', 'co'), ['lo', 'f32'], ['hi', 'f32']], {
    b: 'i32', ty: 'i32', tx: 'i32', ch: 'i32', at: 'i32', bytes: 'i32', dst: 'i32', row: 'i32', right: 'i32', down: 'i32',
    vlo: 'v128', vhi: 'v128', bv: 'v128', ...i32s('m', 16), ...v128s('x', 16), ...v128s('u', 8),
  }, (v) => {
    const x = (i: number, j: number): number => v[`x${4 * i + j}`];
    const u = (i: number, j: number): number => v[`u${4 * i + j}`];
    const loadTable = seq(...Array.from({ length: 16 }, (_, k) => seq(get(v.table), I.i32load(4 * k), set(v[`m${k}`]))));
    const loads = Array.from({ length: 16 }, (_, k) => seq(get(v[`m${k}`]), get(v.at), I.add, get(v.ch), I.add, I.load(), set(v[`x${k}`])));
    const combine: Code[] = [];
    for (let j = 0; j < 4; j++) {
      combine.push(
        seq(get(x(0, j)), get(x(1, j)), I.f32x4add, get(x(2, j)), I.f32x4add, set(u(0, j))),
        seq(get(x(1, j)), get(x(2, j)), I.f32x4sub, get(x(3, j)), I.f32x4sub, set(u(1, j))),
      );
    }
    const finish = (e: Code): Code => seq(e, get(v.bv), I.f32x4add, get(v.vlo), I.f32x4max, get(v.vhi), I.f32x4min);
    const y0 = (i: number): Code => finish(seq(get(u(i, 0)), get(u(i, 1)), I.f32x4add, get(u(i, 2)), I.f32x4add));
    const y1 = (i: number): Code => finish(seq(get(u(i, 1)), get(u(i, 2)), I.f32x4sub, get(u(i, 3)), I.f32x4sub));
    return seq(
      loadTable,
      get(v.lo), I.f32x4splat, set(v.vlo),
      get(v.hi), I.f32x4splat, set(v.vhi),
      get(v.co), i32(2), I.shl, set(v.bytes),
      get(v.ow), get(v.bytes), I.mul, set(v.row),
      i32(0), set(v.at),
      forRange(v.b, i32(0), get(v.n), i32(1),
        forRange(v.ty, i32(0), get(v.th), i32(1),
          // down: whether the tile's second row is inside the output
          get(v.ty), i32(1), I.shl, i32(1), I.add, get(v.oh), I.lt, set(v.down),
          forRange(v.tx, i32(0), get(v.tw), i32(1),
            get(v.tx), i32(1), I.shl, i32(1), I.add, get(v.ow), I.lt, set(v.right),
            forRange(v.ch, i32(0), get(v.bytes), i32(16),
              ...loads, ...combine,
              get(v.bias), get(v.ch), I.add, I.load(), set(v.bv),
              // dst = out + ((b·oh + 2·ty)·ow + 2·tx)·co·4 + ch
              get(v.b), get(v.oh), I.mul, get(v.ty), i32(1), I.shl, I.add, get(v.ow), I.mul, get(v.tx), i32(1), I.shl, I.add,
              get(v.bytes), I.mul, get(v.out), I.add, get(v.ch), I.add, set(v.dst),
              get(v.dst), y0(0), I.store(),
              get(v.right), I.if(get(v.dst), get(v.bytes), I.add, y1(0), I.store()),
              get(v.down), I.if(
                get(v.dst), get(v.row), I.add, y0(1), I.store(),
                get(v.right), I.if(get(v.dst), get(v.row), I.add, get(v.bytes), I.add, y1(1), I.store()),
              ),
            ),
            get(v.at), get(v.bytes), I.add, set(v.at),
          ),
        ),
      ),
    );
  });
