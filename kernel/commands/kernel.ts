/** `tsfreeze kernel --connection-file FILE`: the Jupyter kernel process, as Jupyter starts it from the kernelspec. */
import { existsSync } from 'node:fs';
import { PLOTLY_ENV } from './plotly-env';
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
  const { checkTslab } = require('../server/tslab') as typeof import('../server/tslab');
  checkTslab();
  const { TsfreezeHandler } = require('../server/handler') as typeof import('../server/handler');
  const { TsfreezeServer: Server } = require('../server/server') as typeof import('../server/server');
  const { Session } = require('../server/session') as typeof import('../server/session');
  // Installed with its plotly.js nbextension: every plot output loads plotly.js from the Notebook server.
  const plotly = process.env[PLOTLY_ENV];
  if (plotly && existsSync(plotly)) {
    const { configureDefaultPlotSession } = require('../../lib/plot/show') as typeof import('../../lib/plot/show');
    configureDefaultPlotSession({ plotlyUrl: (require('../../lib/plot/plotlyjs') as typeof import('../../lib/plot/plotlyjs')).PLOTLY_NBEXTENSION });
  }
  const session = new Session(process.cwd());
  const handler = new TsfreezeHandler(session);
  server = new Server(handler, sockets, guard);
  await server.init();
  return server;
}
