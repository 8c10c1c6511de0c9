/**
 * The callback interface of train() (Keras's callbacks and fastai's Callback as models): named
 * events around the loop, a context to read the run and act on it (stop, unfreeze, set a
 * learning rate), and the dispatcher that calls the callbacks in order. The frozen-weight guard,
 * drift sampling, progress, the notebook view, schedules and the user's hooks are all callbacks.
 */
import type { ModelLike } from '../model/weights';
import type { Selector } from '../freeze/selector';
import type { EpochLog, History } from './history';
import type { OptimizerSpec } from './groups';

export type Awaitable<T> = T | Promise<T>;

/** What onStep sees after each step. */
export interface StepInfo {
  /** Steps done so far, 1-based. */
  step: number;
  /** 1-based. */
  epoch: number;
  /** Batch index within the epoch, 0-based. */
  batch: number;
  loss: number;
  /** Samples in the batch. */
  size: number;
}

/** What onBatchBegin sees before a step. */
export interface BatchInfo {
  /** The step about to run, 1-based. */
  step: number;
  epoch: number;
  batch: number;
  size: number;
}

/** Something that changed during a run: a schedule unfroze layers or set a learning rate, the feature cache moved, the run stopped. */
export interface TrainEvent {
  kind: 'unfreeze' | 'lr' | 'cache' | 'stop' | (string & {});
  /** Steps done when it happened. */
  step: number;
  /** The epoch it happened in (or before, for epoch-begin events), 1-based. */
  epoch: number;
  /** One line for people: what happened and why. */
  message: string;
  /** Weights concerned (an unfreeze: the weights now trained). */
  keys?: string[];
  /** Parameter group concerned. */
  group?: string;
  lr?: number;
}

/** How a weight set unfrozen during a run is trained. */
export interface UnfreezeOptions {
  /** Learning rate of the new parameter group (default: the run's lr). */
  lr?: number;
  /** Name of the new group (default `unfrozen<i>`). */
  name?: string;
  /** Its optimizer (default: the run's optimizer when that is a name or a factory). */
  optimizer?: OptimizerSpec;
  momentum?: number;
  weightDecay?: number;
  /** 'train' (default, as Lightning's train_bn=True): unfrozen BatchNorm layers use batch statistics again; 'freeze': they keep normalising with their moving statistics. */
  bn?: 'train' | 'freeze';
}

/** What callbacks see of a run, and what they may do to it. */
export interface TrainContext {
  readonly model: ModelLike;
  /** The history so far (the same object train() resolves to). */
  readonly history: History;
  readonly epochs: number;
  /** Steps per epoch, when known (a Dataset of unknown size: after the first epoch). */
  readonly stepsPerEpoch: number | undefined;
  /** Steps done so far. */
  readonly step: number;
  /** The current epoch, 1-based (0 before the first). */
  readonly epoch: number;
  /** Whether a stop was asked for; the run stops at the next step boundary. */
  readonly stopping: boolean;
  /** Asks the run to stop at the next step boundary; it resolves with the history so far (`history.stopped: 'callback'`). */
  stop(message?: string): void;
  /** Unfreezes weights and trains them from now on in a new parameter group; returns the keys that started training. */
  unfreeze(selector: Selector, opts?: UnfreezeOptions): string[];
  /** The current learning rate of a parameter group (by name, as in history.groups). */
  lr(group: string): number;
  /** Sets a parameter group's learning rate from the next step on. */
  setLr(group: string, lr: number): void;
  /** Records an event in history.events and tells every callback (onEvent). */
  event(e: Omit<TrainEvent, 'step' | 'epoch'>): void;
}

/** How a run ended, for onTrainEnd. */
export interface TrainEnd {
  history: History;
  /** The error that ended the run, if one did. */
  error?: unknown;
}

/**
 * A participant in a run. Every method is optional and may return a promise (awaited before the
 * loop goes on). Returning false from onStep or onEpochEnd stops the run, as ctx.stop() does.
 */
export interface Callback {
  /** Shown in events and stop messages. */
  name?: string;
  onTrainBegin?(ctx: TrainContext): Awaitable<void>;
  /** Before epoch `epoch` (1-based); schedules unfreeze and set learning rates here. */
  onEpochBegin?(epoch: number, ctx: TrainContext): Awaitable<void>;
  onBatchBegin?(info: BatchInfo, ctx: TrainContext): Awaitable<void>;
  /** After each step (the optimizers have run). */
  onStep?(info: StepInfo, ctx: TrainContext): Awaitable<void | boolean>;
  /** After each epoch, with its log (validation included). */
  onEpochEnd?(log: EpochLog, ctx: TrainContext): Awaitable<void | boolean>;
  /** After an event (unfreeze, learning rate, cache, stop). */
  onEvent?(event: TrainEvent, ctx: TrainContext): Awaitable<void>;
  /** Once at the end, also when the run failed (`error` set). */
  onTrainEnd?(end: TrainEnd, ctx: TrainContext): Awaitable<void>;
}

type Hook = 'onTrainBegin' | 'onEpochBegin' | 'onBatchBegin' | 'onStep' | 'onEpochEnd' | 'onEvent';

/** Calls `hook` on every callback in order; true when one of them returned false (asks to stop). */
export async function dispatch<H extends Hook>(callbacks: readonly Callback[], hook: H, ...args: Parameters<NonNullable<Callback[H]>>): Promise<boolean> {
  let stop = false;
  for (const cb of callbacks) {
    const f = cb[hook] as ((...a: unknown[]) => unknown) | undefined;
    if (!f) continue;
    let r = f.apply(cb, args);
    if (r instanceof Promise) r = await r;
    if (r === false) stop = true;
  }
  return stop;
}

/** Calls onTrainEnd on every callback, even after one throws; rethrows the first error. */
export async function dispatchEnd(callbacks: readonly Callback[], end: TrainEnd, ctx: TrainContext): Promise<void> {
  let first: { error: unknown } | undefined;
  for (const cb of callbacks) {
    if (!cb.onTrainEnd) continue;
    try {
      await cb.onTrainEnd(end, ctx);
    } catch (e) {
      first ??= { error: e };
    }
  }
  if (first) throw first.error;
}
