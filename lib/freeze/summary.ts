/**
 * Trainable and frozen parameter counts per layer, as Keras's summary(show_trainable) and torchinfo
 * print them. Like Keras, BatchNorm moving statistics count as non-trainable (the `frozen` column)
 * whether or not the layer is frozen: no optimizer ever updates them. `statistics` says how many
 * of a layer's frozen elements are such statistics.
 */
import { numel } from '../statedict/tensor';
import { weightSlots, type ModelLike } from '../model/weights';
import { isFrozen, isStatistic } from './registry';
import { displayable } from '../display/bundle';

/** One layer that owns weights. */
export interface LayerSummary {
  /** Layer key (the structural key prefix of its weights). */
  key: string;
  className: string;
  /** Elements of weights the training loop updates. */
  trainable: number;
  /** Elements of frozen weights plus BatchNorm statistics (Keras's non-trainable params). */
  frozen: number;
  /** Elements of BatchNorm statistics (included in `frozen`). */
  statistics: number;
}

/** Per-layer counts and totals (total = trainable + frozen). */
export interface TrainableSummary {
  layers: LayerSummary[];
  totals: { trainable: number; frozen: number; statistics: number; total: number };
}

/** Parameter counts per layer of `model`, split into trainable and frozen. */
export function trainableSummary(model: ModelLike): TrainableSummary {
  const byKey = new Map<string, LayerSummary>();
  for (const s of weightSlots(model)) {
    const row = byKey.get(s.layerKey) ?? { key: s.layerKey, className: s.layerClass, trainable: 0, frozen: 0, statistics: 0 };
    const n = numel(s.shape);
    if (isStatistic(s)) { row.frozen += n; row.statistics += n; }
    else if (isFrozen(model, s)) row.frozen += n;
    else row.trainable += n;
    byKey.set(s.layerKey, row);
  }
  const layers = [...byKey.values()];
  const sum = (f: (l: LayerSummary) => number) => layers.reduce((a, l) => a + f(l), 0);
  const trainable = sum((l) => l.trainable);
  const frozen = sum((l) => l.frozen);
  const summary: TrainableSummary = { layers, totals: { trainable, frozen, statistics: sum((l) => l.statistics), total: trainable + frozen } };
  // Displays as a table (freeze-view.ts, loaded when shown: it imports this file).
  return displayable(summary, () => (require('./freeze-view') as typeof import('./freeze-view')).summaryBundle(summary));
}

/** A text table of a TrainableSummary (or of a model), one row per layer and a totals line. */
export function formatSummary(summary: TrainableSummary | ModelLike): string {
  const s = isSummary(summary) ? summary : trainableSummary(summary);
  const head = ['Layer', 'Class', 'Trainable', 'Frozen'];
  const rows = s.layers.map((l) => [l.key || '(root)', l.className, fmt(l.trainable), fmt(l.frozen) + (l.statistics ? ` (${fmt(l.statistics)} BN stats)` : '')]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const rule = '-'.repeat(widths.reduce((a, w) => a + w + 2, -2));
  const t = s.totals;
  return [
    line(head), rule, ...rows.map(line), rule,
    `Total params: ${fmt(t.total)}`,
    `Trainable params: ${fmt(t.trainable)}`,
    `Frozen (non-trainable) params: ${fmt(t.frozen)}${t.statistics ? `, of which BatchNorm statistics: ${fmt(t.statistics)}` : ''}`,
  ].join('\n');
}

function isSummary(x: unknown): x is TrainableSummary {
  return typeof x === 'object' && x !== null && Array.isArray((x as TrainableSummary).layers) && typeof (x as TrainableSummary).totals === 'object' && !('getClassName' in x);
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
