/**
 * Convolutions fused with the BatchNorms and the activation that follow them, for inference.
 *
 * A model with PyTorch's layout runs conv → BatchNorm → ReLU as three kernels: the convolution
 * (XNNPACK), then two passes over its output for the BatchNorm and one for the ReLU. In eval
 * mode the BatchNorm is a per-channel affine map, which folds into the convolution's weights
 * (W' = W·a, b' = b·a + β − μ·a with a = γ/√(σ²+ε)), and XNNPACK clamps for ReLU and ReLU6 as it
 * writes its output: one kernel instead of three (mobilenet_v2: a quarter of a forward pass).
 *
 * The convolution kernels return a pending output (../lazy.ts) with a recipe: the convolution's
 * inputs and geometry, the BatchNorms folded in so far and the activation. FusedBatchNorm, Relu,
 * Relu6 and ClipByValue(0, 6) given such an output return a new pending output with a longer
 * recipe (Reshape and Identity pass it through); any other use computes the recipe, in one call
 * of the backend's own fused convolution (its C function, writing into the pending tensor), or
 * for 3 × 3 stride-1 convolutions by Winograd's F(2×2, 3×3) (winograd.ts).
 *
 * Only outside gradient recording: under a tape the kernels run as TF.js composed them, since
 * their gradients read the intermediate results (a ReLU's input, a BatchNorm's input for its
 * scale's gradient), which would then be computed a second time. So a forward pass gives the
 * same values wherever it runs outside a tape (predict, frozen features), and TF.js's own
 * values under one; the two differ by float rounding (about 1e-6 relative).
 *
 * Folded weights are new tensors, which XNNPACK packs once (the backend keeps its operators by
 * filter and bias); they are kept, by the identity of the tensors they come from, until one of
 * those is freed (a variable assigned a new value frees its old tensor). They take as much
 * memory as the convolutions' own weights.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { deferOutput, onFreed, pendingRecipe, settle } from '../lazy';
import { heap, type Attrs, type Pad, type Rounding, type Shape4, type TensorInfo } from './util';
import { winogradConv, winogradFits } from './winograd';

type DataId = TensorInfo['dataId'];

/** Activations XNNPACK applies as it writes a convolution's output (its clamps). */
export type ConvActivation = 'linear' | 'relu' | 'relu6';

/** The backend's FusableActivation numbers (tfjs-backend-wasm's cc/fusable_activations.h). */
const ACTIVATION_CODE: Record<ConvActivation, number> = { linear: 0, relu: 1, relu6: 2 };

/** The activations as clamps [lo, hi]. */
const CLAMP: Record<ConvActivation, [number, number]> = { linear: [-Infinity, Infinity], relu: [0, Infinity], relu6: [0, 6] };

/** An inference BatchNorm: x·a + b per channel with a = scale/√(variance+eps), b = offset − mean·a. */
export interface NormStep {
  mean: TensorInfo;
  variance: TensorInfo;
  offset?: TensorInfo;
  scale?: TensorInfo;
  eps: number;
}

/** A pending convolution output: what computes it. */
export interface ConvRecipe {
  readonly kind: 'conv';
  depthwise: boolean;
  x: TensorInfo;
  filter: TensorInfo;
  bias?: TensorInfo;
  info: tf.backend_util.Conv2DInfo;
  /** BatchNorms folded in, in order. */
  norms: NormStep[];
  activation: ConvActivation;
}

/** The recipe of a pending convolution output, or undefined. */
export function convRecipeOf(dataId: DataId): ConvRecipe | undefined {
  const r = pendingRecipe(dataId) as ConvRecipe | undefined;
  return r?.kind === 'conv' ? r : undefined;
}

/** Whether a gradient tape records kernels now (then nothing is fused). */
export function recording(): boolean {
  return tf.engine().state.gradientDepth > 0;
}

/** Whether fused convolutions may be deferred at all (switched off for comparisons). */
let enabled = true;

/** Turns convolution fusion on or off (on by default); pending ones are unaffected. */
export function setConvFusion(on: boolean): void {
  enabled = on;
}

/**
 * The recipe of a Conv2D / FusedConv2D / DepthwiseConv2dNative / FusedDepthwiseConv2D call, or
 * null when it cannot be deferred (not float32 NHWC, a PReLU/leaky/ELU/sigmoid activation, no
 * fusion). Throws where the backend's kernel would for bad geometry.
 */
export function convRecipe(inputs: Record<string, TensorInfo | undefined>, attrs: Attrs, depthwise: boolean): ConvRecipe | null {
  const { x, filter, bias, preluActivationWeights } = inputs;
  if (!enabled || x == null || filter == null || recording()) return null;
  const activation = (attrs.activation ?? 'linear') as string;
  if (!(activation in ACTIVATION_CODE) || preluActivationWeights != null) return null;
  if ((attrs.dataFormat ?? 'NHWC') !== 'NHWC' || x.dtype !== 'float32' || filter.dtype !== 'float32' || (bias != null && bias.dtype !== 'float32')) return null;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4, filter.shape as Shape4, attrs.strides as [number, number], (attrs.dilations ?? 1) as [number, number],
    attrs.pad as Pad, attrs.dimRoundingMode as Rounding, depthwise);
  if (bias != null && (bias.shape.length !== 1 || bias.shape[0] !== info.outChannels)) return null;
  return { kind: 'conv', depthwise, x, filter, bias, info, norms: [], activation: activation as ConvActivation };
}

/** The tensors a recipe reads. */
function tensorsOf(r: ConvRecipe): TensorInfo[] {
  const out = [r.x, r.filter];
  if (r.bias) out.push(r.bias);
  for (const n of r.norms) {
    out.push(n.mean, n.variance);
    if (n.offset) out.push(n.offset);
    if (n.scale) out.push(n.scale);
  }
  return out;
}

/**
 * A pending output computed by the recipe, of `shape` (the convolution's output shape, or the
 * shape of a reshaped view of it); null when pending outputs are not available (compute now).
 */
export function deferConv(backend: BackendWasm, r: ConvRecipe, shape: number[] = r.info.outShape): TensorInfo | null {
  return deferOutput(backend, shape.slice(), tensorsOf(r), (out) => runConv(backend, r, out), r);
}

/** Computes a recipe now, into a new tensor. */
export function runConvNow(backend: BackendWasm, r: ConvRecipe): TensorInfo {
  for (const t of tensorsOf(r)) settle(t.dataId);
  const out = backend.makeOutput(r.info.outShape, 'float32');
  runConv(backend, r, out);
  return out;
}

type ConvFn = (...args: number[]) => void;
const convFns = new WeakMap<BackendWasm, { conv: ConvFn; depthwise: ConvFn }>();

/** The backend's C functions behind FusedConv2D and FusedDepthwiseConv2D (23 numbers, output id last). */
function cFunctions(backend: BackendWasm): { conv: ConvFn; depthwise: ConvFn } {
  let fns = convFns.get(backend);
  if (!fns) {
    const types = new Array<string>(23).fill('number');
    const wasm = backend.wasm as unknown as { cwrap(name: string, ret: null, args: string[]): ConvFn };
    fns = { conv: wasm.cwrap('FusedConv2D', null, types), depthwise: wasm.cwrap('FusedDepthwiseConv2D', null, types) };
    convFns.set(backend, fns);
  }
  return fns;
}

/** Runs the recipe with the backend's fused convolution, writing into `out`. */
function runConv(backend: BackendWasm, r: ConvRecipe, out: TensorInfo): void {
  const { filter, bias } = r.norms.length ? folded(backend, r) : { filter: r.filter, bias: r.bias };
  const i = r.info;
  if (winogradFits(i, r.depthwise)) {
    const [lo, hi] = CLAMP[r.activation];
    winogradConv(backend, r.x, filter, bias, i, lo, hi, out);
    return;
  }
  const id = (t: TensorInfo): number => backend.dataIdMap.get(t.dataId)!.id;
  const fn = r.depthwise ? cFunctions(backend).depthwise : cFunctions(backend).conv;
  fn(id(r.x), i.batchSize, i.inHeight, i.inWidth, id(filter), i.filterHeight, i.filterWidth, bias ? id(bias) : 0,
    i.padInfo.top, i.padInfo.right, i.padInfo.bottom, i.padInfo.left, i.padInfo.type === 'SAME' ? 1 : 0,
    i.dilationHeight, i.dilationWidth, i.strideHeight, i.strideWidth, i.inChannels, i.outChannels,
    ACTIVATION_CODE[r.activation], 0, 0, id(out));
}

/** Whether a BatchNorm's statistics fit a convolution with `channels` outputs: float32 vectors of that length (or [1, 1, 1, C]). */
export function normFits(step: NormStep, channels: number): boolean {
  const ok = (t: TensorInfo | undefined): boolean => t == null
    || (t.dtype === 'float32' && t.shape.reduce((p, d) => p * d, 1) === channels && (t.shape.length === 0 || t.shape[t.shape.length - 1] === channels));
  return channels > 0 && [step.mean, step.variance, step.offset, step.scale].every(ok);
}

// ---- folded weights, cached by the identity of the tensors they come from ----

interface Fold {
  filter: TensorInfo;
  bias: TensorInfo;
  backend: BackendWasm;
}

const folds = new Map<string, Fold>();
const byDep = new WeakMap<object, Set<string>>();
const ids = new WeakMap<object, number>();
let nextId = 1;
let listening = false;

function idOf(dataId: object): number {
  let n = ids.get(dataId);
  if (n === undefined) ids.set(dataId, (n = nextId++));
  return n;
}

function foldKey(r: ConvRecipe): string {
  const parts = [r.depthwise ? 'd' : 'c', idOf(r.filter.dataId), r.bias ? idOf(r.bias.dataId) : 0];
  for (const n of r.norms) parts.push(idOf(n.mean.dataId), idOf(n.variance.dataId), n.offset ? idOf(n.offset.dataId) : 0, n.scale ? idOf(n.scale.dataId) : 0, n.eps);
  return parts.join(',');
}

function depsOf(r: ConvRecipe): object[] {
  return tensorsOf(r).slice(1).map((t) => t.dataId);
}

/** Drops the folds made from a freed tensor (their weights are freed: the backend then deletes its operators for them). */
function forget(dataId: object): void {
  const keys = byDep.get(dataId);
  if (!keys) return;
  for (const key of keys) {
    const fold = folds.get(key);
    if (!fold) continue;
    folds.delete(key);
    fold.backend.disposeData(fold.filter.dataId);
    fold.backend.disposeData(fold.bias.dataId);
  }
  byDep.delete(dataId);
}

/** The recipe's filter and bias with its BatchNorms folded in (made once per combination). */
function folded(backend: BackendWasm, r: ConvRecipe): { filter: TensorInfo; bias: TensorInfo } {
  const key = foldKey(r);
  const fold = folds.get(key);
  if (fold) return fold;
  const c = r.info.outChannels;
  const a = new Float64Array(c).fill(1);
  const b = new Float64Array(c);
  if (r.bias) b.set(heap(backend, r.bias));
  for (const n of r.norms) {
    const get = (t: TensorInfo | undefined, fallback: number): ((k: number) => number) => {
      if (t == null) return () => fallback;
      const v = heap(backend, t);
      return (k) => v[k];
    };
    const mean = get(n.mean, 0), variance = get(n.variance, 1), offset = get(n.offset, 0), scale = get(n.scale, 1);
    for (let k = 0; k < c; k++) {
      const s = scale(k) / Math.sqrt(variance(k) + n.eps);
      a[k] *= s;
      b[k] = (b[k] - mean(k)) * s + offset(k);
    }
  }
  // The filter's last two axes flattened run along the output channels: [kh, kw, ci, co] for a
  // convolution, [kh, kw, c, m] (output channel c·m + j) for a depthwise one.
  const filter = backend.makeOutput(r.filter.shape.slice(), 'float32');
  const src = heap(backend, r.filter);
  const dst = heap(backend, filter);
  for (let i = 0; i < src.length; i += c) {
    for (let k = 0; k < c; k++) dst[i + k] = src[i + k] * a[k];
  }
  const bias = backend.makeOutput([c], 'float32');
  heap(backend, bias).set(b);
  if (!listening) {
    onFreed(forget);
    listening = true;
  }
  folds.set(key, { filter, bias, backend });
  for (const d of depsOf(r)) {
    let set = byDep.get(d);
    if (!set) byDep.set(d, (set = new Set()));
    set.add(key);
  }
  return { filter, bias };
}

/** Folds cached now (for tests and memory accounting): how many, and their floats. */
export function foldStats(): { folds: number; floats: number } {
  let n = 0;
  let floats = 0;
  for (const f of folds.values()) {
    n++;
    floats += f.filter.shape.reduce((p, d) => p * d, 1) + f.bias.shape[0];
  }
  return { folds: n, floats };
}
