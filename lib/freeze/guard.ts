/**
 * Frozen-weight guard: remember the exact values of every frozen weight and BatchNorm statistic
 * in the frozen set, then check that none has moved (DESIGN.md, "Frozen-weight guard").
 */
import { hostOf } from '../model/state-dict-of';
import { weightSlots, type ModelLike } from '../model/weights';
import { frozenKeys } from './registry';
import { matcher, type Selector } from './selector';

/** Exact copies of the values of frozen weights, by structural key. */
export interface Fingerprint {
  readonly entries: ReadonlyMap<string, { shape: number[]; values: ArrayLike<number> }>;
}

/** How far one fingerprinted weight moved. */
export interface FrozenChange {
  key: string;
  /** Largest absolute elementwise change (NaN when a value became or stopped being NaN; Infinity when the weight is gone or changed shape). */
  maxAbsChange: number;
  /** Number of elements whose value differs. */
  changedElements: number;
  changed: boolean;
}

/** A frozen weight changed since its fingerprint was taken. */
export class FrozenWeightError extends Error {
  readonly changes: FrozenChange[];
  constructor(changes: FrozenChange[]) {
    const shown = changes.slice(0, 5).map((c) => `${c.key} (max |change| ${c.maxAbsChange === Infinity ? 'weight missing or reshaped' : c.maxAbsChange.toPrecision(3)}, ${c.changedElements} elements)`);
    const more = changes.length > 5 ? `, and ${changes.length - 5} more` : '';
    const bn = changes.some((c) => /moving_(mean|variance)$/.test(c.key)) ? '; BatchNorm statistics moved: was the layer run in training mode without freeze(..., { bnStats: "freeze" })?' : '';
    super(`${changes.length} frozen weight${changes.length === 1 ? '' : 's'} changed: ${shown.join(', ')}${more}${bn}`);
    this.name = 'FrozenWeightError';
    this.changes = changes;
  }
}

/** Copies the values of every weight in the frozen set (plus those `also` picks) for a later checkFrozen. */
export function fingerprint(model: ModelLike, also?: Selector): Fingerprint {
  const set = frozenKeys(model);
  const extra = also === undefined ? () => false : matcher(also);
  const entries = new Map<string, { shape: number[]; values: ArrayLike<number> }>();
  for (const s of weightSlots(model)) {
    if (!set.has(s.key) && !extra(s.key, s.torchKey)) continue;
    entries.set(s.key, { shape: [...s.shape], values: hostOf(s).data as ArrayLike<number> });
  }
  const fp = { entries };
  lastTaken.set(model, fp);
  return fp;
}

/** The last fingerprint taken of each model (by train()'s guard or fingerprint()); weak, so models are still collected. */
const lastTaken = new WeakMap<object, Fingerprint>();

/** The fingerprint of `model` taken last (by train()'s guard or fingerprint()), if any. */
export function lastFingerprint(model: ModelLike): Fingerprint | undefined {
  return lastTaken.get(model);
}

/** How far each fingerprinted weight moved (every key, changed or not). */
export function compareFrozen(model: ModelLike, fp: Fingerprint): FrozenChange[] {
  const slots = new Map(weightSlots(model).map((s) => [s.key, s]));
  const out: FrozenChange[] = [];
  for (const [key, then] of fp.entries) {
    const slot = slots.get(key);
    if (!slot || slot.shape.join() !== then.shape.join()) {
      out.push({ key, maxAbsChange: Infinity, changedElements: then.values.length, changed: true });
      continue;
    }
    const now = hostOf(slot).data as ArrayLike<number>;
    let max = 0;
    let n = 0;
    for (let i = 0; i < now.length; i++) {
      const a = then.values[i];
      const b = now[i];
      if (a === b || (a !== a && b !== b)) continue;
      n++;
      const d = Math.abs(b - a);
      max = d !== d || max !== max ? NaN : Math.max(max, d);
    }
    out.push({ key, maxAbsChange: max, changedElements: n, changed: n > 0 });
  }
  return out;
}

/** Throws FrozenWeightError naming every fingerprinted weight that moved, and by how much. */
export function checkFrozen(model: ModelLike, fp: Fingerprint): void {
  const changed = compareFrozen(model, fp).filter((c) => c.changed);
  if (changed.length > 0) throw new FrozenWeightError(changed);
}
