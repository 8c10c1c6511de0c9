/**
 * Learning rates spread over layer groups, as parameter groups for train():
 *
 * - discriminativeGroups: fastai's `lr=slice(lo, hi)`: rates spaced geometrically from the first
 *   group (lo) to the last (hi); `slice(hi)` gives hi/10 to every group but the last;
 * - layerDecayGroups: timm's `param_groups_layer_decay`: layer i of L gets lr·decay^(L−1−i), and
 *   weights of rank ≤ 1 (biases, norms) get no weight decay.
 */
import { matcher, type Selector } from '../freeze/selector';
import type { ModelLike } from '../model/weights';
import { trainingCandidates, type ParamGroup } from './groups';

/** fastai's even_mults: n rates from lo to hi, evenly spaced on a log scale. */
export function evenMults(lo: number, hi: number, n: number): number[] {
  if (n === 1) return [hi];
  const step = (hi / lo) ** (1 / (n - 1));
  return Array.from({ length: n }, (_, i) => lo * step ** i);
}

/**
 * One parameter group per layer group (in model order, the head last) with fastai's
 * discriminative rates: `{ lo, hi }` spreads lo…hi geometrically; `{ hi }` alone gives hi/10 to
 * all groups but the last; a number gives every group that rate. `extra` is merged into each group.
 */
export function discriminativeGroups(groups: readonly Selector[], lr: number | { lo?: number; hi: number }, extra: Omit<ParamGroup, 'params' | 'lr'> = {}): ParamGroup[] {
  if (!Array.isArray(groups) || groups.length === 0) throw new Error('discriminativeGroups: groups must be a non-empty list of selectors, in model order');
  const n = groups.length;
  let lrs: number[];
  if (typeof lr === 'number') lrs = Array(n).fill(lr);
  else if (lr.lo === undefined) lrs = [...Array(n - 1).fill(lr.hi / 10), lr.hi];
  else {
    if (!(lr.lo > 0) || !(lr.hi > 0)) throw new Error(`discriminativeGroups: lo and hi must be > 0, got ${lr.lo} and ${lr.hi}`);
    lrs = evenMults(lr.lo, lr.hi, n);
  }
  return groups.map((params, i) => ({ ...extra, params, lr: lrs[i], name: extra.name ? `${extra.name}${i}` : `lr_group${i}` }));
}

/** Options of layerDecayGroups (timm's defaults: decay 0.75, weight decay 0.05). */
export interface LayerDecayOptions {
  /** Base learning rate: the last layer's. */
  lr: number;
  /** Layer ids: a list of selectors in model order (weights in none of them form the last layer, the head), or a function from key to id. */
  layers: readonly Selector[] | ((key: string) => number);
  /** Per-layer factor (default 0.75). */
  decay?: number;
  /** Weight decay of weights of rank ≥ 2 (default 0.05). */
  weightDecay?: number;
  /** Weights that get no weight decay besides those of rank ≤ 1. */
  noWeightDecay?: Selector;
}

/** timm's layer-wise learning-rate decay as parameter groups `layer_<i>_decay` / `layer_<i>_no_decay`, over the weights `model` trains now. */
export function layerDecayGroups(model: ModelLike, opts: LayerDecayOptions): ParamGroup[] {
  const decay = opts.decay ?? 0.75;
  const wd = opts.weightDecay ?? 0.05;
  if (!(decay > 0)) throw new Error(`layerDecayGroups: decay must be > 0, got ${decay}`);
  const layerOf = typeof opts.layers === 'function' ? opts.layers : byList(opts.layers);
  const noDecay = opts.noWeightDecay !== undefined ? matcher(opts.noWeightDecay) : () => false;
  const slots = trainingCandidates(model).trainable;
  const ids = slots.map((s) => layerOf(s.key));
  ids.forEach((id, i) => { if (!Number.isInteger(id) || id < 0) throw new Error(`layerDecayGroups: layer id of '${slots[i].key}' must be an integer ≥ 0, got ${id}`); });
  const max = Math.max(...ids);
  const groups = new Map<string, { keys: string[]; id: number; decayed: boolean }>();
  slots.forEach((s, i) => {
    const decayed = s.shape.length > 1 && !noDecay(s.key, s.torchKey);
    const name = `layer_${ids[i]}_${decayed ? 'decay' : 'no_decay'}`;
    const g = groups.get(name) ?? { keys: [], id: ids[i], decayed };
    g.keys.push(s.key);
    groups.set(name, g);
  });
  return [...groups].map(([name, g]) => ({ name, params: g.keys, lr: opts.lr * decay ** (max - g.id), weightDecay: g.decayed ? wd : 0 }));
}

function byList(layers: readonly Selector[]): (key: string) => number {
  const ms = layers.map((l) => matcher(l));
  return (key) => {
    const i = ms.findIndex((m) => m(key));
    return i < 0 ? layers.length : i;
  };
}
