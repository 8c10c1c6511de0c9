/** diffKeys: compare two state dicts, models or checkpoint files, in one naming and layout. */
import { diffKeyShapes, type KeyDiff } from '../statedict/diff';
import type { Layout } from './state-dict-of';
import { resolveShapes, type WeightSource } from './sources';
import type { KeyShapes } from '../statedict/select';
import { displayable } from '../display/bundle';
import { keyDiffBundle } from './diff-view';

/** A KeyDiff, plus the naming both sides were compared in. */
export interface ModelKeyDiff extends KeyDiff { layout: Layout }

/**
 * Compares the keys and shapes of A and B; a model is seen in PyTorch's naming and layout when
 * the other side is a PyTorch state dict. The result displays itself (keys with their shapes,
 * and the renames that match more), as `%diffkeys` shows it.
 */
export async function diffKeys(a: WeightSource, b: WeightSource): Promise<ModelKeyDiff> {
  const { diff, shapesA, shapesB } = await diffKeysWithShapes(a, b);
  const label = (x: WeightSource) => (typeof x === 'string' ? x : x instanceof Map ? 'a StateDict' : 'the model');
  return displayable(diff, () => keyDiffBundle(diff, { a: label(a), b: label(b), shapes: { a: shapesA, b: shapesB } }));
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
  let ra = isData(a) ? await resolveShapes(a) : undefined;
  let rb = isData(b) ? await resolveShapes(b) : undefined;
  const layout: Layout = ra?.layout ?? rb?.layout ?? 'tfjs';
  ra ??= await resolveShapes(a, layout);
  rb ??= await resolveShapes(b, layout);
  return { diff: { ...diffKeyShapes(ra.shapes, rb.shapes), layout }, shapesA: ra.shapes, shapesB: rb.shapes };
}
