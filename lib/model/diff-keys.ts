/** diffKeys: compare two state dicts, models or checkpoint files, in one naming and layout. */
import { diffKeyShapes, type KeyDiff } from '../statedict/diff';
import type { Layout } from './state-dict-of';
import { resolveShapes, type WeightSource } from './sources';

/** A KeyDiff, plus the naming both sides were compared in. */
export interface ModelKeyDiff extends KeyDiff { layout: Layout }

/** Compares the keys and shapes of A and B; a model is seen in PyTorch's naming and layout when the other side is a PyTorch state dict. */
export async function diffKeys(a: WeightSource, b: WeightSource): Promise<ModelKeyDiff> {
  const aIsData = typeof a === 'string' || a instanceof Map;
  const bIsData = typeof b === 'string' || b instanceof Map;
  let ra = aIsData ? await resolveShapes(a) : undefined;
  let rb = bIsData ? await resolveShapes(b) : undefined;
  const layout: Layout = ra?.layout ?? rb?.layout ?? 'tfjs';
  ra ??= await resolveShapes(a, layout);
  rb ??= await resolveShapes(b, layout);
  return { ...diffKeyShapes(ra.shapes, rb.shapes), layout };
}
