/**
 * fastai's `freeze_to(n)` over layer groups: the groups before `n` are frozen, the groups from
 * `n` on are trainable (a negative `n` counts from the end, as a Python slice does:
 * freezeTo(model, groups, -1) trains only the last group, fastai's `freeze()`).
 */
import type { ModelLike } from '../model/weights';
import { freeze, unfreeze, type FreezeOptions } from './freeze';
import type { Selector } from './selector';

/** What freezeTo changed: the keys frozen and unfrozen. */
export interface FreezeToReport {
  frozen: string[];
  unfrozen: string[];
}

/** Freezes layer groups [0, n) and unfreezes [n, end) (`groups` in model order, the head last). */
export function freezeTo(model: ModelLike, groups: readonly Selector[], n: number, opts: FreezeOptions = {}): FreezeToReport {
  if (!Array.isArray(groups) || groups.length === 0) throw new Error('freezeTo: groups must be a non-empty list of selectors, one per layer group, in model order');
  if (!Number.isInteger(n)) throw new Error(`freezeTo: n must be an integer, got ${n}`);
  const cut = n >= 0 ? Math.min(n, groups.length) : Math.max(0, groups.length + n);
  const frozen: string[] = [];
  const unfrozen: string[] = [];
  for (let i = cut; i < groups.length; i++) unfrozen.push(...unfreeze(model, groups[i]).keys);
  for (let i = 0; i < cut; i++) frozen.push(...freeze(model, groups[i], opts).keys);
  return { frozen, unfrozen };
}
