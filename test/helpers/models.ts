/** TF.js models the state-dict tests share: mirrors of the fixtures and of the seeds' networks. */
import * as tf from '@tensorflow/tfjs';

/** TF.js mirror of state_dict.pt (PyTorch's BatchNorm epsilon). */
export function seqNet(): tf.Sequential {
  const head = tf.sequential({ name: 'head', layers: [tf.layers.dense({ units: 2, name: 'fc', inputShape: [3] })] });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [8, 8, 1] }),
      tf.layers.batchNormalization({ epsilon: 1e-5 }),
      tf.layers.reLU(),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3 }),
      head,
    ],
  });
}

/** LeNet5 / LeNet6 of seed 003 as TF.js. */
export function leNet(six: boolean): tf.Sequential {
  const conv = tf.sequential({
    name: 'conv',
    layers: [
      tf.layers.conv2d({ filters: 6, kernelSize: 5, padding: 'same', inputShape: [28, 28, 1] }),
      tf.layers.reLU(), tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 5 }),
      tf.layers.reLU(), tf.layers.maxPooling2d({ poolSize: 2 }),
    ],
  });
  const tail = six ? [tf.layers.dense({ units: 64 }), tf.layers.reLU(), tf.layers.dense({ units: 10 })] : [tf.layers.dense({ units: 10 })];
  const fc = tf.sequential({
    name: 'fc',
    layers: [tf.layers.flatten({ inputShape: [5, 5, 16] }), tf.layers.dense({ units: 120 }), tf.layers.reLU(), tf.layers.dense({ units: 84 }), tf.layers.reLU(), ...tail],
  });
  return tf.sequential({ layers: [conv, fc] });
}

/** Seed 000: AttentionResNet-like net, and a bigger model holding it as `attention_map`. */
export function attentionResNet(name?: string): tf.Sequential {
  return tf.sequential({
    name,
    layers: [
      tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', inputShape: [16, 16, 3] }),
      tf.layers.batchNormalization(), tf.layers.reLU(),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same' }),
      tf.layers.batchNormalization(), tf.layers.reLU(),
      tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid' }),
    ],
  });
}

export function bigModel(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3] });
  const mask = attentionResNet('attention_map').apply(input) as tf.SymbolicTensor;
  const gated = tf.layers.multiply().apply([input, mask]) as tf.SymbolicTensor;
  const feat = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'features' }).apply(gated) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(feat) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 5, name: 'classifier' }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** backbone → head, two Dense layers on 2 inputs: seed 002's pretrained body and new classifier, at toy size. */
export function backboneHeadNet(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ name: 'backbone', inputShape: [2], units: 8, activation: 'tanh' }),
      tf.layers.dense({ name: 'head', units: 2, activation: 'softmax' }),
    ],
  });
}
