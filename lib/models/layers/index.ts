/** The PyTorch-semantics layers (README: "PyTorch modules in TF.js"). Importing this registers them with TF.js's serialisation and tsfreeze's layer table. */
export type { LayerArgs } from './base';
export { TorchConv2D, torchConv2d } from './conv';
export type { TorchConv2dArgs } from './conv';
export { TorchMaxPool2D, TorchAvgPool2D, AdaptiveAvgPool2D, torchMaxPool2d, torchAvgPool2d, torchAdaptiveAvgPool2d } from './pool';
export type { TorchPool2dArgs, AdaptiveAvgPool2dArgs } from './pool';
export { TorchActivation, torchActivation, TORCH_ACTIVATIONS } from './activation';
export type { TorchActivationName, TorchActivationArgs } from './activation';
export { TorchFlatten, torchFlatten } from './flatten';
export { TorchBatchNorm, torchBatchNorm, torchLayerNorm } from './norm';
export type { TorchBatchNormArgs, TorchLayerNormArgs } from './norm';
