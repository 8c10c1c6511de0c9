/** Weight drift sampling as a callback: each layer's ‖W − W₀‖ / ‖W₀‖ every N steps and at the end, into history.drift. */
import type { ModelLike } from '../model/weights';
import type { Callback } from './callbacks';
import { DriftTracker } from './history';

/** Default sampling: 4 times per epoch; every 10 steps while the epoch's length is unknown. */
export function defaultSampleEvery(stepsPerEpoch: number | undefined): number {
  return stepsPerEpoch === undefined ? 10 : Math.max(1, Math.ceil(stepsPerEpoch / 4));
}

/** Samples the drift every `sampleEvery` steps (default: 4 times per epoch) and after the last step. */
export function driftCallback(model: ModelLike, sampleEvery: number | undefined): Callback {
  if (sampleEvery !== undefined && (!Number.isInteger(sampleEvery) || sampleEvery < 1)) throw new Error(`train: sampleEvery must be a positive integer, got ${sampleEvery}`);
  let tracker: DriftTracker | undefined;
  let every = sampleEvery ?? 10;
  return {
    name: 'drift',
    onTrainBegin(ctx) {
      tracker = new DriftTracker(model);
      ctx.history.drift = tracker.drift;
      every = sampleEvery ?? defaultSampleEvery(ctx.stepsPerEpoch);
      tracker.sample(0);
    },
    onStep({ step }) {
      if (step % every === 0) tracker?.sample(step);
    },
    onEpochEnd(_log, ctx) {
      // A Dataset's length is known once its first epoch is done.
      if (sampleEvery === undefined && ctx.epoch === 1) every = defaultSampleEvery(ctx.stepsPerEpoch);
    },
    onTrainEnd({ error }, ctx) {
      // A run stopped by an interrupt that rejects still ends with its last sample.
      if (error === undefined || ctx.history.stopped) tracker?.sample(ctx.step);
      tracker?.dispose();
    },
  };
}
