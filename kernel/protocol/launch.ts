/** Starting a kernel process so that it never outlives the process that started it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface LaunchOptions {
  /** The command line; `{connection_file}`, `{resource_dir}` and `{key}`-style fields are filled in from `fields`. */
  argv: string[];
  fields: Record<string, string>;
  cwd?: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Where the kernel's stdout/stderr go: kept (the last few KB, for error messages) or passed through. */
  output?: 'keep' | 'inherit';
}

export interface ExitStatus { code: number | null; signal: NodeJS.Signals | null }

/** A started kernel process, leader of its own process group. */
export interface KernelProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** The exit status once it has exited, else null. */
  exitStatus(): ExitStatus | null;
  /** Sends `signal` to the kernel's whole process group (what it started too). */
  signal(signal: NodeJS.Signals): void;
  /** Ends the process group: SIGTERM, then SIGKILL after `graceMs`; resolves once the kernel has exited. */
  kill(graceMs?: number): Promise<ExitStatus>;
  /** The end of what the kernel wrote to stdout and stderr (when output is 'keep'). */
  outputTail(): string;
}

/** Fills `{name}` fields of a kernelspec's argv (unknown fields stay, as in jupyter_client). */
export function formatKernelArgv(argv: string[], fields: Record<string, string>): string[] {
  return argv.map((a) => a.replace(/\{([A-Za-z0-9_]+)\}/g, (m, n: string) => fields[n] ?? m));
}

// Process groups of live kernels, killed when this process exits or is told to stop. The hooks
// are there only while a kernel lives, so a process without kernels keeps its usual signal behaviour.
const live = new Set<number>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const onSignal: Partial<Record<(typeof SIGNALS)[number], () => void>> = {};

function killAllNow(): void {
  for (const pid of live) {
    try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
  unhook();
}

function hook(): void {
  if (onSignal.SIGTERM) return;
  process.on('exit', killAllNow);
  for (const sig of SIGNALS) {
    const h = () => {
      const alone = process.listenerCount(sig) === 1;
      killAllNow();
      // When nobody else handles the signal, keep its default meaning: terminate with it.
      if (alone) process.kill(process.pid, sig);
    };
    onSignal[sig] = h;
    process.on(sig, h);
  }
}

function unhook(): void {
  process.removeListener('exit', killAllNow);
  for (const sig of SIGNALS) {
    const h = onSignal[sig];
    if (h) process.removeListener(sig, h);
    delete onSignal[sig];
  }
}

/** Linux: `setpriv --pdeathsig KILL` makes the kernel die even when this process is SIGKILLed. */
const SETPRIV = process.platform === 'linux' && existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : null;

/** Starts a kernel in its own process group; it is killed when this process exits, is signalled, or dies. */
export function launchKernel(opts: LaunchOptions): KernelProcess {
  const argv = formatKernelArgv(opts.argv, opts.fields);
  const command = SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...argv] : argv;
  const child = spawn(command[0], command.slice(1), {
    cwd: opts.cwd,
    // JPY_PARENT_PID: kernels (ipykernel, tsfreeze) watch it and exit when their parent is gone.
    env: { ...process.env, ...opts.env, JPY_PARENT_PID: String(process.pid) },
    detached: true,
    stdio: ['ignore', opts.output === 'inherit' ? 'inherit' : 'pipe', opts.output === 'inherit' ? 'inherit' : 'pipe'],
  });
  let tail = '';
  const keep = (b: Buffer) => { tail = (tail + b.toString('utf8')).slice(-8192); };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let status: ExitStatus | null = null;
  let spawnError: Error | null = null;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('error', (e) => { spawnError = e; status = { code: -1, signal: null }; resolve(status); });
    child.once('exit', (code, signal) => {
      status = { code, signal };
      // Its last words may still be in the pipes: wait for them briefly (a grandchild may hold them open).
      if (!child.stdout && !child.stderr) return resolve(status);
      const timer = setTimeout(() => resolve(status!), 300);
      child.once('close', () => { clearTimeout(timer); resolve(status!); });
    });
  });
  const pid = child.pid;
  if (pid !== undefined) {
    hook();
    live.add(pid);
    void exited.then(() => {
      // The group may still hold children of the kernel: end them too.
      try { process.kill(-pid, 'SIGKILL'); } catch { /* none left */ }
      live.delete(pid);
      if (live.size === 0) unhook();
    });
  }
  return {
    pid: pid ?? -1,
    child,
    exited,
    exitStatus: () => status,
    signal(sig) {
      if (pid === undefined || status) return;
      try { process.kill(-pid, sig); } catch { try { child.kill(sig); } catch { /* gone */ } }
    },
    async kill(graceMs = 3000) {
      if (status) return status;
      this.signal('SIGTERM');
      const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
      const s = await exited;
      clearTimeout(timer);
      return s;
    },
    outputTail: () => (spawnError ? `${(spawnError as Error).message}\n` : '') + tail,
  };
}

/** `code 1` / `signal SIGKILL`, for messages. */
export function describeExit(s: ExitStatus): string {
  return s.signal ? `signal ${s.signal}` : `exit code ${s.code}`;
}
