/**
 * The losses and the accuracy metric train() knows by name. Cross-entropies come in two forms:
 * on probabilities (Keras semantics, what TF.js's own losses take) and on logits (PyTorch's
 * F.cross_entropy / F.binary_cross_entropy_with_logits), computed through log-softmax and
 * softplus so that large logits neither overflow nor lose precision.
 */
import * as tf from '@tensorflow/tfjs';

/** A loss on probabilities (Keras semantics), on logits (`…FromLogits`, PyTorch semantics), or a function of (yTrue, yPred). */
export type LossSpec =
  | 'categoricalCrossentropy'
  | 'sparseCategoricalCrossentropy'
  | 'binaryCrossentropy'
  | 'categoricalCrossentropyFromLogits'
  | 'sparseCategoricalCrossentropyFromLogits'
  | 'binaryCrossentropyFromLogits'
  | 'meanSquaredError'
  | ((yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar);

export type LossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;

/** Number of correct predictions in a batch, as a scalar tensor. */
export type AccuracyFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;

type Kind = 'categorical' | 'sparse' | 'binary' | 'mse';

interface LossEntry {
  kind: Kind;
  logits: boolean;
  fn: LossFn;
}

/** Every named loss: how it is computed and which accuracy goes with it. */
const LOSSES: Record<Exclude<LossSpec, LossFn>, LossEntry> = {
  categoricalCrossentropy: { kind: 'categorical', logits: false, fn: (t, p) => tf.mean(tf.metrics.categoricalCrossentropy(t, p)) as tf.Scalar },
  sparseCategoricalCrossentropy: { kind: 'sparse', logits: false, fn: (t, p) => tf.mean(tf.metrics.categoricalCrossentropy(oneHotOf(t, p), p)) as tf.Scalar },
  binaryCrossentropy: { kind: 'binary', logits: false, fn: (t, p) => tf.mean(tf.metrics.binaryCrossentropy(t, p)) as tf.Scalar },
  categoricalCrossentropyFromLogits: { kind: 'categorical', logits: true, fn: (t, z) => softmaxCrossEntropy(t, z) },
  sparseCategoricalCrossentropyFromLogits: { kind: 'sparse', logits: true, fn: (t, z) => softmaxCrossEntropy(oneHotOf(t, z), z) },
  binaryCrossentropyFromLogits: { kind: 'binary', logits: true, fn: sigmoidCrossEntropy },
  meanSquaredError: { kind: 'mse', logits: false, fn: (t, p) => tf.mean(tf.metrics.meanSquaredError(t, p)) as tf.Scalar },
};

/** The logits twin of each cross-entropy on probabilities. */
const FROM_LOGITS: Partial<Record<Exclude<LossSpec, LossFn>, Exclude<LossSpec, LossFn>>> = {
  categoricalCrossentropy: 'categoricalCrossentropyFromLogits',
  sparseCategoricalCrossentropy: 'sparseCategoricalCrossentropyFromLogits',
  binaryCrossentropy: 'binaryCrossentropyFromLogits',
};

/** The named losses, for messages and help. */
export const LOSS_NAMES = Object.keys(LOSSES) as Array<Exclude<LossSpec, LossFn>>;

/** The loss `spec` names; `fromLogits` turns a cross-entropy on probabilities into its logits form. */
export function lossOf(spec: LossSpec, fromLogits = false): LossFn {
  if (typeof spec === 'function') {
    if (fromLogits) throw new Error('train: fromLogits applies to the named cross-entropies; a loss function decides itself what it takes');
    return spec;
  }
  return entryOf(spec, fromLogits).fn;
}

/** Accuracy matching the loss: argmax for the categorical ones, a threshold for the binary ones (0.5, or 0 on logits); otherwise decided from the shapes. */
export function accuracyOf(spec: LossSpec, fromLogits = false): AccuracyFn {
  const kind = typeof spec === 'function' ? 'mse' : entryOf(spec, fromLogits).kind;
  switch (kind) {
    case 'categorical': return categoricalAccuracy;
    case 'sparse': return sparseAccuracy;
    case 'binary': return (t, p) => binaryAccuracy(t, p, typeof spec !== 'function' && entryOf(spec, fromLogits).logits ? 0 : 0.5);
    case 'mse': return byShape;
  }
}

function entryOf(spec: Exclude<LossSpec, LossFn>, fromLogits: boolean): LossEntry {
  if (!Object.prototype.hasOwnProperty.call(LOSSES, spec)) {
    throw new Error(`train: unknown loss ${JSON.stringify(spec)} (use ${LOSS_NAMES.map((n) => `'${n}'`).join(', ')} or a function)`);
  }
  if (!fromLogits) return LOSSES[spec];
  if (LOSSES[spec].logits) return LOSSES[spec];
  const twin = FROM_LOGITS[spec];
  if (twin === undefined) throw new Error(`train: fromLogits applies to the cross-entropies, not to '${spec}'`);
  return LOSSES[twin];
}

/** Mean over the batch of −Σ t·log_softmax(z): PyTorch's F.cross_entropy with class probabilities (one-hot or soft). */
function softmaxCrossEntropy(t: tf.Tensor, z: tf.Tensor): tf.Scalar {
  return tf.mean(tf.neg(tf.sum(tf.mul(tf.cast(t, 'float32'), tf.logSoftmax(z, -1)), -1))) as tf.Scalar;
}

/** Mean of max(z, 0) − z·t + log(1 + exp(−|z|)): F.binary_cross_entropy_with_logits, stable for any z. */
function sigmoidCrossEntropy(t: tf.Tensor, z: tf.Tensor): tf.Scalar {
  const tt = tf.cast(t, 'float32');
  return tf.mean(tf.add(tf.sub(tf.relu(z), tf.mul(z, tt)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))))) as tf.Scalar;
}

/** Integer class labels (shape [n] or [n, 1]) as one-hot rows matching the predictions. */
function oneHotOf(labels: tf.Tensor, pred: tf.Tensor): tf.Tensor {
  const depth = pred.shape[pred.shape.length - 1];
  return tf.oneHot(tf.cast(tf.reshape(labels, [-1]), 'int32'), depth).reshape(pred.shape);
}

const categoricalAccuracy: AccuracyFn = (t, p) => tf.sum(tf.metrics.categoricalAccuracy(t, p));

const sparseAccuracy: AccuracyFn = (t, p) => tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), tf.cast(tf.reshape(t, p.shape.slice(0, -1)), 'int32')), 'float32'));

/** For a loss that does not say: one output is binary, labels shaped as the predictions are one-hot, others are class indices. */
const byShape: AccuracyFn = (t, p) => {
  const classes = p.shape[p.shape.length - 1];
  if (classes === 1 || p.rank < 2) return binaryAccuracy(t, p, 0.5);
  if (t.shape.join() === p.shape.join()) return categoricalAccuracy(t, p);
  return sparseAccuracy(t, p);
};

function binaryAccuracy(t: tf.Tensor, p: tf.Tensor, threshold: number): tf.Scalar {
  return tf.sum(tf.mean(tf.cast(tf.equal(t, tf.cast(tf.greater(p, threshold), t.dtype)), 'float32'), -1));
}
