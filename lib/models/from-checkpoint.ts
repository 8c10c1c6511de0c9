/**
 * modelFromCheckpoint: the TF.js twin of a whole pickled nn.Module (`torch.save(model)`), built
 * from the pickle's module tree (classes, attributes, weight shapes; lib/models/module-forms.ts
 * says how each class becomes TF.js) and loaded strictly. Nothing in the file is imported or run.
 */
import * as tf from '@tensorflow/tfjs';
import { readCheckpoint } from '../formats/read';
import type { Checkpoint, ReadOptions } from '../formats/checkpoint';
import type { ModuleNode } from '../formats/pytorch/modules';
import { loadStateDict, type LoadReport } from '../model/load';
import { orderByCreation } from '../model/weights';
import { torchFlatten } from './layers/flatten';
import { torchAdaptiveAvgPool2d } from './layers/pool';
import { moduleForm, type ForwardContext, type InputKind } from './module-forms';

/** Options of modelFromCheckpoint. */
export interface FromCheckpointOptions {
  /** The input without the batch axis: [h, w, c] for images (default [null, null, c]: any size), [features], or [length] for token ids. */
  inputShape?: Array<number | null>;
  /** The model's name (default: the root module's class name). */
  name?: string;
  /** Sub-tree of the checkpoint holding the module (see readCheckpoint). */
  root?: string;
  /** Passed to readCheckpoint (e.g. strictGlobals). */
  read?: Omit<ReadOptions, 'root'>;
}

/** Why a pickled module could not be rebuilt. */
export class ModuleRebuildError extends Error {
  override readonly name = 'ModuleRebuildError';
}

/** The load report of the last model built by modelFromCheckpoint (strict: everything loaded). */
const reports = new WeakMap<tf.LayersModel, LoadReport>();

/** The strict load report of a model that modelFromCheckpoint built. */
export function rebuildReport(model: tf.LayersModel): LoadReport | undefined {
  return reports.get(model);
}

/** Builds the TF.js twin of a `torch.save(model)` file (or its Checkpoint) and loads its weights strictly. */
export async function modelFromCheckpoint(source: string | Checkpoint, opts: FromCheckpointOptions = {}): Promise<tf.LayersModel> {
  const ck = typeof source === 'string' ? await readCheckpoint(source, { ...opts.read, root: opts.root }) : source;
  const file = typeof source === 'string' ? source : 'the checkpoint';
  const tree = ck.modules;
  if (!tree) {
    throw new ModuleRebuildError(`${file} holds a state dict (tensors by key), not a whole pickled module (torch.save(model)), so it says nothing of the architecture. Build the model in TF.js (the zoo: resnet18(), mobilenetV2(), vgg11Bn(), visionTransformer(), bertEncoder(), ...) and load it: await loadStateDict(model, '${file}', { strict: true })`);
  }
  const model = buildFromTree(tree, opts);
  const report = await loadStateDict(model, ck.stateDict, { strict: true, from: 'torch' }).catch((e: Error) => {
    model.dispose();
    throw new ModuleRebuildError(`${file}: the rebuilt ${tree.cls} does not take the file's weights: ${e.message}`);
  });
  reports.set(model, report);
  return model;
}

/** The TF.js model for a pickled module tree, weights not loaded. */
export function buildFromTree(tree: ModuleNode, opts: Pick<FromCheckpointOptions, 'inputShape' | 'name'> = {}): tf.LayersModel {
  if (!moduleForm(tree.cls)) throw unknownClass(tree);
  // Leaf layers are made first, in the modules' registration order: the model then lists its
  // weights in state_dict() order.
  const layers = new Map<ModuleNode, tf.layers.Layer | null>();
  const stack: ModuleNode[] = [tree];
  while (stack.length) {
    const n = stack.pop()!;
    const form = moduleForm(n.cls);
    if (form?.layer) layers.set(n, form.layer(n, n.path || leafName(n)));
    else stack.push(...[...n.children].reverse());
  }
  const kind = inputKind(tree);
  const input = tf.input(inputSpec(kind, opts.inputShape, tree));
  const names = new Set<string>();
  const unique = (base: string) => {
    let name = base;
    for (let i = 1; names.has(name); i++) name = `${base}_${i}`;
    names.add(name);
    return name;
  };
  const apply = (n: ModuleNode, x: tf.SymbolicTensor): tf.SymbolicTensor => {
    const form = moduleForm(n.cls);
    if (!form) throw unknownClass(n);
    if (form.layer) {
      const layer = layers.get(n);
      return layer ? (layer.apply(x) as tf.SymbolicTensor) : x;
    }
    if (!form.forward) throw unknownClass(n);
    return form.forward(n, x, ctx);
  };
  const childOf = (n: ModuleNode, name: string) => n.children.find((c) => c.path === (n.path ? `${n.path}.${name}` : name));
  const ctx: ForwardContext = {
    child(n, name, x) {
      const c = childOf(n, name);
      if (!c) throw new ModuleRebuildError(`module '${n.path || '(root)'}' (${n.cls}) has no child '${name}' (it is None or missing), which its forward() uses`);
      return apply(c, x);
    },
    has: (n, name) => childOf(n, name) !== undefined,
    add: (n, x, y) => tf.layers.add({ name: unique(`${prefix(n)}add`) }).apply([x, y]) as tf.SymbolicTensor,
    mul: (n, x, y) => tf.layers.multiply({ name: unique(`${prefix(n)}mul`) }).apply([x, y]) as tf.SymbolicTensor,
    flatten: (n, x) => torchFlatten({ name: unique(`${prefix(n)}flatten`) }).apply(x) as tf.SymbolicTensor,
    globalAvgPool: (n, x) => torchAdaptiveAvgPool2d({ name: unique(`${prefix(n)}pool`), outputSize: 1 }).apply(x) as tf.SymbolicTensor,
  };
  let output: tf.SymbolicTensor;
  try {
    output = apply(tree, input);
  } catch (e) {
    if (e instanceof ModuleRebuildError) throw e;
    const msg = (e as Error).message.replace(/\.$/, '');
    const hint = kind.kind === 'image' && !opts.inputShape ? ' The image size is unknown (the pickle does not say it) and matters here, e.g. for a Flatten before a Linear: pass { inputShape: [height, width, channels] }.' : '';
    throw new ModuleRebuildError(`rebuilding ${tree.cls} failed: ${msg}.${hint}`);
  }
  return orderByCreation(tf.model({ inputs: input, outputs: output, name: opts.name ?? tree.cls.split('.').pop() }));
}

function prefix(n: ModuleNode): string {
  return n.path ? `${n.path}.` : '';
}

function leafName(n: ModuleNode): string {
  return n.cls.split('.').pop()!.toLowerCase();
}

function unknownClass(n: ModuleNode): ModuleRebuildError {
  const where = n.path ? `module '${n.path}'` : 'the pickled module';
  return new ModuleRebuildError(`${where} is a ${n.cls}, a class with its own forward(): a pickle holds its weights, not its code, so tsfreeze cannot rebuild it (it rebuilds nn.Sequential trees of standard modules and torchvision's ResNet, MobileNetV2/V3, EfficientNet and VGG). Build the model in TF.js (the zoo: resnet18(), mobilenetV2(), ..., or your own layers named after PyTorch's module paths) and load the weights: await loadStateDict(model, checkpointFile, { strict: true })`);
}

/** What the first leaf module in registration order takes. */
function inputKind(tree: ModuleNode): InputKind {
  const stack: ModuleNode[] = [tree];
  while (stack.length) {
    const n = stack.pop()!;
    const form = moduleForm(n.cls);
    if (form?.input) return form.input(n);
    if (form?.layer && n.params.length) break;
    stack.push(...[...n.children].reverse());
  }
  throw new ModuleRebuildError(`cannot tell the input of ${tree.cls}: its first module with weights is neither a Conv2d, a Linear nor an Embedding`);
}

function inputSpec(kind: InputKind, shape: Array<number | null> | undefined, tree: ModuleNode): { shape: Array<number | null>; dtype?: 'int32' } {
  if (kind.kind === 'image') {
    const s = shape ?? [null, null, kind.channels];
    if (s.length !== 3 || s[2] !== kind.channels) throw new ModuleRebuildError(`${tree.cls} takes images with ${kind.channels} channels: inputShape must be [height, width, ${kind.channels}] (NHWC), got ${JSON.stringify(shape)}`);
    return { shape: s };
  }
  if (kind.kind === 'vector') {
    const s = shape ?? [kind.features];
    if (s[s.length - 1] !== kind.features) throw new ModuleRebuildError(`${tree.cls} takes ${kind.features} features: inputShape must end with ${kind.features}, got ${JSON.stringify(shape)}`);
    return { shape: s };
  }
  return { shape: shape ?? [null], dtype: 'int32' };
}
