#!/usr/bin/env node
/** The `tsfreeze` command line: one subcommand per verb, each a thin wrapper over the library. */
import { parseArgs } from 'node:util';
import { CheckpointError } from '../lib/formats/errors';
import { writableFormatsText } from '../lib/formats/formats';
import { formatBytes, formatKeysReport, keysReport } from './commands/keys';
import { convertCheckpoint } from './commands/convert';
import { UsageError } from './commands/usage-error';

type Command = (argv: string[]) => Promise<void>;

const USAGE = `usage: tsfreeze <command> [options]

commands:
  install [--user | --sys-prefix | --prefix DIR] [--uninstall]
                                        register the Jupyter kernel "TypeScript (tsfreeze)" (default --user)
  kernel --connection-file FILE         run the kernel (Jupyter starts it from the kernelspec)
  run NOTEBOOK [-o OUT.ipynb] [--html OUT.html | --no-html] [--timeout S] [--kernel NAME | --kernel-cmd CMD...]
                                        execute a notebook headless (tsfreeze kernel by default), write the executed
                                        notebook and a self-contained HTML page; a failing cell exits 1, naming it
  keys FILE [--root PATH] [--json]      list a checkpoint's tensors (key, dtype, shape) and totals
  diffkeys A B [--json]                 compare two checkpoints' keys and shapes: matched, mismatched,
                                        only in A, only in B, and the renames of A that match more
  convert IN OUT [--root PATH]          rewrite a checkpoint; OUT's extension picks the format
                                        (${writableFormatsText()})`;

function args(argv: string[], positionals: number, options: Record<string, { type: 'string' | 'boolean' }>) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (parsed.positionals.length !== positionals) throw new UsageError(`expected ${positionals} argument${positionals > 1 ? 's' : ''}, got ${parsed.positionals.length}`);
  return parsed;
}

const commands: Record<string, Command> = {
  async install(argv) {
    const { values } = args(argv, 0, { user: { type: 'boolean' }, 'sys-prefix': { type: 'boolean' }, prefix: { type: 'string' }, uninstall: { type: 'boolean' } });
    const { installKernelSpec, uninstallKernelSpec } = await import('./commands/install');
    const chosen = [values.user, values['sys-prefix'], values.prefix !== undefined].filter(Boolean).length;
    if (chosen > 1) throw new UsageError('give at most one of --user, --sys-prefix, --prefix DIR');
    const target = values.prefix !== undefined ? { kind: 'prefix' as const, dir: values.prefix as string } : values['sys-prefix'] ? { kind: 'sys-prefix' as const } : { kind: 'user' as const };
    if (values.uninstall) {
      const dir = uninstallKernelSpec(target);
      console.log(dir ? `removed the tsfreeze kernelspec from ${dir}` : 'no tsfreeze kernelspec was installed there');
    } else {
      console.log(`installed the kernelspec "TypeScript (tsfreeze)" in ${await installKernelSpec(target)}`);
    }
  },
  async kernel(argv) {
    const { values } = args(argv, 0, { 'connection-file': { type: 'string' } });
    if (!values['connection-file']) throw new UsageError('kernel needs --connection-file FILE (Jupyter passes it)');
    const { startKernel } = await import('./commands/kernel');
    await startKernel(values['connection-file'] as string);
    // The kernel runs until shutdown_request or its parent's death; main() must not set an exit code.
    await new Promise(() => undefined);
  },
  async run(argv) {
    const { parseRunArgs, runCommand } = await import('./commands/run');
    await runCommand(parseRunArgs(argv));
  },
  async keys(argv) {
    const { positionals, values } = args(argv, 1, { root: { type: 'string' }, json: { type: 'boolean' } });
    const report = await keysReport(positionals[0], { root: values.root as string | undefined });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatKeysReport(report));
  },
  async diffkeys(argv) {
    const { positionals, values } = args(argv, 2, { json: { type: 'boolean' } });
    const [a, b] = positionals;
    // Loaded here, not at the top: it brings in TF.js (about 0.1 s), which keys and convert do not need.
    const { formatKeyDiff } = await import('./commands/diffkeys');
    const { diffKeys } = await import('../lib/model/diff-keys');
    const diff = await diffKeys(a, b);
    console.log(values.json ? JSON.stringify(diff, null, 2) : formatKeyDiff(diff, { a, b }));
  },
  async convert(argv) {
    const { positionals, values } = args(argv, 2, { root: { type: 'string' } });
    const r = await convertCheckpoint(positionals[0], positionals[1], { root: values.root as string | undefined });
    console.log(`wrote ${r.to}: ${r.totals.tensors} tensors, ${formatBytes(r.totals.bytes)} (from ${r.format})`);
    for (const n of r.notes) console.log(`note: ${n}`);
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') { console.log(USAGE); return name ? 0 : 1; }
  const command = commands[name];
  try {
    if (!command) throw new UsageError(`unknown command '${name}'`);
    await command(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) { console.error(`tsfreeze ${name}: ${e.message}\n${USAGE}`); return 1; }
    if (e instanceof CheckpointError) { console.error(`tsfreeze ${name}: ${e.message}`); return 1; }
    if (process.env.TSFREEZE_DEBUG) console.error(e);
    console.error(`tsfreeze ${name}: ${(e as Error).message ?? String(e)}`.split('\n')[0]);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
