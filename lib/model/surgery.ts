/**
 * Head surgery and input adaptation (seeds 002 and 004; timm's `reset_classifier` and
 * `adapt_input_conv`): a new classifier under the old one's key, the rest of the model shared;
 * a first convolution's pretrained kernel adapted to another number of input channels.
 */
import * as tf from '@tensorflow/tfjs';
import { frozenKeys, markFrozen } from '../freeze/registry';
import { allocate, numel, type HostTensor, type StateDict } from '../statedict/tensor';
import { asFloat32 } from '../statedict/convert';
import { orderByCreation, isLayersModel, weightSlots } from './weights';
import { torchLinear } from '../models/layers/init';

/** A new head: a class count (a Dense layer with PyTorch's Linear initialisation), a layer named as the old head, or a factory given the old head's name and input width. */
export type NewHead = number | tf.layers.Layer | ((name: string, inFeatures: number) => tf.layers.Layer);

/** The model with its classifier replaced (same key: `fc`, `classifier.1`, `heads.head`); every other layer is shared with `model`, frozen keys carry over. */
export function replaceHead(model: tf.LayersModel, head: NewHead): tf.LayersModel {
  if (!isLayersModel(model)) throw new TypeError('replaceHead: the model must be a TF.js LayersModel');
  if (model.outputs.length !== 1) throw new Error(`replaceHead: the model has ${model.outputs.length} outputs; say which head to replace by building the model yourself`);
  const { layer: old, after } = findHead(model);
  const input = old.input as tf.SymbolicTensor;
  const inFeatures = input.shape[input.shape.length - 1];
  if (typeof inFeatures !== 'number') throw new Error(`replaceHead: the input width of '${old.name}' is unknown`);
  const fresh = makeHead(head, old.name, inFeatures);
  let out = fresh.apply(input) as tf.SymbolicTensor;
  // Weightless layers after the head (a softmax) are re-applied on the new output.
  for (const l of after) out = l.apply(out) as tf.SymbolicTensor;
  const isSequential = model.getClassName() === 'Sequential';
  const next = isSequential
    ? tf.sequential({ name: model.name, layers: [...model.layers.slice(0, model.layers.length - after.length - 1), fresh, ...after] })
    : tf.model({ inputs: model.inputs, outputs: out, name: model.name });
  if (!isSequential) orderByCreation(next);
  // The frozen record is per model: carry it over, less the old head's weights.
  const oldVars = new Set(old.weights.map((w) => (w as unknown as { val: tf.Variable }).val));
  const oldKeys = new Set(weightSlots(model).filter((s) => oldVars.has(s.variable)).map((s) => s.key));
  markFrozen(next, [...frozenKeys(model)].filter((k) => !oldKeys.has(k)), true);
  return next;
}

/** The last layer with weights on the way to the output, and the weightless layers after it. */
function findHead(model: tf.LayersModel): { layer: tf.layers.Layer; after: tf.layers.Layer[] } {
  const after: tf.layers.Layer[] = [];
  let layer = (model.outputs[0] as unknown as { sourceLayer: tf.layers.Layer }).sourceLayer;
  while (layer.weights.length === 0) {
    after.unshift(layer);
    const inbound = (layer as unknown as { inboundNodes: Array<{ inboundLayers: tf.layers.Layer[] }> }).inboundNodes;
    const prev = inbound[inbound.length - 1]?.inboundLayers;
    if (!prev || prev.length !== 1) throw new Error(`replaceHead: no single classifier layer before '${layer.name}' (it has ${prev?.length ?? 0} inputs)`);
    layer = prev[0];
  }
  if (layer.getClassName() !== 'Dense') throw new Error(`replaceHead: the layer producing the output, '${layer.name}', is a ${layer.getClassName()}, not a Dense classifier`);
  return { layer, after };
}

function makeHead(head: NewHead, name: string, inFeatures: number): tf.layers.Layer {
  if (typeof head === 'number') {
    if (!Number.isInteger(head) || head < 1) throw new Error(`replaceHead: the class count must be a positive integer, got ${head}`);
    // PyTorch's nn.Linear default: U(±1/√in_features) for weight and bias.
    return torchLinear({ name, units: head, inFeatures });
  }
  const layer = typeof head === 'function' ? head(name, inFeatures) : head;
  if (layer.name !== name) throw new Error(`replaceHead: the new head is named '${layer.name}'; name it '${name}' (the old head's key) or pass (name, inFeatures) => layer`);
  return layer;
}

/** Options of adaptInputConv. */
export interface AdaptInputOptions {
  /** Layout of the kernel: 'torch' [out, in, kh, kw] (default for keys ending in `.weight`) or 'tfjs' [kh, kw, in, out]. */
  layout?: 'torch' | 'tfjs';
}

/** A copy of `stateDict` whose first-convolution kernel `key` takes `inChannels` input channels (timm's rule: sum to one channel; repeat and rescale for more). */
export function adaptInputConv(stateDict: StateDict, key: string, inChannels: number, opts: AdaptInputOptions = {}): StateDict {
  const t = stateDict.get(key);
  if (!t) throw new Error(`adaptInputConv: no key '${key}' in the state dict (keys like ${[...stateDict.keys()].slice(0, 3).join(', ')})`);
  if (t.shape.length !== 4) throw new Error(`adaptInputConv: '${key}' has shape [${t.shape}], not a 2-D convolution kernel`);
  if (!Number.isInteger(inChannels) || inChannels < 1) throw new Error(`adaptInputConv: inChannels must be a positive integer, got ${inChannels}`);
  const layout = opts.layout ?? (/kernel$/.test(key) ? 'tfjs' : 'torch');
  const axis = layout === 'torch' ? 1 : 2;
  const cin = t.shape[axis];
  let out: HostTensor;
  if (inChannels === cin) out = t;
  else if (inChannels === 1) {
    // One channel: the sum over the input channels (over each RGB triple when cin is a multiple of 3 and > 3).
    const groups = cin > 3 && cin % 3 === 0 ? cin / 3 : 1;
    out = reduceChannels(t, axis, cin, groups);
  } else {
    if (cin !== 3) throw new Error(`adaptInputConv: '${key}' takes ${cin} input channels; only a 3-channel (RGB) kernel can be spread over ${inChannels} channels`);
    out = repeatChannels(t, axis, inChannels);
  }
  const next: StateDict = new Map(stateDict);
  next.set(key, out);
  return next;
}

/** Consecutive runs of input channels summed: `groups` output channels, each the sum of cin / groups inputs. */
function reduceChannels(t: HostTensor, axis: number, cin: number, groups: number): HostTensor {
  const src = asFloat32(t);
  const shape = [...t.shape];
  shape[axis] = groups;
  const out = allocate('float32', numel(shape));
  const outer = numel(t.shape.slice(0, axis));
  const inner = numel(t.shape.slice(axis + 1));
  const per = cin / groups;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < cin; c++) {
      const g = Math.floor(c / per);
      const from = (o * cin + c) * inner;
      const to = (o * groups + g) * inner;
      for (let i = 0; i < inner; i++) out[to + i] += src[from + i];
    }
  }
  return { dtype: 'float32', shape, data: out };
}

/** The 3 input channels repeated to `n` (cut at n) and scaled by 3 / n, so the response to a grey image is kept. */
function repeatChannels(t: HostTensor, axis: number, n: number): HostTensor {
  const src = asFloat32(t);
  const shape = [...t.shape];
  shape[axis] = n;
  const out = allocate('float32', numel(shape));
  const outer = numel(t.shape.slice(0, axis));
  const inner = numel(t.shape.slice(axis + 1));
  const scale = 3 / n;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < n; c++) {
      const from = (o * 3 + (c % 3)) * inner;
      const to = (o * n + c) * inner;
      for (let i = 0; i < inner; i++) out[to + i] = src[from + i] * scale;
    }
  }
  return { dtype: 'float32', shape, data: out };
}
