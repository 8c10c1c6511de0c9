/** `tsfreeze kernel --connection-file FILE`: the Jupyter kernel process, as Jupyter starts it from the kernelspec. */
import { loadMagics } from '../magics/load';
import { TsfreezeHandler } from '../server/handler';
import { TsfreezeServer } from '../server/server';
import { Session } from '../server/session';

/**
 * Starts the kernel on the connection file's ports; resolves once the sockets are bound. The
 * socket thread watches the process that started the kernel and ends it when that one dies.
 */
export async function startKernel(connectionFile: string): Promise<TsfreezeServer> {
  loadMagics();
  const session = new Session(process.cwd());
  const handler = new TsfreezeHandler(session);
  const server = new TsfreezeServer(handler, connectionFile);
  await server.init();
  return server;
}
