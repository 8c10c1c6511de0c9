/** Names of Plotly axes: a trace says 'x2', the layout calls the same axis 'xaxis2'. */

/** The layout key of a trace's axis id: 'x' → 'xaxis', 'y3' → 'yaxis3'. */
export function axisKey(id: string): string {
  const m = /^([xy])(\d*)$/.exec(id);
  if (!m) throw new Error(`not a Plotly axis id: '${id}' (expected x, x2, y, y3, ...)`);
  return `${m[1]}axis${m[2]}`;
}

/** Axis ids a panel of a figure draws on. */
export interface PanelAxes {
  x: string;
  y: string;
}

/** Traces and the layout entries (axes, annotations) of one panel, ready to merge into a figure. */
export interface Panel {
  traces: import('./figure').PlotlyTrace[];
  layout: Record<string, unknown>;
}
