/**
 * stdout and stderr of the kernel process, sent to the front end as `stream` messages of the
 * cell that runs (or last ran: output of a timer keeps going to that cell, as in IPython).
 * Writes are batched for a few milliseconds so a progress bar does not become a message per write.
 */

type Write = typeof process.stdout.write;
export type StreamName = 'stdout' | 'stderr';

/** Sends batched text; `flush()` before any other output so the order stays right. */
export class StreamForwarder {
  private pending: { name: StreamName; text: string }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly original: Record<StreamName, Write>;

  constructor(private send: (name: StreamName, text: string) => void, private delayMs = 20) {
    this.original = { stdout: process.stdout.write.bind(process.stdout), stderr: process.stderr.write.bind(process.stderr) };
  }

  /** Routes process.stdout/stderr into the forwarder. */
  install(): void {
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = process[name];
      stream.write = ((chunk: string | Uint8Array, encodingOrCb?: unknown, cb?: unknown) => {
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(typeof encodingOrCb === 'string' ? (encodingOrCb as BufferEncoding) : 'utf8');
        this.write(name, text);
        const done = typeof encodingOrCb === 'function' ? encodingOrCb : cb;
        if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
        return true;
      }) as Write;
    }
  }

  /** Writes to the real stderr of the process (Jupyter's log), bypassing the front end. */
  log(text: string): void {
    this.original.stderr(text.endsWith('\n') ? text : `${text}\n`);
  }

  write(name: StreamName, text: string): void {
    if (!text) return;
    const last = this.pending[this.pending.length - 1];
    if (last && last.name === name) last.text += text;
    else this.pending.push({ name, text });
    this.timer ??= setTimeout(() => this.flush(), this.delayMs);
  }

  /** Sends what is pending now. */
  flush(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) this.send(p.name, p.text);
  }
}
