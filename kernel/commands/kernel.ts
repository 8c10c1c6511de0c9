/** `tsfreeze kernel --connection-file FILE`: the Jupyter kernel process, as Jupyter starts it from the kernelspec. */
import { SocketThread } from '../server/socket-host';
import { ProcessGuard } from '../server/process-guard';
import type { TsfreezeServer } from '../server/server';

/**
 * Starts the kernel on the connection file's ports; resolves once the sockets are bound. The
 * socket thread starts first, so that it binds the sockets while this thread loads tslab and
 * TypeScript (required here, not imported, for that reason); it also watches the process that
 * started the kernel and ends the kernel when that one dies. The process guard comes first of
 * all: an interrupt during start-up must not end the kernel.
 */
export async function startKernel(connectionFile: string): Promise<TsfreezeServer> {
  let server: TsfreezeServer | undefined;
  const guard = new ProcessGuard({ onSigint: () => server?.interrupt(), report: (text) => process.stderr.write(text) });
  guard.install();
  const sockets = new SocketThread(connectionFile);
  const { loadMagics } = require('../magics/load') as typeof import('../magics/load');
  const { TsfreezeHandler } = require('../server/handler') as typeof import('../server/handler');
  const { TsfreezeServer: Server } = require('../server/server') as typeof import('../server/server');
  const { Session } = require('../server/session') as typeof import('../server/session');
  loadMagics();
  const session = new Session(process.cwd());
  const handler = new TsfreezeHandler(session);
  server = new Server(handler, sockets, guard);
  await server.init();
  return server;
}
