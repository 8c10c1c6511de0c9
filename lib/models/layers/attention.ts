/**
 * Attention as PyTorch computes it. TorchMultiheadAttention is nn.MultiheadAttention (batch first)
 * with query, key and value projections as three TF.js weights each (freeze or train them apart),
 * which PyTorch sees packed as one `in_proj_weight` and one `in_proj_bias`. TorchDotProductAttention
 * is the weightless core of Hugging Face's BertSelfAttention (its projections are plain Dense
 * layers), and AttentionMaskBias turns a 0/1 attention mask into the additive bias HF computes.
 */
import * as tf from '@tensorflow/tfjs';
import { byPermutation } from '../../model/torch-layout';
import { oneShape, registerTorchLayer, type LayerArgs } from './base';

/** Where 1/√d is applied: to the query before q·kᵀ (nn.MultiheadAttention) or to the scores after it (Hugging Face). */
export type AttentionScaling = 'query' | 'scores';

/** Options of multiHeadAttention. */
export interface AttentionOptions {
  numHeads: number;
  /** Added to the scores before the softmax; broadcastable to [N, heads, Lq, Lk]. */
  bias?: tf.Tensor;
  scaling?: AttentionScaling;
  /** Dropout on the attention probabilities, applied only when `training`. */
  dropout?: number;
  training?: boolean;
}

/** softmax(q·kᵀ/√d + bias)·v per head, heads merged: q [N, Lq, D], k and v [N, Lk, D] → [N, Lq, D]. */
export function multiHeadAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, opts: AttentionOptions): tf.Tensor {
  return tf.tidy(() => {
    const [n, lq, dim] = q.shape as [number, number, number];
    const h = opts.numHeads;
    const d = dim / h;
    const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [n, t.shape[1] as number, h, d]), [0, 2, 1, 3]);
    let qh = heads(q);
    if (opts.scaling !== 'scores') qh = tf.div(qh, Math.sqrt(d));
    let scores = tf.matMul(qh as tf.Tensor4D, heads(k) as tf.Tensor4D, false, true);
    if (opts.scaling === 'scores') scores = tf.div(scores, Math.sqrt(d));
    if (opts.bias) scores = tf.add(scores, opts.bias);
    let probs = tf.softmax(scores, -1);
    if (opts.training && opts.dropout) probs = tf.dropout(probs, opts.dropout);
    const out = tf.matMul(probs as tf.Tensor4D, heads(v) as tf.Tensor4D);
    return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [n, lq, dim]);
  });
}

/** x·kernel + bias over the last axis of x (any rank), as nn.Linear with a TF.js-layout [in, out] kernel. */
function linear(x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const y = tf.fused.matMul({ a: tf.reshape(x, [-1, shape[shape.length - 1]]) as tf.Tensor2D, b: kernel as tf.Tensor2D, bias });
  return tf.reshape(y, [...shape.slice(0, -1), kernel.shape[1] as number]);
}

function checkHeads(dim: number, numHeads: number, what: string): void {
  if (!Number.isInteger(numHeads) || numHeads < 1) throw new Error(`${what}: numHeads must be a positive integer, got ${numHeads}`);
  if (dim % numHeads) throw new Error(`${what}: the embedding size (${dim}) must be divisible by numHeads (${numHeads})`);
}

function checkDropout(p: number, what: string): void {
  if (!(p >= 0 && p < 1)) throw new Error(`${what}: dropout must be in [0, 1), got ${p}`);
}

/** Arguments of torchMultiheadAttention, named as nn.MultiheadAttention's (camel-cased); always batch first. */
export interface TorchMultiheadAttentionArgs extends LayerArgs {
  /** embed_dim; default: the query's last axis. */
  embedDim?: number;
  numHeads: number;
  /** Dropout on the attention probabilities (training only); default 0. */
  dropout?: number;
  /** Biases of the projections (default true). */
  useBias?: boolean;
}

/**
 * nn.MultiheadAttention(embed_dim, num_heads, batch_first=True), need_weights=False. Inputs: `x`
 * (self-attention), or [query, key, value], or [query, key, value, keyPaddingMask] where a mask of
 * [N, Lk] marks with 1 (or true) the keys to ignore, as PyTorch's boolean key_padding_mask does.
 * Weights: query/key/value_kernel [D, D] and _bias [D] (PyTorch: in_proj_weight and in_proj_bias,
 * q, k, v stacked on axis 0), out_kernel and out_bias (out_proj.weight, out_proj.bias).
 */
export class TorchMultiheadAttention extends tf.layers.Layer {
  static className = 'TorchMultiheadAttention';
  readonly numHeads: number;
  readonly embedDim?: number;
  readonly dropout: number;
  readonly useBias: boolean;
  private kernels: tf.LayerVariable[] = [];
  private biases: tf.LayerVariable[] = [];
  private outKernel?: tf.LayerVariable;
  private outBias?: tf.LayerVariable;

  constructor(args: TorchMultiheadAttentionArgs) {
    super(args);
    this.numHeads = args.numHeads;
    this.embedDim = args.embedDim;
    this.dropout = args.dropout ?? 0;
    this.useBias = args.useBias ?? true;
    checkDropout(this.dropout, 'torchMultiheadAttention');
    if (this.embedDim !== undefined) checkHeads(this.embedDim, this.numHeads, 'torchMultiheadAttention');
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shapes = (Array.isArray(inputShape[0]) ? inputShape : [inputShape]) as tf.Shape[];
    const dims = shapes.slice(0, 3).map((s) => s[s.length - 1]);
    const d = this.embedDim ?? dims[0];
    if (d === null || d === undefined) throw new Error(`torchMultiheadAttention '${this.name}': the embedding size (last axis) must be known`);
    if (dims.some((x) => x !== d)) {
      throw new Error(`torchMultiheadAttention '${this.name}': query, key and value must all have embedDim (${d}) features, got ${dims.join(', ')}; PyTorch's kdim/vdim (separate q/k/v_proj_weight) are not supported`);
    }
    checkHeads(d, this.numHeads, `torchMultiheadAttention '${this.name}'`);
    // PyTorch: xavier_uniform_ on the packed [3D, D] in_proj_weight, zero biases; out_proj as nn.Linear with a zero bias.
    const bound = Math.sqrt(6 / (d + 3 * d));
    const inInit = tf.initializers.randomUniform({ minval: -bound, maxval: bound });
    const outBound = 1 / Math.sqrt(d);
    this.kernels = ['query', 'key', 'value'].map((p) => this.addWeight(`${p}_kernel`, [d, d], 'float32', inInit));
    if (this.useBias) this.biases = ['query', 'key', 'value'].map((p) => this.addWeight(`${p}_bias`, [d], 'float32', tf.initializers.zeros()));
    this.outKernel = this.addWeight('out_kernel', [d, d], 'float32', tf.initializers.randomUniform({ minval: -outBound, maxval: outBound }));
    if (this.useBias) this.outBias = this.addWeight('out_bias', [d], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return oneShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const list = Array.isArray(inputs) ? inputs : [inputs];
      if (list.length !== 1 && list.length !== 3 && list.length !== 4) throw new Error(`TorchMultiheadAttention: expected x, [query, key, value] or [query, key, value, keyPaddingMask], got ${list.length} inputs`);
      const [query, key, value] = list.length === 1 ? [list[0], list[0], list[0]] : list;
      const project = (x: tf.Tensor, i: number) => linear(x, this.kernels[i].read(), this.biases[i]?.read());
      let bias: tf.Tensor | undefined;
      if (list.length === 4) {
        // PyTorch's boolean key_padding_mask: true = ignore, filled with −∞ (a row with every key ignored gives NaN, as in PyTorch).
        const [n, lk] = list[3].shape;
        bias = tf.reshape(tf.where(tf.cast(list[3], 'bool'), tf.fill([n, lk], -Infinity), tf.zeros([n, lk])), [n, 1, 1, lk]);
      }
      const y = multiHeadAttention(project(query, 0), project(key, 1), project(value, 2), {
        numHeads: this.numHeads, bias, scaling: 'query', dropout: this.dropout, training: kwargs?.training,
      });
      return linear(y, (this.outKernel as tf.LayerVariable).read(), this.outBias?.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numHeads: this.numHeads, ...(this.embedDim !== undefined ? { embedDim: this.embedDim } : {}), dropout: this.dropout, useBias: this.useBias };
  }
}

const transposed = byPermutation([1, 0]);

registerTorchLayer(TorchMultiheadAttention, {
  weights: {
    query_kernel: { torch: 'in_proj_weight', role: 'kernel', layout: transposed, pack: { index: 0, count: 3 } },
    key_kernel: { torch: 'in_proj_weight', role: 'kernel', layout: transposed, pack: { index: 1, count: 3 } },
    value_kernel: { torch: 'in_proj_weight', role: 'kernel', layout: transposed, pack: { index: 2, count: 3 } },
    query_bias: { torch: 'in_proj_bias', role: 'bias', pack: { index: 0, count: 3 } },
    key_bias: { torch: 'in_proj_bias', role: 'bias', pack: { index: 1, count: 3 } },
    value_bias: { torch: 'in_proj_bias', role: 'bias', pack: { index: 2, count: 3 } },
    out_kernel: { torch: 'out_proj.weight', role: 'kernel', layout: transposed },
    out_bias: { torch: 'out_proj.bias', role: 'bias' },
  },
  torchModules: ['MultiheadAttention (batch_first; in_proj_weight/in_proj_bias split into query, key, value)'],
});

/** nn.MultiheadAttention(embedDim, numHeads, dropout, bias, batch_first=True) as a TF.js layer. */
export function torchMultiheadAttention(args: TorchMultiheadAttentionArgs): TorchMultiheadAttention {
  return new TorchMultiheadAttention(args);
}

/** Arguments of torchDotProductAttention. */
export interface TorchDotProductAttentionArgs extends LayerArgs {
  numHeads: number;
  /** Dropout on the attention probabilities (training only); default 0. */
  dropout?: number;
  /** Default 'scores' (Hugging Face divides q·kᵀ by √d). */
  scaling?: AttentionScaling;
}

/**
 * The weightless core of multi-head attention on projected inputs: [query, key, value] or
 * [query, key, value, bias] (bias added to the scores, e.g. AttentionMaskBias's) → [N, Lq, D].
 * With Dense layers for the projections this is Hugging Face's BertSelfAttention.
 */
export class TorchDotProductAttention extends tf.layers.Layer {
  static className = 'TorchDotProductAttention';
  readonly numHeads: number;
  readonly dropout: number;
  readonly scaling: AttentionScaling;

  constructor(args: TorchDotProductAttentionArgs) {
    super(args);
    this.numHeads = args.numHeads;
    this.dropout = args.dropout ?? 0;
    this.scaling = args.scaling ?? 'scores';
    checkDropout(this.dropout, 'torchDotProductAttention');
    if (!Number.isInteger(this.numHeads) || this.numHeads < 1) throw new Error(`torchDotProductAttention: numHeads must be a positive integer, got ${this.numHeads}`);
    if (this.scaling !== 'query' && this.scaling !== 'scores') throw new Error(`torchDotProductAttention: scaling must be 'query' or 'scores', got ${JSON.stringify(this.scaling)}`);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const d = oneShape(inputShape).slice(-1)[0];
    if (typeof d === 'number') checkHeads(d, this.numHeads, `torchDotProductAttention '${this.name}'`);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return oneShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    if (!Array.isArray(inputs) || (inputs.length !== 3 && inputs.length !== 4)) throw new Error('TorchDotProductAttention: expected [query, key, value] or [query, key, value, bias]');
    const [q, k, v, bias] = inputs;
    return multiHeadAttention(q, k, v, { numHeads: this.numHeads, bias, scaling: this.scaling, dropout: this.dropout, training: kwargs?.training });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numHeads: this.numHeads, dropout: this.dropout, scaling: this.scaling };
  }
}

registerTorchLayer(TorchDotProductAttention);

/** Scaled dot-product attention over heads on already projected [query, key, value(, bias)]. */
export function torchDotProductAttention(args: TorchDotProductAttentionArgs): TorchDotProductAttention {
  return new TorchDotProductAttention(args);
}

/** float32's lowest value, torch.finfo(torch.float32).min: what Hugging Face adds to masked scores. */
export const FLOAT32_MIN = -3.4028234663852886e38;

/**
 * Hugging Face's extended attention mask: a [N, L] mask of 1 (attend) and 0 (padding) becomes
 * (1 − mask) · float32-min, shaped [N, 1, 1, L] to add to every head's scores.
 */
export class AttentionMaskBias extends tf.layers.Layer {
  static className = 'AttentionMaskBias';

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [n, l] = oneShape(inputShape);
    return [n, 1, 1, l];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const mask = tf.cast(Array.isArray(inputs) ? inputs[0] : inputs, 'float32');
      const [n, l] = mask.shape;
      return tf.reshape(tf.mul(tf.sub(1, mask), FLOAT32_MIN), [n, 1, 1, l]);
    });
  }
}

registerTorchLayer(AttentionMaskBias);

/** A [N, L] 0/1 attention mask as the additive score bias Hugging Face's BERT uses. */
export function attentionMaskBias(args: LayerArgs = {}): AttentionMaskBias {
  return new AttentionMaskBias(args);
}
