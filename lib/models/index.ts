/** The model zoo: TF.js builders with PyTorch's own keys, and the PyTorch-semantics layers they are made of. */
export * from './layers';
export type { VisionOptions } from './options';
export type { ResNetBlock, ResNetOptions } from './resnet';
export { resnet, resnet18, resnet34, resnet50, resnet101, resnext50_32x4d, wideResnet50_2 } from './resnet';
export type { ConvNormActivationArgs, NormSpec, SqueezeExcitationArgs } from './blocks';
export { conv2dNormActivation, squeezeExcitation } from './blocks';
export type { InvertedResidualSetting, MobileNetV2Options, MobileNetV3Options } from './mobilenet';
export { mobilenetV2, mobilenetV3Large, mobilenetV3Small } from './mobilenet';
export type { EfficientNetConfig, EfficientNetOptions } from './efficientnet';
export { efficientnet, efficientnetB0, efficientnetB1, efficientnetB2, efficientnetB3, efficientnetB4, efficientnetB5, efficientnetB6, efficientnetB7 } from './efficientnet';
export type { VggArgs, VggConfig, VggOptions } from './vgg';
export { vgg, vgg11, vgg11Bn, vgg13, vgg13Bn, vgg16, vgg16Bn, vgg19, vgg19Bn, VGG_CONFIGS } from './vgg';
export type { FromCheckpointOptions } from './from-checkpoint';
export { modelFromCheckpoint, buildFromTree, rebuildReport, ModuleRebuildError } from './from-checkpoint';
export type { ModuleForm, ForwardContext, InputKind } from './module-forms';
export { registerModuleForm, moduleForm, knownModuleClasses } from './module-forms';
