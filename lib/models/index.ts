/** The model zoo: TF.js builders with PyTorch's own keys, and the PyTorch-semantics layers they are made of. */
export * from './layers';
export type { VisionOptions } from './options';
export type { ResNetBlock, ResNetOptions } from './resnet';
export { resnet, resnet18, resnet34, resnet50, resnet101, resnext50_32x4d, wideResnet50_2 } from './resnet';
export type { VisionTransformerOptions, VitPresetOptions } from './vit';
export { visionTransformer, vitB16, vitB32, vitL16, vitL32, vitH14, VIT_LEGACY_RENAMES } from './vit';
export type { BertConfig, BertOptions, BertInputName } from './bert';
export { bertEncoder, bertConfigFromJson, BERT_ACTIVATIONS, BERT_CHECKPOINT_RENAMES, BERT_IGNORED_KEYS } from './bert';
export type { FromCheckpointOptions } from './from-checkpoint';
export { modelFromCheckpoint, buildFromTree, rebuildReport, ModuleRebuildError } from './from-checkpoint';
export type { ModuleForm, ForwardContext, InputKind } from './module-forms';
export { registerModuleForm, moduleForm, knownModuleClasses } from './module-forms';
