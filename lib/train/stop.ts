/**
 * Stopping a running train() from outside: stopTraining() (what a notebook kernel calls on an
 * interrupt) asks every run in progress to stop at its next step boundary. Each run then resolves
 * with the history so far, `history.stopped` set. The loop yields to the event loop between
 * steps, so a signal handler or a timer gets to run while training.
 */

/** Why a run ended early: stopTraining() ('interrupted'), its AbortSignal ('aborted'), or a callback ('callback'). */
export type StopReason = 'interrupted' | 'aborted' | 'callback';

/** A run in progress, as the registry sees it. */
export interface RunningTraining {
  /** Asks the run to stop at its next step boundary. */
  stop(reason: StopReason, message?: string): void;
}

const SLOT = Symbol.for('tsfreeze.runningTrainings');

/** The registry is process-wide (one per process even if two copies of the library are loaded). */
function running(): Set<RunningTraining> {
  const g = globalThis as Record<symbol, unknown>;
  let set = g[SLOT] as Set<RunningTraining> | undefined;
  if (!set) {
    set = new Set();
    g[SLOT] = set;
  }
  return set;
}

/** Registers a run; the returned function removes it. */
export function registerRun(run: RunningTraining): () => void {
  const set = running();
  set.add(run);
  return () => {
    set.delete(run);
  };
}

/** Asks every running train() to stop at its next step boundary (history.stopped = 'interrupted'); returns how many were running. */
export function stopTraining(message = 'stopTraining() was called'): number {
  const set = running();
  for (const run of [...set]) run.stop('interrupted', message);
  return set.size;
}

/** How many train() calls are in progress. */
export function runningTrainings(): number {
  return running().size;
}

/** Resolves on the next turn of the event loop (after pending I/O, timers and signal handlers). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
