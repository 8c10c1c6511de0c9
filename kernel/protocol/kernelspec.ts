/** Kernelspecs: finding installed Jupyter kernels (kernel.json) as Jupyter itself does. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface KernelSpec {
  /** The kernel's name: its folder's name, lower-cased. */
  name: string;
  /** The folder holding kernel.json (and logos). */
  resourceDir: string;
  /** The command line, with `{connection_file}` (and `{resource_dir}`) still to fill in. */
  argv: string[];
  display_name: string;
  language: string;
  /** How to interrupt it: a SIGINT to its process ('signal', the default) or an interrupt_request on control ('message'). */
  interrupt_mode: 'signal' | 'message';
  /** Extra environment for the kernel process (`${VAR}` already substituted from this process's environment). */
  env: Record<string, string>;
  metadata: Record<string, unknown>;
}

/** The Jupyter data folders, first match wins: JUPYTER_PATH, the user's, then the system's. */
export function jupyterDataDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = [];
  if (env.JUPYTER_PATH) dirs.push(...env.JUPYTER_PATH.split(delimiter).filter(Boolean));
  dirs.push(userDataDir(env));
  if (process.platform === 'win32') {
    if (env.PROGRAMDATA) dirs.push(join(env.PROGRAMDATA, 'jupyter'));
  } else {
    dirs.push('/usr/local/share/jupyter', '/usr/share/jupyter');
  }
  return [...new Set(dirs)];
}

function userDataDir(env: NodeJS.ProcessEnv): string {
  if (env.JUPYTER_DATA_DIR) return env.JUPYTER_DATA_DIR;
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Jupyter');
  if (process.platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'jupyter');
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'jupyter');
}

/** Every installed kernelspec by name (the first folder that has a name wins, as in Jupyter). */
export function listKernelSpecs(env: NodeJS.ProcessEnv = process.env): Map<string, KernelSpec> {
  const specs = new Map<string, KernelSpec>();
  for (const data of jupyterDataDirs(env)) {
    const kernels = join(data, 'kernels');
    let entries: string[];
    try { entries = readdirSync(kernels); } catch { continue; }
    for (const entry of entries.sort()) {
      const name = entry.toLowerCase();
      if (specs.has(name) || !existsSync(join(kernels, entry, 'kernel.json'))) continue;
      // A broken kernel.json elsewhere should not hide the others; it is reported when asked for by name.
      try { specs.set(name, readKernelSpec(join(kernels, entry), env)); } catch { /* skipped */ }
    }
  }
  return specs;
}

/** The installed kernelspec called `name`; the error lists the installed ones. */
export function findKernelSpec(name: string, env: NodeJS.ProcessEnv = process.env): KernelSpec {
  const lower = name.toLowerCase();
  for (const data of jupyterDataDirs(env)) {
    let entries: string[];
    try { entries = readdirSync(join(data, 'kernels')); } catch { continue; }
    // Jupyter lower-cases the folder's name to get the kernel's name.
    const entry = entries.sort().find((e) => e.toLowerCase() === lower && existsSync(join(data, 'kernels', e, 'kernel.json')));
    if (entry) return readKernelSpec(join(data, 'kernels', entry), env);
  }
  const known = [...listKernelSpecs(env).keys()];
  throw new Error(`no Jupyter kernel named '${name}' (installed: ${known.length ? known.join(', ') : 'none'}; searched ${jupyterDataDirs(env).map((d) => join(d, 'kernels')).join(', ')})`);
}

/** Reads `dir`/kernel.json, checking the fields a launcher needs. */
export function readKernelSpec(dir: string, env: NodeJS.ProcessEnv = process.env): KernelSpec {
  const file = join(dir, 'kernel.json');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read kernelspec ${file}: ${(e as Error).message}`);
  }
  const argv = raw.argv;
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string')) throw new Error(`kernelspec ${file}: argv must be a non-empty list of strings`);
  const mode = raw.interrupt_mode ?? 'signal';
  if (mode !== 'signal' && mode !== 'message') throw new Error(`kernelspec ${file}: interrupt_mode must be 'signal' or 'message', got ${JSON.stringify(mode)}`);
  const specEnv: Record<string, string> = {};
  if (raw.env && typeof raw.env === 'object') {
    for (const [k, v] of Object.entries(raw.env as Record<string, unknown>)) {
      // Jupyter substitutes ${VAR} in a kernelspec's env from the launcher's environment.
      if (typeof v === 'string') specEnv[k] = v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, n: string) => env[n] ?? m);
    }
  }
  const name = dir.split(/[\\/]/).filter(Boolean).pop()!.toLowerCase();
  return {
    name,
    resourceDir: dir,
    argv: argv as string[],
    display_name: typeof raw.display_name === 'string' ? raw.display_name : name,
    language: typeof raw.language === 'string' ? raw.language : '',
    interrupt_mode: mode,
    env: specEnv,
    metadata: raw.metadata && typeof raw.metadata === 'object' ? (raw.metadata as Record<string, unknown>) : {},
  };
}
