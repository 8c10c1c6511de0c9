/** A progress sink (terminal bar, notebook line) as a callback. */
import type { Callback } from './callbacks';
import { RateMeter, type ProgressSink } from './progress';

/** Feeds `sink` the start, every step (with rate and ETA), every event, and the end. */
export function progressCallback(sink: ProgressSink): Callback {
  let meter = new RateMeter();
  let last: number | undefined;
  const total = (ctx: { stepsPerEpoch: number | undefined; epochs: number }) => (ctx.stepsPerEpoch !== undefined ? ctx.stepsPerEpoch * ctx.epochs : undefined);
  return {
    name: 'progress',
    onTrainBegin(ctx) {
      meter = new RateMeter();
      sink.start(total(ctx), { epochs: ctx.epochs, stepsPerEpoch: ctx.stepsPerEpoch });
    },
    onStep(info, ctx) {
      last = info.loss;
      const t = total(ctx);
      sink.update(info.step, { step: info.step, total: t, epoch: info.epoch, epochs: ctx.epochs, loss: info.loss, ...meter.info(info.step, t) });
    },
    onEvent(e) {
      sink.event?.(e);
    },
    onTrainEnd({ error }, ctx) {
      sink.end({ steps: ctx.step, elapsed: meter.elapsed(), loss: last, ...(error !== undefined ? { error } : {}), ...(ctx.history.stopped ? { stopped: ctx.history.stopped } : {}) });
    },
  };
}
