/**
 * Debian's classic Jupyter Notebook 6.4 server for the client tests: on 127.0.0.1, a free port
 * and a random token, its Jupyter dirs in a temporary prefix with the tsfreeze kernelspec
 * installed (see kernelspec.ts), serving a temporary folder outside the repository. And the
 * headless Chromium that drives it, with the flags the tests are specified with.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { jupyterPrefix, type JupyterPrefix } from './kernelspec';

/** Debian's notebook server (package jupyter-notebook). */
export const NOTEBOOK_BIN = '/usr/bin/jupyter-notebook';

/** The flags the client tests start Chromium with (a fresh temporary profile is Playwright's own). */
export const CLIENT_CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface NotebookServer {
  /** http://127.0.0.1:PORT/ */
  url: string;
  token: string;
  /** The folder it serves (notebooks live here): a temporary folder, not in the repository. */
  root: string;
  prefix: JupyterPrefix;
  /** What the server wrote to stderr so far (its log). */
  log(): string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its folder and prefix. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts the server and waits until its API answers. */
export async function startNotebookServer(): Promise<NotebookServer> {
  if (!existsSync(NOTEBOOK_BIN)) throw new Error(`${NOTEBOOK_BIN} is missing: run scripts/ensure-deps.sh (Debian package jupyter-notebook)`);
  const prefix = jupyterPrefix();
  const root = mkdtempSync(join(tmpdir(), 'tsfreeze-notebooks-'));
  const token = randomBytes(16).toString('hex');
  const port = await freePort();
  const args = ['--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0', `--NotebookApp.token=${token}`, `--notebook-dir=${root}`, '--NotebookApp.shutdown_no_activity_timeout=0'];
  if (process.getuid?.() === 0) args.push('--allow-root');
  let log = '';
  const child: ChildProcess = spawn(NOTEBOOK_BIN, args, { env: prefix.env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => { log += String(d); });
  child.stderr!.on('data', (d) => { log += String(d); });
  const url = `http://127.0.0.1:${port}/`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const gone = await new Promise<boolean>((r) => { const t = setTimeout(() => r(false), 5000); child.once('exit', () => { clearTimeout(t); r(true); }); });
      if (!gone) child.kill('SIGKILL');
    }
    rmSync(root, { recursive: true, force: true });
    prefix.remove();
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) { await stop(); throw new Error(`the notebook server exited with ${child.exitCode}:\n${log}`); }
    try {
      const r = await fetch(`${url}api/status?token=${token}`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { await stop(); throw new Error(`the notebook server did not answer within 30 s:\n${log}`); }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, token, root, prefix, log: () => log, stop };
}

/** Debian's Chromium for the client tests; playwright's signal handlers off (the test runner owns signals). */
export async function launchClientChromium(): Promise<Browser> {
  const executablePath = process.env.TSFREEZE_CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`the client tests need Chromium at ${executablePath}: run scripts/ensure-deps.sh (Debian package chromium)`);
  return chromium.launch({ executablePath, headless: true, args: CLIENT_CHROMIUM_ARGS, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
}
