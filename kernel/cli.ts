#!/usr/bin/env node
/** The `tsfreeze` command line: one subcommand per verb, each a thin wrapper over the library. */
import { parseArgs } from 'node:util';
import { CheckpointError } from '../lib/formats/errors';
import { formatBytes, formatKeysReport, keysReport } from './commands/keys';
import { convertCheckpoint } from './commands/convert';

/** A mistake in how the command was called. */
class UsageError extends Error {}

type Command = (argv: string[]) => Promise<void>;

const USAGE = `usage: tsfreeze <command> [options]

commands:
  keys FILE [--root PATH] [--json]      list a checkpoint's tensors (key, dtype, shape) and totals
  diffkeys A B [--json]                 compare two checkpoints' keys and shapes: matched, mismatched,
                                        only in A, only in B, and the renames of A that match more
  convert IN OUT [--root PATH]          rewrite a checkpoint; OUT's extension picks the format
                                        (.pth/.pt PyTorch, .safetensors, .json TF.js)`;

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
  async keys(argv) {
    const { positionals, values } = args(argv, 1, { root: { type: 'string' }, json: { type: 'boolean' } });
    const report = await keysReport(positionals[0], { root: values.root as string | undefined });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatKeysReport(report));
  },
  async diffkeys(argv) {
    const { positionals, values } = args(argv, 2, { json: { type: 'boolean' } });
    const [a, b] = positionals;
    // Loaded here, not at the top: it brings in TF.js (about 0.1 s), which keys and convert do not need.
    const { diffKeysReport, formatKeyDiff } = await import('./commands/diffkeys');
    const diff = await diffKeysReport(a, b);
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
