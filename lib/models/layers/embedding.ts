/**
 * Hugging Face's BERT embeddings beyond a plain lookup (TF.js's Embedding already is nn.Embedding):
 * learned positions 0..L−1 added to a sequence, and the all-zero token types BERT uses when none
 * are given.
 */
import * as tf from '@tensorflow/tfjs';
import { oneInput, oneShape, registerTorchLayer, type LayerArgs } from './base';

/** Arguments of torchPositionEmbedding. */
export interface TorchPositionEmbeddingArgs extends LayerArgs {
  /** Rows of the table (BertConfig.max_position_embeddings). */
  maxPositions: number;
  /** Standard deviation of the initial N(0, σ²) values (default 0.02, BertConfig.initializer_range). */
  stddev?: number;
}

/**
 * nn.Embedding(maxPositions, D) looked up at positions 0..L−1 and added to a [N, L, D] sequence, as
 * BertEmbeddings does with its `position_ids`: weight `embeddings` (PyTorch: `weight`).
 */
export class TorchPositionEmbedding extends tf.layers.Layer {
  static className = 'TorchPositionEmbedding';
  readonly maxPositions: number;
  readonly stddev: number;
  private table?: tf.LayerVariable;

  constructor(args: TorchPositionEmbeddingArgs) {
    super(args);
    this.maxPositions = args.maxPositions;
    this.stddev = args.stddev ?? 0.02;
    if (!Number.isInteger(this.maxPositions) || this.maxPositions < 1) throw new Error(`torchPositionEmbedding: maxPositions must be a positive integer, got ${args.maxPositions}`);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [, l, d] = oneShape(inputShape);
    if (typeof d !== 'number') throw new Error(`torchPositionEmbedding '${this.name}': the embedding size (last axis) must be known`);
    if (typeof l === 'number' && l > this.maxPositions) throw new Error(`torchPositionEmbedding '${this.name}': sequences of ${l} tokens exceed maxPositions (${this.maxPositions})`);
    this.table = this.addWeight('embeddings', [this.maxPositions, d], 'float32', tf.initializers.randomNormal({ stddev: this.stddev }));
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return oneShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneInput(inputs, 'TorchPositionEmbedding');
      const l = x.shape[1] as number;
      if (l > this.maxPositions) throw new Error(`TorchPositionEmbedding '${this.name}': a sequence of ${l} tokens exceeds maxPositions (${this.maxPositions}, BertConfig.max_position_embeddings)`);
      const table = (this.table as tf.LayerVariable).read();
      return tf.add(x, tf.slice(table, [0, 0], [l, -1]));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), maxPositions: this.maxPositions, stddev: this.stddev };
  }
}

registerTorchLayer(TorchPositionEmbedding, {
  weights: { embeddings: { torch: 'weight', role: 'position' } },
  torchModules: ['Embedding looked up at positions 0..L−1 and added (BertEmbeddings.position_embeddings)'],
});

/** BERT's position embeddings (nn.Embedding at positions 0..L−1, added to the input) as a TF.js layer. */
export function torchPositionEmbedding(args: TorchPositionEmbeddingArgs): TorchPositionEmbedding {
  return new TorchPositionEmbedding(args);
}

/** int32 zeros shaped like the token ids: the token types BERT uses when none are given. */
export class ZeroTokenTypes extends tf.layers.Layer {
  static className = 'ZeroTokenTypes';

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return oneShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.zeros(oneInput(inputs, 'ZeroTokenTypes').shape, 'int32');
  }
}

registerTorchLayer(ZeroTokenTypes);

/** A layer giving all-zero token types for token ids (BERT's default token_type_ids). */
export function zeroTokenTypes(args: LayerArgs = {}): ZeroTokenTypes {
  return new ZeroTokenTypes(args);
}
