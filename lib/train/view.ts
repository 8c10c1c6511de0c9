/**
 * A live view of a training run, provided by a notebook kernel: progress and plots that update
 * in place while train() runs. The library only knows this interface; the kernel (which may
 * use lib/plot) registers the factory, so data still flows one way.
 */
import type { ModelLike } from '../model/weights';
import type { EpochLog, History } from './history';
import type { ProgressSink } from './progress';
import type { StepInfo, TrainEvent } from './callbacks';

/** What train() feeds a live view. */
export interface TrainingView {
  /** Progress after every step. */
  sink: ProgressSink;
  /** After every step; a returned promise is awaited (lets the view's messages leave). */
  onStep?(info: StepInfo): void | Promise<void>;
  /** After every epoch. */
  onEpoch?(log: EpochLog): void | Promise<void>;
  /** When a schedule unfreezes layers, the feature cache moves, or the run stops early. */
  onEvent?(e: TrainEvent): void | Promise<void>;
  /** Once at the end, with the history (undefined when training failed). */
  finish(history: History | undefined): Promise<void>;
}

/** Makes the view of one run of `model`. */
export type TrainingViewFactory = (model: ModelLike) => TrainingView;

const SLOT = Symbol.for('tsfreeze.trainingview');

/** Installs (or removes, with null) the live view train() uses when `progress` is not given. */
export function setTrainingViewFactory(factory: TrainingViewFactory | null): void {
  (globalThis as Record<symbol, unknown>)[SLOT] = factory ?? undefined;
}

/** The installed live-view factory, when a kernel installed one. */
export function trainingViewFactory(): TrainingViewFactory | null {
  return ((globalThis as Record<symbol, unknown>)[SLOT] as TrainingViewFactory | undefined) ?? null;
}
