/**
 * PyTorch's default initialisation of Conv and Linear weights and biases, U(−1/√fan_in, 1/√fan_in)
 * (kaiming_uniform with a = √5), as a TF.js initializer. It draws with its own xorshift generator:
 * TF.js's random initializers draw about 5 million values a second, 20 s for VGG's 25088 × 4096 Linear.
 */
import * as tf from '@tensorflow/tfjs';

type Initializer = ReturnType<typeof tf.initializers.randomUniform>;

// TF.js does not export its Initializer base class, and layers take only instances of it.
const InitializerBase = Object.getPrototypeOf(tf.initializers.zeros().constructor) as abstract new () => Initializer;

/** U(−bound, bound), float32. */
export class TorchUniform extends InitializerBase {
  static className = 'TorchUniform';
  readonly bound: number;

  constructor(args: { bound: number }) {
    super();
    if (!(args.bound >= 0) || !Number.isFinite(args.bound)) throw new Error(`torchUniform: bound must be a finite number ≥ 0, got ${args.bound}`);
    this.bound = args.bound;
  }

  override apply(shape: number[]): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    const scale = (2 * this.bound) / 2 ** 32;
    // xorshift32 seeded from Math.random: ~10× faster than Math.random per value, ample for an init.
    let s = (Math.random() * 2 ** 32) >>> 0 || 1;
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      values[i] = (s >>> 0) * scale - this.bound;
    }
    return tf.tensor(values, shape, 'float32');
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { bound: this.bound };
  }
}

tf.serialization.registerClass(TorchUniform as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

/** PyTorch's default init for a weight (or its bias) with `fanIn` inputs per output: U(±1/√fan_in). */
export function torchUniform(fanIn: number): TorchUniform {
  return new TorchUniform({ bound: 1 / Math.sqrt(fanIn) });
}

/** nn.Linear(in, units) as TF.js's Dense with PyTorch's default initialisation of weight and bias. */
export function torchLinear(args: { name?: string; units: number; inFeatures: number; useBias?: boolean; trainable?: boolean }): tf.layers.Layer {
  const init = torchUniform(args.inFeatures);
  return tf.layers.dense({ name: args.name, units: args.units, useBias: args.useBias ?? true, kernelInitializer: init, biasInitializer: init, trainable: args.trainable });
}
