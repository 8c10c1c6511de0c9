/**
 * What the kernel's two threads say to each other. The socket thread (socket-thread.ts) owns the
 * ZeroMQ sockets and the protocol's bookkeeping; the main thread (server.ts) runs cells. Only
 * plain data crosses: headers and contents, never routing identities or sockets.
 */
import type { MessageHeader } from '../protocol/wire';
import type { CellOutcome, ExecuteRequest } from './handler';

/** What the main thread gives the socket thread when starting it (workerData). */
export interface SocketThreadData {
  connectionFile: string;
  /** The pid whose death ends the kernel (JPY_PARENT_PID, else the parent process); 0 for none. */
  parentPid: number;
}

/** A request the main thread handles; `id` pairs it with its Done. */
export type MainRequest =
  | { kind: 'execute'; id: number; parent: MessageHeader; request: ExecuteRequest; executionCount: number }
  | { kind: 'complete'; id: number; parent: MessageHeader; code: string; cursor: number }
  | { kind: 'inspect'; id: number; parent: MessageHeader; code: string; cursor: number };

/** Socket thread → main thread. */
export type ToMain =
  | MainRequest
  /** Every socket is bound. */
  | { kind: 'ready' }
  /** Binding failed: the kernel cannot serve. */
  | { kind: 'failed'; error: string }
  /** A shutdown_request was answered: the main thread ends the process. */
  | { kind: 'shutdown'; restart: boolean }
  /** The process that started the kernel is gone. */
  | { kind: 'parent-gone' }
  /** The sockets are closed (answer to Close). */
  | { kind: 'closed' };

/** Main thread → socket thread. */
export type ToSockets =
  /** An iopub message (stream, display_data, ...) of the request whose header is `parent`. */
  | { kind: 'publish'; parent: MessageHeader; msgType: string; content: Record<string, unknown> }
  /** The result of a MainRequest: the outcome of a cell, or the content of a complete/inspect reply. */
  | { kind: 'done'; id: number; outcome: CellOutcome }
  | { kind: 'done'; id: number; content: Record<string, unknown> }
  /** The main thread can run cells (its compiler is built): kernel_info is answered from now on. */
  | { kind: 'main-ready' }
  /** Close the sockets (the process is about to exit). */
  | { kind: 'close' };
