/** Shared pieces for tests that talk to Jupyter kernels and Python's Jupyter tools. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** Debian's Python, which has jupyter_client, ipykernel, nbformat and nbclient (not the `python3` on PATH). */
export const PYTHON = '/usr/bin/python3';

/** Fails with a clear message when Debian's Python or one of its modules is missing. */
export function requirePython(...modules: string[]): void {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run scripts/ensure-deps.sh`);
  for (const m of modules) {
    const r = spawnSync(PYTHON, ['-c', `import ${m}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${PYTHON} cannot import ${m}: run scripts/ensure-deps.sh (${r.stderr.trim().split('\n').pop()})`);
  }
}

/** Whether process `pid` is gone (a zombie counts as gone: it runs nothing). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Polls `check` every 50 ms until it holds or `ms` pass; whether it held. */
export async function waitUntil(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}
