/**
 * The kernel's main thread: runs cells, completion and inspection for the socket thread
 * (socket-thread.ts, which owns the ZeroMQ sockets and the protocol's bookkeeping), routes
 * stdout/stderr and displays to the front end, interrupts, and ends the process. The process
 * itself (signals, uncaught errors, process.exit) is owned by the ProcessGuard.
 */
import * as tslabJupyter from 'tslab/dist/jupyter';
import type { MessageHeader } from '../protocol/wire';
import { setDisplayHost, type MimeBundle } from '../../lib/display/bundle';
import { setTrainingViewFactory } from '../../lib/train/view';
import { TsfreezeHandler, type CellOutcome, type CellOutput } from './handler';
import { StreamForwarder } from './streams';
import type { ProcessGuard } from './process-guard';
import { interruptCell, type RunningCell } from './interrupt';
import { exitPayload } from './exit-words';
import type { SocketThread } from './socket-host';
import type { MainRequest, ToMain, ToSockets } from './thread-messages';

/**
 * How long after the compiler is built (and kernel_info answered) the type declarations are
 * preloaded, if no cell came: a client that runs cells at once (tsfreeze run, nbconvert, Run All)
 * sends its first within this time after the kernel_info reply, and its cell does not wait for
 * the preload (half a second); a person typing gets a first TF.js cell that much faster.
 */
const PRELOAD_DELAY_MS = 500;
/** How long the socket thread has to flush and close its sockets before the process exits anyway. */
const CLOSE_TIMEOUT_MS = 1000;

export class TsfreezeServer {
  readonly streams: StreamForwarder;
  /** The request whose cell output goes now (or went last). */
  private outputParent: MessageHeader | null = null;
  private running: RunningCell | null = null;
  private exiting = false;

  constructor(readonly kernel: TsfreezeHandler, private readonly sockets: SocketThread, readonly guard: ProcessGuard) {
    this.streams = new StreamForwarder((name, text) => {
      if (this.outputParent) this.publish(this.outputParent, 'stream', { name, text });
      else this.streams.log(text);
    });
  }

  /**
   * Routes output, connects to the socket thread and resolves once every socket is bound.
   * The TypeScript compiler is built right away, blocking this thread for about a second; the
   * socket thread answers history and is_complete meanwhile, and kernel_info once it is built
   * (a client's first cell then runs at once, and a runner's per-cell timeout does not count
   * the kernel's start-up).
   */
  async init(): Promise<void> {
    this.streams.install();
    const display = (bundle: MimeBundle, opts?: { id?: string; update?: boolean }) => this.display(bundle, opts);
    const host = { display };
    setDisplayHost(host);
    // train() in a cell shows live progress and plots; loaded on first use (it brings in TF.js and lib/plot).
    setTrainingViewFactory((model) => {
      const { kernelTrainingView } = require('./training-view') as typeof import('./training-view');
      const { defaultPlotSession } = require('../../lib/plot/show') as typeof import('../../lib/plot/show');
      return kernelTrainingView(host, defaultPlotSession())(model);
    });
    // tslab's own display API (import * as tslab from "tslab"; tslab.display.html(...)) writes here.
    (tslabJupyter as { lastWriteDisplayData: unknown }).lastWriteDisplayData = (d: { data: Record<string, unknown>; metadata?: Record<string, unknown>; transient?: { display_id?: string } }, update: boolean) =>
      this.display({ data: d.data, metadata: d.metadata ?? {} }, { id: d.transient?.display_id, update });

    this.sockets.onMessage((m) => this.onMessage(m));
    this.sockets.onError((e) => {
      this.streams.log(`tsfreeze kernel: the socket thread died: ${String(e?.stack ?? e)}`);
      this.guard.exit(1);
    });
    setImmediate(() => this.warmUp());
    try {
      await this.sockets.ready;
    } catch (e) {
      // Nothing can reach a kernel without its sockets (the thread has closed what it bound).
      this.streams.log(`tsfreeze kernel: ${(e as Error).message}`);
      this.guard.exit(1);
    }
  }

  private onMessage(m: ToMain): void {
    switch (m.kind) {
      case 'execute':
      case 'complete':
      case 'inspect':
        void this.handle(m);
        break;
      case 'shutdown':
      case 'parent-gone':
        this.exit(0);
        break;
      default:
        break;
    }
  }

  private post(m: ToSockets): void {
    this.sockets.post(m);
  }

  private async handle(m: MainRequest): Promise<void> {
    if (m.kind === 'execute') {
      const outcome = await this.execute(m);
      this.post({ kind: 'done', id: m.id, outcome });
      return;
    }
    let content: Record<string, unknown>;
    try {
      content = m.kind === 'complete'
        ? await this.kernel.complete(m.code, m.cursor)
        : this.kernel.inspect(m.code, m.cursor);
    } catch (e) {
      this.streams.log(`tsfreeze kernel: ${m.kind} failed: ${String((e as Error)?.stack ?? e)}`);
      content = { status: 'error', ename: 'Error', evalue: String((e as Error)?.message ?? e), traceback: [] };
    }
    this.post({ kind: 'done', id: m.id, content });
  }

  private async execute(m: Extract<MainRequest, { kind: 'execute' }>): Promise<CellOutcome> {
    this.streams.flush();
    this.outputParent = m.parent;
    const cell: RunningCell = { interrupts: 0 };
    this.running = cell;
    const out: CellOutput = {
      display: (bundle, opts) => this.display(bundle, opts),
      print: (text) => this.streams.write('stdout', text),
    };
    try {
      const exit = exitPayload(m.request.code, this.kernel.session.locals);
      if (exit) return { status: 'ok', payload: [exit], userExpressions: {} };
      return await this.kernel.execute(m.request, out);
    } finally {
      this.running = null;
      this.streams.flush();
      this.guard.check();
    }
  }

  /** SIGINT: interrupts the running cell; nothing to do when none runs. */
  interrupt(): void {
    const cell = this.running;
    if (!cell) return;
    interruptCell(cell, () => this.kernel.session.executor.interrupt(), () => this.running === cell);
  }

  /** Shows a bundle in the current cell's output. */
  display(bundle: MimeBundle, opts: { id?: string; update?: boolean } = {}): void {
    if (!this.outputParent) return;
    this.streams.flush();
    const content: Record<string, unknown> = { data: bundle.data, metadata: bundle.metadata ?? {}, transient: opts.id ? { display_id: opts.id } : {} };
    this.publish(this.outputParent, opts.update ? 'update_display_data' : 'display_data', content);
  }

  private publish(parent: MessageHeader, msgType: string, content: Record<string, unknown>): void {
    this.post({ kind: 'publish', parent, msgType, content });
  }

  private warmUp(): void {
    try {
      this.kernel.session.warmUp();
    } catch (e) {
      // Not fatal: the first cell tries again and shows the error.
      this.streams.log(`tsfreeze kernel: could not start the TypeScript compiler: ${String((e as Error)?.stack ?? e)}`);
      this.sockets.post({ kind: 'main-ready' });
      return;
    }
    this.sockets.post({ kind: 'main-ready' });
    setTimeout(() => {
      try {
        this.kernel.session.preloadTypes();
      } catch (e) {
        this.streams.log(`tsfreeze kernel: could not preload type declarations: ${String((e as Error)?.stack ?? e)}`);
      }
    }, PRELOAD_DELAY_MS).unref();
  }

  /** Lets the socket thread send what is queued and close its sockets, then ends the process. */
  exit(code: number): void {
    if (this.exiting) return;
    this.exiting = true;
    this.streams.flush();
    // Exiting with open ZeroMQ sockets in a worker aborts the process: close them first. A socket
    // thread that cannot close them in time: the process goes without its exit handlers.
    const timer = setTimeout(() => process.kill(process.pid, 'SIGKILL'), CLOSE_TIMEOUT_MS);
    this.sockets.onMessage((m) => {
      if (m.kind !== 'closed') return;
      clearTimeout(timer);
      this.guard.exit(code);
    });
    this.post({ kind: 'close' });
  }
}
