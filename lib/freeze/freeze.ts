/**
 * freeze / unfreeze: record weights as frozen in the registry and in TF.js's own `trainable`
 * flags (so `model.fit` honours them too), and put frozen BatchNorm layers in inference mode.
 */
import * as tf from '@tensorflow/tfjs';
import { installPatch, PATCHES } from '../patches';
import { isLayersModel, layerSegment, weightSlots, type ModelLike, type WeightSlot } from '../model/weights';
import { freezeBatchNorm, isBatchNorm, isBatchNormFrozen, unfreezeBatchNorm } from './batchnorm';
import { frozenKeys, isStatistic, markFrozen } from './registry';
import { describeSelector, matcher, type Selector } from './selector';

/** How a frozen BatchNorm layer treats its moving statistics. */
export interface FreezeOptions {
  /**
   * 'freeze' (default): a frozen BatchNorm layer normalises with its moving statistics and stops
   * updating them; they join the frozen set. 'train': TF.js's behaviour (batch statistics while
   * training, moving statistics updated, as fastai's/Lightning's train_bn); they are not frozen.
   */
  bnStats?: 'freeze' | 'train';
}

/** What a freeze or unfreeze changed. */
export interface FreezeReport {
  /** Keys that entered (freeze) or left (unfreeze) the frozen set, BatchNorm statistics included, in model order. */
  keys: string[];
  /** Keys the selector matched that were already in the requested state. */
  unchanged: string[];
  /** BatchNorm layers switched to inference mode (freeze) or back to training behaviour (unfreeze). */
  batchNorm: string[];
}

type Layer = tf.layers.Layer;
interface LayerVar { originalName: string; trainable: boolean }

/** Freezes the weights `selector` picks; a fully frozen BatchNorm layer also freezes its statistics (see FreezeOptions). */
export function freeze(model: ModelLike, selector: Selector, opts: FreezeOptions = {}): FreezeReport {
  const bnStats = opts.bnStats ?? 'freeze';
  if (bnStats !== 'freeze' && bnStats !== 'train') throw new Error(`freeze: bnStats must be 'freeze' or 'train', got ${JSON.stringify(bnStats)}`);
  const { slots, matched, layers } = prepare(model, selector, 'freeze');
  const before = new Set(frozenKeys(model));
  markFrozen(model, matched.filter((s) => !isStatistic(s)).map((s) => s.key), true);
  const switched: string[] = [];
  for (const [layerKey, own] of byLayer(slots, matched)) {
    const layer = layers.get(layerKey);
    if (layer && isBatchNorm(layer)) {
      const stats = own.filter(isStatistic);
      const set = frozenKeys(model);
      const whole = own.filter((s) => !isStatistic(s)).every((s) => set.has(s.key));
      const statSelected = matched.some((s) => s.layerKey === layerKey && isStatistic(s));
      if (bnStats === 'freeze' && (whole || statSelected)) {
        markFrozen(model, stats.map((s) => s.key), true);
        if (freezeBatchNorm(layer)) switched.push(layerKey);
      } else {
        markFrozen(model, stats.map((s) => s.key), false);
        unfreezeBatchNorm(layer);
      }
    }
    syncFlags(model, layer, own);
  }
  return report(model, slots, matched, before, switched, true);
}

/** Unfreezes the weights `selector` picks; touching any weight of a frozen BatchNorm layer returns it to training behaviour. */
export function unfreeze(model: ModelLike, selector: Selector): FreezeReport {
  const { slots, matched, layers } = prepare(model, selector, 'unfreeze');
  const before = new Set(frozenKeys(model));
  markFrozen(model, matched.map((s) => s.key), false);
  const switched: string[] = [];
  for (const [layerKey, own] of byLayer(slots, matched)) {
    const layer = layers.get(layerKey);
    if (layer && isBatchNorm(layer)) {
      markFrozen(model, own.filter(isStatistic).map((s) => s.key), false);
      if (unfreezeBatchNorm(layer)) switched.push(layerKey);
    }
    syncFlags(model, layer, own);
  }
  return report(model, slots, matched, before, switched, false);
}

/** Whether a BatchNorm layer of `model` (by layer key) is frozen in inference mode. */
export function isBatchNormLayerFrozen(model: ModelLike, layerKey: string): boolean {
  const layer = layersByKey(model).get(layerKey);
  return layer !== undefined && isBatchNormFrozen(layer);
}

/** Every layer that owns weights, by layer key (the structural key prefix of its weights). */
export function layersByKey(model: ModelLike): Map<string, Layer> {
  const out = new Map<string, Layer>();
  const walkModel = (m: tf.LayersModel, prefix: string): void => {
    m.layers.filter((l) => l.getClassName() !== 'InputLayer').forEach((layer, i) => {
      const seg = prefix + layerSegment(layer, i);
      if (isLayersModel(layer)) walkModel(layer, `${seg}.`);
      else out.set(seg, layer);
    });
  };
  const walkObject = (obj: object, prefix: string): void => {
    for (const [name, v] of Object.entries(obj)) {
      if (isLayersModel(v)) walkModel(v, `${prefix}${name}.`);
      else if (typeof v === 'object' && v !== null && !(v instanceof tf.Variable) && !(v instanceof tf.layers.Layer)) walkObject(v, `${prefix}${name}.`);
    }
  };
  if (isLayersModel(model)) walkModel(model, '');
  else walkObject(model, '');
  return out;
}

function prepare(model: ModelLike, selector: Selector, verb: string): { slots: WeightSlot[]; matched: WeightSlot[]; layers: Map<string, Layer> } {
  hookSequentialBuilds(model);
  const slots = weightSlots(model);
  const match = matcher(selector);
  const matched = slots.filter((s) => match(s.key, s.torchKey));
  if (matched.length === 0) throw new Error(noMatch(verb, selector, slots));
  return { slots, matched, layers: layersByKey(model) };
}

function noMatch(verb: string, selector: Selector, slots: WeightSlot[]): string {
  if (slots.length === 0) return `${verb}: selector ${describeSelector(selector)} matches nothing: the model has no weights (build it first, e.g. give its first layer an inputShape)`;
  const some = slots.slice(0, 6).map((s) => s.key).join(', ');
  return `${verb}: selector ${describeSelector(selector)} matches no weight of the model; its keys are ${some}${slots.length > 6 ? `, … (${slots.length} in all)` : ''}`;
}

/** The matched layers' weights (all of them, not only the matched ones), grouped by layer key in model order. */
function byLayer(slots: WeightSlot[], matched: WeightSlot[]): Map<string, WeightSlot[]> {
  const touched = new Set(matched.map((s) => s.layerKey));
  const out = new Map<string, WeightSlot[]>();
  for (const s of slots) {
    if (!touched.has(s.layerKey)) continue;
    const list = out.get(s.layerKey) ?? [];
    list.push(s);
    out.set(s.layerKey, list);
  }
  return out;
}

/**
 * Sets TF.js's flags from the registry: per weight (LayerVariable.trainable), and the layer's own
 * flag false when all its parameters are frozen (that one survives a Sequential's build).
 */
function syncFlags(model: ModelLike, layer: Layer | undefined, own: WeightSlot[]): void {
  const set = frozenKeys(model);
  const params = own.filter((s) => !isStatistic(s));
  if (!layer) {
    for (const s of params) s.variable.trainable = !set.has(s.key);
    return;
  }
  const all = params.length > 0 && params.every((s) => set.has(s.key));
  layer.trainable = !all;
  if (all) return;
  const vars = layer.weights as unknown as LayerVar[];
  for (const s of params) {
    const short = s.key.slice(s.layerKey.length + 1);
    const v = vars.find((w) => w.originalName.split('/').pop() === short);
    if (v) v.trainable = !set.has(s.key);
  }
}

/**
 * Makes every Sequential in `model` re-apply the per-weight flags after it builds: TF.js's
 * Sequential.build (run by every compile(), and by the first predict or fit) sets every weight of
 * its layers back to trainable, which would let model.fit train a frozen weight of a partly frozen
 * layer (PATCHES.sequentialBuild in lib/patches).
 */
function hookSequentialBuilds(model: ModelLike): void {
  const visit = (m: unknown): void => {
    if (isLayersModel(m)) {
      if (m instanceof tf.Sequential && !hooked.has(m)) {
        hooked.add(m);
        installPatch(PATCHES.sequentialBuild, m, () => reapplyFlags(model));
      }
      for (const l of m.layers) if (isLayersModel(l)) visit(l);
    } else if (typeof m === 'object' && m !== null && !(m instanceof tf.Variable) && !(m instanceof tf.layers.Layer)) {
      for (const v of Object.values(m)) visit(v);
    }
  };
  visit(model);
}

const hooked = new WeakSet<object>();

/** Sets TF.js's flags again for every layer that has a frozen weight. */
function reapplyFlags(model: ModelLike): void {
  const set = frozenKeys(model);
  const slots = weightSlots(model);
  const layers = layersByKey(model);
  for (const [layerKey, own] of byLayer(slots, slots.filter((s) => set.has(s.key)))) syncFlags(model, layers.get(layerKey), own);
}

function report(model: ModelLike, slots: WeightSlot[], matched: WeightSlot[], before: Set<string>, switched: string[], frozen: boolean): FreezeReport {
  const now = frozenKeys(model);
  const changed = (k: string) => (frozen ? now.has(k) && !before.has(k) : before.has(k) && !now.has(k));
  const keys = slots.filter((s) => changed(s.key)).map((s) => s.key);
  const unchanged = matched.filter((s) => !changed(s.key) && now.has(s.key) === frozen).map((s) => s.key);
  return { keys, unchanged, batchNorm: switched };
}
