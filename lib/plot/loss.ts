/** Loss curves of a training run: the loss of every step, and each epoch's training and validation loss. */
import type { EpochLog, History } from '../train/history';
import { axisKey, type Panel } from './axes';
import { COLORS, DEFAULT_CONFIG, titleOf, type PlotlyFigure, type PlotlyTrace } from './figure';
import { displayableFigure } from './show';

/** What the loss curves need: a History, or the part of one a live display has so far. */
export type LossSource = Pick<History, 'loss' | 'epochs'>;

export interface LossCurvesOptions {
  title?: string;
  /** Logarithmic loss axis (default false). */
  log?: boolean;
  /** Most points of the per-step curve; longer runs are shown as means of consecutive steps (default 5000). */
  maxPoints?: number;
}

/** Per-step loss, per-epoch loss and validation loss against the step count. */
export function lossCurvesFigure(history: LossSource, opts: LossCurvesOptions = {}): PlotlyFigure {
  const panel = lossPanel(history, { x: 'x', y: 'y' }, [0, 1], opts);
  const last = history.epochs[history.epochs.length - 1];
  const summary = last ? ` — epoch ${last.epoch}: loss ${fmt(last.loss)}${last.valLoss !== undefined ? `, validation ${fmt(last.valLoss)}` : ''}` : '';
  return displayableFigure({
    data: panel.traces,
    layout: {
      title: titleOf(opts.title, `Loss${summary}`),
      height: 380,
      legend: { orientation: 'h', x: 0, y: 1, yanchor: 'bottom' },
      margin: { t: 80 },
      hovermode: 'closest',
      ...panel.layout,
    },
    config: { ...DEFAULT_CONFIG },
  });
}

/** The loss traces on the given axes, within the vertical `domain`. */
export function lossPanel(history: LossSource, axes: { x: string; y: string }, domain: [number, number], opts: LossCurvesOptions = {}): Panel {
  const maxPoints = opts.maxPoints ?? 5000;
  if (!Number.isInteger(maxPoints) || maxPoints < 2) throw new Error(`lossCurvesFigure: maxPoints must be an integer ≥ 2, got ${maxPoints}`);
  const steps = downsample(history.loss, maxPoints);
  const traces: PlotlyTrace[] = [{
    type: 'scatter', mode: 'lines', name: steps.per > 1 ? `loss per step (mean of ${steps.per})` : 'loss per step',
    x: steps.x, y: steps.y, xaxis: axes.x, yaxis: axes.y,
    line: { color: COLORS.stepLoss, width: 1 },
    hovertemplate: 'step %{x}<br>loss %{y:.4g}<extra></extra>',
  }];
  const ends = epochEnds(history.epochs);
  if (history.epochs.length > 0) {
    const epochTrace = (name: string, color: string, y: Array<number | null>, dash?: string): PlotlyTrace => ({
      type: 'scatter', mode: 'lines+markers', name, x: ends, y, xaxis: axes.x, yaxis: axes.y,
      text: history.epochs.map((e) => String(e.epoch)),
      line: { color, width: 2, ...(dash ? { dash } : {}) }, marker: { color, size: 7 },
      hovertemplate: `epoch %{text} (step %{x})<br>${name} %{y:.4g}<extra></extra>`,
    });
    traces.push(epochTrace('epoch loss', COLORS.epochLoss, history.epochs.map((e) => finite(e.loss))));
    if (history.epochs.some((e) => e.valLoss !== undefined)) {
      traces.push(epochTrace('validation loss', COLORS.valLoss, history.epochs.map((e) => finite(e.valLoss)), 'dash'));
    }
  }
  return {
    traces,
    layout: {
      [axisKey(axes.x)]: { title: { text: 'step' }, anchor: axes.y, automargin: true, rangemode: 'tozero', zeroline: false },
      [axisKey(axes.y)]: { title: { text: 'loss' }, type: opts.log ? 'log' : 'linear', domain, anchor: axes.x, automargin: true },
    },
  };
}

/** The step count at the end of each epoch. */
function epochEnds(epochs: EpochLog[]): number[] {
  let total = 0;
  return epochs.map((e) => (total += e.steps));
}

/** Steps 1..n and their losses, as means of `per` consecutive steps when n exceeds `max`. */
function downsample(loss: number[], max: number): { x: number[]; y: Array<number | null>; per: number } {
  const per = Math.max(1, Math.ceil(loss.length / max));
  const x: number[] = [];
  const y: Array<number | null> = [];
  for (let i = 0; i < loss.length; i += per) {
    const end = Math.min(loss.length, i + per);
    let sum = 0;
    let n = 0;
    for (let k = i; k < end; k++) if (Number.isFinite(loss[k])) { sum += loss[k]; n++; }
    x.push(per === 1 ? i + 1 : (i + 1 + end) / 2);
    y.push(n > 0 ? sum / n : null);
  }
  return { x, y, per };
}

function finite(v: number | undefined): number | null {
  return v !== undefined && Number.isFinite(v) ? v : null;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(4) : String(x);
}
