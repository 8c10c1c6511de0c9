/**
 * Histograms of weights before and after training, frozen and trainable apart: a frozen panel's
 * final histogram covers its initial one exactly. Counts are binned here, not in the browser, so
 * a model of millions of weights costs a few hundred numbers in the notebook.
 */
import type { ModelLike } from '../model/weights';
import { weightSlots } from '../model/weights';
import { stateDictOf } from '../model/state-dict-of';
import { frozenKeys, isStatistic } from '../freeze/registry';
import { asFloat32 } from '../statedict/convert';
import { numel, type StateDict } from '../statedict/tensor';
import { COLORS, DEFAULT_CONFIG, titleOf, type PlotlyFigure, type PlotlyTrace } from './figure';
import { displayableFigure } from './show';

/** Weights before and after training, and which keys were frozen. */
export interface WeightChange {
  before: StateDict;
  after: StateDict;
  frozen: ReadonlySet<string>;
}

/**
 * `model`'s weights now against `before` (take it with `stateDictOf(model)` before training).
 * Frozen: what tsfreeze froze (BatchNorm statistics of frozen layers included) and weights TF.js
 * marks not trainable; a trainable BatchNorm layer's moving statistics count as trainable (they move).
 */
export function weightChange(model: ModelLike, before: StateDict): WeightChange {
  const registry = frozenKeys(model);
  const frozen = new Set<string>();
  for (const s of weightSlots(model)) if (registry.has(s.key) || (!s.trainable && !isStatistic(s))) frozen.add(s.key);
  return { before, after: stateDictOf(model), frozen };
}

export interface WeightHistogramOptions {
  title?: string;
  /** Bins per panel (default 60); initial and final share the panel's bins. */
  bins?: number;
  /** Only keys that match (a RegExp, or a test on the key). */
  include?: RegExp | ((key: string) => boolean);
  /** Logarithmic count axis (default false). */
  log?: boolean;
}

/** One panel's binned weights: `edges` has bins + 1 entries; bin i holds edges[i] ≤ v < edges[i+1] (the last bin also holds its upper edge). */
export interface WeightBins {
  keys: string[];
  /** Elements in the panel (per snapshot). */
  count: number;
  edges: number[];
  initial: number[];
  final: number[];
  /** Elements that are NaN or ±Infinity, left out of the bins. */
  nonFinite: { initial: number; final: number };
}

/** The frozen and trainable weights of a WeightChange, binned (a group without keys is left out). */
export function weightHistograms(change: WeightChange, opts: Pick<WeightHistogramOptions, 'bins' | 'include'> = {}): { frozen?: WeightBins; trainable?: WeightBins } {
  const bins = opts.bins ?? 60;
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`weightHistograms: bins must be a positive integer, got ${bins}`);
  const include = opts.include instanceof RegExp ? (k: string) => (opts.include as RegExp).test(k) : opts.include ?? (() => true);
  const groups: Record<'frozen' | 'trainable', string[]> = { frozen: [], trainable: [] };
  for (const [key, after] of change.after) {
    if (!include(key)) continue;
    const before = change.before.get(key);
    if (!before) continue;
    if (numel(before.shape) !== numel(after.shape)) {
      throw new Error(`weightHistograms: '${key}' has shape [${before.shape}] before and [${after.shape}] after; pass the state dict of the same model taken before training`);
    }
    groups[change.frozen.has(key) ? 'frozen' : 'trainable'].push(key);
  }
  if (groups.frozen.length + groups.trainable.length === 0) {
    throw new Error(`weightHistograms: no weight is in both state dicts${opts.include ? ' and matches include' : ''} (before has ${change.before.size} keys, after ${change.after.size}); take 'before' with stateDictOf(model) before training`);
  }
  const out: { frozen?: WeightBins; trainable?: WeightBins } = {};
  for (const g of ['frozen', 'trainable'] as const) if (groups[g].length) out[g] = binGroup(change, groups[g], bins);
  return out;
}

/** Histograms of initial and final weights, one panel for frozen weights and one for trainable ones. */
export function weightHistogramFigure(change: WeightChange, opts: WeightHistogramOptions = {}): PlotlyFigure {
  const h = weightHistograms(change, opts);
  const panels = (['frozen', 'trainable'] as const).filter((g) => h[g]);
  const data: PlotlyTrace[] = [];
  const layout: Record<string, unknown> = {};
  const gap = 0.08;
  const width = (1 - gap * (panels.length - 1)) / panels.length;
  panels.forEach((g, i) => {
    const b = h[g] as WeightBins;
    const n = i === 0 ? '' : String(i + 1);
    const centers = b.edges.slice(0, -1).map((e, k) => (e + b.edges[k + 1]) / 2);
    const w = b.edges[1] - b.edges[0];
    const color = g === 'frozen' ? COLORS.frozen : COLORS.trainable;
    const moved = b.initial.some((c, k) => c !== b.final[k]);
    data.push(
      { type: 'bar', name: `${g}: initial`, legendgroup: g, x: centers, y: b.initial, width: w, xaxis: `x${n}`, yaxis: `y${n}`,
        marker: { color: 'rgba(0,0,0,0)', line: { color: COLORS.initial, width: 1.5 } },
        hovertemplate: `${g} initial<br>%{x:.4g}: %{y:,}<extra></extra>` },
      { type: 'bar', name: `${g}: final`, legendgroup: g, x: centers, y: b.final, width: w, xaxis: `x${n}`, yaxis: `y${n}`,
        marker: { color, opacity: 0.6 },
        hovertemplate: `${g} final<br>%{x:.4g}: %{y:,}<extra></extra>` },
    );
    const left = b.nonFinite.initial + b.nonFinite.final;
    layout[`xaxis${n}`] = { domain: [i * (width + gap), i * (width + gap) + width], anchor: `y${n}`, title: { text: `weight value — ${g} (${b.keys.length} tensors, ${b.count.toLocaleString('en-US')} weights${left ? `, ${left} non-finite left out` : ''})` }, automargin: true };
    layout[`yaxis${n}`] = { anchor: `x${n}`, type: opts.log ? 'log' : 'linear', title: { text: i === 0 ? 'count' : '' }, automargin: true };
    layout.annotations = [...((layout.annotations as unknown[]) ?? []), {
      text: g === 'frozen' ? (moved ? 'frozen weights MOVED' : 'frozen: final = initial') : (moved ? 'trainable: moved' : 'trainable: unchanged'),
      xref: `x${n} domain`, yref: `y${n} domain`, x: 0.98, y: 0.98, xanchor: 'right', yanchor: 'top', showarrow: false,
      font: { color: g === 'frozen' && moved ? '#D62728' : '#444' },
    }];
  });
  return displayableFigure({
    data,
    layout: {
      title: titleOf(opts.title, 'Weights before and after training'),
      barmode: 'overlay', bargap: 0, height: 420,
      legend: { orientation: 'h', x: 0, y: 1, yanchor: 'bottom' },
      margin: { t: 110 },
      ...layout,
    },
    config: { ...DEFAULT_CONFIG },
  });
}

/** Bins the initial and final values of `keys` on one set of edges spanning both. */
function binGroup(change: WeightChange, keys: string[], bins: number): WeightBins {
  let lo = Infinity;
  let hi = -Infinity;
  let count = 0;
  const each = (fn: (v: Float32Array, phase: 'initial' | 'final') => void) => {
    for (const key of keys) {
      fn(asFloat32(change.before.get(key)!), 'initial');
      fn(asFloat32(change.after.get(key)!), 'final');
    }
  };
  each((v, phase) => {
    if (phase === 'initial') count += v.length;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (!Number.isFinite(x)) continue;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  });
  if (lo > hi) {
    // No finite value at all: a unit range around 0 keeps the axis sane.
    lo = -0.5;
    hi = 0.5;
  } else if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width));
  const counts = { initial: new Array<number>(bins).fill(0), final: new Array<number>(bins).fill(0) };
  const nonFinite = { initial: 0, final: 0 };
  each((v, phase) => {
    const c = counts[phase];
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (!Number.isFinite(x)) { nonFinite[phase]++; continue; }
      let k = Math.max(0, Math.min(bins - 1, Math.floor((x - lo) / width)));
      // Rounding can put a value one bin off its edges; the edges decide.
      if (k > 0 && x < edges[k]) k--;
      else if (k < bins - 1 && x >= edges[k + 1]) k++;
      c[k]++;
    }
  });
  return { keys, count, edges, initial: counts.initial, final: counts.final, nonFinite };
}
