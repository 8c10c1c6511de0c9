/** The notebook's live view (installed by the kernel, lib/train/view.ts) as a callback; its progress line is a progressCallback of view.sink. */
import type { Callback } from './callbacks';
import type { TrainingView } from './view';

export function viewCallback(view: TrainingView): Callback {
  return {
    name: 'view',
    onStep: (info) => view.onStep?.(info),
    onEpochEnd: async (log) => { await view.onEpoch?.(log); },
    onEvent: (e) => view.onEvent?.(e),
    // The view's last picture: the exact history on success or a stop (also one that rejects); a failure keeps what was shown.
    onTrainEnd: async ({ history, error }) => {
      await view.finish(error === undefined || history.stopped ? history : undefined).catch(() => undefined);
    },
  };
}
