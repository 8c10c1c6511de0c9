/** Choosing entries of state dicts: what a model can take, and filling gaps from another. */
import type { StateDict } from './tensor';

/** Shapes (and optionally dtypes) by key: what a model or state dict offers, without values. */
export type KeyShapes = Map<string, { shape: number[] }>;

/** The shapes of a state dict's tensors. */
export function shapesOf(sd: StateDict): KeyShapes {
  return new Map([...sd].map(([k, t]) => [k, { shape: t.shape }]));
}

/** Entries of `sd` whose key the target has with the same shape (seed 003's para_state_dict), and what was dropped. */
export function filterStateDict(sd: StateDict, target: KeyShapes, opts: { shapes?: boolean } = {}): { stateDict: StateDict; dropped: Array<{ key: string; reason: 'absent' | 'shape' }> } {
  const checkShapes = opts.shapes ?? true;
  const stateDict: StateDict = new Map();
  const dropped: Array<{ key: string; reason: 'absent' | 'shape' }> = [];
  for (const [key, t] of sd) {
    const want = target.get(key);
    if (!want) dropped.push({ key, reason: 'absent' });
    else if (checkShapes && !sameShape(want.shape, t.shape)) dropped.push({ key, reason: 'shape' });
    else stateDict.set(key, t);
  }
  return { stateDict, dropped };
}

/** `primary`'s entries, plus those of `fallback` that `primary` lacks (seed 001 §4.2: fill a trained state dict from the original), in fallback's order first. */
export function mergeStateDicts(primary: StateDict, fallback: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [k, t] of fallback) out.set(k, primary.get(k) ?? t);
  for (const [k, t] of primary) if (!out.has(k)) out.set(k, t);
  return out;
}

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
