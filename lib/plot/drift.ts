/**
 * Weight drift over training (History.drift) as a heatmap: one row per layer, one column per
 * sample, colour ‖W_t − W_0‖ / ‖W_0‖. A frozen layer's row is exactly 0, drawn white; a strip at
 * the left marks each layer frozen (blue) or trainable (orange).
 */
import type { Drift, History } from '../train/history';
import { axisKey, type Panel } from './axes';
import { COLORS, DEFAULT_CONFIG, DRIFT_COLORSCALE, layerLabel, rowsHeight, titleOf, type PlotlyFigure, type PlotlyTrace } from './figure';
import { displayableFigure } from './show';

export interface DriftHeatmapOptions {
  title?: string;
  /** Layers to mark frozen when the source is a bare Drift (a History says itself which layers trained). */
  frozenLayers?: Iterable<string>;
}

/** Which layers of a drift were trained: 'trainable', 'frozen', or undefined when unknown. */
export type LayerStatus = Map<string, 'frozen' | 'trainable'>;

/** Each layer's relative weight change over the training steps, as a heatmap with one row per layer. */
export function driftHeatmapFigure(source: History | Drift, opts: DriftHeatmapOptions = {}): PlotlyFigure {
  const drift = isHistory(source) ? source.drift : source;
  const status = isHistory(source) ? statusFromHistory(source) : opts.frozenLayers ? statusFromFrozen(drift, opts.frozenLayers) : undefined;
  const panel = driftPanel(drift, status, { x: 'x', y: 'y', strip: 'x2' }, [0, 1]);
  const frozen = status ? [...status.values()].filter((s) => s === 'frozen').length : undefined;
  return displayableFigure({
    data: panel.traces,
    layout: {
      title: titleOf(opts.title, `Weight drift ‖W−W₀‖/‖W₀‖ per layer${frozen !== undefined ? ` (${frozen} of ${drift.layers.length} layers frozen)` : ''}`),
      height: rowsHeight(drift.layers.length, 170),
      legend: { orientation: 'h', x: 0, y: 1, yanchor: 'bottom' },
      margin: { t: 80 },
      ...panel.layout,
    },
    config: { ...DEFAULT_CONFIG },
  });
}

/** The heatmap (and frozen/trainable strip when `status` is known) on the given axes, within the vertical `domain`. */
export function driftPanel(drift: Drift, status: LayerStatus | undefined, axes: { x: string; y: string; strip: string }, domain: [number, number], xMatches?: string): Panel {
  const labels = drift.layers.map(layerLabel);
  // Rows are layers: z[layer][sample].
  const z = drift.layers.map((_, j) => drift.values.map((row) => finite(row[j])));
  let max = 0;
  for (const row of z) for (const v of row) if (v !== null && v > max) max = v;
  const heat: PlotlyTrace = {
    type: 'heatmap', name: 'drift', x: drift.steps, y: labels, z, xaxis: axes.x, yaxis: axes.y,
    colorscale: DRIFT_COLORSCALE, zmin: 0, zmax: max > 0 ? max : 1,
    colorbar: { title: { text: '‖W−W₀‖/‖W₀‖', side: 'right' }, len: domain[1] - domain[0], y: (domain[0] + domain[1]) / 2, yanchor: 'middle', thickness: 14 },
    hovertemplate: 'layer %{y}<br>step %{x}<br>drift %{z:.3g}<extra></extra>',
    xgap: 0, ygap: drift.layers.length <= 40 ? 1 : 0,
  };
  const traces: PlotlyTrace[] = [heat];
  const x = axisKey(axes.x);
  const y = axisKey(axes.y);
  const layout: Record<string, unknown> = {
    [x]: { title: { text: 'step' }, domain: [status ? 0.04 : 0, 1], anchor: axes.y, zeroline: false, showgrid: false, ...(xMatches ? { matches: xMatches } : {}), automargin: true },
    [y]: { type: 'category', autorange: 'reversed', title: { text: 'layer' }, domain, showgrid: false, automargin: true, anchor: status ? axes.strip : axes.x },
  };
  if (status) {
    const kind = drift.layers.map((l) => status.get(l) ?? 'trainable');
    traces.push({
      type: 'heatmap', name: 'frozen or trainable', x: ['status'], y: labels, z: kind.map((k) => [k === 'frozen' ? 0 : 1]),
      text: kind.map((k) => [k]), xaxis: axes.strip, yaxis: axes.y, zmin: 0, zmax: 1, showscale: false,
      colorscale: [[0, COLORS.frozen], [0.5, COLORS.frozen], [0.5, COLORS.trainable], [1, COLORS.trainable]],
      hovertemplate: '%{y}: %{text}<extra></extra>', ygap: heat.ygap,
    });
    // Legend entries for the strip's two colours (heatmaps have none); no data, so no effect on the ranges.
    for (const [name, color] of [['frozen layer', COLORS.frozen], ['trainable layer', COLORS.trainable]] as const) {
      traces.push({ type: 'scatter', mode: 'markers', name, x: [null], y: [null], xaxis: axes.strip, yaxis: axes.y, marker: { symbol: 'square', size: 12, color }, hoverinfo: 'skip', showlegend: true });
    }
    layout[axisKey(axes.strip)] = { domain: [0, 0.025], anchor: axes.y, showticklabels: false, showgrid: false, zeroline: false, fixedrange: true };
  }
  return { traces, layout };
}

/** Layers with a trained weight are trainable, the others frozen (History.groups lists what each optimizer updated). */
export function statusFromHistory(history: History): LayerStatus {
  const layers = new Set(history.drift.layers);
  const trained = new Set<string>();
  for (const g of history.groups) for (const key of g.keys) trained.add(layerOfKey(key, layers));
  return new Map(history.drift.layers.map((l) => [l, trained.has(l) ? 'trainable' : 'frozen']));
}

/** Layers listed in `frozen` are frozen, the others trainable. */
export function statusFromFrozen(drift: Drift, frozen: Iterable<string>): LayerStatus {
  const set = new Set(frozen);
  return new Map(drift.layers.map((l) => [l, set.has(l) ? 'frozen' : 'trainable']));
}

/** The drift row a weight key belongs to: its layer key (the key without its last segment), or the key itself for a plain variable. */
function layerOfKey(key: string, layers: ReadonlySet<string>): string {
  const dot = key.lastIndexOf('.');
  const layer = dot >= 0 ? key.slice(0, dot) : key;
  return layers.has(layer) ? layer : key;
}

/** Whether `x` is a History as train() returns it (loss, epochs, drift and parameter groups). */
export function isHistory(x: unknown): x is History {
  const h = x as History;
  return typeof x === 'object' && x !== null && Array.isArray(h.loss) && Array.isArray(h.epochs) && typeof h.drift === 'object' && h.drift !== null && Array.isArray(h.groups);
}

function finite(v: number | undefined): number | null {
  return v !== undefined && Number.isFinite(v) ? v : null;
}
