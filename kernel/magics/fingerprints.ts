/**
 * The fingerprint %checkfrozen compares a model with, per model: taken by %freeze, %unfreeze and
 * %load (after they change the frozen set or the weights) and by %checkfrozen --reset.
 */
import type { Fingerprint } from '../../lib/freeze/guard';
import type { ModelLike } from '../../lib/model/weights';
import type { MagicContext } from './registry';

/** A fingerprint and where it came from. */
export interface StoredFingerprint {
  fingerprint: Fingerprint;
  /** Which magic took it, for messages (`%freeze`). */
  by: string;
  at: Date;
}

const KEY = 'checkfrozen.fingerprints';

function store(ctx: MagicContext): WeakMap<object, StoredFingerprint> {
  let m = ctx.state.get(KEY) as WeakMap<object, StoredFingerprint> | undefined;
  if (!m) ctx.state.set(KEY, (m = new WeakMap()));
  return m;
}

/** The fingerprint kept for `model`, if a magic took one. */
export function storedFingerprint(ctx: MagicContext, model: ModelLike): StoredFingerprint | undefined {
  return store(ctx).get(model);
}

/** Takes and keeps a fingerprint of every frozen weight of `model` now. */
export async function takeFingerprint(ctx: MagicContext, model: ModelLike, by: string): Promise<StoredFingerprint> {
  const { fingerprint } = await import('../../lib/freeze/guard');
  const entry = { fingerprint: fingerprint(model), by, at: new Date() };
  store(ctx).set(model, entry);
  return entry;
}

/** Takes a new fingerprint of `model` only when one was kept before (the weights or the frozen set changed on purpose). */
export async function refreshFingerprint(ctx: MagicContext, model: ModelLike, by: string): Promise<boolean> {
  if (!store(ctx).has(model)) return false;
  await takeFingerprint(ctx, model, by);
  return true;
}
