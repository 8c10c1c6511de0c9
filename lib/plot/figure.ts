/**
 * Plotly figures as plain JSON-able objects, the colours every tsfreeze plot shares, and the
 * sizing rule that keeps one row per layer readable for 2 layers or 200.
 */

/** One Plotly trace (the attributes tsfreeze sets are typed; Plotly accepts many more). */
export interface PlotlyTrace {
  type: 'bar' | 'heatmap' | 'scatter';
  name?: string;
  x?: Array<number | string | null>;
  y?: Array<number | string | null>;
  z?: Array<Array<number | null>>;
  xaxis?: string;
  yaxis?: string;
  [attribute: string]: unknown;
}

/** Plotly layout (title, axes, size, ...). */
export interface PlotlyLayout {
  title?: { text: string; [attribute: string]: unknown };
  height?: number;
  width?: number;
  [attribute: string]: unknown;
}

/** Plotly config (interaction options). */
export interface PlotlyConfig {
  responsive?: boolean;
  displaylogo?: boolean;
  [attribute: string]: unknown;
}

/** A Plotly figure: what `application/vnd.plotly.v1+json` carries and `Plotly.newPlot` draws. */
export interface PlotlyFigure {
  data: PlotlyTrace[];
  layout: PlotlyLayout;
  config?: PlotlyConfig;
}

/** The colours of every tsfreeze plot: frozen is always blue, trainable always orange. */
export const COLORS = {
  frozen: '#4C78A8',
  /** BatchNorm moving statistics: frozen-like (no optimizer updates them), a lighter blue. */
  statistics: '#9ECAE9',
  trainable: '#F58518',
  /** Initial weights in the histograms (outlined, under the final ones). */
  initial: '#7F7F7F',
  stepLoss: '#B0B0B0',
  epochLoss: '#333333',
  valLoss: '#E45756',
} as const;

/** Drift colour scale: exactly 0 is white (a frozen row), then light to dark orange. */
export const DRIFT_COLORSCALE: Array<[number, string]> = [
  [0, '#FFFFFF'],
  [0.1, '#FDD0A2'],
  [0.5, '#F58518'],
  [1, '#7F2704'],
];

/** The config every figure gets: resizes with its container, no Plotly logo, no calls home. */
export const DEFAULT_CONFIG: PlotlyConfig = { responsive: true, displaylogo: false };

/** Pixels for `rows` rows of one layer each: 22 px a row for few rows, shrinking to 9 px for hundreds (at least 60). */
export function rowsPx(rows: number): number {
  const per = rows <= 30 ? 22 : rows <= 80 ? 14 : 9;
  return Math.max(60, rows * per);
}

/** Height in pixels of a plot with one row per layer plus `extra` pixels of title, axes and legend, at most `max`. */
export function rowsHeight(rows: number, extra: number, max = 2400): number {
  return Math.round(Math.min(max, extra + rowsPx(rows)));
}

/** A layer key as an axis label ('' is a model's root). */
export function layerLabel(key: string): string {
  return key === '' ? '(root)' : key;
}

/** Title text of a figure: the caller's, or the default. */
export function titleOf(text: string | undefined, fallback: string): PlotlyLayout['title'] & object {
  // Pinned to the top of the figure, so a legend of two rows below it never overlaps it.
  return { text: text ?? fallback, x: 0.01, xanchor: 'left', yref: 'container', y: 1, yanchor: 'top', pad: { t: 16 } };
}
