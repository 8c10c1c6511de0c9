/** diffKeys: compare two state dicts, models or checkpoint files, in one naming and layout. */
import { diffKeyShapes, type KeyDiff } from '../statedict/diff';
import type { Layout } from './state-dict-of';
import { convertShapes, resolveShapes, resolveStateDict, type ResolvedShapes, type WeightSource } from './sources';
import type { KeyShapes } from '../statedict/select';

/** How one side's keys were formed for the comparison. */
export interface SideNaming {
  kind: 'model' | 'file' | 'state dict';
  /** The naming its keys were compared in. */
  layout: Layout;
  /** How its keys were formed, in words: as saved, converted by the layer table, made by a model.json's topology. */
  naming: string;
}

/** A KeyDiff, plus the naming both sides were compared in. */
export interface ModelKeyDiff extends KeyDiff {
  /** The naming the comparison was made in (PyTorch's when either side is PyTorch-named). */
  layout: Layout;
  /** Each side's naming; when the two differ, a side could not be converted and few keys can match. */
  sides: { a: SideNaming; b: SideNaming };
}

/** Compares the keys and shapes of A and B in one naming: PyTorch's when either side is a PyTorch state dict (a model, a model.json with a topology or a TF.js-named state dict is converted), else TF.js's. */
export async function diffKeys(a: WeightSource, b: WeightSource): Promise<ModelKeyDiff> {
  return (await diffKeysWithShapes(a, b)).diff;
}

/** A key diff with the shapes of both sides, in the naming it was made in. */
export interface KeyDiffWithShapes {
  diff: ModelKeyDiff;
  shapesA: KeyShapes;
  shapesB: KeyShapes;
}

/** diffKeys, keeping both sides' shapes (to show them beside the keys); each file is read once. */
export async function diffKeysWithShapes(a: WeightSource, b: WeightSource): Promise<KeyDiffWithShapes> {
  const isData = (x: WeightSource) => typeof x === 'string' || x instanceof Map;
  const ra = isData(a) ? await resolveStateDict(a) : undefined;
  const rb = isData(b) ? await resolveStateDict(b) : undefined;
  const layout: Layout = ra?.layout === 'torch' || rb?.layout === 'torch' ? 'torch' : 'tfjs';
  const sa = ra ? convertShapes(ra, layout) : await resolveShapes(a, layout);
  const sb = rb ? convertShapes(rb, layout) : await resolveShapes(b, layout);
  const side = (x: WeightSource, s: ResolvedShapes): SideNaming => ({ kind: typeof x === 'string' ? 'file' : x instanceof Map ? 'state dict' : 'model', layout: s.layout, naming: s.naming });
  const diff = diffKeyShapes(sa.shapes, sb.shapes, { infoA: sa.infos, infoB: sb.infos });
  return { diff: { ...diff, layout, sides: { a: side(a, sa), b: side(b, sb) } }, shapesA: sa.shapes, shapesB: sb.shapes };
}
