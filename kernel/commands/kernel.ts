/** `tsfreeze kernel --connection-file FILE`: the Jupyter kernel process, as Jupyter starts it from the kernelspec. */
import { loadMagics } from '../magics/load';
import { TsfreezeHandler } from '../server/handler';
import { TsfreezeServer } from '../server/server';
import { Session } from '../server/session';
import type * as zmq from 'zeromq';

/** How often the kernel checks that the process that started it is still there. */
const PARENT_POLL_MS = 1000;
/** How long after binding the kernel waits for a first request before starting the TypeScript compiler anyway. */
const WARM_UP_FALLBACK_MS = 1000;

/**
 * The server, with two start-up duties. Requests wait until every socket is bound: tslab's
 * socket loops deliver a request as soon as shell is bound, and publishing its busy status
 * while iopub is still binding throws, which lost the request (no reply ever came). And the
 * TypeScript compiler is started once the first request has been answered (a client's
 * kernel_info_request), or WARM_UP_FALLBACK_MS after binding when none came: building it blocks
 * the process for most of a second, which a client waiting for its first kernel_info_reply need
 * not wait for; a cell that comes first builds it itself (Session makes it on first use).
 */
class StartupServer extends TsfreezeServer {
  private markBound!: () => void;
  private readonly bound = new Promise<void>((resolve) => { this.markBound = resolve; });
  private warmTimer: NodeJS.Timeout | null = null;
  private warmed = false;

  override async init(): Promise<void> {
    await super.init();
    this.markBound();
    this.warmTimer = setTimeout(() => this.warmUp(), WARM_UP_FALLBACK_MS);
    this.warmTimer.unref();
  }

  override async handleShellMessage(sock: zmq.Router, ...frames: Buffer[]): Promise<void> {
    await this.bound;
    try {
      await super.handleShellMessage(sock, ...frames);
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
    }
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Exits when the client that started the kernel dies, so no kernel is left orphaned. */
export function watchParent(exit: () => void, env: NodeJS.ProcessEnv = process.env): NodeJS.Timeout {
  const startPpid = process.ppid;
  // jupyter_client sets JPY_PARENT_PID to its own pid when it launches a kernel.
  const parent = Number(env.JPY_PARENT_PID) || 0;
  const timer = setInterval(() => {
    if (process.ppid !== startPpid || (parent > 1 && !alive(parent))) exit();
  }, PARENT_POLL_MS);
  timer.unref();
  return timer;
}

/** Starts the kernel on the connection file's ports; resolves once the sockets are bound. */
export async function startKernel(connectionFile: string): Promise<TsfreezeServer> {
  loadMagics();
  const session = new Session(process.cwd());
  const handler = new TsfreezeHandler(session);
  const server = new StartupServer(handler, connectionFile);
  // SIGINT (Jupyter's interrupt) breaks a running synchronous cell through vm's breakOnSigint;
  // this handler ends a pending await.
  process.on('SIGINT', () => session.executor.interrupt());
  process.on('uncaughtException', (e) => console.error('Uncaught exception (after its cell finished):', e));
  process.on('unhandledRejection', (e) => console.error('Unhandled promise rejection (after its cell finished):', e));
  await server.init();
  watchParent(() => {
    server.streams.log('tsfreeze kernel: the process that started this kernel is gone; exiting');
    process.exit(0);
  });
  return server;
}
