#!/usr/bin/env node
/** The `tsfreeze` command line: one command per verb (kernel/commands/index.ts), each a thin wrapper over the library. */
import { CheckpointError } from '../lib/formats/errors';
import { COMMANDS, findCommand, type Command } from './commands/index';
import { optionLines, parseWords } from './options';
import { UsageError } from './usage-error';

/** `tsfreeze --help`: every command with its arguments and one line. */
function usage(): string {
  const lines = ['usage: tsfreeze <command> [options]', '', 'commands:'];
  for (const c of COMMANDS) lines.push(`  ${c.name} ${c.args}`, `      ${c.summary}`);
  lines.push('', "tsfreeze <command> --help shows a command's options.");
  return lines.join('\n');
}

/** The usage line of one command. */
function usageLine(c: Command): string {
  return `usage: tsfreeze ${c.name} ${c.args}`;
}

/** `tsfreeze NAME --help`: usage, what it does, its options (from its table). */
function commandHelp(c: Command): string {
  const lines = [usageLine(c), '', c.summary];
  if (c.help) lines.push('', c.help);
  lines.push('', 'options:', ...optionLines({ ...c.options, help: { type: 'boolean', short: 'h', help: 'show this help' } }));
  return lines.join('\n');
}

/** Whether the words ask for help (`--help` or `-h` before run's `--kernel-cmd`, whose words are the kernel's). */
function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf('--kernel-cmd');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 1;
  }
  const command = findCommand(name);
  try {
    if (!command) throw new UsageError(`unknown command '${name}'`);
    if (wantsHelp(rest)) {
      console.log(commandHelp(command));
      return 0;
    }
    const words = command.ownParser ? { positionals: [], values: {} } : parseWords(rest, command.options, command.positionals);
    await command.run(words, rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`tsfreeze ${name}: ${e.message}\n${command ? `${usageLine(command)}\n(tsfreeze ${name} --help lists its options)` : usage()}`);
      return 1;
    }
    if (e instanceof CheckpointError) { console.error(`tsfreeze ${name}: ${e.message}`); return 1; }
    if (process.env.TSFREEZE_DEBUG) console.error(e);
    console.error(`tsfreeze ${name}: ${(e as Error)?.message ?? String(e)}`.split('\n')[0]);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
