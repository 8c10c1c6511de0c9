/**
 * The training loop (DESIGN.md, "Freezing" and "Frozen-weight guard"; seed 002 §2.3).
 *
 * Each step: the frozen part of the model before the first trained layer runs outside the
 * gradient tape (or is read from the feature cache), the rest forward with `training: true`, the
 * loss, gradients over the union of the groups' trainable weights (tf.variableGrads with an
 * explicit list), then each parameter group's own optimizer applies the gradients of its own
 * weights only, in weightSlots order. A weight frozen in tsfreeze's registry is never in any
 * list, whatever TF.js's `trainable` flags say (a Sequential's build resets them to true).
 * Everything else (guard, drift, progress, live view, schedules, the user's hooks) is a callback;
 * between steps the loop yields to the event loop, so that stopTraining() or an AbortSignal can
 * stop it.
 */
import * as tf from '@tensorflow/tfjs';
import { isLayersModel, weightSlots, type ModelLike } from '../model/weights';
import { freeze, unfreeze } from '../freeze/freeze';
import { frozenKeys } from '../freeze/registry';
import type { Selector } from '../freeze/selector';
import { batchSizeOf, datasetBatches, datasetSize, epochRows, inputList, isDataset, isFixedData, packInputs, rowData, takeRows, type BatchDataset, type InputForm, type Inputs, type RowData, type TrainData } from './data';
import { buildGroup, disposeOptimizer, planGroups, setGroupLr, trainingCandidates, type GroupDefaults, type GroupPlan, type ParamGroup, type ResolvedGroup } from './groups';
import type { EpochLog, GroupLog, History } from './history';
import { terminalProgress, type ProgressSink } from './progress';
import { trainingViewFactory } from './view';
import { alignOptimizerState, type StateAlignment } from './optimizer-state';
import { accuracyOf, lossOf, type AccuracyFn, type LossFn, type LossSpec } from './losses';
import { dispatch, dispatchEnd, type Awaitable, type Callback, type StepInfo, type TrainContext, type TrainEvent, type UnfreezeOptions } from './callbacks';
import { guardCallback, guardEveryOf, type GuardEvery } from './guard-callback';
import { driftCallback } from './drift-callback';
import { progressCallback } from './progress-callback';
import { viewCallback } from './view-callback';
import { hookCallback } from './hook-callbacks';
import { registerRun, yieldToEventLoop, type RunningTrain, type StopReason, type StopRequest } from './stop';
import { ModelForward, type FeedKind } from './forward';
import { cacheBatches, cacheBudget, cacheRows, disposeBatches, formatBytes, type BatchFeatures, type CacheFrozenOption, type RowFeatures } from './feature-cache';

export type { LossSpec } from './losses';
export type { GuardEvery } from './guard-callback';
export type { StepInfo } from './callbacks';

export type MetricName = 'accuracy';

export interface TrainOptions extends GroupDefaults {
  loss: LossSpec;
  /** The model outputs logits: the named cross-entropies apply log-softmax (sigmoid) themselves, as PyTorch's F.cross_entropy does. */
  fromLogits?: boolean;
  epochs: number;
  /** Batch size for `{x, y}` data (default 32); a Dataset is already batched. */
  batchSize?: number;
  /** Shuffle `{x, y}` data each epoch (default false); the order is drawn from `seed` and the epoch, so runs repeat. */
  shuffle?: boolean;
  /** Seed of the shuffle (default 0). */
  seed?: number;
  /** Parameter groups with their own lr / weight decay / momentum / optimizer; weights in no group train with the run's settings. */
  paramGroups?: ParamGroup[];
  /** Frozen-weight guard: true / { every: 'epoch' } (default), { every: 'step' }, { every: N } steps, or false. */
  guard?: boolean | { every: GuardEvery };
  /** Callbacks, called in order after the run's own (drift) and the onStep/onEpoch hooks, before the guard and progress. */
  callbacks?: Callback[];
  /** Called after every step (after the optimizers); return false to stop training after this step. */
  onStep?: (info: StepInfo) => Awaitable<void | boolean>;
  /** Called after every epoch; return false to stop training. */
  onEpoch?: (log: EpochLog) => Awaitable<void | boolean>;
  /** Aborting it stops the run at the next step boundary; train() resolves with the history so far (`history.stopped: 'aborted'`). */
  signal?: AbortSignal;
  metrics?: MetricName[];
  /** Evaluated after every epoch in inference mode (`training: false`). */
  validationData?: TrainData;
  /** true: the terminal progress bar on stderr; false: none; or a sink. Default: the notebook's live view (progress and a loss/drift plot updated in place) inside the tsfreeze kernel, else none. */
  progress?: boolean | ProgressSink;
  /** Sample the weight drift every N steps (default: 4 times per epoch; 10 when the epoch's length is unknown). */
  sampleEvery?: number;
  /** How to run a model that is not a TF.js LayersModel (a plain object of variables); `x` comes in the form the data gave it. */
  forward?(x: Inputs, training: boolean): tf.Tensor;
  /** Changes each training batch's inputs before the step (augmentation), outside the gradient tape; the inputs come and go in the form the data gave them. */
  transform?(x: Inputs, info: { epoch: number; batch: number }): Inputs;
  /**
   * Cache the output of the frozen, deterministic first layers once and train the rest on it
   * every epoch: 'auto' (default; budget min(1 GiB, a quarter of free memory)), false, or
   * { maxBytes }. Applies to `{x, y}` tensors and datasets marked with fixedData(); history.cache
   * says whether it was used and why (not).
   */
  cacheFrozen?: CacheFrozenOption;
  /** Run the frozen layers before the first trained one outside the gradient tape (default true; false runs the whole model on the tape, as model.fit does). */
  frozenOffTape?: boolean;
}

/** Trains `model` on `data`; resolves to the loss of every step, a log per epoch, each layer's weight drift, and how the run went (cache, events, stop). */
export async function train(model: ModelLike, data: TrainData, opts: TrainOptions): Promise<History> {
  if (opts === null || typeof opts !== 'object') throw new TypeError('train: options are required ({ loss, epochs, ... })');
  const run = new Run(model, data, opts);
  return run.run();
}

/** One batch as the loop runs it. */
interface Batch {
  feeds: tf.Tensor[];
  from: FeedKind;
  form: InputForm;
  y: tf.Tensor;
  index: number;
  /** Whether the loop disposes the batch after its step (cached batches stay). */
  owned: boolean;
}

type Source = { kind: 'rows'; data: RowData } | { kind: 'dataset'; ds: BatchDataset; fixed: boolean };

class Run implements TrainContext {
  readonly history: History;
  readonly epochs: number;
  step = 0;
  epoch = 0;
  private stepsKnown: number | undefined;
  private readonly lossFn: LossFn;
  private readonly accuracy: AccuracyFn | undefined;
  private readonly forward: ModelForward;
  private readonly source: Source;
  private readonly validation: Source | undefined;
  private readonly batchSize: number;
  private readonly budget: number | undefined;
  private readonly callbacks: Callback[];
  private plan!: GroupPlan;
  private stopReason: StopReason | undefined;
  private registration: RunningTrain | undefined;
  /** The stopTraining() request that stopped the run, if one did. */
  private interrupt: StopRequest | undefined;
  private dirty = true;
  private trainRows: RowFeatures | undefined;
  private trainBatches: BatchFeatures | undefined;
  private valRows: RowFeatures | undefined;
  private pending: TrainEvent[] = [];
  private unfrozenGroups = 0;

  constructor(readonly model: ModelLike, data: TrainData, private readonly opts: TrainOptions) {
    const epochs = opts.epochs;
    if (!Number.isInteger(epochs) || epochs < 0) throw new Error(`train: epochs must be an integer ≥ 0, got ${epochs}`);
    this.epochs = epochs;
    this.forward = new ModelForward(model, opts.forward ? (x, t) => (opts.forward as NonNullable<TrainOptions['forward']>).call(opts, x, t) : undefined, opts.frozenOffTape !== false);
    this.lossFn = lossOf(opts.loss, opts.fromLogits === true);
    const metrics = [...new Set(opts.metrics ?? [])];
    for (const m of metrics) if (m !== 'accuracy') throw new Error(`train: unknown metric ${JSON.stringify(m)} (supported: 'accuracy')`);
    this.accuracy = metrics.includes('accuracy') ? accuracyOf(opts.loss, opts.fromLogits === true) : undefined;
    this.batchSize = batchSizeOf(opts.batchSize);
    this.budget = cacheBudget(opts.cacheFrozen);
    if (opts.transform !== undefined && typeof opts.transform !== 'function') throw new TypeError('train: transform must be a function (x, { epoch, batch }) => x');
    const names = this.forward.inputNames();
    this.source = this.sourceOf(data, names, 'data');
    this.validation = opts.validationData !== undefined ? this.sourceOf(opts.validationData, names, 'validationData') : undefined;
    this.stepsKnown = this.source.kind === 'rows' ? Math.ceil(this.source.data.n / this.batchSize) : datasetSize(this.source.ds);
    this.history = { loss: [], epochs: [], drift: { steps: [], layers: [], values: [] }, groups: [], frozen: [], steps: 0, events: [], cache: { used: false, reason: 'not computed yet', cutAfter: [], bytes: 0, seconds: 0 }, offTape: [] };
    this.callbacks = this.callbacksOf(model, opts);
  }

  get stepsPerEpoch(): number | undefined {
    return this.stepsKnown;
  }

  get stopping(): boolean {
    return this.stopReason !== undefined;
  }

  async run(): Promise<History> {
    this.plan = planGroups(this.model, this.opts.paramGroups, this.opts);
    try {
      if (this.plan.trainable.length === 0) {
        throw new Error(`train: nothing to train: every weight of the model is frozen${this.plan.untrainedByFlag.length ? ` or marked not trainable in TF.js (${this.plan.untrainedByFlag.slice(0, 4).join(', ')}${this.plan.untrainedByFlag.length > 4 ? ', …' : ''})` : ''}`);
      }
      const states = this.plan.groups.map(alignState);
      this.history.groups = this.plan.groups.map((g, i) => groupLog(g, states[i]));
      this.history.frozen = [...this.plan.frozen, ...this.plan.untrainedByFlag];
    } catch (e) {
      this.disposeOwned();
      throw e;
    }
    const cleanup: Array<() => void> = [() => this.disposeOwned(), () => this.disposeCache()];
    // stopTraining() (the kernel's interrupt) is seen at the next step boundary, after the event loop ran.
    this.registration = registerRun();
    const registration = this.registration;
    // Last: the run leaves the registry once it has settled (stopTraining() waits for that).
    cleanup.unshift(() => registration.done());
    const signal = this.opts.signal;
    if (signal) {
      const onAbort = () => this.requestStop('aborted', `the signal was aborted${signal.reason !== undefined ? ` (${String(signal.reason instanceof Error ? signal.reason.message : signal.reason)})` : ''}`);
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        cleanup.push(() => signal.removeEventListener('abort', onAbort));
      }
    }
    let failure: unknown;
    try {
      await this.loop();
      const reject = this.interrupt?.reject;
      if (this.history.stopped === 'interrupted' && reject) throw reject(this.history);
      return this.history;
    } catch (e) {
      failure = e;
      throw e;
    } finally {
      try {
        await dispatchEnd(this.callbacks, failure === undefined ? { history: this.history } : { history: this.history, error: failure }, this);
      } catch (e) {
        // A callback failing at the end fails the run, unless it already failed.
        if (failure === undefined) throw e;
      } finally {
        for (const f of cleanup.reverse()) f();
      }
    }
  }

  private async loop(): Promise<void> {
    await dispatch(this.callbacks, 'onTrainBegin', this);
    await this.refresh();
    let finished = this.epochs === 0;
    for (let e = 0; e < this.epochs && !this.heardOutside(); e++) {
      this.epoch = e + 1;
      if (await dispatch(this.callbacks, 'onEpochBegin', e + 1, this)) this.requestStop('callback', 'a callback asked to stop in onEpochBegin');
      await this.refresh();
      if (this.stopReason) break;
      const t0 = performance.now();
      let lossSum = 0;
      let samples = 0;
      let correct = 0;
      let steps = 0;
      let broke = false;
      for await (const batch of this.batches(e)) {
        const size = batch.y.shape[0] ?? 1;
        await dispatch(this.callbacks, 'onBatchBegin', { step: this.step + 1, epoch: e + 1, batch: batch.index, size }, this);
        let result: { loss: number; correct: number };
        try {
          result = this.runStep(batch);
        } finally {
          if (batch.owned) tf.dispose([...batch.feeds, batch.y]);
        }
        this.step++;
        steps++;
        this.history.loss.push(result.loss);
        this.history.steps = this.step;
        lossSum += result.loss * size;
        samples += size;
        correct += result.correct;
        const info: StepInfo = { step: this.step, epoch: e + 1, batch: batch.index, loss: result.loss, size };
        if (await dispatch(this.callbacks, 'onStep', info, this)) this.requestStop('callback', 'a callback returned false from onStep');
        await this.flush();
        // A step boundary: let signal handlers, timers and I/O run (a kernel's interrupt calls stopTraining()).
        await yieldToEventLoop();
        this.heardOutside();
        if (this.stopReason) {
          broke = this.stepsKnown === undefined || steps < this.stepsKnown;
          break;
        }
      }
      if (steps === 0) {
        if (this.stopReason) break;
        throw new Error('train: the data gave no batch in an epoch (an empty Dataset, or one that is exhausted: a tf.data Dataset must be re-iterable)');
      }
      if (this.stepsKnown === undefined && !broke) this.stepsKnown = steps;
      const log: EpochLog = { epoch: e + 1, loss: lossSum / samples, metrics: {}, steps, seconds: 0 };
      if (broke) log.partial = true;
      if (this.accuracy) log.metrics.accuracy = correct / samples;
      // An interrupt wants the run back now: no validation pass.
      if (this.validation && (this.stopReason === undefined || this.stopReason === 'callback')) {
        const v = await this.evaluate(this.validation);
        log.valLoss = v.loss;
        log.valMetrics = this.accuracy ? { accuracy: v.accuracy } : {};
      }
      log.seconds = (performance.now() - t0) / 1000;
      this.history.epochs.push(log);
      if (await dispatch(this.callbacks, 'onEpochEnd', log, this)) this.requestStop('callback', 'a callback returned false from onEpochEnd');
      await this.flush();
      finished = e === this.epochs - 1 && !broke;
    }
    if (this.stopReason && !finished) this.history.stopped = this.stopReason;
  }

  /** The batches of epoch `e` (0-based); re-reads the cache before each batch, since a callback may have moved it. */
  private async *batches(e: number): AsyncGenerator<Batch> {
    const src = this.source;
    if (src.kind === 'rows') {
      const list = epochRows(src.data.n, this.batchSize, this.opts.shuffle ?? false, this.opts.seed ?? 0, e);
      for (let b = 0; b < list.length; b++) {
        await this.refresh();
        const rows = list[b];
        const y = takeRows(src.data.y, rows);
        if (this.trainRows) {
          yield { feeds: this.trainRows.rows.map((t) => takeRows(t, rows)), from: 'cut', form: src.data.form, y, index: b, owned: true };
        } else {
          const xs = src.data.xs.map((t) => takeRows(t, rows));
          yield { feeds: this.transformed(xs, src.data.form, e, b), from: 'inputs', form: src.data.form, y, index: b, owned: true };
        }
      }
      return;
    }
    let b = 0;
    for (; this.trainBatches && b < this.trainBatches.batches.length; b++) {
      await this.refresh();
      const cached = this.trainBatches?.batches[b];
      if (!cached) break;
      yield { feeds: cached.feats, from: 'cut', form: { kind: 'tensor' }, y: cached.y, index: b, owned: false };
    }
    if (this.trainBatches) return;
    // No cache (or it was dropped mid-epoch): the dataset itself, from batch b on.
    let index = 0;
    for await (const db of datasetBatches(src.ds, this.forward.inputNames(), 'data')) {
      if (index++ < b) { tf.dispose([...db.xs, db.y]); continue; }
      yield { feeds: this.transformed(db.xs, db.form, e, index - 1), from: 'inputs', form: db.form, y: db.y, index: index - 1, owned: true };
      await this.refresh();
    }
  }

  /** The inputs after the user's transform (the originals are disposed unless returned). */
  private transformed(xs: tf.Tensor[], form: InputForm, epoch: number, batch: number): tf.Tensor[] {
    const transform = this.opts.transform;
    if (!transform) return xs;
    let out: tf.Tensor[];
    try {
      out = tf.tidy(() => inputList(transform.call(this.opts, packInputs(xs, form), { epoch: epoch + 1, batch }), this.forward.inputNames(), 'the result of transform').tensors);
    } catch (e) {
      tf.dispose(xs);
      throw e;
    }
    tf.dispose(xs.filter((x) => !out.includes(x)));
    return out;
  }

  /** One optimisation step over one batch; disposes everything it makes. */
  private runStep(batch: Batch): { loss: number; correct: number } {
    const vars = this.plan.trainable.map((s) => s.variable);
    const start = this.forward.begin(batch.feeds, batch.from, batch.form, true);
    let correctT: tf.Tensor | undefined;
    try {
      const { value, grads } = tf.variableGrads(() => {
        const pred = this.forward.end(start, batch.from, true);
        let loss = this.lossFn(batch.y, pred);
        if (!(loss instanceof tf.Tensor) || loss.rank !== 0) throw new Error(`train: the loss must be a scalar tensor, got ${loss instanceof tf.Tensor ? `shape [${loss.shape}]` : typeof loss}`);
        const reg = regularizers(this.model);
        if (reg.length > 0) loss = tf.addN([loss, ...reg]) as tf.Scalar;
        if (this.accuracy) correctT = tf.keep(this.accuracy(batch.y, pred));
        return loss;
      }, vars);
      try {
        for (const g of this.plan.groups) applyGroup(g, grads);
        const loss = value.dataSync()[0];
        const correct = correctT ? correctT.dataSync()[0] : 0;
        return { loss, correct };
      } finally {
        value.dispose();
        tf.dispose(Object.values(grads));
      }
    } finally {
      correctT?.dispose();
      tf.dispose(start.made);
    }
  }

  /** Mean loss (and accuracy) over validation data in inference mode, from its cached features when there are. */
  private async evaluate(src: Source): Promise<{ loss: number; accuracy: number }> {
    let lossSum = 0;
    let correct = 0;
    let n = 0;
    const one = (feeds: tf.Tensor[], from: FeedKind, form: InputForm, y: tf.Tensor) => {
      const [l, c] = tf.tidy(() => {
        const pred = this.forward.predict(feeds, from, form);
        return [this.lossFn(y, pred), this.accuracy ? this.accuracy(y, pred) : tf.scalar(0)];
      });
      const size = y.shape[0] ?? 1;
      lossSum += l.dataSync()[0] * size;
      correct += c.dataSync()[0];
      n += size;
      tf.dispose([l, c]);
    };
    if (src.kind === 'rows') {
      for (const rows of epochRows(src.data.n, this.batchSize, false, 0, 0)) {
        const feeds = this.valRows ? this.valRows.rows.map((t) => takeRows(t, rows)) : src.data.xs.map((t) => takeRows(t, rows));
        const y = takeRows(src.data.y, rows);
        try {
          one(feeds, this.valRows ? 'cut' : 'inputs', src.data.form, y);
        } finally {
          tf.dispose([...feeds, y]);
        }
      }
    } else {
      for await (const b of datasetBatches(src.ds, this.forward.inputNames(), 'validationData')) {
        try {
          one(b.xs, 'inputs', b.form, b.y);
        } finally {
          tf.dispose([...b.xs, b.y]);
        }
      }
    }
    if (n === 0) throw new Error('train: validationData gave no batch');
    return { loss: lossSum / n, accuracy: correct / n };
  }

  // ---- the split and the cache ----

  /** After the trained set changed (or at the start): cuts the model again and, when the cut moved, recomputes the cache. */
  private async refresh(): Promise<void> {
    await this.flush();
    if (!this.dirty) return;
    this.dirty = false;
    const first = this.history.cache.reason === 'not computed yet';
    const moved = this.forward.resplit(new Set(this.plan.trainable.map((s) => s.variable)));
    this.history.offTape = this.forward.offTapeLayers();
    if (!moved && !first) return;
    const had = this.history.cache.used;
    this.disposeCache();
    await this.buildCache();
    const c = this.history.cache;
    const where = c.cutAfter.map((k) => `'${k}'`).join(', ');
    if (c.used) this.event({ kind: 'cache', message: `${first ? 'cached' : 'recomputed'} the frozen features after ${where}: ${formatBytes(c.bytes)} in ${c.seconds.toFixed(1)} s` });
    else if (had) this.event({ kind: 'cache', message: `frozen features no longer cached: ${c.reason}` });
    await this.flush();
  }

  private async buildCache(): Promise<void> {
    const report = this.history.cache;
    const no = (reason: string): void => void Object.assign(report, { used: false, reason, cutAfter: [], bytes: 0 });
    const split = this.forward.split;
    if (this.budget === undefined) return no('off (cacheFrozen: false)');
    if (!split) return no(this.forward.wholeReason ?? 'the model runs whole');
    if (this.opts.transform) return no('a transform changes the inputs every epoch (augmentation): the frozen layers run outside the gradient tape instead');
    if (this.source.kind === 'dataset' && !this.source.fixed) return no('the data is a Dataset whose batches may change between passes; mark it with fixedData(ds) if every pass yields the same batches');
    if (split.cacheNodes.length === 0) return no(split.cacheLimit);
    if (this.epochs < 2 && !this.validation) return no('a single epoch without validation data computes each example once anyway');
    const t0 = performance.now();
    const stopping = () => this.heardOutside();
    const stopped = 'stopped while computing the features';
    let bytes = 0;
    let note = '';
    if (this.source.kind === 'rows') {
      const r = await cacheRows(this.forward, this.source.data, this.batchSize, this.budget, stopping);
      if ('stopped' in r) return no(stopped);
      if ('over' in r) return no(`the features would take ${formatBytes(r.over)}, over the budget of ${formatBytes(this.budget)} (cacheFrozen: { maxBytes })`);
      this.trainRows = r;
      bytes = r.bytes;
    } else {
      const r = await cacheBatches(this.forward, datasetBatches(this.source.ds, this.forward.inputNames(), 'data'), this.budget, stopping);
      if ('stopped' in r) return no(stopped);
      if ('over' in r) return no(`the features would take more than ${formatBytes(this.budget)}, the budget (cacheFrozen: { maxBytes })`);
      this.trainBatches = r;
      bytes = r.bytes;
    }
    if (this.validation?.kind === 'rows') {
      const v = await cacheRows(this.forward, this.validation.data, this.batchSize, this.budget - bytes, stopping);
      if ('stopped' in v) {
        this.disposeCache();
        return no(stopped);
      }
      if ('over' in v) note = '; validation data not cached (over the budget)';
      else {
        this.valRows = v;
        bytes += v.bytes;
      }
    }
    Object.assign(report, { used: true, reason: `${split.cacheLimit}${note}`, cutAfter: this.forward.cutLayers(), bytes, seconds: report.seconds + (performance.now() - t0) / 1000 });
  }

  private disposeCache(): void {
    if (this.trainRows) tf.dispose(this.trainRows.rows);
    if (this.valRows) tf.dispose(this.valRows.rows);
    if (this.trainBatches) disposeBatches(this.trainBatches.batches);
    this.trainRows = this.valRows = this.trainBatches = undefined;
  }

  // ---- TrainContext ----

  /** Takes in a stopTraining() request, if one came; whether the run is stopping. */
  private heardOutside(): boolean {
    const request = this.registration?.request;
    if (request && !this.interrupt && !this.stopReason) {
      this.interrupt = request;
      this.requestStop('interrupted', request.message ?? 'stopTraining() was called');
    }
    return this.stopReason !== undefined;
  }

  stop(message?: string): void {
    this.requestStop('callback', message ?? 'a callback asked to stop');
  }

  private requestStop(reason: StopReason, message: string): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.event({ kind: 'stop', message: `stopping (${reason}): ${message}` });
  }

  event(e: Omit<TrainEvent, 'step' | 'epoch'>): void {
    const full = { ...e, step: this.step, epoch: this.epoch } as TrainEvent;
    this.history.events.push(full);
    this.pending.push(full);
  }

  /** Tells the callbacks about the events recorded since the last flush. */
  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const e = this.pending.shift() as TrainEvent;
      await dispatch(this.callbacks, 'onEvent', e, this);
    }
  }

  lr(group: string): number {
    return this.group(group).lr;
  }

  setLr(group: string, lr: number): void {
    const g = this.group(group);
    if (g.lr === lr) return;
    setGroupLr(g, lr);
    const log = this.history.groups.find((h) => h.name === g.name);
    if (log) log.lr = lr;
    this.event({ kind: 'lr', group: g.name, lr, message: `learning rate of '${g.name}' set to ${lr}` });
  }

  unfreeze(selector: Selector, opts: UnfreezeOptions = {}): string[] {
    if (!this.plan) throw new Error('train: unfreeze() is for callbacks during a run');
    const before = new Set(this.plan.trainable.map((s) => s.key));
    const report = unfreeze(this.model, selector);
    if (opts.bn === 'freeze' && report.batchNorm.length > 0) freeze(this.model, report.batchNorm.flatMap((l) => [`${l}.moving_mean`, `${l}.moving_variance`]));
    const fresh = trainingCandidates(this.model).trainable.filter((s) => !before.has(s.key));
    if (fresh.length === 0) return [];
    const name = opts.name ?? `unfrozen${this.unfrozenGroups}`;
    if (this.plan.groups.some((g) => g.name === name)) throw new Error(`train: unfreeze: a parameter group named '${name}' exists already`);
    const optimizer = opts.optimizer ?? this.opts.optimizer;
    if (optimizer instanceof tf.Optimizer && opts.optimizer === undefined) {
      throw new Error(`train: unfreeze: the run's optimizer is one instance (its state belongs to its weights); give the unfrozen group its own: unfreeze(selector, { optimizer: 'sgd' | 'adam' | … | a factory })`);
    }
    const group = buildGroup(this.plan.groups.length, name, { lr: opts.lr, momentum: opts.momentum, weightDecay: opts.weightDecay, optimizer }, this.opts, fresh, [], this.plan.groups);
    this.unfrozenGroups++;
    this.plan.groups.push(group);
    const trained = new Set([...before, ...fresh.map((s) => s.key)]);
    this.plan.trainable = weightSlots(this.model).filter((s) => trained.has(s.key));
    this.history.groups.push(groupLog(group, undefined));
    const frozen = frozenKeys(this.model);
    this.history.frozen = [...weightSlots(this.model).filter((s) => frozen.has(s.key)).map((s) => s.key), ...trainingCandidates(this.model).untrainedByFlag];
    this.dirty = true;
    const keys = fresh.map((s) => s.key);
    const layers = [...new Set(fresh.map((s) => s.layerKey))];
    this.event({ kind: 'unfreeze', keys, group: name, lr: group.lr, message: `unfroze ${layers.length} layer${layers.length === 1 ? '' : 's'} (${layers.slice(0, 3).join(', ')}${layers.length > 3 ? ', …' : ''}) into group '${name}' at lr ${group.lr}` });
    return keys;
  }

  private group(name: string): ResolvedGroup {
    const g = this.plan?.groups.find((x) => x.name === name);
    if (!g) throw new Error(`train: no parameter group '${name}' (groups: ${this.plan?.groups.map((x) => x.name).join(', ')})`);
    return g;
  }

  // ---- setup ----

  private sourceOf(data: TrainData, names: string[] | undefined, what: string): Source {
    if (isDataset(data)) return { kind: 'dataset', ds: data, fixed: isFixedData(data) };
    return { kind: 'rows', data: rowData(data, names, what) };
  }

  private callbacksOf(model: ModelLike, opts: TrainOptions): Callback[] {
    const guardEvery = guardEveryOf(opts.guard);
    const user = opts.callbacks ?? [];
    if (!Array.isArray(user) || user.some((c) => c === null || typeof c !== 'object')) throw new TypeError('train: callbacks must be an array of callback objects ({ onStep(info, ctx) { … }, … })');
    const view = opts.progress === undefined ? trainingViewFactory()?.(model) : undefined;
    const sink = opts.progress === true ? terminalProgress() : opts.progress || view?.sink;
    return [
      driftCallback(model, opts.sampleEvery),
      ...(opts.onStep || opts.onEpoch ? [hookCallback(opts.onStep, opts.onEpoch)] : []),
      ...user,
      ...(guardEvery !== undefined ? [guardCallback(model, guardEvery)] : []),
      ...(sink ? [progressCallback(sink)] : []),
      ...(view ? [viewCallback(view)] : []),
    ];
  }

  private disposeOwned(): void {
    for (const g of this.plan?.groups ?? []) if (g.owned) disposeOptimizer(g.optimizer);
  }
}

function groupLog(g: ResolvedGroup, state: StateAlignment | undefined): GroupLog {
  return { name: g.name, optimizer: g.optimizerName, lr: g.lr, weightDecay: g.weightDecay, weightDecayMode: g.weightDecayMode, ...(g.momentum !== undefined ? { momentum: g.momentum } : {}), keys: g.slots.map((s) => s.key), ...(state ? { state } : {}) };
}

/** An optimizer passed in may hold state from earlier runs over another set of weights: matches it to this run's by name; what changed, if anything. */
function alignState(g: ResolvedGroup): StateAlignment | undefined {
  if (g.owned) return undefined;
  const state = alignOptimizerState(g.optimizer, g.slots.map((s) => s.variable));
  return state.moved + state.fresh + state.setAside > 0 ? state : undefined;
}

/** Weight-regularizer losses of a LayersModel's layers (what model.fit adds to the loss). */
function regularizers(model: ModelLike): tf.Scalar[] {
  const m = model as { calculateLosses?: () => tf.Scalar[] };
  return isLayersModel(model) && typeof m.calculateLosses === 'function' ? m.calculateLosses() : [];
}

/** Hands a group's optimizer the gradients of its own weights, in weightSlots order, after weight decay. */
function applyGroup(g: ResolvedGroup, grads: tf.NamedTensorMap): void {
  if (g.slots.length === 0) return;
  tf.tidy(() => {
    const list = g.slots.map((s) => {
      let grad: tf.Tensor | undefined = grads[s.variable.name];
      if (grad && g.weightDecay > 0) {
        if (g.weightDecayMode === 'l2') grad = tf.add(grad, tf.mul(s.variable, g.weightDecay));
        else s.variable.assign(tf.mul(s.variable, 1 - g.lr * g.weightDecay));
      }
      // Positional optimizer state: every weight of the group keeps its place, even without a gradient.
      return { name: s.variable.name, tensor: grad as tf.Tensor };
    });
    g.optimizer.applyGradients(list);
  });
}
