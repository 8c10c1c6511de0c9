/**
 * TF.js optimizers keep their state (momentum, Adam's moments, ...) in arrays indexed by the
 * position of a variable in the list handed to `applyGradients`, not by the variable. Reused
 * across runs whose trainable set changed (a layer frozen or unfrozen in between), the state of
 * one weight is applied to another: an error when the shapes differ, a silently wrong update when
 * they agree. PyTorch keeps state per parameter; this module gives TF.js's built-in optimizers
 * that behaviour, and restores Adam's bias-correction powers exactly after `setWeights`.
 *
 * Both reach into the optimizers' private fields (tfjs-core 4.x names, checked before use).
 */
import * as tf from '@tensorflow/tfjs';

/** One entry of an optimizer's positional state: the variable it follows is in originalName (`<variable>/<slot>`). */
interface StateEntry {
  originalName: string;
  variable: tf.Variable;
}

/** A state array of an optimizer class: its field, the suffix TF.js names entries with, and the initial value. */
interface StateField {
  field: string;
  suffix: string;
  /** The value a fresh entry starts from (Adagrad: its initial accumulator value). */
  init: (opt: Record<string, unknown>) => number;
  /** Whether the optimizer keeps this state at all (RMSProp's mean gradients: only when centered). */
  used?: (opt: Record<string, unknown>) => boolean;
}

const zero = (): number => 0;

/** The state arrays of TF.js's built-in optimizers, by class name (tfjs-core 4.x). */
const STATE_FIELDS: Record<string, StateField[]> = {
  SGD: [],
  Momentum: [{ field: 'accumulations', suffix: 'momentum', init: zero }],
  Adam: [
    { field: 'accumulatedFirstMoment', suffix: 'm', init: zero },
    { field: 'accumulatedSecondMoment', suffix: 'v', init: zero },
  ],
  Adamax: [
    { field: 'accumulatedFirstMoment', suffix: 'm', init: zero },
    { field: 'accumulatedWeightedInfNorm', suffix: 'v', init: zero },
  ],
  RMSProp: [
    { field: 'accumulatedMeanSquares', suffix: 'rms', init: zero },
    { field: 'accumulatedMoments', suffix: 'momentum', init: zero },
    { field: 'accumulatedMeanGrads', suffix: 'mg', init: zero, used: (o) => o.centered === true },
  ],
  Adagrad: [{ field: 'accumulatedGrads', suffix: 'accumulator', init: (o) => Number(o.initialAccumulatorValue ?? 0.1) }],
  Adadelta: [
    { field: 'accumulatedGrads', suffix: 'accum_grad', init: zero },
    { field: 'accumulatedUpdates', suffix: 'accum_var', init: zero },
  ],
};

/** Whether `optimizer` is one of TF.js's own (whose state layout this module knows). */
export function isBuiltInOptimizer(optimizer: tf.Optimizer): boolean {
  return Object.prototype.hasOwnProperty.call(STATE_FIELDS, optimizer.getClassName());
}

/** What aligning an optimizer's state did, for the run's history. */
export interface StateAlignment {
  /** Weights whose state moved to its new position (0 when the order was already right). */
  moved: number;
  /** Weights of this run that had no state yet and start fresh, as in a new optimizer. */
  fresh: number;
  /** State of weights not in this run, kept (after the run's positions) for a later run. */
  setAside: number;
}

/**
 * Reorders `optimizer`'s state so that position i follows `variables[i]`, matching entries by the
 * variable name they were made for; weights without state get a fresh entry, state of other
 * weights is kept after the run's positions. Throws for an optimizer whose state layout is unknown
 * and not already aligned.
 */
export function alignOptimizerState(optimizer: tf.Optimizer, variables: readonly tf.Variable[]): StateAlignment {
  const className = optimizer.getClassName();
  const opt = optimizer as unknown as Record<string, unknown>;
  const fields = isBuiltInOptimizer(optimizer) ? STATE_FIELDS[className].filter((f) => f.used?.(opt) ?? true) : undefined;
  const result: StateAlignment = { moved: 0, fresh: 0, setAside: 0 };
  if (fields === undefined) {
    assertUnknownAligned(optimizer, variables);
    return result;
  }
  for (const f of fields) {
    const arr = opt[f.field];
    if (!Array.isArray(arr)) throw new Error(`train: ${className}'s state field '${f.field}' is missing: this TF.js version keeps optimizer state differently; pass a new optimizer (or a factory) instead of a used one`);
  }
  const names = variables.map((v) => v.name);
  if (fields.every((f) => inPlace(opt[f.field] as Array<StateEntry | undefined>, names))) return result;

  const wanted = new Set(names);
  for (const f of fields) {
    const old = opt[f.field] as Array<StateEntry | undefined>;
    const byVar = new Map<string, StateEntry>();
    for (const e of old) if (e) byVar.set(ownerOf(e.originalName), e);
    const next: StateEntry[] = variables.map((v, i) => {
      const e = byVar.get(v.name);
      if (e === undefined) {
        if (f === fields[0]) result.fresh++;
        return { originalName: `${v.name}/${f.suffix}`, variable: tf.tidy(() => tf.fill(v.shape, f.init(opt), 'float32').variable(false)) };
      }
      if (f === fields[0] && old[i] !== e) result.moved++;
      return e;
    });
    const aside = [...byVar].filter(([name]) => !wanted.has(name)).map(([, e]) => e);
    if (f === fields[0]) result.setAside = aside.length;
    opt[f.field] = [...next, ...aside];
  }
  return result;
}

/**
 * Sets Adam's running powers β^(t+1) to the values `t` training steps make them, product by
 * product in float32 as applyGradients does. TF.js's setWeights computes them with `pow`
 * instead, which differs in the last bits, so a resumed run drifts from an uninterrupted one.
 * (Adamax has no setWeights in TF.js 4.x; other optimizers keep no such powers.)
 */
export function restoreBiasCorrection(optimizer: tf.Optimizer): void {
  if (optimizer.getClassName() !== 'Adam') return;
  const opt = optimizer as unknown as Record<string, unknown>;
  const steps = optimizer.iterations;
  const powers: Array<[string, string]> = [['accBeta1', 'beta1'], ['accBeta2', 'beta2']];
  for (const [acc, beta] of powers) {
    const v = opt[acc];
    const b = opt[beta];
    if (!(v instanceof tf.Variable) || typeof b !== 'number') continue;
    tf.tidy(() => v.assign(tf.scalar(float32Power(b, steps + 1))));
  }
}

/** b^n as n − 1 float32 multiplications starting from float32(b), the order TF.js accumulates it in. */
export function float32Power(b: number, n: number): number {
  const f = Math.fround(b);
  let acc = f;
  // A float32 × float32 product is exact in float64, so one fround is IEEE float32 multiplication.
  for (let i = 1; i < n; i++) acc = Math.fround(acc * f);
  return acc;
}

/** Whether every entry of a state array sits at the position of the variable it was made for. */
function inPlace(arr: ReadonlyArray<StateEntry | undefined>, names: readonly string[]): boolean {
  for (let i = 0; i < arr.length; i++) {
    const e = arr[i];
    if (e === undefined || e === null) {
      if (i < names.length) return false;
      continue;
    }
    if (i >= names.length || ownerOf(e.originalName) !== names[i]) return false;
  }
  return true;
}

/** The variable a state entry follows: its name less the slot suffix (`dense/kernel/m` → `dense/kernel`). */
function ownerOf(originalName: string): string {
  const slash = originalName.lastIndexOf('/');
  return slash > 0 ? originalName.slice(0, slash) : originalName;
}

/** For an optimizer class this module does not know: fine while it has no state or its state is in order. */
function assertUnknownAligned(optimizer: tf.Optimizer, variables: readonly tf.Variable[]): void {
  const opt = optimizer as unknown as Record<string, unknown>;
  const names = variables.map((v) => v.name);
  for (const [field, value] of Object.entries(opt)) {
    if (!Array.isArray(value) || value.length === 0) continue;
    const entries = value.filter((e): e is StateEntry => e !== null && typeof e === 'object' && typeof (e as StateEntry).originalName === 'string');
    if (entries.length === 0) continue;
    if (!inPlace(value as StateEntry[], names)) {
      throw new Error(`train: the ${optimizer.getClassName()} optimizer passed in has state (${field}) for weights in another order than this run's (${entries.slice(0, 3).map((e) => ownerOf(e.originalName)).join(', ')}${entries.length > 3 ? ', …' : ''}); TF.js applies state by position, so it would update the wrong weights. Pass a new optimizer, or train the same set of weights as before`);
    }
  }
}
