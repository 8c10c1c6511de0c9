/**
 * What a Jupyter interrupt (SIGINT) does to the running cell. A synchronous loop is broken by
 * vm's breakOnSigint before any JavaScript handler runs. Otherwise:
 * - train() runs are asked to stop at their next step boundary and reject with a
 *   KeyboardInterrupt that carries their partial history: the error goes up through the cell as
 *   IPython's KeyboardInterrupt does, so the code after `await train(...)` does not run and no
 *   weight changes after the cell has ended;
 * - anything else the cell awaits is abandoned (tslab's executor interrupt), as before; so is the
 *   cell when a second interrupt comes while training stops, or when every run ended without
 *   seeing the request.
 */
import { runningTrainCount, stopTraining } from '../../lib/train/stop';
import type { History } from '../../lib/train/history';

/** The error an interrupted train() rejects with inside the kernel. */
export class KeyboardInterrupt extends Error {
  override readonly name = 'KeyboardInterrupt';
  constructor(readonly history: History) {
    super(`train() stopped at a step boundary after ${history.steps} step${history.steps === 1 ? '' : 's'}: the model keeps the weights of that step; this error's .history is the partial history`);
  }
}

/** One running cell, as the interrupt sees it. */
export interface RunningCell {
  interrupts: number;
}

/** Interrupts `cell`; `abandon` ends the cell's pending await (tslab's executor.interrupt). */
export function interruptCell(cell: RunningCell, abandon: () => void, stillRunning: () => boolean): void {
  cell.interrupts++;
  if (cell.interrupts === 1 && runningTrainCount() > 0) {
    let rejected = 0;
    const reject = (history: History) => {
      rejected++;
      return new KeyboardInterrupt(history);
    };
    void stopTraining({ reject }).then(() => {
      // A run that saw the request rejected into the cell: what the cell does with that error is
      // its own business (as with IPython's KeyboardInterrupt). Runs that ended without seeing
      // it (the last step was under way) leave the cell running: abandon it.
      setImmediate(() => { if (rejected === 0 && stillRunning()) abandon(); });
    });
    return;
  }
  abandon();
}
