/**
 * One send queue per ZeroMQ socket: zeromq.js takes one send at a time per socket ("Socket is
 * busy writing" otherwise), so messages wait here, in order, and none is lost under load.
 */
import type * as zmq from 'zeromq';

type Writable = Pick<zmq.Router | zmq.Publisher | zmq.Reply, 'send' | 'closed'>;

export class SendQueue {
  private readonly waiting: Buffer[][] = [];
  private sending = false;
  private idle: Array<() => void> = [];

  constructor(private readonly sock: Writable, private readonly onError: (e: Error) => void) {}

  /** Queues a multipart message; it goes after every message queued before it. */
  push(frames: Buffer[]): void {
    this.waiting.push(frames);
    if (!this.sending) void this.drain();
  }

  /** Messages not sent yet. */
  get length(): number {
    return this.waiting.length;
  }

  /** Resolves when every queued message has been handed to ZeroMQ. */
  flushed(): Promise<void> {
    if (!this.sending && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async drain(): Promise<void> {
    this.sending = true;
    while (this.waiting.length > 0) {
      const frames = this.waiting.shift()!;
      if (this.sock.closed) continue;
      try {
        await this.sock.send(frames);
      } catch (e) {
        this.onError(e as Error);
      }
    }
    this.sending = false;
    const idle = this.idle;
    this.idle = [];
    for (const f of idle) f();
  }
}
