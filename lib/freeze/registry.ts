/**
 * Which weights of a model are frozen. Kept by tsfreeze, not in TF.js's `trainable` flags alone:
 * a Sequential resets those flags when it builds, and the training loop must not be fooled.
 */
import type { ModelLike, WeightSlot } from '../model/weights';
import { weightSlots } from '../model/weights';

const frozen = new WeakMap<object, Set<string>>();

/** The structural keys frozen in `model` (a live set: callers must not change it). */
export function frozenKeys(model: ModelLike): ReadonlySet<string> {
  return frozen.get(model) ?? new Set();
}

/** Records `keys` as frozen (true) or trainable (false) in `model`. */
export function markFrozen(model: ModelLike, keys: Iterable<string>, value: boolean): void {
  const set = frozen.get(model) ?? new Set<string>();
  for (const k of keys) (value ? set.add(k) : set.delete(k));
  frozen.set(model, set);
}

/** Whether a weight is frozen: by tsfreeze's record, or because TF.js says it is not trainable. */
export function isFrozen(model: ModelLike, slot: WeightSlot): boolean {
  return frozenKeys(model).has(slot.key) || !slot.trainable;
}

/** The weights a training loop may update, in weightSlots order (the order optimizer state follows). */
export function trainableSlots(model: ModelLike): WeightSlot[] {
  const set = frozenKeys(model);
  return weightSlots(model).filter((s) => !set.has(s.key) && !isStatistic(s));
}

/** The weights that must not move: frozen ones and every BatchNorm statistic of a frozen BatchNorm layer. */
export function frozenSlots(model: ModelLike): WeightSlot[] {
  const set = frozenKeys(model);
  return weightSlots(model).filter((s) => set.has(s.key));
}

/** Whether a weight is a running statistic rather than a parameter (BatchNorm's moving mean and variance; lib/model/torch-layout.ts says which). */
export function isStatistic(s: WeightSlot): boolean {
  return s.statistic;
}
