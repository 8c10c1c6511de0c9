/**
 * The weights of a TF.js model under structural keys (DESIGN.md), each with its PyTorch twin:
 * the key and layout the same weight has in the mirrored nn.Module.
 */
import * as tf from '@tensorflow/tfjs';
import { hwcToChw, inverse, permute, takeRows } from '../statedict/ops';
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
  /** The TF.js variable behind the weight. */
  variable: tf.Variable;
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
        dtype: v.dtype as DType, trainable: v.trainable, variable: v,
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

function walkModel(model: tf.LayersModel, prefix: string, out: WeightSlot[]): void {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  layers.forEach((layer, i) => {
    const seg = prefix + layerSegment(layer, i);
    if (isLayersModel(layer)) { walkModel(layer, `${seg}.`, out); return; }
    for (const w of ownWeights(layer)) out.push(slot(layer, seg, w));
  });
}

/** A layer's weights in the order it created them; `layer.weights` moves a weight whose trainable flag is off to the end. */
function ownWeights(layer: Layer): LayerVariableLike[] {
  const l = layer as unknown as { _trainableWeights?: LayerVariableLike[]; _nonTrainableWeights?: LayerVariableLike[]; weights: unknown };
  if (Array.isArray(l._trainableWeights) && Array.isArray(l._nonTrainableWeights)) return [...l._trainableWeights, ...l._nonTrainableWeights];
  return l.weights as LayerVariableLike[];
}

function slot(layer: Layer, layerKey: string, w: LayerVariableLike): WeightSlot {
  const short = w.originalName.split('/').pop() as string;
  const layout = torchLayout(layer, short, [...w.shape]);
  return {
    key: `${layerKey}.${short}`,
    torchKey: `${layerKey}.${layout.name}`,
    layerKey,
    layerClass: layer.getClassName(),
    shape: [...w.shape],
    torchShape: layout.shape,
    dtype: w.dtype as DType,
    get trainable() { return w.trainable; },
    variable: w.val,
    read: () => w.read().clone(),
    write: (t) => w.write(t),
    toTorch: layout.toTorch,
    fromTorch: layout.fromTorch,
  };
}

interface Layout { name: string; shape: number[]; toTorch(t: HostTensor): HostTensor; fromTorch(t: HostTensor): HostTensor }

const RENAMES: Record<string, Record<string, string>> = {
  BatchNormalization: { gamma: 'weight', beta: 'bias', moving_mean: 'running_mean', moving_variance: 'running_var' },
  LayerNormalization: { gamma: 'weight', beta: 'bias' },
  Embedding: { embeddings: 'weight' },
  Dense: { kernel: 'weight' },
  Conv1D: { kernel: 'weight' }, Conv2D: { kernel: 'weight' }, Conv3D: { kernel: 'weight' },
  Conv2DTranspose: { kernel: 'weight' }, Conv3DTranspose: { kernel: 'weight' },
  DepthwiseConv2D: { depthwise_kernel: 'weight', bias: 'bias' },
};

/** How one weight of a layer class is named and laid out in PyTorch. */
function torchLayout(layer: Layer, short: string, shape: number[]): Layout {
  const cls = layer.getClassName();
  const name = RENAMES[cls]?.[short] ?? short;
  const byPerm = (perm: number[]): Layout => {
    const back = inverse(perm);
    return { name, shape: perm.map((p) => shape[p]), toTorch: (t) => permute(t, perm), fromTorch: (t) => permute(t, back) };
  };
  const r = shape.length;
  if (cls === 'Dense' && short === 'kernel') {
    const hwc = flattenedFeatureMap(layer);
    if (hwc && hwc[0] * hwc[1] * hwc[2] === shape[0]) {
      // PyTorch flattens conv features as C,H,W; TF.js as H,W,C: reorder the input rows.
      const toChw = hwcToChw(hwc[0], hwc[1], hwc[2]);
      const fromChw = inverse(toChw);
      return {
        name, shape: [shape[1], shape[0]],
        toTorch: (t) => permute(takeRows(t, fromChw), [1, 0]),
        fromTorch: (t) => takeRows(permute(t, [1, 0]), toChw),
      };
    }
    return byPerm([1, 0]);
  }
  if (/^Conv[123]D$/.test(cls) && short === 'kernel') return byPerm([r - 1, r - 2, ...Array.from({ length: r - 2 }, (_, i) => i)]);
  if (/^Conv[23]DTranspose$/.test(cls) && short === 'kernel') return byPerm([r - 1, r - 2, ...Array.from({ length: r - 2 }, (_, i) => i)]);
  if (cls === 'DepthwiseConv2D' && short === 'depthwise_kernel') {
    const [kh, kw, cin, mult] = shape;
    return {
      name, shape: [cin * mult, 1, kh, kw],
      toTorch: (t) => ({ ...permute(t, [2, 3, 0, 1]), shape: [cin * mult, 1, kh, kw] }),
      fromTorch: (t) => permute({ ...t, shape: [cin, mult, kh, kw] }, [2, 3, 0, 1]),
    };
  }
  return { name, shape, toTorch: identity, fromTorch: identity };
}

/** [H, W, C] when the layer's input comes straight from a Flatten of a channels-last feature map. */
function flattenedFeatureMap(layer: Layer): [number, number, number] | undefined {
  type Node = { inboundLayers?: Layer[]; inputShapes?: Array<Array<number | null>> };
  const nodes = (layer as unknown as { inboundNodes?: Node[] }).inboundNodes;
  const prev = nodes?.[0]?.inboundLayers?.[0];
  if (!prev || prev.getClassName() !== 'Flatten') return undefined;
  if ((prev as unknown as { dataFormat?: string }).dataFormat === 'channelsFirst') return undefined;
  const shape = (prev as unknown as { inboundNodes?: Node[] }).inboundNodes?.[0]?.inputShapes?.[0];
  if (!shape || shape.length !== 4 || shape.slice(1).some((d) => d === null)) return undefined;
  return shape.slice(1) as [number, number, number];
}
