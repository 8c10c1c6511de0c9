/** `tsfreeze kernel --connection-file FILE`: the Jupyter kernel process, as Jupyter starts it from the kernelspec. */
import { TsfreezeHandler } from '../server/handler';
import { TsfreezeServer } from '../server/server';
import { Session } from '../server/session';
import { existsSync } from 'node:fs';
import { checkTslab } from '../server/tslab';
import { configureDefaultPlotSession } from '../../lib/plot/show';
import { PLOTLY_NBEXTENSION } from '../../lib/plot/plotlyjs';
import { PLOTLY_ENV } from './install';

/** How often the kernel checks that the process that started it is still there. */
const PARENT_POLL_MS = 1000;
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
  checkTslab();
  // Installed with its plotly.js nbextension: every plot output loads plotly.js from the Notebook server.
  const plotly = process.env[PLOTLY_ENV];
  if (plotly && existsSync(plotly)) configureDefaultPlotSession({ plotlyUrl: PLOTLY_NBEXTENSION });
  const session = new Session(process.cwd());
  const handler = new TsfreezeHandler(session);
  const server = new TsfreezeServer(handler, connectionFile);
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
