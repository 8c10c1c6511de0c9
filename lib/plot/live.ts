/**
 * A training figure that updates while train() runs: the library side of a notebook display
 * with a display_id. It collects step losses and epoch logs from train()'s callbacks or progress
 * sink, samples the weight drift itself when given the model, and hands successive bundles of
 * one figure to `onUpdate` at most every `interval` ms; the kernel sends the first as
 * display_data and the rest as update_display_data.
 */
import { weightSlots, type ModelLike } from '../model/weights';
import { frozenKeys, isStatistic } from '../freeze/registry';
import { DriftTracker, type EpochLog, type History } from '../train/history';
import type { ProgressInfo, ProgressSink } from '../train/progress';
import type { StepInfo } from '../train/train';
import { plotBundle, type MimeBundle, type PlotSession } from './bundle';
import { statusFromHistory, type LayerStatus } from './drift';
import type { PlotlyFigure } from './figure';
import { trainingFigure, type TrainingFigureOptions } from './training';

/** What a live plot tells its display about a bundle. */
export interface LiveUpdate {
  /** The display's id (the same for every bundle of this plot). */
  displayId: string;
  /** The first bundle: send as display_data with transient.display_id; the others as update_display_data. */
  first: boolean;
  /** The last bundle, from finish(). */
  final: boolean;
}

export interface LiveTrainingPlotOptions extends TrainingFigureOptions {
  session: PlotSession;
  /** The model being trained: the plot then samples each layer's drift live (it keeps a copy of the starting weights until finish()). */
  model?: ModelLike;
  /** Least milliseconds between two updates (default 250). */
  interval?: number;
  /** Receives every bundle; a returned promise is awaited by train() before its next step. */
  onUpdate?: (bundle: MimeBundle, update: LiveUpdate) => void | Promise<void>;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** A live training plot: wire `callbacks` (or `sink`) into train(), then `await finish(history)`. */
export interface LiveTrainingPlot {
  readonly displayId: string;
  /** train() callbacks: `train(model, data, { ...opts, ...live.callbacks })`. */
  readonly callbacks: { onStep: (info: StepInfo) => void | Promise<void>; onEpoch: (log: EpochLog) => void | Promise<void> };
  /** A progress sink, for `train(..., { progress: live.sink })` (step losses; epochs need callbacks.onEpoch). */
  readonly sink: ProgressSink;
  /** The figure of what is known so far. */
  figure(): PlotlyFigure;
  /** The current bundle (no SVG, no plotly.js). */
  bundle(): MimeBundle;
  /** Updates sent so far. */
  readonly updates: number;
  /**
   * The final bundle, from train()'s History when given (exact drift, frozen layers marked), with
   * an SVG picture when Chromium is present and plotly.js again when this display carried it
   * first (the saved notebook keeps only the last bundle of a display). Sent through onUpdate.
   */
  finish(history?: History): Promise<MimeBundle>;
}

/** A figure of loss (and drift) that updates during training, throttled to one bundle per `interval` ms. */
export function liveTrainingPlot(opts: LiveTrainingPlotOptions): LiveTrainingPlot {
  const session = opts.session;
  const interval = opts.interval ?? 250;
  if (!(interval >= 0)) throw new Error(`liveTrainingPlot: interval must be ≥ 0 ms, got ${interval}`);
  const now = opts.now ?? (() => performance.now());
  const displayId = session.nextId().replace('tsfreeze-plot-', 'tsfreeze-display-');
  const loss: number[] = [];
  const epochs: EpochLog[] = [];
  let tracker: DriftTracker | undefined = opts.model ? new DriftTracker(opts.model) : undefined;
  tracker?.sample(0);
  const drift = tracker?.drift;
  const liveStatus = opts.model ? statusOfModel(opts.model) : undefined;
  let lastSent = -Infinity;
  let updates = 0;
  let holder = false;
  let finished = false;
  let step = 0;

  const figure = (history?: History): PlotlyFigure => {
    const status: LayerStatus | undefined = history ? statusFromHistory(history) : liveStatus;
    const source = history ?? { loss, epochs, drift };
    return trainingFigure(source, { title: opts.title, log: opts.log, maxPoints: opts.maxPoints, status });
  };
  const send = (bundle: MimeBundle, final: boolean): void | Promise<void> => {
    const first = updates === 0;
    updates++;
    lastSent = now();
    return opts.onUpdate?.(bundle, { displayId, first, final });
  };
  const tick = (force: boolean): void | Promise<void> => {
    if (finished || (!force && now() - lastSent < interval)) return;
    tracker?.sample(step);
    if (updates === 0) holder = session.needsPlotlyJs;
    return send(plotBundle(figure(), { session, inline: updates === 0 ? 'auto' : 'never' }), false);
  };
  const onLoss = (s: number, value: number): void | Promise<void> => {
    if (s <= loss.length && s >= 1) return; // already seen (callbacks and sink both wired)
    while (loss.length < s - 1) loss.push(NaN);
    loss.push(value);
    step = s;
    return tick(updates === 0);
  };

  /** The last drift sample, then the starting weights' copy is freed. */
  const release = (): void => {
    if (tracker && step > 0) tracker.sample(step);
    tracker?.dispose();
    tracker = undefined;
  };

  const sink: ProgressSink = {
    start() { void tick(true); },
    update(s: number, info: ProgressInfo) { void onLoss(s, info.loss); },
    end() {
      release();
      void tick(true);
    },
  };

  return {
    displayId,
    callbacks: {
      onStep: (info) => onLoss(info.step, info.loss),
      onEpoch: (log) => {
        epochs.push(log);
        return tick(true);
      },
    },
    sink,
    figure: () => figure(),
    bundle: () => plotBundle(figure(), { session, inline: 'never' }),
    get updates() { return updates; },
    async finish(history?: History): Promise<MimeBundle> {
      release();
      finished = true;
      const fig = figure(history);
      const svg = await session.svg(fig);
      const inline = updates === 0 ? 'auto' : holder ? 'always' : 'never';
      const b = plotBundle(fig, { session, svg, inline });
      await send(b, true);
      return b;
    },
  };
}

/** A layer trains when one of its weights is neither frozen, nor a BatchNorm statistic, nor marked not trainable in TF.js (as train() decides). */
function statusOfModel(model: ModelLike): LayerStatus {
  const frozen = frozenKeys(model);
  const status: LayerStatus = new Map();
  for (const s of weightSlots(model)) {
    const layer = s.layerKey || s.key;
    const trains = !frozen.has(s.key) && !isStatistic(s) && s.trainable;
    if (trains) status.set(layer, 'trainable');
    else if (!status.has(layer)) status.set(layer, 'frozen');
  }
  return status;
}
