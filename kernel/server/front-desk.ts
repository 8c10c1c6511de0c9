/**
 * The protocol's bookkeeping, on the socket thread: shell requests in order, busy/idle status,
 * execution counts, execute_input, execute_result and error messages, aborts after an error
 * (stop_on_error), the input history, and the answers that need no cell (kernel_info,
 * is_complete, history, comm_info, shutdown, interrupt). Cells, completion and inspection go to
 * the main thread. Because this thread never runs user code, those answers come at once while
 * the main thread builds the TypeScript compiler at start-up, as ipykernel's do. kernel_info
 * waits until the main thread can run cells: a client's first cell then does not wait for the
 * compiler (a runner's per-cell timeout does not count the kernel's start-up). The TypeScript parser (is_complete)
 * is loaded with this module, while the main thread loads its own: loaded on a console's first
 * request, it took longer than the console's 1 s wait on a busy machine.
 */
import type { Message, MessageHeader } from '../protocol/wire';
import { History, type HistoryRequest } from './history';
import { isComplete } from './cell';
import type { CellOutcome, ExecuteRequest } from './handler';
import type { MainRequest } from './thread-messages';

/** What the desk does with the outside world. */
export interface DeskIO {
  /** Sends a reply on the socket the request came from. */
  reply(channel: 'shell' | 'control', parent: Message, msgType: string, content: Record<string, unknown>): void;
  publish(parent: MessageHeader, msgType: string, content: Record<string, unknown>): void;
  /** Hands a request to the main thread; the desk waits for done(). */
  toMain(request: MainRequest): void;
  /** Interrupts the running cell (SIGINT to the process, as Jupyter's signal mode does). */
  interrupt(): void;
  /** Ends the kernel after a shutdown_request was answered. */
  shutdown(restart: boolean): void;
  log(text: string): void;
}

type Channel = 'shell' | 'control';
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
/** What the main thread answers: a cell's outcome, or the content of a reply. */
type MainResult = { outcome: CellOutcome } | { content: Record<string, unknown> };

export class FrontDesk {
  readonly history = new History();
  private chain: Promise<void> = Promise.resolve();
  private received = 0;
  /** Execute requests received up to this number are aborted (after an error with stop_on_error). */
  private abortThrough = 0;
  private executionCount = 0;
  private nextId = 0;
  private readonly waiting = new Map<number, (r: MainResult) => void>();
  private readonly mainLoaded: Promise<void>;
  private setMainLoaded!: () => void;

  constructor(private readonly io: DeskIO, private readonly kernelInfo: Record<string, unknown>) {
    this.mainLoaded = new Promise((resolve) => { this.setMainLoaded = resolve; });
  }

  /** The main thread can run cells: kernel_info requests (held until now) are answered. */
  mainReady(): void {
    this.setMainLoaded();
  }

  /** A shell request: handled after every shell request before it. */
  shell(msg: Message): void {
    const seq = ++this.received;
    this.chain = this.chain.then(() => this.handleShell(msg, seq)).catch((e) => this.io.log(`tsfreeze kernel: ${String((e as Error)?.stack ?? e)}`));
  }

  /** A control request: handled at once, even while a cell runs. */
  control(msg: Message): void {
    void this.handleControl(msg).catch((e) => this.io.log(`tsfreeze kernel: ${String((e as Error)?.stack ?? e)}`));
  }

  private async handleControl(msg: Message): Promise<void> {
    this.io.publish(msg.header, 'status', { execution_state: 'busy' });
    try {
      switch (msg.header.msg_type) {
        case 'interrupt_request':
          this.io.interrupt();
          this.io.reply('control', msg, 'interrupt_reply', { status: 'ok' });
          break;
        case 'shutdown_request':
          this.shutdown('control', msg);
          return;
        case 'kernel_info_request':
          await this.mainLoaded;
          this.io.reply('control', msg, 'kernel_info_reply', this.kernelInfo);
          break;
        default:
          this.io.log(`tsfreeze kernel: unknown control message ${msg.header.msg_type}`);
      }
    } finally {
      this.io.publish(msg.header, 'status', { execution_state: 'idle' });
    }
  }

  /** The main thread's answer to request `id`. */
  done(id: number, result: MainResult): void {
    const resolve = this.waiting.get(id);
    this.waiting.delete(id);
    resolve?.(result);
  }

  private ask(request: WithoutId<MainRequest>): Promise<MainResult> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.io.toMain({ ...request, id } as MainRequest);
    });
  }

  private shutdown(channel: Channel, msg: Message): void {
    const restart = !!(msg.content as { restart?: unknown }).restart;
    this.io.reply(channel, msg, 'shutdown_reply', { status: 'ok', restart });
    this.io.publish(msg.header, 'status', { execution_state: 'idle' });
    this.io.shutdown(restart);
  }

  private async handleShell(msg: Message, seq: number): Promise<void> {
    const type = msg.header.msg_type;
    const c = msg.content as Record<string, unknown>;
    this.io.publish(msg.header, 'status', { execution_state: 'busy' });
    try {
      switch (type) {
        case 'execute_request':
          await this.execute(msg, seq);
          break;
        case 'kernel_info_request':
          await this.mainLoaded;
          this.io.reply('shell', msg, 'kernel_info_reply', this.kernelInfo);
          break;
        case 'is_complete_request':
          this.io.reply('shell', msg, 'is_complete_reply', isComplete(String(c.code ?? '')));
          break;
        case 'history_request':
          this.io.reply('shell', msg, 'history_reply', { status: 'ok', history: this.history.query(c as unknown as HistoryRequest) });
          break;
        case 'complete_request':
        case 'inspect_request': {
          const code = String(c.code ?? '');
          const cursor = Number(c.cursor_pos ?? (type === 'complete_request' ? code.length : 0));
          const r = await this.ask({ kind: type === 'complete_request' ? 'complete' : 'inspect', parent: msg.header, code, cursor });
          this.io.reply('shell', msg, type.replace('_request', '_reply'), 'content' in r ? r.content : { status: 'error', ename: 'Error', evalue: 'no answer', traceback: [] });
          break;
        }
        case 'comm_info_request':
          this.io.reply('shell', msg, 'comm_info_reply', { status: 'ok', comms: {} });
          break;
        case 'comm_open':
          // No comm targets: close it at once, as the protocol asks.
          this.io.publish(msg.header, 'comm_close', { comm_id: c.comm_id, data: {} });
          break;
        case 'comm_msg':
        case 'comm_close':
          break;
        case 'shutdown_request':
          this.shutdown('shell', msg);
          return;
        default:
          this.io.log(`tsfreeze kernel: unknown shell message ${type}`);
      }
    } catch (e) {
      this.io.log(`tsfreeze kernel: ${type} failed: ${String((e as Error)?.stack ?? e)}`);
    }
    this.io.publish(msg.header, 'status', { execution_state: 'idle' });
  }

  private async execute(msg: Message, seq: number): Promise<void> {
    const req = msg.content as unknown as ExecuteRequest;
    const silent = !!req.silent;
    const store = req.store_history ?? !silent;
    if (seq <= this.abortThrough) {
      // As ipykernel: no execution_count, no execute_input; the front end leaves the prompt empty.
      this.io.reply('shell', msg, 'execute_reply', { status: 'aborted' });
      return;
    }
    if (store && !silent) this.executionCount++;
    const count = this.executionCount;
    if (!silent) this.io.publish(msg.header, 'execute_input', { code: req.code, execution_count: count });
    if (store) this.history.add(count, req.code);
    const r = await this.ask({ kind: 'execute', parent: msg.header, request: req, executionCount: count });
    const outcome: CellOutcome = 'outcome' in r ? r.outcome : { status: 'error', ename: 'Error', evalue: 'the cell gave no outcome', traceback: [] };
    if (outcome.status === 'ok') {
      if (outcome.result && !silent) {
        this.io.publish(msg.header, 'execute_result', { execution_count: count, data: outcome.result.data, metadata: outcome.result.metadata ?? {} });
        if (store) this.history.setOutput(count, String(outcome.result.data['text/plain'] ?? ''));
      }
      this.io.reply('shell', msg, 'execute_reply', { status: 'ok', execution_count: count, payload: outcome.payload, user_expressions: outcome.userExpressions });
      return;
    }
    const { ename, evalue, traceback } = outcome;
    if (!silent) this.io.publish(msg.header, 'error', { ename, evalue, traceback });
    // Abort what was queued behind the failed cell, unless the client asked to go on.
    if (req.stop_on_error !== false) this.abortThrough = this.received;
    this.io.reply('shell', msg, 'execute_reply', { status: 'error', execution_count: count, ename, evalue, traceback });
  }
}
