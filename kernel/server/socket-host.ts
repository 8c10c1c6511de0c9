/**
 * Starting the socket thread (socket-thread.ts) from the main thread. This module is light on
 * purpose: the kernel starts the thread before it loads tslab and the TypeScript compiler, so the
 * thread loads its own modules and binds the sockets meanwhile.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { parentPidOf } from './parent-watch';
import type { SocketThreadData, ToMain, ToSockets } from './thread-messages';

export class SocketThread {
  private readonly worker: Worker;
  /** Resolves once every socket is bound; rejects when binding failed or the thread died. */
  readonly ready: Promise<void>;
  private handler: ((m: ToMain) => void) | undefined;
  private readonly early: ToMain[] = [];

  constructor(connectionFile: string) {
    const data: SocketThreadData = { connectionFile, parentPid: parentPidOf() };
    // Under tsx (the sources run directly) the thread is the .ts file; built, the .js beside this one.
    this.worker = new Worker(join(__dirname, `socket-thread${__filename.endsWith('.ts') ? '.ts' : '.js'}`), { workerData: data });
    this.ready = new Promise<void>((resolve, reject) => {
      this.worker.on('message', (m: ToMain) => {
        if (m.kind === 'ready') return resolve();
        if (m.kind === 'failed') return reject(new Error(m.error));
        if (this.handler) this.handler(m);
        else this.early.push(m);
      });
      this.worker.on('error', reject);
    });
    // A failure is seen through `ready` or onError; never as an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  /** Receives what the thread asks of the main thread (messages that came before are delivered now). */
  onMessage(handler: (m: ToMain) => void): void {
    this.handler = handler;
    for (const m of this.early.splice(0)) handler(m);
  }

  /** Called if the thread dies after start-up. */
  onError(handler: (e: Error) => void): void {
    this.worker.on('error', handler);
  }

  post(m: ToSockets): void {
    this.worker.postMessage(m);
  }
}
