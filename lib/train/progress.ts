/**
 * Training progress: a sink interface that a notebook display can implement, and the terminal
 * sink (a bar with rate and ETA on a TTY, plain occasional lines otherwise).
 */
import type { TrainEvent } from './callbacks';
import type { StopReason } from './stop';

/** What the loop tells a progress display after each step. */
export interface ProgressInfo {
  /** Steps done so far (1-based after the first step). */
  step: number;
  /** Total steps of the run, when known (a Dataset of unknown size leaves it undefined until its first epoch ends). */
  total: number | undefined;
  /** Current epoch, 1-based. */
  epoch: number;
  epochs: number;
  /** Loss of the last step. */
  loss: number;
  /** Steps per second, averaged over the run so far. */
  rate: number;
  /** Seconds left at the current rate, when the total is known. */
  eta: number | undefined;
  /** Seconds since start(). */
  elapsed: number;
}

/** A progress display: the terminal bar below, or a notebook's updating display. */
export interface ProgressSink {
  /** Called once before the first step; `total` is the number of steps when known. */
  start(total: number | undefined, info: { epochs: number; stepsPerEpoch: number | undefined }): void;
  /** Called after every step; a sink throttles its own output. */
  update(step: number, info: ProgressInfo): void;
  /** Called once when training ends, also when it fails (`error` set) or was stopped early (`stopped` set). */
  end(info: { steps: number; elapsed: number; loss: number | undefined; error?: unknown; stopped?: StopReason }): void;
  /** Called when something changes during the run (a schedule unfroze layers, the feature cache moved, a stop). */
  event?(e: TrainEvent): void;
}

/** Where the terminal sink writes (process.stderr by default). */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface TerminalProgressOptions {
  stream?: ProgressStream;
  /** Force the bar (true) or plain lines (false); default: the stream's isTTY. */
  tty?: boolean;
  /** Least milliseconds between two redraws of the bar (default 100). */
  interval?: number;
  /** Least seconds between two plain lines when the total is unknown (default 10). */
  lineEvery?: number;
  /** Width of the bar in characters (default 24). */
  width?: number;
}

/** Seconds as `1h02m`, `3m05s` or `12s`. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

function formatLoss(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toFixed(4) : x.toExponential(3);
}

/** One line describing `info` without the bar: `step 120/400 · epoch 2/5 · loss 0.1234 · 35.2 steps/s · ETA 8s`. */
export function describeProgress(info: ProgressInfo): string {
  const parts = [
    `step ${info.step}${info.total !== undefined ? `/${info.total}` : ''}`,
    `epoch ${info.epoch}/${info.epochs}`,
    `loss ${formatLoss(info.loss)}`,
    `${info.rate >= 100 ? info.rate.toFixed(0) : info.rate.toFixed(1)} steps/s`,
  ];
  if (info.eta !== undefined) parts.push(`ETA ${formatSeconds(info.eta)}`);
  return parts.join(' · ');
}

/** The terminal sink: a redrawn bar on a TTY, a plain line every 10 % (or every `lineEvery` seconds) otherwise. */
export function terminalProgress(opts: TerminalProgressOptions = {}): ProgressSink {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const interval = opts.interval ?? 100;
  const lineEvery = (opts.lineEvery ?? 10) * 1000;
  const width = opts.width ?? 24;
  let lastDraw = -Infinity;
  let lastDecile = -1;
  let lastLine = 0;
  let last: ProgressInfo | undefined;
  let drawn = false;

  const bar = (info: ProgressInfo): string => {
    if (info.total === undefined || info.total <= 0) {
      const pos = info.step % width;
      return `[${' '.repeat(pos)}<=>${' '.repeat(Math.max(0, width - pos - 3))}]`.slice(0, width + 2);
    }
    const frac = Math.min(1, info.step / info.total);
    const full = Math.floor(frac * width);
    const head = full < width ? '>' : '';
    return `[${'='.repeat(full)}${head}${' '.repeat(Math.max(0, width - full - head.length))}] ${String(Math.floor(frac * 100)).padStart(3)}%`;
  };
  const draw = (info: ProgressInfo): void => {
    let line = `${bar(info)} ${describeProgress(info)}`;
    if (stream.columns && line.length > stream.columns - 1) line = line.slice(0, stream.columns - 1);
    stream.write(`\r${line}\x1b[K`);
    drawn = true;
  };

  return {
    start() {
      lastDraw = -Infinity;
      lastDecile = -1;
      lastLine = Date.now();
      last = undefined;
      drawn = false;
    },
    update(_step, info) {
      last = info;
      const now = Date.now();
      if (tty) {
        if (now - lastDraw >= interval || (info.total !== undefined && info.step >= info.total)) {
          lastDraw = now;
          draw(info);
        }
        return;
      }
      if (info.total !== undefined && info.total > 0) {
        const decile = Math.floor((info.step / info.total) * 10);
        if (decile > lastDecile && (decile > 0 || info.step === 1)) {
          lastDecile = decile;
          lastLine = now;
          stream.write(`${describeProgress(info)}\n`);
        }
      } else if (now - lastLine >= lineEvery) {
        lastLine = now;
        stream.write(`${describeProgress(info)}\n`);
      }
    },
    event(e) {
      const line = `${e.message} (step ${e.step}, epoch ${e.epoch})`;
      stream.write(tty && drawn ? `\r${line}\x1b[K\n` : `${line}\n`);
      lastDraw = -Infinity;
    },
    end(info) {
      const summary = `${info.error ? 'stopped' : info.stopped ? `stopped (${info.stopped})` : 'done'}: ${info.steps} steps in ${formatSeconds(info.elapsed)}${info.loss !== undefined ? `, loss ${formatLoss(info.loss)}` : ''}`;
      if (tty) {
        if (last && !info.error) draw(last);
        stream.write(drawn ? `\n${summary}\n` : `${summary}\n`);
      } else {
        stream.write(`${summary}\n`);
      }
    },
  };
}

/** Steps per second and ETA from the step count and the start time (used by the loop to fill ProgressInfo). */
export class RateMeter {
  private readonly t0: number;
  constructor(private readonly now: () => number = () => performance.now()) {
    this.t0 = now();
  }
  /** Seconds since the meter started. */
  elapsed(): number {
    return (this.now() - this.t0) / 1000;
  }
  info(step: number, total: number | undefined): { rate: number; eta: number | undefined; elapsed: number } {
    const elapsed = this.elapsed();
    const rate = elapsed > 0 ? step / elapsed : 0;
    const eta = total !== undefined && rate > 0 ? Math.max(0, total - step) / rate : undefined;
    return { rate, eta, elapsed };
  }
}
