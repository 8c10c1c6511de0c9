/**
 * WebAssembly loops over the wasm backend's memory, for the kernels of kernels/ whose
 * work is data movement rather than arithmetic XNNPACK could do: the max-pool gradient, the
 * scatter-add that turns a matrix product into a convolution's input gradient (col2im), the
 * patch matrix of a one-channel image (im2col), column sums (bias gradients), the transposes
 * of transpose-loop.ts and the Winograd transforms of winograd-loops.ts.
 *
 * The module is built once per backend (it imports that backend's memory) and compiled
 * synchronously (it is a few hundred bytes). Every pointer is a byte offset into the backend's
 * heap, as `typedArrayFromHeap(...).byteOffset` gives it.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { I, buildModule, forRange, seq, type Code, type ValType, type WasmFunction } from './binary';
import { transposeOIT } from './transpose-loop';
import { winogradInput, winogradOutput } from './winograd-loops';

/** A function whose parameters are i32s and whose locals are named. */
function fn(name: string, params: string[], locals: Record<string, ValType>, body: (v: Record<string, number>) => Code): WasmFunction {
  const v: Record<string, number> = {};
  params.forEach((p, i) => { v[p] = i; });
  Object.keys(locals).forEach((l, i) => { v[l] = params.length + i; });
  return { name, params: params.map(() => 'i32'), locals: Object.values(locals), body: body(v) };
}

const { get, set, i32 } = I;

/** max(a, 0) and min(a, b) of i32 locals, pushed. */
const atLeastZero = (a: number): Code => seq(get(a), i32(0), get(a), i32(0), I.gt, I.select);
const atMost = (a: number, b: number): Code => seq(get(a), get(b), get(a), get(b), I.lt, I.select);

/**
 * dx of a max pool whose windows do not overlap (stride >= window), float32 NHWC, c >= 4:
 * each window's dy goes to its first maximum (NaN never wins; a window of NaN/-Infinity sends
 * nothing), as on the cpu backend. Four channels at a time; the last four overlap the previous
 * ones when c is not a multiple of 4, which is harmless because each input element is written
 * at most once (dx is zeroed first).
 */
const maxPoolGrad = fn('maxPoolGrad',
  ['x', 'dy', 'dx', 'n', 'h', 'w', 'c', 'oh', 'ow', 'kh', 'kw', 'sh', 'sw', 'top', 'left'],
  {
    b: 'i32', y: 'i32', z: 'i32', k: 'i32', kk: 'i32', r: 'i32', col: 'i32', e: 'i32', g: 'i32', t: 'i32',
    r0: 'i32', r1: 'i32', c0: 'i32', c1: 'i32', idx: 'i32', best: 'v128', where: 'v128', v: 'v128', m: 'v128',
  },
  (v) => {
    const scatter = (lane: number): Code => seq(
      get(v.where), I.i32x4lane(lane), I.set(v.idx),
      get(v.idx), i32(0), I.ge,
      I.if(
        get(v.idx), i32(2), I.shl, get(v.dx), I.add,
        get(v.g), get(v.kk), I.add, i32(2), I.shl, get(v.dy), I.add, I.f32load(4 * lane),
        I.f32store(),
      ),
    );
    return seq(
      // dx = 0
      get(v.dx), i32(0), get(v.n), get(v.h), I.mul, get(v.w), I.mul, get(v.c), I.mul, i32(2), I.shl, I.fill,
      forRange(v.b, i32(0), get(v.n), i32(1),
        forRange(v.y, i32(0), get(v.oh), i32(1),
          get(v.y), get(v.sh), I.mul, get(v.top), I.sub, set(v.t),
          atLeastZero(v.t), set(v.r0),
          get(v.t), get(v.kh), I.add, set(v.t), atMost(v.t, v.h), set(v.r1),
          forRange(v.z, i32(0), get(v.ow), i32(1),
            get(v.z), get(v.sw), I.mul, get(v.left), I.sub, set(v.t),
            atLeastZero(v.t), set(v.c0),
            get(v.t), get(v.kw), I.add, set(v.t), atMost(v.t, v.w), set(v.c1),
            // g = ((b * oh + y) * ow + z) * c
            get(v.b), get(v.oh), I.mul, get(v.y), I.add, get(v.ow), I.mul, get(v.z), I.add, get(v.c), I.mul, set(v.g),
            forRange(v.k, i32(0), get(v.c), i32(4),
              // kk = min(k, c - 4)
              get(v.c), i32(4), I.sub, set(v.kk), atMost(v.k, v.kk), set(v.kk),
              I.f32(-Infinity), I.f32x4splat, set(v.best),
              i32(-1), I.i32x4splat, set(v.where),
              forRange(v.r, get(v.r0), get(v.r1), i32(1),
                // e = ((b * h + r) * w + c0) * c + kk: element index of (r, c0, kk)
                get(v.b), get(v.h), I.mul, get(v.r), I.add, get(v.w), I.mul, get(v.c0), I.add, get(v.c), I.mul, get(v.kk), I.add, set(v.e),
                forRange(v.col, get(v.c0), get(v.c1), i32(1),
                  get(v.e), i32(2), I.shl, get(v.x), I.add, I.load(), set(v.v),
                  get(v.v), get(v.best), I.f32x4gt, set(v.m),
                  get(v.v), get(v.best), get(v.m), I.bitselect, set(v.best),
                  get(v.e), I.i32x4splat, I.i32x4(0, 1, 2, 3), I.i32x4add, get(v.where), get(v.m), I.bitselect, set(v.where),
                  get(v.e), get(v.c), I.add, set(v.e),
                ),
              ),
              scatter(0), scatter(1), scatter(2), scatter(3),
            ),
          ),
        ),
      ),
    );
  });

/**
 * col2im: dx[n, r, q, ci] += cols[(n, oy, ox), (i, j, ci)] for r = oy * sh + i - top and
 * q = ox * sw + j - left inside the image; dx (float32 NHWC, [n, h, w, ci]) is zeroed first.
 * The rows of cols are [kh, kw, ci] patches; a window's in-image taps of one row are contiguous
 * in both (any stride, no dilation), and are added four floats at a time.
 */
const col2im = fn('col2im',
  ['cols', 'dx', 'n', 'h', 'w', 'ci', 'oh', 'ow', 'kh', 'kw', 'sh', 'sw', 'top', 'left'],
  {
    b: 'i32', y: 'i32', z: 'i32', i: 'i32', r: 'i32', t: 'i32', q0: 'i32', q1: 'i32', j0: 'i32',
    src: 'i32', dst: 'i32', end: 'i32', row: 'i32', len: 'i32',
  },
  (v) => {
    // dst[0..len) += src[0..len) (byte pointers; len in floats)
    const addRun = seq(
      get(v.len), i32(2), I.shl, get(v.dst), I.add, set(v.end),
      I.block(I.loop(
        get(v.dst), i32(16), I.add, get(v.end), I.gt, I.brIf(1),
        get(v.dst), get(v.dst), I.load(), get(v.src), I.load(), I.f32x4add, I.store(),
        get(v.dst), i32(16), I.add, set(v.dst), get(v.src), i32(16), I.add, set(v.src),
        I.br(0),
      )),
      I.block(I.loop(
        get(v.dst), get(v.end), I.ge, I.brIf(1),
        get(v.dst), get(v.dst), I.f32load(), get(v.src), I.f32load(), I.f32add, I.f32store(),
        get(v.dst), i32(4), I.add, set(v.dst), get(v.src), i32(4), I.add, set(v.src),
        I.br(0),
      )),
    );
    return seq(
      get(v.dx), i32(0), get(v.n), get(v.h), I.mul, get(v.w), I.mul, get(v.ci), I.mul, i32(2), I.shl, I.fill,
      // row: bytes of one row of cols
      get(v.kh), get(v.kw), I.mul, get(v.ci), I.mul, i32(2), I.shl, set(v.row),
      forRange(v.b, i32(0), get(v.n), i32(1),
        forRange(v.y, i32(0), get(v.oh), i32(1),
          forRange(v.z, i32(0), get(v.ow), i32(1),
            // q0..q1: the in-image columns of this output pixel's window; j0: the first tap
            get(v.z), get(v.sw), I.mul, get(v.left), I.sub, set(v.t),
            atLeastZero(v.t), set(v.q0),
            get(v.q0), get(v.t), I.sub, set(v.j0),
            get(v.t), get(v.kw), I.add, set(v.t), atMost(v.t, v.w), set(v.q1),
            forRange(v.i, i32(0), get(v.kh), i32(1),
              get(v.y), get(v.sh), I.mul, get(v.i), I.add, get(v.top), I.sub, set(v.r),
              get(v.r), i32(0), I.ge, get(v.r), get(v.h), I.lt, I.and,
              I.if(
                // the window's in-image taps of this row: one contiguous run in cols and in dx
                get(v.q1), get(v.q0), I.sub, get(v.ci), I.mul, set(v.len),
                // src = cols + p * row + ((i * kw + j0) * ci) * 4, p = (b * oh + y) * ow + z
                get(v.b), get(v.oh), I.mul, get(v.y), I.add, get(v.ow), I.mul, get(v.z), I.add, get(v.row), I.mul, get(v.cols), I.add,
                get(v.i), get(v.kw), I.mul, get(v.j0), I.add, get(v.ci), I.mul, i32(2), I.shl, I.add, set(v.src),
                // dst = dx + (((b * h + r) * w + q0) * ci) * 4
                get(v.b), get(v.h), I.mul, get(v.r), I.add, get(v.w), I.mul, get(v.q0), I.add, get(v.ci), I.mul, i32(2), I.shl, get(v.dx), I.add, set(v.dst),
                addRun,
              ),
            ),
          ),
        ),
      ),
    );
  });

/**
 * The transposed patch matrix of a one-channel image for a stride-1 convolution:
 * colsT[i * kw + j, (b * oh + y) * ow + z] = x[b, y + i - top, z + j - left] (0 outside the
 * image). With it, the filter gradient of a network's first (grayscale) layer is one matrix
 * product colsT x dy.
 */
const im2colT1 = fn('im2colT1', ['x', 'colsT', 'n', 'h', 'w', 'oh', 'ow', 'kh', 'kw', 'top', 'left'],
  { i: 'i32', j: 'i32', b: 'i32', y: 'i32', r: 'i32', z0: 'i32', z1: 'i32', t: 'i32', len: 'i32', src: 'i32', dst: 'i32', end: 'i32' },
  (v) => {
    // dst[0..len) = src[0..len) (byte pointers; len in floats)
    const copyRun = seq(
      get(v.len), i32(2), I.shl, get(v.dst), I.add, set(v.end),
      I.block(I.loop(
        get(v.dst), i32(16), I.add, get(v.end), I.gt, I.brIf(1),
        get(v.dst), get(v.src), I.load(), I.store(),
        get(v.dst), i32(16), I.add, set(v.dst), get(v.src), i32(16), I.add, set(v.src),
        I.br(0),
      )),
      I.block(I.loop(
        get(v.dst), get(v.end), I.ge, I.brIf(1),
        get(v.dst), get(v.src), I.f32load(), I.f32store(),
        get(v.dst), i32(4), I.add, set(v.dst), get(v.src), i32(4), I.add, set(v.src),
        I.br(0),
      )),
    );
    return seq(
      get(v.colsT), i32(0), get(v.kh), get(v.kw), I.mul, get(v.n), I.mul, get(v.oh), I.mul, get(v.ow), I.mul, i32(2), I.shl, I.fill,
      forRange(v.i, i32(0), get(v.kh), i32(1),
        forRange(v.j, i32(0), get(v.kw), i32(1),
          // z0..z1: the output columns whose tap j falls inside the image
          get(v.left), get(v.j), I.sub, set(v.t), atLeastZero(v.t), set(v.z0),
          get(v.w), get(v.j), I.sub, get(v.left), I.add, set(v.t), atMost(v.t, v.ow), set(v.z1),
          get(v.z1), get(v.z0), I.sub, set(v.len),
          forRange(v.b, i32(0), get(v.n), i32(1),
            forRange(v.y, i32(0), get(v.oh), i32(1),
              get(v.y), get(v.i), I.add, get(v.top), I.sub, set(v.r),
              get(v.r), i32(0), I.ge, get(v.r), get(v.h), I.lt, I.and, get(v.len), i32(0), I.gt, I.and,
              I.if(
                // dst = colsT + ((i * kw + j) * n * oh * ow + (b * oh + y) * ow + z0) * 4
                get(v.i), get(v.kw), I.mul, get(v.j), I.add, get(v.n), I.mul, get(v.oh), I.mul, get(v.ow), I.mul,
                get(v.b), get(v.oh), I.mul, get(v.y), I.add, get(v.ow), I.mul, I.add, get(v.z0), I.add, i32(2), I.shl, get(v.colsT), I.add, set(v.dst),
                // src = x + ((b * h + r) * w + z0 + j - left) * 4
                get(v.b), get(v.h), I.mul, get(v.r), I.add, get(v.w), I.mul, get(v.z0), I.add, get(v.j), I.add, get(v.left), I.sub, i32(2), I.shl, get(v.x), I.add, set(v.src),
                copyRun,
              ),
            ),
          ),
        ),
      ),
    );
  });

/**
 * acc[k] += x[b * period + k] (as float64) for every block b < blocks and k < period, period
 * even: the column sums of a [rows, cols] matrix when period is a multiple of cols.
 */
const sumBlocks = fn('sumBlocks', ['x', 'acc', 'blocks', 'period'], { src: 'i32', end: 'i32', a: 'i32', stop: 'i32' }, (v) => seq(
  get(v.x), set(v.src),
  get(v.blocks), get(v.period), I.mul, i32(2), I.shl, get(v.x), I.add, set(v.end),
  get(v.period), i32(3), I.shl, get(v.acc), I.add, set(v.stop),
  I.block(I.loop(
    get(v.src), get(v.end), I.ge, I.brIf(1),
    forRange(v.a, get(v.acc), get(v.stop), i32(16),
      get(v.a), get(v.a), I.load(), get(v.src), I.load64zero(), I.f64x2promoteLow, I.f64x2add, I.store(),
      get(v.src), i32(8), I.add, set(v.src),
    ),
    I.br(0),
  )),
));

export interface WasmLoops {
  maxPoolGrad(x: number, dy: number, dx: number, n: number, h: number, w: number, c: number, oh: number, ow: number,
    kh: number, kw: number, sh: number, sw: number, top: number, left: number): void;
  col2im(cols: number, dx: number, n: number, h: number, w: number, ci: number, oh: number, ow: number,
    kh: number, kw: number, sh: number, sw: number, top: number, left: number): void;
  sumBlocks(x: number, acc: number, blocks: number, period: number): void;
  im2colT1(x: number, colsT: number, n: number, h: number, w: number, oh: number, ow: number, kh: number, kw: number, top: number, left: number): void;
  /** dst[t, i, o] = src[o, i, t] (32-bit values; transpose-loop.ts). */
  transposeOIT(src: number, dst: number, o: number, i: number, t: number): void;
  /** Winograd F(2×2, 3×3) input transform (winograd-loops.ts). */
  winogradInput(pad: number, table: number, n: number, th: number, tw: number, wp: number, c: number): void;
  /** Winograd F(2×2, 3×3) output transform, bias and clamp (winograd-loops.ts). */
  winogradOutput(table: number, out: number, bias: number, n: number, th: number, tw: number, oh: number, ow: number, co: number, lo: number, hi: number): void;
}

/** The part of the WebAssembly API used here (the project's TypeScript lib has no WebAssembly types). */
interface WebAssemblyApi {
  Memory: abstract new (...args: never[]) => { buffer: ArrayBufferLike };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

const instances = new WeakMap<BackendWasm, WasmLoops>();
const compiled = new Map<boolean, object>();

/** The loops, bound to this backend's memory. */
export function wasmLoops(backend: BackendWasm): WasmLoops {
  let loops = instances.get(backend);
  if (loops) return loops;
  // The Emscripten module: the threaded build keeps its (shared) memory as wasmMemory, the
  // others export it from the instance.
  const module = (backend as unknown as { wasm: { wasmMemory?: unknown; asm?: { memory?: unknown } } }).wasm;
  const memory = module.wasmMemory ?? module.asm?.memory;
  if (!(memory instanceof WA.Memory)) {
    throw new Error("tsfreeze: cannot find the wasm backend's WebAssembly.Memory (a tfjs-backend-wasm version tsfreeze does not know?)");
  }
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  let compiledModule = compiled.get(shared);
  if (!compiledModule) {
    compiledModule = new WA.Module(buildModule([maxPoolGrad, col2im, sumBlocks, im2colT1, transposeOIT, winogradInput, winogradOutput], shared));
    compiled.set(shared, compiledModule);
  }
  loops = new WA.Instance(compiledModule, { env: { memory } }).exports as WasmLoops;
  instances.set(backend, loops);
  return loops;
}
