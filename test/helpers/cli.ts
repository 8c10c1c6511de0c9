/** Runs the compiled `tsfreeze` command as a user would (npm test builds it first). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'kernel', 'cli.js');

/** The exit code, stdout and stderr of `tsfreeze ...args`. */
export function tsfreeze(...args: string[]): { code: number; stdout: string; stderr: string } {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm test does it)`);
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
