/**
 * The notebook's live view of train(): a progress line (steps, epoch, loss, rate, ETA) and one
 * loss/drift figure, each a display updated in place (update_display_data) while training runs.
 */
import { randomBytes } from 'node:crypto';
import type { DisplayHost } from '../../lib/display/bundle';
import { escapeHtml } from '../../lib/display/escape-html';
import { liveTrainingPlot } from '../../lib/plot/live';
import type { PlotSession } from '../../lib/plot/bundle';
import { describeProgress, formatSeconds, type ProgressInfo, type ProgressSink } from '../../lib/train/progress';
import type { TrainingViewFactory } from '../../lib/train/view';

/** Lets queued ZeroMQ sends leave before the next (synchronous) training step. */
const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/** A text and HTML progress line; the bar only when the total is known. */
function progressBundle(text: string, fraction: number | undefined) {
  const bar = fraction === undefined ? '' : `<progress max="1" value="${fraction.toFixed(4)}" style="width:16em;vertical-align:middle"></progress> `;
  return { data: { 'text/plain': text, 'text/html': `<div style="font-family:monospace">${bar}${escapeHtml(text)}</div>` }, metadata: {} };
}

/** The factory the kernel installs with setTrainingViewFactory. */
export function kernelTrainingView(host: DisplayHost, plots: PlotSession, intervalMs = 250): TrainingViewFactory {
  return (model) => {
    const progressId = `tsfreeze-progress-${randomBytes(6).toString('hex')}`;
    let shown = false;
    let last = -Infinity;
    const showProgress = (text: string, fraction: number | undefined) => {
      host.display(progressBundle(text, fraction), { id: progressId, update: shown });
      shown = true;
      last = performance.now();
    };
    const live = liveTrainingPlot({
      session: plots,
      model,
      interval: intervalMs,
      onUpdate: (bundle, u) => {
        host.display(bundle, { id: u.displayId, update: !u.first });
        return yieldToEventLoop();
      },
    });
    let pending: ProgressInfo | undefined;
    const sink: ProgressSink = {
      start(total, info) {
        // The progress line first, so it sits above the figure.
        showProgress(`training: ${info.epochs} epoch${info.epochs === 1 ? '' : 's'}${total !== undefined ? `, ${total} steps` : ''}`, total !== undefined ? 0 : undefined);
        live.sink.start(total, info);
      },
      update(step, info) {
        live.sink.update(step, info);
        pending = info;
        if (performance.now() - last >= intervalMs) showProgress(describeProgress(info), info.total ? step / info.total : undefined);
      },
      end(info) {
        live.sink.end(info);
        const interrupted = (info.error as { name?: unknown } | undefined)?.name === 'KeyboardInterrupt';
        const what = interrupted ? `interrupted after ${info.steps} steps` : info.error !== undefined ? `stopped by an error after ${info.steps} steps` : info.stopped ? `stopped (${info.stopped}) after ${info.steps} steps` : `done: ${info.steps} steps`;
        const loss = info.loss !== undefined ? ` · last loss ${info.loss.toPrecision(4)}` : '';
        showProgress(`${what} in ${formatSeconds(info.elapsed)}${loss}${pending ? ` · ${pending.rate.toFixed(1)} steps/s` : ''}`, info.error === undefined && pending?.total ? 1 : undefined);
      },
    };
    return {
      sink,
      onStep: (info) => live.callbacks.onStep(info),
      onEpoch: (log) => live.callbacks.onEpoch(log),
      // An unfreeze, a moved feature cache or a stop: one line of its own under the view.
      onEvent: (e) => host.display(progressBundle(`${e.message} (step ${e.step}, epoch ${e.epoch})`, undefined), { id: `tsfreeze-event-${randomBytes(6).toString('hex')}` }),
      finish: async (history) => {
        await live.finish(history);
      },
    };
  };
}
