/** The model zoo: TF.js builders with PyTorch's own keys, and the PyTorch-semantics layers they are made of. */
export * from './layers';
export type { VisionOptions } from './options';
export type { ResNetBlock, ResNetOptions } from './resnet';
export { resnet, resnet18, resnet34, resnet50, resnet101, resnext50_32x4d, wideResnet50_2 } from './resnet';
export type { FromCheckpointOptions } from './from-checkpoint';
export { modelFromCheckpoint, buildFromTree, rebuildReport, ModuleRebuildError } from './from-checkpoint';
export type { ModuleForm, ForwardContext, InputKind } from './module-forms';
export { registerModuleForm, moduleForm, knownModuleClasses } from './module-forms';
