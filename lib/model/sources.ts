/** What diffKeys and loadStateDict accept as a side: a StateDict, a TF.js model, or a checkpoint path. */
import { readCheckpoint } from '../formats/read';
import type { StateDict } from '../statedict/tensor';
import type { KeyShapes } from '../statedict/select';
import { shapesOf } from '../statedict/select';
import { isLayersModel, weightSlots, type ModelLike } from './weights';
import type { Layout } from './state-dict-of';
import { stateDictOf } from './state-dict-of';

/** A side of a comparison or a load. */
export type WeightSource = StateDict | ModelLike | string;

/** A state dict resolved from a source, and the naming it uses. */
export interface ResolvedSource { stateDict: StateDict; layout: Layout; label: string }

/** Whether keys look like PyTorch's (`.weight`, `.running_mean`) rather than TF.js's (`.kernel`, `.gamma`). */
export function looksTorch(keys: Iterable<string>): boolean {
  let torch = 0, tfjs = 0;
  for (const k of keys) {
    if (/\.(weight|running_mean|running_var|num_batches_tracked)$/.test(k)) torch++;
    else if (/\.(kernel|gamma|beta|moving_mean|moving_variance|embeddings|depthwise_kernel)$/.test(k)) tfjs++;
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
  const shapes: KeyShapes = new Map(weightSlots(src).map((s) => l === 'torch' ? [s.torchKey, { shape: s.torchShape }] : [s.key, { shape: s.shape }]));
  return { shapes, layout: l, isModel: true };
}
