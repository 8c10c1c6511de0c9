/**
 * The kernel owns its process, as a kernel must: its signals, its uncaught exceptions and
 * unhandled rejections, and process.exit. Libraries that cells load bring their own:
 * Playwright's SIGINT/SIGTERM/SIGHUP handlers close Chromium and call process.exit(130) (a
 * Jupyter interrupt is SIGINT); the wasm backend's Emscripten glue adds an `uncaughtException`
 * listener that rethrows (the process dies with exit code 7) and an `unhandledRejection` one
 * that throws. Such listeners are removed as soon as they are added (before any event can reach
 * them: the removal is a nextTick), and again after every cell.
 *
 * What the kernel does instead:
 * - SIGINT: the kernel's interrupt (the server's handler); SIGTERM and SIGHUP: no JavaScript
 *   handler, so the default action ends the process even while a cell loops;
 * - uncaught exceptions and unhandled rejections: reported on stderr (the running cell's output,
 *   or the last one's) and the kernel goes on, as ipykernel does;
 * - process.exit(code) in a cell: throws ProcessExit, which the cell reports; the kernel goes on,
 *   as IPython does with sys.exit. The kernel itself exits through exit().
 *
 * Checked against Node 20 (process.setUncaughtExceptionCaptureCallback, 'newListener'); the
 * replacement of process.exit is an entry of the patch table (lib/patches, node:process.exit).
 */
import { inspect } from 'node:util';
import { writeSync } from 'node:fs';
import { installPatch, PATCHES } from '../../lib/patches';

/** The process events the kernel owns. */
const OWNED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'uncaughtException', 'unhandledRejection'] as const;
type Owned = (typeof OWNED)[number];

/** Thrown by process.exit() while the kernel runs: the kernel's process is not the cell's to end. */
export class ProcessExit extends Error {
  override readonly name = 'ProcessExit';
  constructor(readonly code: number | string | null | undefined) {
    super(`process.exit(${code ?? ''}) was called: a cell cannot end the kernel's process; the kernel goes on (restart the kernel to start afresh)`);
  }
}

type Listener = (...args: unknown[]) => void;
/** process as a plain emitter: its typed overloads take one event name at a time. */
const emitter = process as unknown as NodeJS.EventEmitter;

export interface ProcessGuardOptions {
  /** The kernel's interrupt. */
  onSigint: () => void;
  /** Where reports go (the running or last cell's stderr). */
  report: (text: string) => void;
  /** Where notes for the kernel's log go (default: fd 2, Jupyter's log, whatever stderr was routed to). */
  log?: (text: string) => void;
}

export class ProcessGuard {
  private readonly own = new Map<Owned, Listener>();
  private readonly realExit: typeof process.exit;
  private installed = false;

  constructor(private readonly opts: ProcessGuardOptions) {
    this.realExit = process.exit.bind(process);
    this.own.set('SIGINT', () => this.opts.onSigint());
    this.own.set('unhandledRejection', (reason) => this.reportFault('Unhandled promise rejection', reason));
  }

  /** Takes ownership: removes listeners already there, installs the kernel's, and watches for new ones. */
  install(): void {
    if (this.installed) return;
    this.installed = true;
    process.setUncaughtExceptionCaptureCallback((e) => this.reportFault('Uncaught exception', e));
    process.on('newListener', (event: string | symbol, listener: Listener) => {
      if (!isOwned(event) || this.isOwn(event, listener)) return;
      // newListener fires before the listener is added: remove it right after.
      process.nextTick(() => this.removeForeign(event, listener));
    });
    // Listed in lib/patches (node:process.exit); the kernel's own exit is this.realExit.
    installPatch(PATCHES.processExit, process, () => ((code?: number | string | null) => {
      throw new ProcessExit(code);
    }) as NodeJS.Process['exit']);
    this.check();
  }

  /** Removes foreign listeners of the owned events and puts back the kernel's (a library may have removed them all). */
  check(): void {
    for (const event of OWNED) {
      for (const l of emitter.listeners(event) as Listener[]) if (!this.isOwn(event, l)) this.removeForeign(event, l);
      const mine = this.own.get(event);
      if (mine && !emitter.listeners(event).includes(mine)) emitter.on(event, mine);
    }
  }

  /** Ends the process (the kernel's own exit: shutdown, parent gone). */
  exit(code: number): never {
    return this.realExit(code);
  }

  private isOwn(event: Owned, listener: Listener): boolean {
    return this.own.get(event) === listener;
  }

  private removeForeign(event: Owned, listener: Listener): void {
    if (!emitter.listeners(event).includes(listener)) return;
    emitter.removeListener(event, listener);
    const what = firstLine(listener);
    if (event.startsWith('SIG')) {
      // A user-visible change: tell the cell.
      this.opts.report(`tsfreeze kernel: removed a ${event} listener that a cell or library added (${what}): the kernel owns ${event}${event === 'SIGINT' ? ' (interrupt)' : ' (it ends the kernel)'}\n`);
    } else {
      (this.opts.log ?? logToFd2)(`tsfreeze kernel: removed an ${event} listener that a library added (${what}); the kernel reports these and goes on`);
    }
  }

  private reportFault(kind: string, e: unknown): void {
    try {
      this.opts.report(`${kind} (the kernel goes on): ${e instanceof Error ? (e.stack ?? String(e)) : inspect(e)}\n`);
    } catch {
      // Reporting must never throw from here: that would end the process.
    }
  }
}

function logToFd2(text: string): void {
  try {
    writeSync(2, `${text}\n`);
  } catch {
    // No log to write to.
  }
}

function isOwned(event: string | symbol): event is Owned {
  return (OWNED as readonly (string | symbol)[]).includes(event);
}

/** A short description of a listener: the first line of its source. */
function firstLine(f: Listener): string {
  const text = Function.prototype.toString.call(f).split('\n')[0];
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
