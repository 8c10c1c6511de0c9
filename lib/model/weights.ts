/**
 * The weights of a TF.js model under structural keys (DESIGN.md), each with its PyTorch twin:
 * the key and layout the same weight has in the mirrored nn.Module.
 */
import * as tf from '@tensorflow/tfjs';
import { weightForm, type WeightRole } from './torch-layout';
import type { DType, HostTensor } from '../statedict/tensor';

/** A TF.js LayersModel (Sequential or functional), or a plain object whose leaves are tf.Variables. */
export type ModelLike = tf.LayersModel | { [name: string]: ModelLike | tf.Variable };

/** One weight of a model: where it lives, how to read and write it, and how it maps to PyTorch. */
export interface WeightSlot {
  /** Structural key in TF.js naming: `conv.0.kernel`. */
  key: string;
  /** The same weight's key in the mirrored PyTorch module: `conv.0.weight`. */
  torchKey: string;
  /** Key of the layer that owns it (`conv.0`), '' for a plain variable. */
  layerKey: string;
  layerClass: string;
  shape: number[];
  torchShape: number[];
  dtype: DType;
  trainable: boolean;
  /** The weight's current value, as a tensor that the caller must dispose. */
  read(): tf.Tensor;
  /** Replaces the weight's value (same shape). */
  write(value: tf.Tensor): void;
  /** The value in PyTorch's layout. */
  toTorch(t: HostTensor): HostTensor;
  /** A PyTorch-layout value in this weight's layout. */
  fromTorch(t: HostTensor): HostTensor;
  /** When fromTorch only permutes axes (after an optional reshape): what a load can do on the backend instead. */
  fromTorchPermutation?: { reshape?: number[]; perm: number[] };
  /** The TF.js variable behind the weight. */
  variable: tf.Variable;
  /** What the weight is for (kernel, bias, gamma, moving_mean, …), from the layer class's PyTorch form. */
  role: WeightRole;
  /** A running statistic (BatchNorm's moving mean and variance), not a parameter. */
  statistic: boolean;
  /** Where PyTorch packs several weights into one tensor (`in_proj_weight`): this weight's part, concatenated on axis 0. */
  pack?: { index: number; count: number };
}

type Layer = tf.layers.Layer;
interface LayerVariableLike { originalName: string; name: string; shape: number[]; dtype: string; trainable: boolean; read(): tf.Tensor; write(v: tf.Tensor): void; val: tf.Variable }

const identity = (t: HostTensor): HostTensor => t;

/** Whether `x` is a TF.js LayersModel (or a layer that contains layers). */
export function isLayersModel(x: unknown): x is tf.LayersModel {
  return typeof x === 'object' && x !== null && Array.isArray((x as { layers?: unknown }).layers) && typeof (x as { getClassName?: unknown }).getClassName === 'function';
}

/** Every weight of `model` in order, with structural keys and PyTorch twins. */
export function weightSlots(model: ModelLike): WeightSlot[] {
  const out: WeightSlot[] = [];
  if (isLayersModel(model)) walkModel(model, '', out);
  else walkObject(model, '', out);
  return out;
}

function walkObject(obj: { [name: string]: ModelLike | tf.Variable }, prefix: string, out: WeightSlot[]): void {
  for (const [name, v] of Object.entries(obj)) {
    const key = prefix + name;
    if (v instanceof tf.Variable) {
      out.push({
        key, torchKey: key, layerKey: prefix.replace(/\.$/, ''), layerClass: 'Variable', shape: [...v.shape], torchShape: [...v.shape],
        dtype: v.dtype as DType, trainable: v.trainable, variable: v, role: 'other', statistic: false,
        read: () => v.clone(), write: (t) => v.assign(t), toTorch: identity, fromTorch: identity,
      });
    } else if (isLayersModel(v)) {
      walkModel(v, `${key}.`, out);
    } else if (typeof v === 'object' && v !== null) {
      walkObject(v, `${key}.`, out);
    }
  }
}

/** The segment of a layer in its parent: its name when the user gave one, else its index (as nn.Sequential does). */
export function layerSegment(layer: Layer, index: number): string {
  return isAutoName(layer) ? String(index) : layer.name;
}

/** Whether TF.js made up the layer's name (`dense_Dense3`, `sequential_2`, `model4`). */
export function isAutoName(layer: Layer): boolean {
  const cls = layer.getClassName();
  return new RegExp(`^[a-z0-9_]+_${cls}\\d+$`).test(layer.name) || /^sequential_\d+$/.test(layer.name) || /^model\d+$/.test(layer.name);
}

const creationOrdered = new WeakSet<object>();

/** Lists `model`'s weights in the order its layers were created (a zoo model: PyTorch's registration order) rather than TF.js's graph order; keys do not change. */
export function orderByCreation<M extends tf.LayersModel>(model: M): M {
  creationOrdered.add(model);
  return model;
}

function walkModel(model: tf.LayersModel, prefix: string, out: WeightSlot[]): void {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const segments = layers.map((layer, i) => ({ layer, seg: prefix + layerSegment(layer, i) }));
  if (creationOrdered.has(model)) segments.sort((a, b) => a.layer.id - b.layer.id);
  for (const { layer, seg } of segments) {
    if (isLayersModel(layer)) { walkModel(layer, `${seg}.`, out); continue; }
    for (const w of ownWeights(layer)) out.push(slot(layer, seg, w));
  }
}

/** A layer's weights in the order it created them; `layer.weights` moves a weight whose trainable flag is off to the end. */
function ownWeights(layer: Layer): LayerVariableLike[] {
  const l = layer as unknown as { _trainableWeights?: LayerVariableLike[]; _nonTrainableWeights?: LayerVariableLike[]; weights: unknown };
  if (Array.isArray(l._trainableWeights) && Array.isArray(l._nonTrainableWeights)) return [...l._trainableWeights, ...l._nonTrainableWeights];
  return l.weights as LayerVariableLike[];
}

function slot(layer: Layer, layerKey: string, w: LayerVariableLike): WeightSlot {
  const short = w.originalName.split('/').pop() as string;
  const cls = layer.getClassName();
  const form = weightForm(cls, short);
  const shape = [...w.shape];
  const layout = form.layout?.(shape, layer);
  return {
    key: `${layerKey}.${short}`,
    torchKey: form.torch ? `${layerKey}.${form.torch}` : layerKey,
    layerKey,
    layerClass: cls,
    shape,
    torchShape: layout ? layout.shape : shape,
    dtype: w.dtype as DType,
    get trainable() { return w.trainable; },
    variable: w.val,
    role: form.role,
    statistic: form.statistic === true,
    ...(form.pack ? { pack: form.pack } : {}),
    read: () => w.read().clone(),
    write: (t) => w.write(t),
    toTorch: layout ? layout.toTorch : identity,
    fromTorch: layout ? layout.fromTorch : identity,
    ...(layout?.fromTorchPermutation ? { fromTorchPermutation: layout.fromTorchPermutation } : {}),
  };
}
