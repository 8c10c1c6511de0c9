/**
 * Stopping running train() calls from outside their loop (a notebook's interrupt, a script's
 * SIGINT handler). Each run registers here and looks, at every step boundary (and between the
 * batches of its feature-cache pass), whether it was asked to stop. The registry lives on
 * globalThis, so two copies of the library share it. A run also stops for its own AbortSignal
 * and for a callback; history.stopped says which.
 */
import type { History } from './history';

/** Why a run ended early: stopTraining() ('interrupted'), its `signal` option ('aborted'), or a callback ('callback'). */
export type StopReason = 'interrupted' | 'aborted' | 'callback';

/** What a stop request asks of a run: resolve with its partial history, or reject with an error made from it. */
export interface StopRequest {
  /** Rejects the run with this function's value (the partial history is given); by default the run resolves. */
  reject?: (history: History) => unknown;
  /** Why, for history.events and the progress display (default 'stopTraining() was called'). */
  message?: string;
}

/** One running train(), as the registry sees it. */
export interface RunningTrain {
  /** The stop request, once one came. */
  readonly request: StopRequest | undefined;
  /** Removes the run from the registry (train() calls it once, when it has settled). */
  done(): void;
}

interface Entry {
  request: StopRequest | undefined;
  settled: Promise<void>;
  settle: () => void;
}

const SLOT = Symbol.for('tsfreeze.runningtrains');

function runs(): Set<Entry> {
  const g = globalThis as Record<symbol, unknown>;
  return ((g[SLOT] as Set<Entry> | undefined) ??= new Set());
}

/** Registers a run that is starting (train() calls this). */
export function registerRun(): RunningTrain {
  let settle!: () => void;
  const entry: Entry = { request: undefined, settled: new Promise((r) => { settle = r; }), settle: () => settle() };
  runs().add(entry);
  return {
    get request() { return entry.request; },
    done() {
      runs().delete(entry);
      entry.settle();
    },
  };
}

/** How many train() calls run now. */
export function runningTrainCount(): number {
  return runs().size;
}

/**
 * Asks every running train() to stop at its next step boundary: each resolves with the history
 * of the steps it did, `stopped: 'interrupted'` (or rejects, with `request.reject`). Resolves,
 * once they all have settled, to how many were asked.
 */
export async function stopTraining(request: StopRequest = {}): Promise<number> {
  const asked = [...runs()].filter((e) => e.request === undefined);
  for (const e of asked) e.request = request;
  await Promise.all(asked.map((e) => e.settled));
  return asked.length;
}

/** Lets the event loop run (timers, signals, I/O) between two steps: a promise alone yields only to microtasks. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
