/** What diffKeys and loadStateDict accept as a side: a StateDict, a TF.js model, or a checkpoint path. */
import { readCheckpoint } from '../formats/read';
import type { KeyInfo } from '../statedict/diff';
import type { StateDict } from '../statedict/tensor';
import type { KeyShapes } from '../statedict/select';
import { shapesOf } from '../statedict/select';
import { entryInfos, keyInfosOf, slotInfos } from './key-roles';
import { isLayersModel, weightSlots, type ModelLike, type WeightSlot } from './weights';
import type { Layout } from './state-dict-of';
import { stateDictOf } from './state-dict-of';
import { topologyKeys } from './tfjs-topology';
import { torchEntries } from './torch-entries';
import { namingSuffixes } from './torch-layout';
import { torchShapesByName } from './torch-names';

/** A side of a comparison or a load. */
export type WeightSource = StateDict | ModelLike | string;

/** A state dict resolved from a source, and the naming it uses. */
export interface ResolvedSource {
  stateDict: StateDict;
  layout: Layout;
  label: string;
  /** How its keys were formed, in words ("PyTorch's naming and layout, as saved", "structural keys made from TF.js's weight names by model.json's topology"). */
  naming: string;
  /** The weights of the model a TF.js model.json's topology describes, when its keys were made from it. */
  slots?: WeightSlot[];
}

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

/** How a state dict's keys are formed, in words, from what they look like. */
function namingOf(keys: string[], layout: Layout, asSaved: string): string {
  if (layout === 'torch') return `PyTorch's naming and layout, ${asSaved}`;
  return keys.some((k) => k.includes('/')) ? `TF.js weight names, ${asSaved}` : `TF.js naming and layout, ${asSaved}`;
}

/** The state dict a source stands for (a model's own weights, a file's tensors); a TF.js model.json's weights under the structural keys its topology gives them. */
export async function resolveStateDict(src: WeightSource, opts: { root?: string; layout?: Layout } = {}): Promise<ResolvedSource> {
  if (typeof src === 'string') {
    const ck = await readCheckpoint(src, { root: opts.root });
    const keys = [...ck.stateDict.keys()];
    const layout: Layout = ck.format.startsWith('pytorch') || looksTorch(keys) ? 'torch' : 'tfjs';
    if (ck.format === 'tfjs' && layout === 'tfjs') {
      const topo = await topologyKeys(src);
      if (topo && 'byName' in topo && keys.some((k) => topo.byName.has(k))) {
        const sd: StateDict = new Map();
        for (const [k, t] of ck.stateDict) sd.set(topo.byName.get(k)?.key ?? k, t);
        const rest = keys.filter((k) => !topo.byName.has(k)).length;
        const slots = keys.map((k) => topo.byName.get(k)).filter((s): s is WeightSlot => !!s);
        return { stateDict: sd, layout, label: src, slots, naming: `structural keys made from TF.js's weight names by model.json's topology (${topo.model})${rest ? `; ${rest} name(s) not in it kept as saved` : ''}` };
      }
      const why = topo && 'reason' in topo ? `; ${topo.reason}` : '';
      return { stateDict: ck.stateDict, layout, label: src, naming: namingOf(keys, layout, `as saved${why}`) };
    }
    return { stateDict: ck.stateDict, layout, label: src, naming: namingOf(keys, layout, 'as saved') };
  }
  if (src instanceof Map) {
    const layout: Layout = looksTorch(src.keys()) ? 'torch' : 'tfjs';
    return { stateDict: src, layout, label: 'state dict', naming: namingOf([...src.keys()], layout, 'as given') };
  }
  const layout = opts.layout ?? 'tfjs';
  return { stateDict: stateDictOf(src, { layout }), layout, label: isLayersModel(src) ? `model ${src.name}` : 'variables', naming: modelNaming(layout) };
}

/** How a model's keys are formed in a naming. */
function modelNaming(layout: Layout): string {
  return layout === 'torch' ? "PyTorch's naming and layout, from the model by the layer table" : 'structural keys (TF.js naming and layout)';
}

/** A source's keys and shapes in one naming, with each key's role. */
export interface ResolvedShapes {
  shapes: KeyShapes;
  /** Each key's role (from the model, or read from the key names with the layer table). */
  infos: Map<string, KeyInfo>;
  /** The naming the keys are in. */
  layout: Layout;
  isModel: boolean;
  /** How the keys were formed, in words. */
  naming: string;
}

/** The shapes a source offers, without copying a model's values; `layout` asks for a naming, which a model, a model.json with a topology or a TF.js-named state dict can be converted to. */
export async function resolveShapes(src: WeightSource, layout?: Layout): Promise<ResolvedShapes> {
  if (typeof src === 'string' || src instanceof Map) {
    const r = await resolveStateDict(src);
    return convertShapes(r, layout);
  }
  const l = layout ?? 'tfjs';
  const slots = weightSlots(src);
  if (l === 'torch') {
    const entries = torchEntries(slots);
    return { shapes: new Map(entries.map((e) => [e.key, { shape: e.shape }])), infos: entryInfos(entries), layout: l, isModel: true, naming: modelNaming(l) };
  }
  return { shapes: new Map(slots.map((s) => [s.key, { shape: s.shape }])), infos: slotInfos(slots), layout: l, isModel: true, naming: modelNaming(l) };
}

/** A resolved state dict's shapes in `layout` when it can be converted there, else as they are. */
export function convertShapes(r: ResolvedSource, layout?: Layout): ResolvedShapes {
  const own = shapesOf(r.stateDict);
  if (!layout || layout === r.layout) {
    return { shapes: own, infos: r.slots ? withTopologyRoles(own, r.slots) : keyInfosOf(own), layout: r.layout, isModel: false, naming: r.naming };
  }
  if (layout === 'torch' && r.slots) {
    const entries = torchEntries(r.slots);
    const shapes: KeyShapes = new Map(entries.map((e) => [e.key, { shape: e.shape }]));
    return { shapes, infos: entryInfos(entries), layout, isModel: false, naming: `${r.naming}, then PyTorch's naming and layout by the layer table` };
  }
  if (layout === 'torch') {
    const { shapes, unconverted } = torchShapesByName(own);
    if (!unconverted.length) return { shapes, infos: keyInfosOf(shapes), layout, isModel: false, naming: `${r.naming}, converted to PyTorch's naming and layout by weight name through the layer table` };
    return { shapes: own, infos: keyInfosOf(own), layout: r.layout, isModel: false, naming: `${r.naming}; not converted to PyTorch's naming: the layer classes disagree on ${unconverted.length} name(s) such as '${unconverted[0]}'` };
  }
  return { shapes: own, infos: keyInfosOf(own), layout: r.layout, isModel: false, naming: `${r.naming}; a PyTorch-named state dict is not converted to TF.js's naming without a model` };
}

/** Roles of a topology-keyed state dict: from the rebuilt model's slots, and read from the names for the rest. */
function withTopologyRoles(shapes: KeyShapes, slots: WeightSlot[]): Map<string, KeyInfo> {
  const infos = keyInfosOf(shapes);
  for (const [k, i] of slotInfos(slots)) if (infos.has(k)) infos.set(k, i);
  return infos;
}
