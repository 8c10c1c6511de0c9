/** `tsfreeze run NOTEBOOK`: executes a notebook headless through a Jupyter kernel, writes the executed .ipynb and an HTML page. */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { KernelClient, type StartOptions } from '../protocol/client';
import { kernelSpec } from './install';
import { UsageError } from '../usage-error';
import { parseWords } from '../options';
import { RUN_OPTIONS } from './run-options';
import { describeFailure, runNotebook, type RunResult } from '../run/execute';
import { readNotebook, writeNotebook } from '../run/notebook';
import { writeNotebookHtml } from '../run/html';
import { stripAnsi } from '../run/ansi';


export interface RunArgs {
  notebook: string;
  /** Where the executed notebook goes (default: NOTEBOOK.executed.ipynb beside it). */
  output: string;
  /** Where the HTML page goes (default: NOTEBOOK.html beside it), or null for none. */
  html: string | null;
  /** Seconds each cell may run, or null for no limit. */
  timeout: number | null;
  /** An installed kernelspec's name, or null for the tsfreeze kernel. */
  kernel: string | null;
  /** A kernel command line holding {connection_file} (everything after --kernel-cmd). */
  kernelCmd: string[] | null;
}

/** Parses `tsfreeze run`'s arguments; `--kernel-cmd` takes the rest of the line. */
export function parseRunArgs(argv: string[]): RunArgs {
  const at = argv.indexOf('--kernel-cmd');
  const own = at >= 0 ? argv.slice(0, at) : argv;
  let kernelCmd = at >= 0 ? argv.slice(at + 1) : null;
  if (kernelCmd && kernelCmd[0] === '--') kernelCmd = kernelCmd.slice(1);
  const { 'kernel-cmd': _rest, ...options } = RUN_OPTIONS;
  const { positionals, values } = parseWords(own, options, undefined);
  if (positionals.length !== 1) throw new UsageError(`expected 1 argument (the notebook), got ${positionals.length}`);
  if (kernelCmd && kernelCmd.length === 0) throw new UsageError('--kernel-cmd needs the kernel\'s command line after it, e.g. --kernel-cmd python3 -m ipykernel_launcher -f {connection_file}');
  if (kernelCmd && !kernelCmd.some((a) => a.includes('{connection_file}'))) throw new UsageError('the --kernel-cmd command line must contain {connection_file}, where the kernel is told its connection file');
  if (kernelCmd && values.kernel !== undefined) throw new UsageError('give either --kernel NAME or --kernel-cmd ..., not both');
  if (values.html !== undefined && values['no-html']) throw new UsageError('give either --html FILE or --no-html, not both');
  let timeout: number | null = null;
  if (values.timeout !== undefined) {
    timeout = Number(values.timeout);
    if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got ${JSON.stringify(values.timeout)}`);
  }
  const notebook = resolve(positionals[0]);
  const stem = join(dirname(notebook), basename(notebook, extname(notebook)));
  return {
    notebook,
    output: resolve((values.output as string | undefined) ?? `${stem}.executed.ipynb`),
    html: values['no-html'] ? null : resolve((values.html as string | undefined) ?? `${stem}.html`),
    timeout,
    kernel: (values.kernel as string | undefined) ?? null,
    kernelCmd,
  };
}

/** The package's compiled CLI (dist/kernel/cli.js), which starts the tsfreeze kernel. */
export function tsfreezeCli(): string {
  // Compiled, this file is dist/kernel/commands/run.js; run from source (tsx), look in dist/ beside the sources.
  for (let dir = __dirname, i = 0; i < 5; i++, dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    // Whether it is built, kernelSpec checks.
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tsfreeze') return join(dir, 'dist', 'kernel', 'cli.js');
  }
  throw new Error(`cannot find the tsfreeze package around ${__dirname}`);
}

/** How to start the kernel the arguments ask for: a kernelspec, a command line, or the tsfreeze kernel. */
export function kernelStartOptions(a: Pick<RunArgs, 'kernel' | 'kernelCmd'>): StartOptions {
  if (a.kernel) return { kernelName: a.kernel };
  if (a.kernelCmd) return { argv: a.kernelCmd };
  const spec = kernelSpec(tsfreezeCli());
  return { argv: spec.argv as string[], interruptMode: spec.interrupt_mode as 'signal' };
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs `tsfreeze run` with parsed arguments: executes, writes both files (also after a failure), throws naming the failed cell. */
export async function runCommand(a: RunArgs, log: (line: string) => void = (l) => console.log(l), warn: (line: string) => void = (l) => console.error(l)): Promise<RunResult> {
  const nb = await readNotebook(a.notebook);
  // A signal stops the run, the outputs so far are saved, then the signal takes effect.
  const abort = new AbortController();
  let caught: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => { caught ??= sig; abort.abort(new Error(`the run was stopped by ${sig}`)); };
  for (const s of SIGNALS) process.on(s, onSignal);
  let result: RunResult;
  try {
    let client: KernelClient;
    try {
      client = await KernelClient.start({ ...kernelStartOptions(a), cwd: dirname(a.notebook) });
    } catch (e) {
      const msg = (e as Error).message;
      // The kernel's own last words can span lines; the CLI shows one line, so they go first.
      if (msg.includes('\n')) warn(msg);
      throw new Error(`could not start the kernel: ${msg.split('\n')[0]}`);
    }
    try {
      // On a terminal, one line that says which cell is running (long notebooks are otherwise silent).
      const progress = process.stderr.isTTY ? (i: number) => process.stderr.write(`\r\x1b[2Krunning cell ${i + 1} of ${nb.cells.length}`) : undefined;
      try {
        result = await runNotebook(nb, client, { cellTimeout: a.timeout ? a.timeout * 1000 : undefined, signal: abort.signal, onCell: progress });
      } finally {
        if (progress) process.stderr.write('\r\x1b[2K');
      }
    } finally {
      // A kernel still busy (timeout, abort) is not asked twice: it is ended.
      if (abort.signal.aborted) await client.close(500);
      else await client.shutdown(2000);
    }
    const failure = result.failure;
    const banner = failure ? { kind: 'error' as const, text: `This run stopped early: ${describeFailure(failure, nb.cells.length)}` } : undefined;
    await writeNotebook(a.output, result.notebook);
    // The notebook's own title (metadata.title) when it has one, else its file name.
    const title = typeof (result.notebook.metadata as { title?: unknown }).title === 'string' ? undefined : basename(a.notebook);
    if (a.html) await writeNotebookHtml(a.html, result.notebook, { title, baseDir: dirname(a.notebook), banner, failedCell: failure?.index });
    const wrote = [a.output, a.html].filter(Boolean).join(' and ');
    if (failure) {
      if (failure.traceback.length) warn(stripAnsi(failure.traceback.join('\n')));
      else if (failure.evalue.includes('\n')) warn(failure.evalue);
      log(`ran ${result.executed} code cell${result.executed === 1 ? '' : 's'} in ${(result.ms / 1000).toFixed(1)} s before stopping; wrote the outputs so far to ${wrote}`);
      throw new Error(describeFailure(failure, nb.cells.length));
    }
    log(`ran ${result.executed} code cell${result.executed === 1 ? '' : 's'} in ${(result.ms / 1000).toFixed(1)} s; wrote ${wrote}`);
  } finally {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    // Give the signal its usual effect now that the files are written.
    if (caught) process.kill(process.pid, caught);
  }
  return result;
}
