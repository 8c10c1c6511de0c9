/** A Jupyter client over ZeroMQ: start or connect to a kernel, run code, collect its outputs, interrupt, shut down. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Dealer, Request, Subscriber } from 'zeromq';
import { type ConnectionInfo, type Message, WireError, channelUrl, decodeMessage, encodeMessage, newMessage, readConnectionFile, writeConnectionFile } from './wire';
import { findKernelSpec, type KernelSpec } from './kernelspec';
import { type KernelProcess, describeExit, launchKernel } from './launch';

/** The kernel did not answer in time. */
export class KernelTimeoutError extends Error {
  override readonly name = 'KernelTimeoutError';
}

/** The kernel process exited (or could not start) while something was waiting for it. */
export class KernelDiedError extends Error {
  override readonly name = 'KernelDiedError';
}

export interface StartOptions {
  /** An installed kernelspec's name (see kernelspec.ts for where they are looked for). */
  kernelName?: string;
  /** Or an explicit command line holding `{connection_file}`. */
  argv?: string[];
  /** How to interrupt a kernel given by argv (kernelspecs say it themselves); default 'signal'. */
  interruptMode?: 'signal' | 'message';
  cwd?: string;
  env?: Record<string, string>;
  /** Milliseconds to wait for the kernel to answer kernel_info on shell and iopub (default 60 s). */
  startupTimeout?: number;
  /** Pass the kernel's stdout/stderr through instead of keeping their tail for error messages. */
  inheritOutput?: boolean;
}

export interface ExecuteOptions {
  /** Abort the kernel's queued requests after an error (default true). */
  stopOnError?: boolean;
  silent?: boolean;
  /** Default: !silent. */
  storeHistory?: boolean;
  /** Milliseconds to wait for the reply and the end of outputs; no limit when absent or 0. */
  timeout?: number;
  userExpressions?: Record<string, string>;
  /** Each iopub message for this request as it arrives (status and execute_input included). */
  onIopub?: (msg: Message) => void;
  /** Rejects the wait when aborted (the kernel keeps running the code: interrupt it if needed). */
  signal?: AbortSignal;
}

export interface ExecuteReplyContent {
  status: 'ok' | 'error' | 'aborted';
  execution_count: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
  [k: string]: unknown;
}

export interface ExecuteResult {
  reply: Message<ExecuteReplyContent>;
  /** The iopub messages for this request in order, except status and execute_input. */
  outputs: Message[];
}

type Pending = { resolve: (m: Message) => void; reject: (e: Error) => void };
type Watcher = (m: Message) => void;

/** Serialises sends: a zeromq 6 socket allows one send in flight. */
class SendQueue {
  private last: Promise<unknown> = Promise.resolve();
  constructor(private readonly socket: Dealer) {}
  send(frames: Buffer[]): Promise<void> {
    const next = this.last.then(() => this.socket.send(frames));
    this.last = next.catch(() => undefined);
    return next;
  }
}

export class KernelClient {
  /** The kernel's session id for messages this client sends. */
  readonly session = randomUUID();
  private readonly shell: Dealer;
  private readonly control: Dealer;
  private readonly stdin: Dealer;
  private readonly iopub = new Subscriber({ linger: 0 });
  private readonly shellQ: SendQueue;
  private readonly controlQ: SendQueue;
  private readonly replies = new Map<string, Pending>();
  private readonly watchers = new Set<Watcher>();
  private readonly iopubListeners = new Set<Watcher>();
  private closed = false;
  private died: KernelDiedError | null = null;
  private readonly diedListeners = new Set<(e: KernelDiedError) => void>();
  /** Messages that could not be decoded (bad signature, malformed), for diagnostics. */
  readonly wireErrors: WireError[] = [];

  private constructor(
    readonly connection: ConnectionInfo,
    /** The kernel process, when this client started it. */
    readonly process: KernelProcess | null,
    private readonly interruptMode: 'signal' | 'message',
    private readonly tempDir: string | null,
    /** The kernelspec it was started from, if any. */
    readonly spec: KernelSpec | null,
    /** The connection file (another client can connect with it), when known. */
    readonly connectionFile: string | null,
  ) {
    // Shell and stdin share one identity so that the kernel's input_request reaches this client.
    const routingId = `tsfreeze-${this.session}`;
    this.shell = new Dealer({ routingId, linger: 0 });
    this.stdin = new Dealer({ routingId, linger: 0 });
    this.control = new Dealer({ linger: 0 });
    this.shellQ = new SendQueue(this.shell);
    this.controlQ = new SendQueue(this.control);
    this.shell.connect(channelUrl(connection, 'shell'));
    this.control.connect(channelUrl(connection, 'control'));
    this.stdin.connect(channelUrl(connection, 'stdin'));
    this.iopub.connect(channelUrl(connection, 'iopub'));
    this.iopub.subscribe();
    void this.receive(this.shell, (m) => this.onReply(m));
    void this.receive(this.control, (m) => this.onReply(m));
    void this.receive(this.iopub, (m) => this.onIopubMessage(m));
    void this.receive(this.stdin, (m) => this.onStdin(m));
    if (process) {
      void process.exited.then((s) => {
        if (this.closed) return;
        const tail = process.outputTail().trim().split('\n').slice(-15).join('\n');
        this.fail(new KernelDiedError(`the kernel (pid ${process.pid}) exited with ${describeExit(s)}${tail ? `; its last output:\n${tail}` : ''}`));
      });
    }
  }

  /** Starts a kernel from a kernelspec or a command line and waits until it answers on shell and iopub. */
  static async start(opts: StartOptions): Promise<KernelClient> {
    if (!opts.kernelName === !opts.argv) throw new Error('start a kernel with either kernelName or argv');
    const spec = opts.kernelName ? findKernelSpec(opts.kernelName) : null;
    const argv = spec ? spec.argv : opts.argv!;
    if (!argv.some((a) => a.includes('{connection_file}'))) throw new Error(`the kernel command must contain {connection_file}: ${argv.join(' ')}`);
    const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-kernel-'));
    const file = join(dir, 'connection.json');
    let info: ConnectionInfo;
    try {
      info = await writeConnectionFile(file, spec ? { kernel_name: spec.name } : {});
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    const proc = launchKernel({
      argv,
      fields: { connection_file: file, ...(spec ? { resource_dir: spec.resourceDir } : {}) },
      cwd: opts.cwd,
      env: { ...spec?.env, ...opts.env },
      output: opts.inheritOutput ? 'inherit' : 'keep',
    });
    const client = new KernelClient(info, proc, spec?.interrupt_mode ?? opts.interruptMode ?? 'signal', dir, spec, file);
    try {
      await client.waitForReady(opts.startupTimeout ?? 60_000);
    } catch (e) {
      await client.close();
      throw e;
    }
    return client;
  }

  /** Connects to a running kernel by its connection file (or info) and waits until it answers. */
  static async connect(connection: string | ConnectionInfo, opts: { timeout?: number; interruptMode?: 'signal' | 'message' } = {}): Promise<KernelClient> {
    const info = typeof connection === 'string' ? readConnectionFile(connection) : connection;
    const client = new KernelClient(info, null, opts.interruptMode ?? 'message', null, null, typeof connection === 'string' ? connection : null);
    try {
      await client.waitForReady(opts.timeout ?? 30_000);
    } catch (e) {
      await client.close();
      throw e;
    }
    return client;
  }

  /**
   * Sends kernel_info_request until both its reply and an iopub message arrive: a SUB socket drops
   * what is published before it has joined (ZeroMQ's slow joiner), so outputs could otherwise be lost.
   */
  private async waitForReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let sawIopub = false;
    const stop = this.watchIopub(() => { sawIopub = true; });
    try {
      let gotReply = false;
      while (!(gotReply && sawIopub)) {
        const left = deadline - Date.now();
        if (left <= 0) throw new KernelTimeoutError(`the kernel did not ${gotReply ? 'publish on iopub' : 'answer kernel_info_request'} within ${Math.round(timeoutMs / 1000)} s${this.process ? `; its last output:\n${this.process.outputTail().trim().split('\n').slice(-15).join('\n')}` : ''}`);
        try {
          await this.request('shell', 'kernel_info_request', {}, Math.min(left, gotReply ? 250 : 1000));
          gotReply = true;
          // The status messages of that request may still be on their way.
          for (let i = 0; i < 5 && !sawIopub; i++) await this.sleep(50);
        } catch (e) {
          if (!(e instanceof KernelTimeoutError)) throw e;
        }
      }
    } finally {
      stop();
    }
  }

  /** The kernel's kernel_info_reply. */
  async kernelInfo(timeoutMs = 10_000): Promise<Message> {
    return this.request('shell', 'kernel_info_request', {}, timeoutMs);
  }

  /** Runs `code`; resolves with the execute_reply and the outputs once the kernel is idle again. */
  async execute(code: string, opts: ExecuteOptions = {}): Promise<ExecuteResult> {
    this.checkOpen();
    const msg = newMessage('execute_request', {
      code,
      silent: opts.silent ?? false,
      store_history: opts.storeHistory ?? !(opts.silent ?? false),
      user_expressions: opts.userExpressions ?? {},
      allow_stdin: false,
      stop_on_error: opts.stopOnError ?? true,
    }, this.session);
    const id = msg.header.msg_id;
    const outputs: Message[] = [];
    let idle!: () => void;
    const idleSeen = new Promise<void>((r) => { idle = r; });
    const stop = this.watchIopub((m) => {
      if ((m.parent_header as { msg_id?: string }).msg_id !== id) return;
      opts.onIopub?.(m);
      if (m.header.msg_type === 'status') {
        if ((m.content as { execution_state?: string }).execution_state === 'idle') idle();
      } else if (m.header.msg_type !== 'execute_input') {
        outputs.push(m);
      }
    });
    try {
      const reply = this.awaitReply(id);
      await this.shellQ.send(encodeMessage(msg, this.connection.key));
      const both = Promise.all([reply, idleSeen]).then(([r]) => r as Message<ExecuteReplyContent>);
      const r = await this.bounded(both, opts.timeout, `the kernel did not finish the code within ${(opts.timeout ?? 0) / 1000} s`, opts.signal, () => this.replies.delete(id));
      return { reply: r, outputs };
    } finally {
      stop();
    }
  }

  /** Interrupts the running code: SIGINT to the kernel's process group, or interrupt_request on control. */
  async interrupt(timeoutMs = 5000): Promise<void> {
    this.checkOpen();
    if (this.interruptMode === 'signal' && this.process) {
      this.process.signal('SIGINT');
      return;
    }
    await this.request('control', 'interrupt_request', {}, timeoutMs);
  }

  /** Asks the kernel to shut down (shutdown_request on control); a kernel this client started is killed if it lingers. */
  async shutdown(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    if (!this.died) {
      try {
        await this.request('control', 'shutdown_request', { restart: false }, timeoutMs);
        // Let it exit on its own before close() resorts to signals.
        if (this.process) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([this.process.exited, new Promise((r) => { timer = setTimeout(r, timeoutMs); })]);
          clearTimeout(timer);
        }
      } catch { /* killed below */ }
    }
    await this.close(timeoutMs);
  }

  /** Whether the kernel answers a heartbeat within `timeoutMs`. */
  async ping(timeoutMs = 2000): Promise<boolean> {
    if (this.closed || this.died) return false;
    const hb = new Request({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs });
    try {
      hb.connect(channelUrl(this.connection, 'hb'));
      const payload = Buffer.from(randomUUID());
      await hb.send(payload);
      const [echo] = await hb.receive();
      return echo.equals(payload);
    } catch {
      return false;
    } finally {
      hb.close();
    }
  }

  /** Every iopub message, whoever it is for; returns a function that stops listening. */
  onIopub(listener: (m: Message) => void): () => void {
    this.iopubListeners.add(listener);
    return () => this.iopubListeners.delete(listener);
  }

  /** Called once if the kernel process dies before close(). */
  onDied(listener: (e: KernelDiedError) => void): () => void {
    this.diedListeners.add(listener);
    return () => this.diedListeners.delete(listener);
  }

  /** Closes the sockets; a kernel this client started is ended (SIGTERM, then SIGKILL after `graceMs`) and its files removed. */
  async close(graceMs = 3000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.replies.values()) p.reject(new Error('the kernel client was closed'));
    this.replies.clear();
    for (const s of [this.shell, this.control, this.stdin, this.iopub]) s.close();
    if (this.process) await this.process.kill(graceMs);
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
  }

  private async request(channel: 'shell' | 'control', type: string, content: Record<string, unknown>, timeoutMs: number): Promise<Message> {
    this.checkOpen();
    const msg = newMessage(type, content, this.session);
    const reply = this.awaitReply(msg.header.msg_id);
    await (channel === 'shell' ? this.shellQ : this.controlQ).send(encodeMessage(msg, this.connection.key));
    return this.bounded(reply, timeoutMs, `no ${type.replace(/_request$/, '_reply')} from the kernel within ${timeoutMs / 1000} s`, undefined, () => this.replies.delete(msg.header.msg_id));
  }

  private awaitReply(id: string): Promise<Message> {
    return new Promise((resolve, reject) => {
      if (this.died) return reject(this.died);
      this.replies.set(id, { resolve, reject });
    });
  }

  /** Races `p` against a timeout, an abort signal and the kernel's death. */
  private bounded<T>(p: Promise<T>, timeoutMs: number | undefined, timeoutText: string, signal: AbortSignal | undefined, cleanup: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (f: () => void) => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); offDied(); cleanup(); f(); };
      const onAbort = () => finish(() => reject(signal!.reason instanceof Error ? signal!.reason : new Error(String(signal!.reason ?? 'aborted'))));
      const offDied = this.onDied((e) => finish(() => reject(e)));
      if (this.died) return finish(() => reject(this.died));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs) timer = setTimeout(() => finish(() => reject(new KernelTimeoutError(timeoutText))), timeoutMs);
      p.then((v) => finish(() => resolve(v)), (e) => finish(() => reject(e)));
    });
  }

  private watchIopub(w: Watcher): () => void {
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  private async receive(socket: Dealer | Subscriber, handle: (m: Message) => void): Promise<void> {
    try {
      for await (const frames of socket) {
        let m: Message;
        try {
          m = decodeMessage(frames, this.connection.key);
        } catch (e) {
          if (e instanceof WireError) { this.wireErrors.push(e); continue; }
          throw e;
        }
        handle(m);
      }
    } catch (e) {
      // Closing a socket ends its iteration with an error on some versions; anything else is a bug to show.
      if (!this.closed) this.fail(new KernelDiedError(`the connection to the kernel broke: ${(e as Error).message}`));
    }
  }

  private onReply(m: Message): void {
    const id = (m.parent_header as { msg_id?: string }).msg_id;
    const p = id ? this.replies.get(id) : undefined;
    if (!p) return;
    this.replies.delete(id!);
    p.resolve(m);
  }

  private onIopubMessage(m: Message): void {
    for (const w of [...this.watchers]) w(m);
    for (const l of [...this.iopubListeners]) l(m);
  }

  private onStdin(m: Message): void {
    // allow_stdin is false in every request this client sends; answer anyway so a kernel never hangs on input().
    if (m.header.msg_type !== 'input_request') return;
    const reply = newMessage('input_reply', { value: '' }, this.session);
    reply.parent_header = m.header;
    void this.stdin.send(encodeMessage(reply, this.connection.key)).catch(() => undefined);
  }

  private fail(e: KernelDiedError): void {
    if (this.died) return;
    this.died = e;
    for (const p of this.replies.values()) p.reject(e);
    this.replies.clear();
    for (const l of [...this.diedListeners]) l(e);
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('the kernel client is closed');
    if (this.died) throw this.died;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }
}
