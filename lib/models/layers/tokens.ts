/**
 * The token-sequence pieces of a vision transformer whose PyTorch form is a bare nn.Parameter:
 * torchvision's `class_token` (prepended to the patch tokens) and `encoder.pos_embedding` (added
 * to them). Their PyTorch key is the module path itself, so the layer's name is the key. And the
 * read-out of one token (`x[:, 0]`).
 */
import * as tf from '@tensorflow/tfjs';
import { oneInput, oneShape, registerTorchLayer, type LayerArgs } from './base';

/** Arguments of classToken. */
export interface ClassTokenArgs extends LayerArgs {
  /** Initial values: torchvision starts from zeros (default); 'normal' draws N(0, 0.02²). */
  init?: 'zeros' | 'normal';
}

/** A learned token [1, 1, D] prepended to every sequence: [N, L, D] → [N, 1 + L, D] (torchvision's `class_token`). */
export class ClassToken extends tf.layers.Layer {
  static className = 'ClassToken';
  readonly init: 'zeros' | 'normal';
  private token?: tf.LayerVariable;

  constructor(args: ClassTokenArgs = {}) {
    super(args);
    this.init = args.init ?? 'zeros';
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const d = oneShape(inputShape).slice(-1)[0];
    if (typeof d !== 'number') throw new Error(`classToken '${this.name}': the embedding size (last axis) must be known`);
    const init = this.init === 'zeros' ? tf.initializers.zeros() : tf.initializers.randomNormal({ stddev: 0.02 });
    this.token = this.addWeight('token', [1, 1, d], 'float32', init);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [n, l, d] = oneShape(inputShape);
    return [n, l === null ? null : l + 1, d];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneInput(inputs, 'ClassToken');
      const token = (this.token as tf.LayerVariable).read();
      return tf.concat([tf.tile(token, [x.shape[0], 1, 1]), x], 1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), init: this.init };
  }
}

registerTorchLayer(ClassToken, {
  weights: { token: { torch: '', role: 'token' } },
  torchModules: ['nn.Parameter(1, 1, D) prepended to the sequence (torchvision ViT class_token)'],
});

/** torchvision's class_token as a TF.js layer; name it with the PyTorch key (`class_token`). */
export function classToken(args: ClassTokenArgs = {}): ClassToken {
  return new ClassToken(args);
}

/** A learned [1, L, D] position embedding added to a sequence of exactly L tokens (torchvision's `encoder.pos_embedding`). */
export class PositionParameter extends tf.layers.Layer {
  static className = 'PositionParameter';
  private positions?: tf.LayerVariable;

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [, l, d] = oneShape(inputShape);
    if (typeof l !== 'number' || typeof d !== 'number') throw new Error(`positionParameter '${this.name}': the sequence length and embedding size must be known (got [${l}, ${d}])`);
    // torchvision: normal_(std=0.02).
    this.positions = this.addWeight('positions', [1, l, d], 'float32', tf.initializers.randomNormal({ stddev: 0.02 }));
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return oneShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneInput(inputs, 'PositionParameter');
      const p = (this.positions as tf.LayerVariable).read();
      if (x.shape[1] !== p.shape[1]) throw new Error(`PositionParameter '${this.name}': the input has ${x.shape[1]} tokens but the position embedding has ${p.shape[1]}`);
      return tf.add(x, p);
    });
  }
}

registerTorchLayer(PositionParameter, {
  weights: { positions: { torch: '', role: 'position' } },
  torchModules: ['nn.Parameter(1, L, D) added to the sequence (torchvision ViT encoder.pos_embedding)'],
});

/** torchvision's encoder.pos_embedding as a TF.js layer; name it with the PyTorch key (`encoder.pos_embedding`). */
export function positionParameter(args: LayerArgs = {}): PositionParameter {
  return new PositionParameter(args);
}

/** Arguments of selectToken. */
export interface SelectTokenArgs extends LayerArgs {
  /** Which token (default 0, the class token). */
  index?: number;
}

/** One token of each sequence: [N, L, D] → [N, D] (`x[:, index]`). */
export class SelectToken extends tf.layers.Layer {
  static className = 'SelectToken';
  readonly index: number;

  constructor(args: SelectTokenArgs = {}) {
    super(args);
    this.index = args.index ?? 0;
    if (!Number.isInteger(this.index) || this.index < 0) throw new Error(`selectToken: index must be an integer ≥ 0, got ${args.index}`);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [n, , d] = oneShape(inputShape);
    return [n, d];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneInput(inputs, 'SelectToken');
      return tf.reshape(tf.slice(x, [0, this.index, 0], [-1, 1, -1]), [x.shape[0], x.shape[2] as number]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), index: this.index };
  }
}

registerTorchLayer(SelectToken);

/** `x[:, index]` of a token sequence as a TF.js layer. */
export function selectToken(args: SelectTokenArgs = {}): SelectToken {
  return new SelectToken(args);
}
