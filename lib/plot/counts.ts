/** Per-layer frozen and trainable parameter counts as stacked bars (from trainableSummary). */
import type { ModelLike } from '../model/weights';
import { trainableSummary, type TrainableSummary } from '../freeze/summary';
import { COLORS, DEFAULT_CONFIG, layerLabel, rowsHeight, titleOf, type PlotlyFigure, type PlotlyTrace } from './figure';
import { displayableFigure } from './show';

export interface ParameterCountsOptions {
  title?: string;
  /** Logarithmic count axis (default true: a 10-parameter bias beside a 1M-parameter kernel stays visible). */
  log?: boolean;
}

/** Frozen, BatchNorm-statistic and trainable parameter counts per layer as horizontal stacked bars, one row per layer. */
export function parameterCountsFigure(source: TrainableSummary | ModelLike, opts: ParameterCountsOptions = {}): PlotlyFigure {
  const summary = isTrainableSummary(source) ? source : trainableSummary(source);
  const layers = summary.layers;
  const y = layers.map((l) => layerLabel(l.key));
  const classes = layers.map((l) => l.className);
  const bar = (name: string, color: string, x: number[]): PlotlyTrace => ({
    type: 'bar', orientation: 'h', name, x, y, customdata: classes,
    marker: { color },
    hovertemplate: `%{y} (%{customdata})<br>${name}: %{x:,}<extra></extra>`,
  });
  const data: PlotlyTrace[] = [bar('frozen', COLORS.frozen, layers.map((l) => l.frozen - l.statistics))];
  if (summary.totals.statistics > 0) data.push(bar('BatchNorm statistics', COLORS.statistics, layers.map((l) => l.statistics)));
  data.push(bar('trainable', COLORS.trainable, layers.map((l) => l.trainable)));
  const t = summary.totals;
  const log = opts.log ?? true;
  return displayableFigure({
    data,
    layout: {
      title: titleOf(opts.title, `Parameters per layer: ${fmt(t.trainable)} trainable, ${fmt(t.frozen)} frozen${t.statistics ? ` (${fmt(t.statistics)} BatchNorm statistics)` : ''}`),
      barmode: 'stack',
      height: rowsHeight(layers.length, 150),
      xaxis: { type: log ? 'log' : 'linear', title: { text: log ? 'parameters (log scale)' : 'parameters' }, automargin: true, exponentformat: 'SI', ...(log ? { dtick: 1 } : {}) },
      yaxis: { type: 'category', autorange: 'reversed', title: { text: 'layer' }, automargin: true },
      legend: { orientation: 'h', x: 0, y: 1, yanchor: 'bottom', traceorder: 'normal' },
      margin: { t: 80 },
    },
    config: { ...DEFAULT_CONFIG },
  });
}

function isTrainableSummary(x: unknown): x is TrainableSummary {
  const s = x as TrainableSummary;
  return typeof x === 'object' && x !== null && Array.isArray(s.layers) && typeof s.totals === 'object' && s.totals !== null && typeof s.totals.total === 'number';
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
