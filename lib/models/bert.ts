/**
 * Hugging Face's BertModel in TF.js with its keys, in its order: `embeddings.word_embeddings.weight`,
 * `embeddings.position_embeddings.weight`, `embeddings.token_type_embeddings.weight`,
 * `embeddings.LayerNorm.weight`, `encoder.layer.0.attention.self.query.weight`, ...,
 * `encoder.layer.0.output.LayerNorm.bias`, `pooler.dense.weight`. Inputs are int32 token ids
 * [batch, seq] and, when asked, the attention mask and token-type ids; outputs the last hidden state
 * and, with the pooling layer, the pooled output.
 *
 * Checkpoint variants loadStateDict accepts (and reports): `bert.`-prefixed keys of the BertFor*
 * task models (their heads stay unexpected), `LayerNorm.gamma`/`beta` of old checkpoints, and the
 * `embeddings.position_ids` buffer that transformers 3.1–4.30 saved (ignored: positions are
 * always 0..L−1; exports leave it out, as transformers ≥ 4.31 does).
 */
import * as tf from '@tensorflow/tfjs';
import type { RenameRule } from '../statedict/rename';
import { orderByCreation } from '../model/weights';
import { withTorchVariants } from '../model/torch-variants';
import { torchActivation, type TorchActivationName } from './layers/activation';
import { attentionMaskBias, torchDotProductAttention } from './layers/attention';
import { torchPositionEmbedding, zeroTokenTypes } from './layers/embedding';
import { torchLayerNorm } from './layers/norm';
import { selectToken } from './layers/tokens';

/** Hugging Face's `hidden_act` names the builder knows, and the exact function each is. */
export const BERT_ACTIVATIONS: Readonly<Record<string, TorchActivationName>> = {
  gelu: 'gelu',
  gelu_python: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
  tanh: 'tanh',
  sigmoid: 'sigmoid',
};

/** Hugging Face's `BertConfig` fields, camel-cased; every one defaults to HF's value (bert-base). */
export interface BertConfig {
  /** Default 30522. */
  vocabSize?: number;
  /** Default 768. */
  hiddenSize?: number;
  /** Default 12. */
  numHiddenLayers?: number;
  /** Default 12. */
  numAttentionHeads?: number;
  /** Default 3072. */
  intermediateSize?: number;
  /** Default 'gelu' (exact, erf); see BERT_ACTIVATIONS. */
  hiddenAct?: string;
  /** Default 0.1 (training only). */
  hiddenDropoutProb?: number;
  /** Default 0.1 (training only). */
  attentionProbsDropoutProb?: number;
  /** Default 512. */
  maxPositionEmbeddings?: number;
  /** Default 2. */
  typeVocabSize?: number;
  /** Standard deviation of the initial weights; default 0.02. */
  initializerRange?: number;
  /** Default 1e-12. */
  layerNormEps?: number;
  /** Default 0. Recorded for the config's sake: TF.js's Embedding has no padding_idx (the row is trained like any other). */
  padTokenId?: number;
  /** Only 'absolute' (the default) is supported. */
  positionEmbeddingType?: string;
}

/** An input of the BERT model, by the name of BertModel.forward's argument. */
export type BertInputName = 'input_ids' | 'attention_mask' | 'token_type_ids';

/** bertEncoder's arguments: the config plus BertModel's `add_pooling_layer` and the TF.js model's inputs. */
export interface BertOptions extends BertConfig {
  /** Build `pooler` (dense + tanh on the first token) and return its output second; default true, as BertModel. */
  addPoolingLayer?: boolean;
  /**
   * The model's inputs, in the order predict() takes them; default ['input_ids']. Without
   * 'attention_mask' every token is attended to; without 'token_type_ids' all types are 0 (HF's defaults).
   */
  inputs?: BertInputName[];
  /** A fixed sequence length, or null (default) for any length up to maxPositionEmbeddings. */
  sequenceLength?: number | null;
  /** The model's name (default 'bert'). */
  name?: string;
}

const DEFAULTS: Required<Omit<BertConfig, 'positionEmbeddingType'>> = {
  vocabSize: 30522, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072,
  hiddenAct: 'gelu', hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1, maxPositionEmbeddings: 512,
  typeVocabSize: 2, initializerRange: 0.02, layerNormEps: 1e-12, padTokenId: 0,
};

const SNAKE: Record<string, keyof BertConfig> = {
  vocab_size: 'vocabSize', hidden_size: 'hiddenSize', num_hidden_layers: 'numHiddenLayers', num_attention_heads: 'numAttentionHeads',
  intermediate_size: 'intermediateSize', hidden_act: 'hiddenAct', hidden_dropout_prob: 'hiddenDropoutProb',
  attention_probs_dropout_prob: 'attentionProbsDropoutProb', max_position_embeddings: 'maxPositionEmbeddings',
  type_vocab_size: 'typeVocabSize', initializer_range: 'initializerRange', layer_norm_eps: 'layerNormEps',
  pad_token_id: 'padTokenId', position_embedding_type: 'positionEmbeddingType',
};

/** The BertConfig fields of a Hugging Face `config.json` (snake_case), camel-cased; other fields are left out. */
export function bertConfigFromJson(json: Record<string, unknown>): BertConfig {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) if (k in SNAKE && v !== null) out[SNAKE[k]] = v;
  return out as BertConfig;
}

/** Checkpoint spellings of BertModel's keys that loadStateDict maps to the model's (and lists in its report). */
export const BERT_CHECKPOINT_RENAMES: RenameRule[] = [
  // BertForSequenceClassification, BertForPreTraining, ...: the encoder lives under `bert.` (HF's base_model_prefix).
  { stripPrefix: 'bert.' },
  // Checkpoints converted from TensorFlow by old pytorch-pretrained-bert name LayerNorm's affine parameters gamma and beta.
  { pattern: /\.LayerNorm\.gamma$/, replacement: '.LayerNorm.weight' },
  { pattern: /\.LayerNorm\.beta$/, replacement: '.LayerNorm.bias' },
];

/** Buffers that transformers 3.1–4.30 saved in BertModel's state dict and that have no TF.js twin. */
export const BERT_IGNORED_KEYS = ['embeddings.position_ids', 'bert.embeddings.position_ids'];

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`bertEncoder: ${what} must be a positive integer, got ${v}`);
  return v;
}

function probability(v: number, what: string): number {
  if (!(v >= 0 && v < 1)) throw new Error(`bertEncoder: ${what} must be in [0, 1), got ${v}`);
  return v;
}

/** Hugging Face's BertModel (encoder + optional pooler) with HF's keys; the defaults are bert-base's. */
export function bertEncoder(opts: BertOptions = {}): tf.LayersModel {
  const c = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as Required<BertConfig> & BertOptions;
  const hidden = positiveInt(c.hiddenSize, 'hiddenSize');
  const heads = positiveInt(c.numAttentionHeads, 'numAttentionHeads');
  if (hidden % heads) throw new Error(`bertEncoder: hiddenSize (${hidden}) must be a multiple of numAttentionHeads (${heads}), as in BertSelfAttention`);
  for (const [v, what] of [[c.vocabSize, 'vocabSize'], [c.numHiddenLayers, 'numHiddenLayers'], [c.intermediateSize, 'intermediateSize'], [c.maxPositionEmbeddings, 'maxPositionEmbeddings'], [c.typeVocabSize, 'typeVocabSize']] as const) positiveInt(v, what);
  const hiddenDrop = probability(c.hiddenDropoutProb, 'hiddenDropoutProb');
  const attnDrop = probability(c.attentionProbsDropoutProb, 'attentionProbsDropoutProb');
  if (!(c.layerNormEps > 0)) throw new Error(`bertEncoder: layerNormEps must be > 0, got ${c.layerNormEps}`);
  if (c.positionEmbeddingType !== undefined && c.positionEmbeddingType !== 'absolute') {
    throw new Error(`bertEncoder: positionEmbeddingType ${JSON.stringify(c.positionEmbeddingType)} is not supported (only 'absolute', BERT's default)`);
  }
  const act = BERT_ACTIVATIONS[c.hiddenAct];
  if (!act) throw new Error(`bertEncoder: hiddenAct ${JSON.stringify(c.hiddenAct)} is not supported (known: ${Object.keys(BERT_ACTIVATIONS).join(', ')})`);
  const inputNames = c.inputs ?? ['input_ids'];
  if (!inputNames.includes('input_ids') || new Set(inputNames).size !== inputNames.length || inputNames.some((n) => !['input_ids', 'attention_mask', 'token_type_ids'].includes(n))) {
    throw new Error(`bertEncoder: inputs must list 'input_ids' and optionally 'attention_mask' and 'token_type_ids', each once; got ${JSON.stringify(inputNames)}`);
  }
  const seq = c.sequenceLength ?? null;
  if (seq !== null && (positiveInt(seq, 'sequenceLength') > c.maxPositionEmbeddings)) throw new Error(`bertEncoder: sequenceLength (${seq}) exceeds maxPositionEmbeddings (${c.maxPositionEmbeddings})`);

  const normal = () => tf.initializers.randomNormal({ stddev: c.initializerRange });
  const dense = (name: string, units: number) => tf.layers.dense({ name, units, kernelInitializer: normal(), biasInitializer: 'zeros' });
  const ln = (name: string) => torchLayerNorm({ name, eps: c.layerNormEps });
  const drop = (name: string, rate: number, x: tf.SymbolicTensor) => (rate > 0 ? (tf.layers.dropout({ name, rate }).apply(x) as tf.SymbolicTensor) : x);
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;

  const inputs = Object.fromEntries(inputNames.map((n) => [n, tf.input({ shape: [seq], dtype: 'int32', name: n })])) as Partial<Record<BertInputName, tf.SymbolicTensor>>;
  const ids = inputs.input_ids as tf.SymbolicTensor;

  // Created in BertEmbeddings' registration order (word, position, token type, LayerNorm) so the state dict follows HF's.
  const word = tf.layers.embedding({ name: 'embeddings.word_embeddings', inputDim: c.vocabSize, outputDim: hidden, embeddingsInitializer: normal() });
  const position = torchPositionEmbedding({ name: 'embeddings.position_embeddings', maxPositions: c.maxPositionEmbeddings, stddev: c.initializerRange });
  const tokenType = tf.layers.embedding({ name: 'embeddings.token_type_embeddings', inputDim: c.typeVocabSize, outputDim: hidden, embeddingsInitializer: normal() });
  const embLn = ln('embeddings.LayerNorm');

  const types = inputs.token_type_ids ?? apply(zeroTokenTypes({ name: 'embeddings.token_type_ids' }), ids);
  // HF: (inputs_embeds + token_type_embeddings) + position_embeddings, then LayerNorm and dropout.
  let x = apply(tf.layers.add({ name: 'embeddings.add' }), [apply(word, ids), apply(tokenType, types)]);
  x = apply(position, x);
  x = apply(embLn, x);
  x = drop('embeddings.dropout', hiddenDrop, x);
  const bias = inputs.attention_mask ? apply(attentionMaskBias({ name: 'extended_attention_mask' }), inputs.attention_mask) : undefined;

  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `encoder.layer.${i}`;
    const q = apply(dense(`${p}.attention.self.query`, hidden), x);
    const k = apply(dense(`${p}.attention.self.key`, hidden), x);
    const v = apply(dense(`${p}.attention.self.value`, hidden), x);
    const attention = torchDotProductAttention({ name: `${p}.attention.self`, numHeads: heads, dropout: attnDrop, scaling: 'scores' });
    let a = apply(attention, bias ? [q, k, v, bias] : [q, k, v]);
    a = apply(dense(`${p}.attention.output.dense`, hidden), a);
    a = drop(`${p}.attention.output.dropout`, hiddenDrop, a);
    a = apply(ln(`${p}.attention.output.LayerNorm`), apply(tf.layers.add({ name: `${p}.attention.output.add` }), [a, x]));
    let h = apply(dense(`${p}.intermediate.dense`, c.intermediateSize), a);
    h = apply(torchActivation(act, { name: `${p}.intermediate.intermediate_act_fn` }), h);
    h = apply(dense(`${p}.output.dense`, hidden), h);
    h = drop(`${p}.output.dropout`, hiddenDrop, h);
    x = apply(ln(`${p}.output.LayerNorm`), apply(tf.layers.add({ name: `${p}.output.add` }), [h, a]));
  }

  const outputs = [x];
  if (c.addPoolingLayer ?? true) {
    let pooled = apply(selectToken({ name: 'pooler.first_token', index: 0 }), x);
    pooled = apply(dense('pooler.dense', hidden), pooled);
    outputs.push(apply(torchActivation('tanh', { name: 'pooler.activation' }), pooled));
  }
  const model = tf.model({ inputs: inputNames.map((n) => inputs[n] as tf.SymbolicTensor), outputs: outputs.length === 1 ? outputs[0] : outputs, name: c.name ?? 'bert' });
  return withTorchVariants(orderByCreation(model), { renames: BERT_CHECKPOINT_RENAMES, ignored: BERT_IGNORED_KEYS });
}
