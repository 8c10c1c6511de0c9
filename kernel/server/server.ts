/**
 * The kernel's ZeroMQ side: tslab's ZmqServer with its start-up and message handling replaced,
 * because tslab's lacks what Jupyter clients rely on: sockets bound before they are read (its
 * read loops could die at start-up), signature checks that reject instead of crashing,
 * execute_input, execute_result and error messages, history and comm_info replies,
 * stop_on_error, interrupt and shutdown on the control channel.
 */
import { setTslabDisplay, TslabZmqServer } from './tslab';
import * as zmq from 'zeromq';
import { decodeMessage, encodeMessage, replyTo, WireError, type Message } from '../protocol/wire';
import { channelUrl, readConnectionFile } from '../protocol/connection';
import { setDisplayHost, type MimeBundle } from '../../lib/display/bundle';
import { setTrainingViewFactory } from '../../lib/train/view';
import { TsfreezeHandler, type CellOutput, type ExecuteRequest } from './handler';
import { StreamForwarder } from './streams';
import type { HistoryRequest } from './history';

type Sock = zmq.Router;

/** How long after binding the kernel waits for a first request before starting the TypeScript compiler anyway. */
const WARM_UP_FALLBACK_MS = 1000;
/** How long after the compiler is built the type declarations are preloaded, if no cell came. */
const PRELOAD_DELAY_MS = 250;

export class TsfreezeServer extends TslabZmqServer {
  private shellQueue: Promise<void> = Promise.resolve();
  private received = 0;
  /** Execute requests received up to this number are aborted (after an error with stop_on_error). */
  private abortThrough = 0;
  private executionCount = 0;
  /** The execute request whose cell output goes now (or went last). */
  private outputParent: Message | null = null;
  readonly streams: StreamForwarder;
  private closed = false;
  private warmTimer: NodeJS.Timeout | null = null;
  private warmed = false;

  constructor(readonly kernel: TsfreezeHandler, configPath: string, private onExit: (code: number) => void = (c) => process.exit(c)) {
    super(kernel as never, configPath);
    this.streams = new StreamForwarder((name, text) => {
      if (this.outputParent) this.publish(this.outputParent, 'stream', { name, text });
      else this.streams.log(text);
    });
  }

  /**
   * Binds the sockets, routes stdout/stderr and displays to the front end. The TypeScript
   * compiler is built once the first request has been answered (a client's kernel_info_request),
   * or WARM_UP_FALLBACK_MS after binding when none came: building it blocks the process for most
   * of a second, which a client waiting for its first kernel_info_reply need not wait for; a cell
   * that comes first builds it itself.
   */
  override async init(): Promise<void> {
    await this.bindSockets();
    this.warmTimer = setTimeout(() => this.warmUp(), WARM_UP_FALLBACK_MS);
    this.warmTimer.unref();
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
    setTslabDisplay((d, update) => this.display({ data: d.data, metadata: d.metadata ?? {} }, { id: d.transient?.display_id, update }));
  }

  /**
   * Creates and binds the five sockets, then starts reading them, so that no request is handled
   * while iopub still binds (publishing its busy status would throw). tslab's own init starts its
   * read loops before binding: a request that arrives the moment shell is bound is read, and the
   * loop's next receive, still inside zeromq's bind, throws "Socket is blocked by a bind or unbind
   * operation", which ends the loop for good: the kernel lives on without reading that socket.
   */
  private async bindSockets(): Promise<void> {
    const info = readConnectionFile(this.configPath);
    this.connInfo = info as unknown as typeof this.connInfo;
    this.iopub = new zmq.Publisher();
    this.shell = new zmq.Router();
    this.control = new zmq.Router();
    this.stdin = new zmq.Router();
    this.hb = new zmq.Reply();
    await Promise.all([
      this.iopub.bind(channelUrl(info, 'iopub')),
      this.shell.bind(channelUrl(info, 'shell')),
      this.control.bind(channelUrl(info, 'control')),
      this.stdin.bind(channelUrl(info, 'stdin')),
      this.hb.bind(channelUrl(info, 'hb')),
    ]);
    void this.readLoop('shell', this.shell, (frames) => void this.handleShellMessage(this.shell, ...frames));
    void this.readLoop('control', this.control, (frames) => void this.handleShellMessage(this.control, ...frames));
    void this.readLoop('heartbeat', this.hb, (frames) => this.hb.send(frames));
  }

  /** Reads a socket until it is closed; one failed receive is logged and the loop goes on. */
  private async readLoop(name: string, sock: zmq.Router | zmq.Reply, handle: (frames: Buffer[]) => unknown): Promise<void> {
    while (!sock.closed) {
      let frames: Buffer[];
      try {
        frames = await sock.receive();
      } catch (e) {
        if (sock.closed) return;
        this.streams.log(`tsfreeze kernel: reading ${name}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      try {
        // The heartbeat's echo is awaited: a REP socket takes one send per receive.
        await handle(frames);
      } catch (e) {
        this.streams.log(`tsfreeze kernel: handling a ${name} message: ${(e as Error).message}`);
      }
    }
  }

  /** Shows a bundle in the current cell's output. */
  display(bundle: MimeBundle, opts: { id?: string; update?: boolean } = {}): void {
    if (!this.outputParent) return;
    this.streams.flush();
    const content: Record<string, unknown> = { data: bundle.data, metadata: bundle.metadata ?? {}, transient: opts.id ? { display_id: opts.id } : {} };
    this.publish(this.outputParent, opts.update ? 'update_display_data' : 'display_data', content);
  }

  private publish(parent: Message, msgType: string, content: unknown): void {
    this.send(this.iopub as unknown as Sock, replyTo(parent, msgType, content as Record<string, unknown>, []));
  }

  private send(sock: Sock, msg: Message<unknown>): void {
    if (this.closed) return;
    void sock.send(encodeMessage(msg as Message, this.connInfo.key)).catch((e: Error) => this.streams.log(`tsfreeze kernel: could not send ${msg.header.msg_type}: ${e.message}`));
  }

  private reply(sock: Sock, parent: Message, msgType: string, content: unknown): void {
    this.send(sock, replyTo(parent, msgType, content));
  }

  private status(parent: Message, state: 'busy' | 'idle'): void {
    this.publish(parent, 'status', { execution_state: state });
  }

  /** Every shell and control message arrives here (the read loops call it without awaiting; every socket is bound by then). */
  override async handleShellMessage(sock: Sock, ...frames: Buffer[]): Promise<void> {
    try {
      await this.dispatch(sock, frames);
    } finally {
      // setImmediate: the reply and the idle status have been handed to ZeroMQ, whose own thread sends them.
      if (!this.warmed) setImmediate(() => this.warmUp());
    }
  }

  private warmUp(): void {
    if (this.warmed) return;
    this.warmed = true;
    if (this.warmTimer) clearTimeout(this.warmTimer);
    try {
      this.kernel.session.warmUp();
    } catch (e) {
      // Not fatal: the first cell tries again and shows the error.
      this.streams.log(`tsfreeze kernel: could not start the TypeScript compiler: ${String((e as Error)?.stack ?? e)}`);
      return;
    }
    // A client that sends its first cell at once (tsfreeze run, nbconvert) has it running by then,
    // and the preload is skipped; a person typing gets a first cell half a second faster.
    setTimeout(() => {
      try {
        this.kernel.session.preloadTypes();
      } catch (e) {
        this.streams.log(`tsfreeze kernel: could not preload type declarations: ${String((e as Error)?.stack ?? e)}`);
      }
    }, PRELOAD_DELAY_MS).unref();
  }

  private async dispatch(sock: Sock, frames: Buffer[]): Promise<void> {
    let msg: Message;
    try {
      msg = decodeMessage(frames, this.connInfo.key);
    } catch (e) {
      // A message that fails its signature check is dropped: no reply, no status, no crash.
      this.streams.log(`tsfreeze kernel: rejected a message: ${e instanceof WireError ? e.message : String(e)}`);
      return;
    }
    if (sock === this.control) return this.handleControl(sock, msg);
    const seq = ++this.received;
    this.shellQueue = this.shellQueue.then(() => this.handleShell(sock, msg, seq)).catch((e) => this.streams.log(`tsfreeze kernel: ${String(e?.stack ?? e)}`));
    return this.shellQueue;
  }

  private async handleControl(sock: Sock, msg: Message): Promise<void> {
    this.status(msg, 'busy');
    try {
      switch (msg.header.msg_type) {
        case 'interrupt_request':
          this.kernel.session.executor.interrupt();
          this.reply(sock, msg, 'interrupt_reply', { status: 'ok' });
          break;
        case 'shutdown_request':
          this.reply(sock, msg, 'shutdown_reply', { status: 'ok', restart: !!msg.content.restart });
          this.status(msg, 'idle');
          return this.shutdown();
        case 'kernel_info_request':
          this.reply(sock, msg, 'kernel_info_reply', this.kernel.handleKernel());
          break;
        default:
          this.streams.log(`tsfreeze kernel: unknown control message ${msg.header.msg_type}`);
      }
    } finally {
      this.status(msg, 'idle');
    }
  }

  private async handleShell(sock: Sock, msg: Message, seq: number): Promise<void> {
    const type = msg.header.msg_type;
    this.status(msg, 'busy');
    try {
      const c = msg.content as Record<string, unknown>;
      switch (type) {
        case 'kernel_info_request':
          this.reply(sock, msg, 'kernel_info_reply', this.kernel.handleKernel());
          break;
        case 'execute_request':
          await this.execute(sock, msg, seq);
          break;
        case 'is_complete_request':
          this.reply(sock, msg, 'is_complete_reply', this.kernel.handleIsComplete({ code: String(c.code ?? '') }));
          break;
        case 'complete_request':
          this.reply(sock, msg, 'complete_reply', await this.kernel.complete(String(c.code ?? ''), Number(c.cursor_pos ?? String(c.code ?? '').length)));
          break;
        case 'inspect_request':
          this.reply(sock, msg, 'inspect_reply', this.kernel.inspect(String(c.code ?? ''), Number(c.cursor_pos ?? 0)));
          break;
        case 'history_request':
          this.reply(sock, msg, 'history_reply', this.kernel.historyReply(c as unknown as HistoryRequest));
          break;
        case 'comm_info_request':
          this.reply(sock, msg, 'comm_info_reply', { status: 'ok', comms: {} });
          break;
        case 'comm_open':
          // No comm targets: close it at once, as the protocol asks.
          this.publish(msg, 'comm_close', { comm_id: c.comm_id, data: {} });
          break;
        case 'comm_msg':
        case 'comm_close':
          break;
        case 'shutdown_request':
          this.reply(sock, msg, 'shutdown_reply', { status: 'ok', restart: !!c.restart });
          this.status(msg, 'idle');
          return this.shutdown();
        default:
          this.streams.log(`tsfreeze kernel: unknown shell message ${type}`);
      }
    } catch (e) {
      this.streams.log(`tsfreeze kernel: ${type} failed: ${String((e as Error)?.stack ?? e)}`);
    } finally {
      this.streams.flush();
      this.status(msg, 'idle');
    }
  }

  private async execute(sock: Sock, msg: Message, seq: number): Promise<void> {
    const req = msg.content as unknown as ExecuteRequest;
    const silent = !!req.silent;
    const store = req.store_history ?? !silent;
    if (seq <= this.abortThrough) {
      this.reply(sock, msg, 'execute_reply', { status: 'aborted', execution_count: this.executionCount });
      return;
    }
    if (store && !silent) this.executionCount++;
    const count = this.executionCount;
    if (!silent) this.publish(msg, 'execute_input', { code: req.code, execution_count: count });
    if (store) this.kernel.history.add(count, req.code);
    this.outputParent = msg;
    const out: CellOutput = {
      display: (bundle, opts) => this.display(bundle, opts),
      print: (text) => this.streams.write('stdout', text),
    };
    const outcome = await this.kernel.execute(req, out, count);
    this.streams.flush();
    if (outcome.status === 'ok') {
      if (outcome.result && !silent) {
        this.publish(msg, 'execute_result', { execution_count: count, data: outcome.result.data, metadata: outcome.result.metadata ?? {} });
        if (store) this.kernel.history.setOutput(count, String(outcome.result.data['text/plain'] ?? ''));
      }
      this.reply(sock, msg, 'execute_reply', { status: 'ok', execution_count: count, payload: outcome.payload, user_expressions: outcome.userExpressions });
      return;
    }
    const { ename, evalue, traceback } = outcome;
    if (!silent) this.publish(msg, 'error', { ename, evalue, traceback });
    // Abort what was queued behind the failed cell, unless the client asked to go on.
    if (req.stop_on_error !== false) this.abortThrough = this.received;
    this.reply(sock, msg, 'execute_reply', { status: 'error', execution_count: count, ename, evalue, traceback });
  }

  /** Closes sockets and the executor, then exits. */
  shutdown(): void {
    if (this.closed) return;
    this.streams.flush();
    // Let the reply and the idle status leave before the sockets close.
    setTimeout(() => {
      this.closed = true;
      try { this.close(); } catch { /* already closed */ }
      this.onExit(0);
    }, 50);
  }
}
