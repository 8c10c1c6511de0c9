/**
 * `tsfreeze install`: registers (or removes) the Jupyter kernelspec that starts this package's
 * kernel with this Node, with its logos, and beside it, as a classic Notebook nbextension, the
 * copy of plotly.js that plot outputs load (so that no notebook has to carry plotly.js).
 */
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { atomicWrite } from '../../lib/formats/atomic-write';
import { PLOTLY_NBEXTENSION, plotlyStandaloneJs } from '../../lib/plot/plotlyjs';
import { kernelRoot } from '../server/module-fallback';
import { PLOTLY_ENV } from './plotly-env';

export const KERNEL_NAME = 'tsfreeze';
const LOGOS = ['logo-32x32.png', 'logo-64x64.png', 'logo.svg'];

/** Where to install: the user's Jupyter data dir, the Python environment's, or under a prefix. */
export type InstallTarget = { kind: 'user' } | { kind: 'sys-prefix' } | { kind: 'prefix'; dir: string };

/** The user's Jupyter data directory, as jupyter_core computes it. */
export function userDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.JUPYTER_DATA_DIR) return env.JUPYTER_DATA_DIR;
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Jupyter');
  if (process.platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'jupyter');
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'jupyter');
}

/** sys.prefix of the active Python environment (virtualenv, conda, or the python3 on PATH). */
function sysPrefix(env: NodeJS.ProcessEnv): string {
  if (env.VIRTUAL_ENV) return env.VIRTUAL_ENV;
  if (env.CONDA_PREFIX) return env.CONDA_PREFIX;
  try {
    return execFileSync('python3', ['-c', 'import sys; print(sys.prefix)'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('--sys-prefix needs a Python environment (VIRTUAL_ENV, CONDA_PREFIX or python3 on PATH); use --user or --prefix DIR instead');
  }
}

/** The kernelspec folder for a target. */
export function kernelDir(target: InstallTarget, env: NodeJS.ProcessEnv = process.env): string {
  const kernels = (share: string) => join(share, 'kernels', KERNEL_NAME);
  switch (target.kind) {
    case 'user': return kernels(userDataDir(env));
    case 'sys-prefix': return kernels(join(sysPrefix(env), 'share', 'jupyter'));
    case 'prefix': return kernels(join(resolve(target.dir), 'share', 'jupyter'));
  }
}

/** The kernelspec: this Node running this package's CLI. */
export function kernelSpec(cli: string = resolve(__dirname, '..', 'cli.js')): Record<string, unknown> {
  if (!existsSync(cli)) throw new Error(`the kernel's entry point ${cli} does not exist: build the package first (npm run build)`);
  return {
    argv: [process.execPath, cli, 'kernel', '--connection-file', '{connection_file}'],
    display_name: 'TypeScript (tsfreeze)',
    language: 'typescript',
    interrupt_mode: 'signal',
    env: {},
    metadata: { debugger: false, tsfreeze: { node: process.version } },
  };
}

/** The nbextension file of plotly.js that goes with a kernelspec folder (share/jupyter/nbextensions/tsfreeze/...). */
export function plotlyNbextensionFile(kernelFolder: string): string {
  return join(dirname(dirname(kernelFolder)), ...PLOTLY_NBEXTENSION.split('/'));
}

/** Writes kernel.json, the logos and the plotly.js nbextension; returns the kernelspec's folder. */
export async function installKernelSpec(target: InstallTarget, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = kernelDir(target, env);
  mkdirSync(dir, { recursive: true });
  const plotly = plotlyNbextensionFile(dir);
  mkdirSync(dirname(plotly), { recursive: true });
  await atomicWrite(plotly, [Buffer.from(plotlyStandaloneJs(), 'utf8')]);
  for (const logo of LOGOS) copyFileSync(join(kernelRoot(), 'assets', logo), join(dir, logo));
  const spec = kernelSpec();
  spec.env = { ...(spec.env as Record<string, string>), [PLOTLY_ENV]: plotly };
  await atomicWrite(join(dir, 'kernel.json'), [Buffer.from(JSON.stringify(spec, null, 2) + '\n')]);
  return dir;
}

/** Removes the kernelspec folder and the plotly.js nbextension; returns the folder, or null when there was none. */
export function uninstallKernelSpec(target: InstallTarget, env: NodeJS.ProcessEnv = process.env): string | null {
  const dir = kernelDir(target, env);
  if (!existsSync(join(dir, 'kernel.json'))) return null;
  // Only this kernel's folders go: the parent folders hold other kernels and extensions.
  rmSync(dir, { recursive: true, force: true });
  rmSync(dirname(plotlyNbextensionFile(dir)), { recursive: true, force: true });
  return dir;
}
