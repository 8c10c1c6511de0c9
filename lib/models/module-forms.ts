/**
 * How a pickled PyTorch module becomes TF.js: one table keyed by the module's class. A leaf
 * module (Conv2d, BatchNorm2d, Linear, ...) becomes one layer made from its attributes; a
 * container or model whose forward() is known (nn.Sequential, torchvision's ResNet, BasicBlock,
 * MobileNetV2, VGG, ...) composes its children as that forward() does. A class missing here has
 * a forward() a pickle does not hold, so it cannot be rebuilt.
 */
import * as tf from '@tensorflow/tfjs';
import type { JsonValue } from '../formats/checkpoint';
import type { ModuleNode } from '../formats/pytorch/modules';
import { torchActivation, type TorchActivationName } from './layers/activation';
import { torchConv2d } from './layers/conv';
import { torchFlatten } from './layers/flatten';
import { torchBatchNorm, torchLayerNorm } from './layers/norm';
import { torchAdaptiveAvgPool2d, torchAvgPool2d, torchMaxPool2d } from './layers/pool';
import { torchStochasticDepth } from './layers/regularization';

type X = tf.SymbolicTensor;

/** What a forward() composition can ask of the model being built. */
export interface ForwardContext {
  /** Runs a child module (by name) on x. */
  child(node: ModuleNode, name: string, x: X): X;
  /** Whether the module has a child of that name (not None). */
  has(node: ModuleNode, name: string): boolean;
  /** x + y, x · y (broadcasting), flatten from axis 1 in PyTorch's order, a global average pool. */
  add(node: ModuleNode, x: X, y: X): X;
  mul(node: ModuleNode, x: X, y: X): X;
  flatten(node: ModuleNode, x: X): X;
  globalAvgPool(node: ModuleNode, x: X): X;
}

/** What the input of a model starting with this module looks like. */
export type InputKind = { kind: 'image'; channels: number } | { kind: 'vector'; features: number } | { kind: 'ids' };

/** The TF.js form of one PyTorch module class. */
export interface ModuleForm {
  /** A leaf: its layer, named with the module's path, or null for the identity. */
  layer?: (node: ModuleNode, name: string) => tf.layers.Layer | null;
  /** A container or model: its forward() over its children. */
  forward?: (node: ModuleNode, x: X, ctx: ForwardContext) => X;
  /** A leaf that decides the model's input when it comes first. */
  input?: (node: ModuleNode) => InputKind;
}

const FORMS = new Map<string, ModuleForm>();

/** Adds (or replaces) how modules of a PyTorch class (qualified: `torch.nn.modules.conv.Conv2d`) become TF.js. */
export function registerModuleForm(torchClass: string, form: ModuleForm): void {
  FORMS.set(torchClass, form);
}

/** The form of a PyTorch module class, if tsfreeze knows it. */
export function moduleForm(torchClass: string): ModuleForm | undefined {
  return FORMS.get(torchClass);
}

/** The PyTorch classes tsfreeze can rebuild from a pickle. */
export function knownModuleClasses(): string[] {
  return [...FORMS.keys()];
}

// ---- attribute readers: a pickle's tuples arrive as arrays -----------------------------------

function attr(n: ModuleNode, key: string): JsonValue | undefined {
  return n.attrs[key];
}

function num(n: ModuleNode, key: string, fallback?: number): number {
  const v = attr(n, key);
  if (typeof v === 'number') return v;
  if (v === undefined && fallback !== undefined) return fallback;
  throw new Error(`module '${n.path || '(root)'}' (${n.cls}): attribute ${key} is ${JSON.stringify(v)}, not a number`);
}

function pairOf(n: ModuleNode, key: string, fallback?: number): [number, number] {
  const v = attr(n, key);
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return v as [number, number];
  if ((v === undefined || v === null) && fallback !== undefined) return [fallback, fallback];
  throw new Error(`module '${n.path || '(root)'}' (${n.cls}): attribute ${key} is ${JSON.stringify(v)}, not an int or a pair`);
}

function hasParam(n: ModuleNode, name: string): boolean {
  return n.params.includes(name);
}

function chain(n: ModuleNode, x: X, ctx: ForwardContext): X {
  return n.children.reduce((y, c) => ctx.child(n, c.path.slice(c.path.lastIndexOf('.') + 1), y), x);
}

const NN = 'torch.nn.modules.';

// ---- leaves ------------------------------------------------------------------------------------

registerModuleForm(`${NN}conv.Conv2d`, {
  layer: (n, name) => {
    const mode = attr(n, 'padding_mode');
    if (mode !== undefined && mode !== 'zeros') throw new Error(`module '${n.path}' (Conv2d): padding_mode '${String(mode)}' has no TF.js twin in tsfreeze (only 'zeros')`);
    const pad = attr(n, 'padding');
    return torchConv2d({
      name, filters: num(n, 'out_channels'), kernelSize: pairOf(n, 'kernel_size'), stride: pairOf(n, 'stride', 1),
      padding: pad === 'same' || pad === 'valid' ? pad : pairOf(n, 'padding', 0), dilation: pairOf(n, 'dilation', 1),
      groups: num(n, 'groups', 1), useBias: hasParam(n, 'bias'),
    });
  },
  input: (n) => ({ kind: 'image', channels: num(n, 'in_channels') }),
});

for (const bn of ['BatchNorm1d', 'BatchNorm2d', 'BatchNorm3d']) {
  registerModuleForm(`${NN}batchnorm.${bn}`, {
    layer: (n, name) => {
      const momentum = attr(n, 'momentum');
      if (typeof momentum !== 'number') throw new Error(`module '${n.path}' (${bn}): momentum=None (a cumulative average) has no TF.js twin in tsfreeze; set a momentum in PyTorch first`);
      if (attr(n, 'track_running_stats') === false) throw new Error(`module '${n.path}' (${bn}): track_running_stats=False (batch statistics in eval too) has no TF.js twin in tsfreeze`);
      return torchBatchNorm({ name, eps: num(n, 'eps', 1e-5), momentum, affine: attr(n, 'affine') !== false });
    },
  });
}

const ACTIVATIONS: Record<string, TorchActivationName> = {
  ReLU: 'relu', ReLU6: 'relu6', Sigmoid: 'sigmoid', Tanh: 'tanh', SiLU: 'silu', Hardsigmoid: 'hardsigmoid', Hardswish: 'hardswish',
};
for (const [cls, fn] of Object.entries(ACTIVATIONS)) registerModuleForm(`${NN}activation.${cls}`, { layer: (_n, name) => torchActivation(fn, { name }) });
registerModuleForm(`${NN}activation.GELU`, { layer: (n, name) => torchActivation(attr(n, 'approximate') === 'tanh' ? 'gelu_tanh' : 'gelu', { name }) });
registerModuleForm(`${NN}activation.LeakyReLU`, { layer: (n, name) => tf.layers.leakyReLU({ name, alpha: num(n, 'negative_slope', 0.01) }) });
registerModuleForm(`${NN}activation.Softmax`, {
  layer: (n, name) => {
    const dim = attr(n, 'dim');
    if (dim !== 1 && dim !== -1) throw new Error(`module '${n.path}' (Softmax): dim=${JSON.stringify(dim)}; tsfreeze rebuilds Softmax over the features (dim=1 or -1) only`);
    return tf.layers.softmax({ name, axis: -1 });
  },
});

registerModuleForm(`${NN}pooling.MaxPool2d`, {
  layer: (n, name) => {
    if (attr(n, 'return_indices') === true) throw new Error(`module '${n.path}' (MaxPool2d): return_indices=True has no TF.js twin`);
    return torchMaxPool2d({ name, kernelSize: pairOf(n, 'kernel_size'), stride: pairOf(n, 'stride'), padding: pairOf(n, 'padding', 0), dilation: pairOf(n, 'dilation', 1), ceilMode: attr(n, 'ceil_mode') === true });
  },
});
registerModuleForm(`${NN}pooling.AvgPool2d`, {
  layer: (n, name) => {
    if (attr(n, 'divisor_override') !== undefined && attr(n, 'divisor_override') !== null) throw new Error(`module '${n.path}' (AvgPool2d): divisor_override has no TF.js twin`);
    return torchAvgPool2d({ name, kernelSize: pairOf(n, 'kernel_size'), stride: pairOf(n, 'stride'), padding: pairOf(n, 'padding', 0), ceilMode: attr(n, 'ceil_mode') === true, countIncludePad: attr(n, 'count_include_pad') !== false });
  },
});
registerModuleForm(`${NN}pooling.AdaptiveAvgPool2d`, {
  layer: (n, name) => {
    const size = attr(n, 'output_size');
    const pairSize = (Array.isArray(size) ? size : [size, size]) as Array<number | null>;
    if (pairSize.some((d) => typeof d !== 'number')) throw new Error(`module '${n.path}' (AdaptiveAvgPool2d): output_size ${JSON.stringify(size)} with None is not supported`);
    return torchAdaptiveAvgPool2d({ name, outputSize: pairSize as [number, number] });
  },
});
registerModuleForm(`${NN}flatten.Flatten`, {
  layer: (n, name) => {
    if (num(n, 'start_dim', 1) !== 1 || num(n, 'end_dim', -1) !== -1) throw new Error(`module '${n.path}' (Flatten): only start_dim=1, end_dim=-1 is supported`);
    return torchFlatten({ name });
  },
});
registerModuleForm(`${NN}linear.Linear`, {
  layer: (n, name) => tf.layers.dense({ name, units: num(n, 'out_features'), useBias: hasParam(n, 'bias') }),
  input: (n) => ({ kind: 'vector', features: num(n, 'in_features') }),
});
registerModuleForm(`${NN}linear.Identity`, { layer: () => null });
registerModuleForm(`${NN}dropout.Dropout`, { layer: (n, name) => tf.layers.dropout({ name, rate: num(n, 'p', 0.5) }) });
// Dropout2d zeroes whole channels: one draw per (sample, channel).
registerModuleForm(`${NN}dropout.Dropout2d`, { layer: (n, name) => tf.layers.dropout({ name, rate: num(n, 'p', 0.5), noiseShape: [null, 1, 1, null] as unknown as number[] }) });
registerModuleForm(`${NN}normalization.LayerNorm`, {
  layer: (n, name) => {
    const shape = attr(n, 'normalized_shape');
    if (Array.isArray(shape) && shape.length !== 1) throw new Error(`module '${n.path}' (LayerNorm): normalized_shape ${JSON.stringify(shape)} over several axes is not supported`);
    if (attr(n, 'elementwise_affine') === false) throw new Error(`module '${n.path}' (LayerNorm): elementwise_affine=False is not supported`);
    return torchLayerNorm({ name, eps: num(n, 'eps', 1e-5) });
  },
});
registerModuleForm(`${NN}sparse.Embedding`, {
  layer: (n, name) => tf.layers.embedding({ name, inputDim: num(n, 'num_embeddings'), outputDim: num(n, 'embedding_dim') }),
  input: () => ({ kind: 'ids' }),
});
// torchvision's StochasticDepth: random in training, the identity in eval.
registerModuleForm('torchvision.ops.stochastic_depth.StochasticDepth', {
  layer: (n, name) => torchStochasticDepth({ name, p: num(n, 'p', 0), mode: attr(n, 'mode') === 'batch' ? 'batch' : 'row' }),
});

// ---- containers and torchvision models whose forward() is known -----------------------------

registerModuleForm(`${NN}container.Sequential`, { forward: chain });
registerModuleForm('torchvision.ops.misc.Conv2dNormActivation', { forward: chain });
registerModuleForm('torchvision.ops.misc.ConvNormActivation', { forward: chain });

registerModuleForm('torchvision.models.resnet.BasicBlock', {
  forward: (n, x, c) => {
    let y = c.child(n, 'relu', c.child(n, 'bn1', c.child(n, 'conv1', x)));
    y = c.child(n, 'bn2', c.child(n, 'conv2', y));
    const identity = c.has(n, 'downsample') ? c.child(n, 'downsample', x) : x;
    return c.child(n, 'relu', c.add(n, y, identity));
  },
});
registerModuleForm('torchvision.models.resnet.Bottleneck', {
  forward: (n, x, c) => {
    let y = c.child(n, 'relu', c.child(n, 'bn1', c.child(n, 'conv1', x)));
    y = c.child(n, 'relu', c.child(n, 'bn2', c.child(n, 'conv2', y)));
    y = c.child(n, 'bn3', c.child(n, 'conv3', y));
    const identity = c.has(n, 'downsample') ? c.child(n, 'downsample', x) : x;
    return c.child(n, 'relu', c.add(n, y, identity));
  },
});
registerModuleForm('torchvision.models.resnet.ResNet', {
  forward: (n, x, c) => {
    let y = c.child(n, 'maxpool', c.child(n, 'relu', c.child(n, 'bn1', c.child(n, 'conv1', x))));
    for (const stage of ['layer1', 'layer2', 'layer3', 'layer4']) y = c.child(n, stage, y);
    return c.child(n, 'fc', c.flatten(n, c.child(n, 'avgpool', y)));
  },
});

registerModuleForm('torchvision.models.mobilenetv2.InvertedResidual', {
  forward: (n, x, c) => {
    const y = c.child(n, 'conv', x);
    return attr(n, 'use_res_connect') === true ? c.add(n, x, y) : y;
  },
});
registerModuleForm('torchvision.models.mobilenetv2.MobileNetV2', {
  forward: (n, x, c) => c.child(n, 'classifier', c.flatten(n, c.globalAvgPool(n, c.child(n, 'features', x)))),
});

registerModuleForm('torchvision.ops.misc.SqueezeExcitation', {
  forward: (n, x, c) => {
    let s = c.child(n, 'avgpool', x);
    s = c.child(n, 'scale_activation', c.child(n, 'fc2', c.child(n, 'activation', c.child(n, 'fc1', s))));
    return c.mul(n, s, x);
  },
});
registerModuleForm('torchvision.models.mobilenetv3.InvertedResidual', {
  forward: (n, x, c) => {
    const y = c.child(n, 'block', x);
    return attr(n, 'use_res_connect') === true ? c.add(n, y, x) : y;
  },
});
registerModuleForm('torchvision.models.efficientnet.MBConv', {
  forward: (n, x, c) => {
    let y = c.child(n, 'block', x);
    if (attr(n, 'use_res_connect') === true) y = c.add(n, c.child(n, 'stochastic_depth', y), x);
    return y;
  },
});
const featuresPoolClassifier = (n: ModuleNode, x: X, c: ForwardContext): X => c.child(n, 'classifier', c.flatten(n, c.child(n, 'avgpool', c.child(n, 'features', x))));
registerModuleForm('torchvision.models.mobilenetv3.MobileNetV3', { forward: featuresPoolClassifier });
registerModuleForm('torchvision.models.efficientnet.EfficientNet', { forward: featuresPoolClassifier });
registerModuleForm('torchvision.models.vgg.VGG', { forward: featuresPoolClassifier });
