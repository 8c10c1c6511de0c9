/** What diffKeys and loadStateDict accept as a side: a StateDict, a TF.js model, or a checkpoint path. */
import { readCheckpoint } from '../formats/read';
import type { StateDict } from '../statedict/tensor';
import type { KeyShapes } from '../statedict/select';
import { shapesOf } from '../statedict/select';
import { isLayersModel, weightSlots, type ModelLike } from './weights';
import type { Layout } from './state-dict-of';
import { stateDictOf } from './state-dict-of';
import { torchEntries } from './torch-entries';
import { namingSuffixes } from './torch-layout';

/** A side of a comparison or a load. */
export type WeightSource = StateDict | ModelLike | string;

/** A state dict resolved from a source, and the naming it uses. */
export interface ResolvedSource { stateDict: StateDict; layout: Layout; label: string }

/** Whether keys look like PyTorch's (`.weight`, `.running_mean`) rather than TF.js's (`.kernel`, `.gamma`), by the layer table's names. */
export function looksTorch(keys: Iterable<string>): boolean {
  const names = namingSuffixes();
  let torch = 0, tfjs = 0;
  for (const k of keys) {
    const last = k.slice(Math.max(k.lastIndexOf('.'), k.lastIndexOf('/')) + 1);
    if (names.torch.has(last)) torch++;
    else if (names.tfjs.has(last)) tfjs++;
  }
  return torch > tfjs;
}

/** The state dict a source stands for (a model's own weights, a file's tensors). */
export async function resolveStateDict(src: WeightSource, opts: { root?: string; layout?: Layout } = {}): Promise<ResolvedSource> {
  if (typeof src === 'string') {
    const ck = await readCheckpoint(src, { root: opts.root });
    return { stateDict: ck.stateDict, layout: ck.format.startsWith('pytorch') || looksTorch(ck.stateDict.keys()) ? 'torch' : 'tfjs', label: src };
  }
  if (src instanceof Map) return { stateDict: src, layout: looksTorch(src.keys()) ? 'torch' : 'tfjs', label: 'state dict' };
  const layout = opts.layout ?? 'tfjs';
  return { stateDict: stateDictOf(src, { layout }), layout, label: isLayersModel(src) ? `model ${src.name}` : 'variables' };
}

/** The shapes a source offers, without copying a model's values; `layout` picks a model's naming. */
export async function resolveShapes(src: WeightSource, layout?: Layout): Promise<{ shapes: KeyShapes; layout: Layout; isModel: boolean }> {
  if (typeof src === 'string' || src instanceof Map) {
    const r = await resolveStateDict(src);
    return { shapes: shapesOf(r.stateDict), layout: r.layout, isModel: false };
  }
  const l = layout ?? 'tfjs';
  const slots = weightSlots(src);
  const shapes: KeyShapes = l === 'torch' ? new Map(torchEntries(slots).map((e) => [e.key, { shape: e.shape }])) : new Map(slots.map((s) => [s.key, { shape: s.shape }]));
  return { shapes, layout: l, isModel: true };
}
