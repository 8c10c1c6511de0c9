/**
 * Frozen-weight guard: remember the exact values of every frozen weight and BatchNorm statistic
 * in the frozen set, then check that none has moved (DESIGN.md, "Frozen-weight guard").
 *
 * Values are compared bit for bit. checkFrozen() (what train()'s guard calls, up to every step)
 * skips reading a weight whose variable still holds the storage that last matched the
 * fingerprint, on backends where only a new storage can change its values (weight-storage.ts),
 * and reuses the model's structure (which variable sits at which key) from the last full
 * comparison: a change through TF.js (assign, setWeights, an optimizer, BatchNorm's statistics)
 * is still seen at once, at almost no cost. A full comparison (walk the model, read every value)
 * runs whenever the last one is more than FULL_EVERY times its own duration ago, so that a write
 * into a backend's memory behind TF.js's back, or a layer swapped for another, is found too,
 * within milliseconds, for about 1 % of the time.
 */
import type * as tf from '@tensorflow/tfjs';
import { weightSlots, type ModelLike, type WeightSlot } from '../model/weights';
import { bitwiseDiff } from './bitwise-diff';
import { frozenKeys } from './registry';
import { matcher, type Selector } from './selector';
import { peekValues, storageToken } from './weight-storage';

/** Exact copies of the values of frozen weights, by structural key. */
export interface Fingerprint {
  readonly entries: ReadonlyMap<string, { shape: number[]; values: ArrayLike<number> }>;
}

/** How far one fingerprinted weight moved. */
export interface FrozenChange {
  key: string;
  /** Largest absolute elementwise change (NaN when a value became or stopped being NaN; Infinity when the weight is gone or changed shape). */
  maxAbsChange: number;
  /** Number of elements whose bits differ (a NaN equals the same NaN; -0 differs from 0). */
  changedElements: number;
  changed: boolean;
}

/** A frozen weight changed since its fingerprint was taken. */
export class FrozenWeightError extends Error {
  readonly changes: FrozenChange[];
  constructor(changes: FrozenChange[]) {
    const shown = changes.slice(0, 5).map((c) => `${c.key} (max |change| ${describeChange(c.maxAbsChange)}, ${c.changedElements} elements)`);
    const more = changes.length > 5 ? `, and ${changes.length - 5} more` : '';
    const bn = changes.some((c) => /moving_(mean|variance)$/.test(c.key)) ? '; BatchNorm statistics moved: was the layer run in training mode without freeze(..., { bnStats: "freeze" })?' : '';
    super(`${changes.length} frozen weight${changes.length === 1 ? '' : 's'} changed: ${shown.join(', ')}${more}${bn}`);
    this.name = 'FrozenWeightError';
    this.changes = changes;
  }
}

function describeChange(max: number): string {
  if (max === Infinity) return 'weight missing or reshaped';
  // Bits differ but no value moved: only zeros changed sign.
  return max === 0 ? '0, a zero changed sign' : max.toPrecision(3);
}

/** How checkFrozen compares. */
export interface CheckOptions {
  /** Read and compare every value now, even of weights whose storage is unchanged (default: only when the periodic full comparison is due). */
  full?: boolean;
}

/** A full comparison runs when the last one is more than this many times its own duration ago. */
const FULL_EVERY = 100;

/** What a fingerprint taken by fingerprint() knows beyond its values. */
interface GuardState {
  /** Per key: the variable and the storage token it had when its values last matched the fingerprint. */
  matched: Map<string, { variable: tf.Variable; token: object }>;
  /** The model whose weights were last walked (by the last full comparison), and its weights by key. */
  walked: WeakRef<object>;
  slots: Map<string, WeightSlot>;
  /** When the last full comparison (or the fingerprint) ended, and how long it took (ms). */
  lastFullAt: number;
  lastFullMs: number;
}

const states = new WeakMap<Fingerprint, GuardState>();

function slotsByKey(model: ModelLike): Map<string, WeightSlot> {
  const slots = new Map<string, WeightSlot>();
  for (const s of weightSlots(model)) slots.set(s.key, s);
  return slots;
}

/** Copies the values of every weight in the frozen set (plus those `also` picks) for a later checkFrozen. */
export function fingerprint(model: ModelLike, also?: Selector): Fingerprint {
  const t0 = performance.now();
  const set = frozenKeys(model);
  const extra = also === undefined ? () => false : matcher(also);
  const entries = new Map<string, { shape: number[]; values: ArrayLike<number> }>();
  const matched: GuardState['matched'] = new Map();
  const slots = slotsByKey(model);
  for (const s of slots.values()) {
    if (!set.has(s.key) && !extra(s.key, s.torchKey)) continue;
    const token = storageToken(s.variable);
    entries.set(s.key, { shape: [...s.shape], values: peekValues(s).slice() });
    if (token !== undefined) matched.set(s.key, { variable: s.variable, token });
  }
  const fp = { entries };
  const now = performance.now();
  states.set(fp, { matched, walked: new WeakRef(model), slots, lastFullAt: now, lastFullMs: now - t0 });
  lastTaken.set(model, fp);
  return fp;
}

/** The last fingerprint taken of each model (by train()'s guard or fingerprint()); weak, so models are still collected. */
const lastTaken = new WeakMap<object, Fingerprint>();

/** The fingerprint of `model` taken last (by train()'s guard or fingerprint()), if any. */
export function lastFingerprint(model: ModelLike): Fingerprint | undefined {
  return lastTaken.get(model);
}

/** How far each fingerprinted weight moved (every key, changed or not); reads every value. */
export function compareFrozen(model: ModelLike, fp: Fingerprint): FrozenChange[] {
  return compare(model, fp, { full: true, all: true });
}

/** Throws FrozenWeightError naming every fingerprinted weight that moved, and by how much. */
export function checkFrozen(model: ModelLike, fp: Fingerprint, opts: CheckOptions = {}): void {
  const changed = compare(model, fp, { full: opts.full === true, all: false });
  if (changed.length > 0) throw new FrozenWeightError(changed);
}

/** The changes of the fingerprinted weights: all of them, or only those that moved. */
function compare(model: ModelLike, fp: Fingerprint, how: { full: boolean; all: boolean }): FrozenChange[] {
  const t0 = performance.now();
  const state = states.get(fp);
  // A fingerprint built by hand (from a StateDict) has no state: every value is compared.
  const full = how.full || state === undefined || t0 - state.lastFullAt > FULL_EVERY * state.lastFullMs;
  // Between full comparisons the model's structure (which variable sits at which key) is taken
  // as last walked: walking it costs more than the rest of a quick check.
  const reuse = !full && state !== undefined && state.walked.deref() === model;
  const slots = reuse ? state.slots : slotsByKey(model);
  if (state !== undefined && !reuse) {
    state.walked = new WeakRef(model);
    state.slots = slots;
  }
  const out: FrozenChange[] = [];
  for (const [key, then] of fp.entries) {
    const slot = slots.get(key);
    if (!slot || !sameShape(slot.shape, then.shape)) {
      out.push({ key, maxAbsChange: Infinity, changedElements: then.values.length, changed: true });
      continue;
    }
    const seen = state?.matched.get(key);
    if (!full && seen !== undefined && seen.variable === slot.variable && storageToken(slot.variable) === seen.token) {
      if (how.all) out.push({ key, maxAbsChange: 0, changedElements: 0, changed: false });
      continue;
    }
    const token = storageToken(slot.variable);
    const d = bitwiseDiff(then.values, peekValues(slot));
    if (d.changedElements > 0 || how.all) out.push({ key, ...d, changed: d.changedElements > 0 });
    if (state !== undefined) {
      if (d.changedElements === 0 && token !== undefined) state.matched.set(key, { variable: slot.variable, token });
      else state.matched.delete(key);
    }
  }
  if (full && state !== undefined) {
    state.lastFullAt = performance.now();
    state.lastFullMs = state.lastFullAt - t0;
  }
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
