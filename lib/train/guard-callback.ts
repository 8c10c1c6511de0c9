/**
 * The frozen-weight guard as a callback: fingerprints the frozen weights when training begins,
 * re-checks them after every epoch (or every step, or every N steps), and after a schedule
 * unfreezes weights checks once more and stops guarding those.
 */
import { checkFrozen, fingerprint, type Fingerprint } from '../freeze/guard';
import type { ModelLike } from '../model/weights';
import type { Callback } from './callbacks';

/** When the frozen-weight guard re-checks: after every epoch (default), every step, or every N steps. */
export type GuardEvery = 'epoch' | 'step' | number;

/** The guard's setting from train()'s `guard` option (undefined: off). */
export function guardEveryOf(g: boolean | { every: GuardEvery } | undefined): GuardEvery | undefined {
  if (g === undefined || g === true) return 'epoch';
  if (g === false) return undefined;
  const every = (g as { every?: unknown }).every;
  if (every === 'epoch' || every === 'step') return every;
  if (typeof every === 'number' && Number.isInteger(every) && every >= 1) return every;
  throw new Error(`train: guard must be true, false or { every: 'epoch' | 'step' | N }, got ${JSON.stringify(g)}`);
}

/** A callback that throws FrozenWeightError as soon as it sees a frozen weight moved. */
export function guardCallback(model: ModelLike, every: GuardEvery): Callback {
  let fp: Fingerprint | undefined;
  const check = () => { if (fp) checkFrozen(model, fp); };
  return {
    name: 'guard',
    onTrainBegin() {
      fp = fingerprint(model);
    },
    onStep({ step }) {
      if (every === 'step' || (typeof every === 'number' && step % every === 0)) check();
    },
    onEpochEnd() {
      check();
    },
    onEvent(e) {
      if (e.kind !== 'unfreeze') return;
      // Nothing may have moved up to now; from now on the unfrozen weights are not guarded.
      check();
      fp = fingerprint(model);
    },
  };
}
