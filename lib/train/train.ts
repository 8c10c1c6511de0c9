/**
 * The training loop (DESIGN.md, "Freezing" and "Frozen-weight guard"; seed 002 §2.3).
 *
 * Each step: forward with `training: true`, the loss, gradients over the union of the groups'
 * trainable weights (tf.variableGrads with an explicit list), then each parameter group's own
 * optimizer applies the gradients of its own weights only, in weightSlots order. A weight frozen
 * in tsfreeze's registry is never in any list, whatever TF.js's `trainable` flags say (a
 * Sequential's build resets them to true). The frozen-weight guard checks the frozen weights
 * every epoch by default.
 */
import * as tf from '@tensorflow/tfjs';
import { isLayersModel, type ModelLike } from '../model/weights';
import { checkFrozen, fingerprint, type Fingerprint } from '../freeze/guard';
import { batchSource, type Batch, type BatchSource, type TrainData } from './data';
import { planGroups, type GroupDefaults, type GroupPlan, type ParamGroup, type ResolvedGroup } from './groups';
import { DriftTracker, type EpochLog, type History } from './history';
import { RateMeter, terminalProgress, type ProgressSink } from './progress';
import { trainingViewFactory } from './view';
import { alignOptimizerState, type StateAlignment } from './optimizer-state';
import { registerRun, yieldToEventLoop, type StopRequest } from './stop';

/** A built-in loss (Keras semantics: predictions are probabilities for the cross-entropies) or a function of (yTrue, yPred). */
export type LossSpec =
  | 'categoricalCrossentropy'
  | 'sparseCategoricalCrossentropy'
  | 'binaryCrossentropy'
  | 'meanSquaredError'
  | ((yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar);

export type MetricName = 'accuracy';

/** When the frozen-weight guard re-checks: after every epoch (default), every step, or every N steps. */
export type GuardEvery = 'epoch' | 'step' | number;

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

export interface TrainOptions extends GroupDefaults {
  loss: LossSpec;
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
  /** Called after every step (after the optimizers); return false to stop training after this step. */
  onStep?: (info: StepInfo) => void | boolean | Promise<void | boolean>;
  /** Called after every epoch; return false to stop training. */
  onEpoch?: (log: EpochLog) => void | boolean | Promise<void | boolean>;
  metrics?: MetricName[];
  /** Evaluated after every epoch in inference mode (`training: false`). */
  validationData?: TrainData;
  /** true: the terminal progress bar on stderr; false: none; or a sink. Default: the notebook's live view (progress and a loss/drift plot updated in place) inside the tsfreeze kernel, else none. */
  progress?: boolean | ProgressSink;
  /** Sample the weight drift every N steps (default: 4 times per epoch; 10 when the epoch's length is unknown). */
  sampleEvery?: number;
  /** How to run a model that is not a TF.js LayersModel (a plain object of variables). */
  forward?: (x: tf.Tensor, training: boolean) => tf.Tensor;
}

/** Trains `model` on `data`; resolves to the loss of every step, a log per epoch and each layer's weight drift. */
export async function train(model: ModelLike, data: TrainData, opts: TrainOptions): Promise<History> {
  if (opts === null || typeof opts !== 'object') throw new TypeError('train: options are required ({ loss, epochs, ... })');
  const epochs = opts.epochs;
  if (!Number.isInteger(epochs) || epochs < 0) throw new Error(`train: epochs must be an integer ≥ 0, got ${epochs}`);
  const forward = forwardOf(model, opts.forward);
  const lossFn = lossOf(opts.loss);
  const metrics = [...new Set(opts.metrics ?? [])];
  for (const m of metrics) if (m !== 'accuracy') throw new Error(`train: unknown metric ${JSON.stringify(m)} (supported: 'accuracy')`);
  const accuracy = metrics.includes('accuracy') ? accuracyOf(opts.loss) : undefined;
  const guardEvery = guardOf(opts.guard);
  if (opts.sampleEvery !== undefined && (!Number.isInteger(opts.sampleEvery) || opts.sampleEvery < 1)) throw new Error(`train: sampleEvery must be a positive integer, got ${opts.sampleEvery}`);

  const source = batchSource(data, opts, 'data');
  const validation = opts.validationData !== undefined ? batchSource(opts.validationData, { batchSize: opts.batchSize }, 'validationData') : undefined;
  const plan = planGroups(model, opts.paramGroups, opts);
  if (plan.trainable.length === 0) {
    disposeOwned(plan);
    throw new Error(`train: nothing to train: every weight of the model is frozen${plan.untrainedByFlag.length ? ` or marked not trainable in TF.js (${plan.untrainedByFlag.slice(0, 4).join(', ')}${plan.untrainedByFlag.length > 4 ? ', …' : ''})` : ''}`);
  }

  let states: Array<StateAlignment | undefined>;
  try {
    states = plan.groups.map(alignState);
  } catch (e) {
    disposeOwned(plan);
    throw e;
  }
  const history: History = {
    loss: [],
    epochs: [],
    drift: { steps: [], layers: [], values: [] },
    groups: plan.groups.map((g, i) => ({ name: g.name, optimizer: g.optimizerName, lr: g.lr, weightDecay: g.weightDecay, weightDecayMode: g.weightDecayMode, ...(g.momentum !== undefined ? { momentum: g.momentum } : {}), keys: g.slots.map((s) => s.key), ...(states[i] ? { state: states[i] } : {}) })),
    frozen: [...plan.frozen, ...plan.untrainedByFlag],
    steps: 0,
  };

  let fp: Fingerprint | undefined;
  let drift: DriftTracker | undefined;
  const view = opts.progress === undefined ? trainingViewFactory()?.(model) : undefined;
  const sink = opts.progress === true ? terminalProgress() : opts.progress || view?.sink;
  const meter = new RateMeter();
  let stepsPerEpoch = source.stepsPerEpoch;
  let sampleEvery = opts.sampleEvery ?? defaultSampleEvery(stepsPerEpoch);
  let step = 0;
  let lastLoss: number | undefined;
  let failure: unknown;
  // stopTraining() (the kernel's interrupt) is seen at the step boundary after the event loop ran.
  const run = registerRun();
  let stopped: StopRequest | undefined;
  try {
    if (guardEvery !== undefined) fp = fingerprint(model);
    drift = new DriftTracker(model);
    history.drift = drift.drift;
    drift.sample(0);
    sink?.start(stepsPerEpoch !== undefined ? stepsPerEpoch * epochs : undefined, { epochs, stepsPerEpoch });
    let stop = false;
    for (let e = 0; e < epochs && !stop; e++) {
      const t0 = performance.now();
      let lossSum = 0;
      let samples = 0;
      let correct = 0;
      let steps = 0;
      for await (const batch of source.epoch(e)) {
        let result: { loss: number; correct: number; size: number };
        try {
          result = runStep(batch, forward, lossFn, accuracy, model, plan);
        } finally {
          tf.dispose([batch.x, batch.y]);
        }
        step++;
        steps++;
        lastLoss = result.loss;
        history.loss.push(result.loss);
        history.steps = step;
        lossSum += result.loss * result.size;
        samples += result.size;
        correct += result.correct;
        if (step % sampleEvery === 0) drift.sample(step);
        const info: StepInfo = { step, epoch: e + 1, batch: batch.index, loss: result.loss, size: result.size };
        if (opts.onStep && (await opts.onStep(info)) === false) stop = true;
        if (view?.onStep) await view.onStep(info);
        if (fp && (guardEvery === 'step' || (typeof guardEvery === 'number' && step % guardEvery === 0))) checkFrozen(model, fp);
        if (sink) {
          const total = stepsPerEpoch !== undefined ? stepsPerEpoch * epochs : undefined;
          sink.update(step, { step, total, epoch: e + 1, epochs, loss: result.loss, ...meter.info(step, total) });
        }
        if (stop) break;
        await yieldToEventLoop();
        if (run.request) {
          stopped = run.request;
          break;
        }
      }
      if (stopped) break;
      if (stepsPerEpoch === undefined && !stop) {
        stepsPerEpoch = steps;
        if (opts.sampleEvery === undefined) sampleEvery = defaultSampleEvery(steps);
      }
      if (steps === 0) throw new Error('train: the data gave no batch in an epoch (an empty Dataset, or one that is exhausted: a tf.data Dataset must be re-iterable)');
      const log: EpochLog = { epoch: e + 1, loss: lossSum / samples, metrics: {}, steps, seconds: 0 };
      if (accuracy) log.metrics.accuracy = correct / samples;
      if (validation) {
        const v = await evaluate(validation, forward, lossFn, accuracy);
        log.valLoss = v.loss;
        log.valMetrics = accuracy ? { accuracy: v.accuracy } : {};
      }
      log.seconds = (performance.now() - t0) / 1000;
      history.epochs.push(log);
      if (opts.onEpoch && (await opts.onEpoch(log)) === false) stop = true;
      if (view?.onEpoch) await view.onEpoch(log);
      if (fp) checkFrozen(model, fp);
    }
    drift.sample(step);
    if (stopped) {
      history.stopped = 'interrupted';
      if (stopped.reject) throw stopped.reject(history);
    }
    return history;
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    drift?.dispose();
    disposeOwned(plan);
    sink?.end({ steps: step, elapsed: meter.elapsed(), loss: lastLoss, ...(failure !== undefined ? { error: failure } : {}) });
    // The view's last picture: the exact history on success; a failure keeps what was shown.
    if (view) await view.finish(failure === undefined || stopped ? history : undefined).catch(() => undefined);
    run.done();
  }
}

/** An optimizer passed in may hold state from earlier runs over another set of weights: matches it to this run's by name; what changed, if anything. */
function alignState(g: ResolvedGroup): StateAlignment | undefined {
  if (g.owned) return undefined;
  const state = alignOptimizerState(g.optimizer, g.slots.map((s) => s.variable));
  return state.moved + state.fresh + state.setAside > 0 ? state : undefined;
}

function defaultSampleEvery(stepsPerEpoch: number | undefined): number {
  return stepsPerEpoch === undefined ? 10 : Math.max(1, Math.ceil(stepsPerEpoch / 4));
}

function disposeOwned(plan: GroupPlan): void {
  for (const g of plan.groups) if (g.owned) g.optimizer.dispose();
}

function guardOf(g: TrainOptions['guard']): GuardEvery | undefined {
  if (g === undefined || g === true) return 'epoch';
  if (g === false) return undefined;
  const every = (g as { every?: unknown }).every;
  if (every === 'epoch' || every === 'step') return every;
  if (typeof every === 'number' && Number.isInteger(every) && every >= 1) return every;
  throw new Error(`train: guard must be true, false or { every: 'epoch' | 'step' | N }, got ${JSON.stringify(g)}`);
}

type Forward = (x: tf.Tensor, training: boolean) => tf.Tensor;

function forwardOf(model: ModelLike, custom: TrainOptions['forward']): Forward {
  if (custom) return custom;
  if (!isLayersModel(model)) throw new TypeError('train: the model is not a TF.js LayersModel; pass opts.forward(x, training) to say how to run it');
  const m = model;
  return (x, training) => {
    const out = m.apply(x, { training });
    if (Array.isArray(out)) throw new Error(`train: the model has ${out.length} outputs; train() takes a single-output model`);
    return out as tf.Tensor;
  };
}

type LossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;

function lossOf(spec: LossSpec): LossFn {
  if (typeof spec === 'function') return spec;
  switch (spec) {
    case 'categoricalCrossentropy':
      return (t, p) => tf.mean(tf.metrics.categoricalCrossentropy(t, p)) as tf.Scalar;
    case 'sparseCategoricalCrossentropy':
      return (t, p) => tf.mean(tf.metrics.categoricalCrossentropy(oneHotOf(t, p), p)) as tf.Scalar;
    case 'binaryCrossentropy':
      return (t, p) => tf.mean(tf.metrics.binaryCrossentropy(t, p)) as tf.Scalar;
    case 'meanSquaredError':
      return (t, p) => tf.mean(tf.metrics.meanSquaredError(t, p)) as tf.Scalar;
    default:
      throw new Error(`train: unknown loss ${JSON.stringify(spec)} (use 'categoricalCrossentropy', 'sparseCategoricalCrossentropy', 'binaryCrossentropy', 'meanSquaredError' or a function)`);
  }
}

/** Integer class labels (shape [n] or [n, 1]) as one-hot rows matching the predictions. */
function oneHotOf(labels: tf.Tensor, pred: tf.Tensor): tf.Tensor {
  const depth = pred.shape[pred.shape.length - 1];
  return tf.oneHot(tf.cast(tf.reshape(labels, [-1]), 'int32'), depth).reshape(pred.shape);
}

/** Number of correct predictions in a batch (as a scalar tensor). */
type AccuracyFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;

function accuracyOf(loss: LossSpec): AccuracyFn {
  const categorical: AccuracyFn = (t, p) => tf.sum(tf.metrics.categoricalAccuracy(t, p));
  const sparse: AccuracyFn = (t, p) => tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), tf.cast(tf.reshape(t, p.shape.slice(0, -1)), 'int32')), 'float32'));
  const binary: AccuracyFn = (t, p) => tf.sum(tf.metrics.binaryAccuracy(t, p));
  if (loss === 'categoricalCrossentropy') return categorical;
  if (loss === 'sparseCategoricalCrossentropy') return sparse;
  if (loss === 'binaryCrossentropy') return binary;
  // Anything else: decide from the shapes.
  return (t, p) => {
    const classes = p.shape[p.shape.length - 1];
    if (classes === 1 || p.rank < 2) return binary(t, p);
    if (t.shape.join() === p.shape.join()) return categorical(t, p);
    return sparse(t, p);
  };
}

/** One optimisation step over one batch; disposes everything it makes. */
function runStep(batch: Batch, forward: Forward, lossFn: LossFn, accuracy: AccuracyFn | undefined, model: ModelLike, plan: GroupPlan): { loss: number; correct: number; size: number } {
  const vars = plan.trainable.map((s) => s.variable);
  let correctT: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const pred = forward(batch.x, true);
    let loss = lossFn(batch.y, pred);
    if (!(loss instanceof tf.Tensor) || loss.rank !== 0) throw new Error(`train: the loss must be a scalar tensor, got ${loss instanceof tf.Tensor ? `shape [${loss.shape}]` : typeof loss}`);
    const reg = regularizers(model);
    if (reg.length > 0) loss = tf.addN([loss, ...reg]) as tf.Scalar;
    if (accuracy) correctT = tf.keep(accuracy(batch.y, pred));
    return loss;
  }, vars);
  try {
    for (const g of plan.groups) applyGroup(g, grads);
    const loss = value.dataSync()[0];
    const correct = correctT ? correctT.dataSync()[0] : 0;
    return { loss, correct, size: batch.x.shape[0] ?? 1 };
  } finally {
    value.dispose();
    tf.dispose(Object.values(grads));
    correctT?.dispose();
  }
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

/** Mean loss (and accuracy) over a data source in inference mode. */
async function evaluate(src: BatchSource, forward: Forward, lossFn: LossFn, accuracy: AccuracyFn | undefined): Promise<{ loss: number; accuracy: number }> {
  let lossSum = 0;
  let correct = 0;
  let n = 0;
  for await (const batch of src.epoch(0)) {
    try {
      const [l, c] = tf.tidy(() => {
        const pred = forward(batch.x, false);
        return [lossFn(batch.y, pred), accuracy ? accuracy(batch.y, pred) : tf.scalar(0)];
      });
      const size = batch.x.shape[0] ?? 1;
      lossSum += l.dataSync()[0] * size;
      correct += c.dataSync()[0];
      n += size;
      tf.dispose([l, c]);
    } finally {
      tf.dispose([batch.x, batch.y]);
    }
  }
  if (n === 0) throw new Error('train: validationData gave no batch');
  return { loss: lossSum / n, accuracy: correct / n };
}
