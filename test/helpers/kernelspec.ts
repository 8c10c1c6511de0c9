/** A throwaway Jupyter prefix with the tsfreeze kernelspec installed: tests never touch the user's home. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '..', '..');
export const CLI = join(REPO, 'dist', 'kernel', 'cli.js');

export interface JupyterPrefix {
  dir: string;
  /** Environment for Jupyter's Python tools: data, config and runtime dirs inside the prefix. */
  env: NodeJS.ProcessEnv;
  /** Removes the prefix. */
  remove(): void;
}

/** Builds nothing: `npm test` builds dist/ first (pretest); a clear error if it did not. */
export function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm test does it in pretest)`);
}

/** A new temporary prefix with `tsfreeze install --prefix` done in it. */
export function jupyterPrefix(): JupyterPrefix {
  requireBuild();
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-jupyter-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_PATH: join(dir, 'share', 'jupyter'),
    JUPYTER_DATA_DIR: join(dir, 'data'),
    JUPYTER_CONFIG_DIR: join(dir, 'config'),
    JUPYTER_RUNTIME_DIR: join(dir, 'runtime'),
    IPYTHONDIR: join(dir, 'ipython'),
    JUPYTER_PLATFORM_DIRS: '1',
    PYDEVD_DISABLE_FILE_VALIDATION: '1',
  };
  execFileSync(process.execPath, [CLI, 'install', '--prefix', dir], { env, encoding: 'utf8' });
  return { dir, env, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
