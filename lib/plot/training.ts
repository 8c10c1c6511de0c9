/** One figure of a whole training run: loss curves on top, the weight-drift heatmap below, sharing the step axis. */
import type { Drift } from '../train/history';
import { driftPanel, isHistory, statusFromFrozen, statusFromHistory, type LayerStatus } from './drift';
import { DEFAULT_CONFIG, rowsPx, titleOf, type PlotlyFigure } from './figure';
import { lossPanel, type LossCurvesOptions, type LossSource } from './loss';
import { displayableFigure } from './show';

export interface TrainingFigureOptions extends Pick<LossCurvesOptions, 'log' | 'maxPoints'> {
  title?: string;
  /** Layers to mark frozen when the source is not a History (a History says itself which layers trained). */
  frozenLayers?: Iterable<string>;
}

/** What the training figure needs: loss and epochs, and the drift when there is one. */
export interface TrainingSource extends LossSource {
  drift?: Drift;
}

const TOP = 90;
const BOTTOM = 60;
const LOSS_PX = 240;
const GAP_PX = 70;

/** Loss curves and (when `source.drift` has layers) the drift heatmap of a training run in one figure (a History marks its frozen layers). */
export function trainingFigure(source: TrainingSource, opts: TrainingFigureOptions & { status?: LayerStatus } = {}): PlotlyFigure {
  const drift = source.drift && source.drift.layers.length > 0 && source.drift.steps.length > 0 ? source.drift : undefined;
  const lossOpts = { log: opts.log, maxPoints: opts.maxPoints };
  const last = source.epochs[source.epochs.length - 1];
  const title = titleOf(opts.title, `Training: ${source.loss.length} steps${last ? `, epoch ${last.epoch} loss ${last.loss.toPrecision(4)}` : ''}`);
  if (!drift) {
    const loss = lossPanel(source, { x: 'x', y: 'y' }, [0, 1], lossOpts);
    return displayableFigure({ data: loss.traces, layout: { title, height: TOP + BOTTOM + LOSS_PX + 40, margin: { t: TOP, b: BOTTOM }, legend: legend(), ...loss.layout }, config: { ...DEFAULT_CONFIG } });
  }
  const driftPx = Math.min(2000, Math.max(140, rowsPx(drift.layers.length)));
  const plotPx = LOSS_PX + GAP_PX + driftPx;
  const split = driftPx / plotPx;
  const loss = lossPanel(source, { x: 'x', y: 'y' }, [(driftPx + GAP_PX) / plotPx, 1], lossOpts);
  const status = opts.status ?? (isHistory(source) ? statusFromHistory(source) : opts.frozenLayers ? statusFromFrozen(drift, opts.frozenLayers) : undefined);
  const heat = driftPanel(drift, status, { x: 'x2', y: 'y2', strip: 'x3' }, [0, split], 'x');
  return displayableFigure({
    data: [...loss.traces, ...heat.traces],
    layout: {
      title,
      height: TOP + BOTTOM + plotPx,
      margin: { t: TOP, b: BOTTOM },
      legend: legend(),
      ...loss.layout,
      ...heat.layout,
    },
    config: { ...DEFAULT_CONFIG },
  });
}

function legend(): Record<string, unknown> {
  return { orientation: 'h', x: 0, y: 1, yanchor: 'bottom' };
}
