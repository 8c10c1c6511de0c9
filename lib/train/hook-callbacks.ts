/** train()'s `onStep` and `onEpoch` options as a callback: returning false stops the run. */
import type { EpochLog } from './history';
import type { Awaitable, Callback, StepInfo } from './callbacks';

export function hookCallback(onStep: ((info: StepInfo) => Awaitable<void | boolean>) | undefined, onEpoch: ((log: EpochLog) => Awaitable<void | boolean>) | undefined): Callback {
  return {
    name: 'onStep/onEpoch',
    ...(onStep ? { onStep: (info: StepInfo) => onStep(info) } : {}),
    ...(onEpoch ? { onEpochEnd: (log: EpochLog) => onEpoch(log) } : {}),
  };
}
