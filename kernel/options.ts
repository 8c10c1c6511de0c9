/**
 * Option tables: how a CLI command or a magic declares its options, once. Parsing (node:util's
 * parseArgs), the help text and completion all derive from the table.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './usage-error';

/** One option, as node:util parseArgs takes it, with its help. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** One line for the help text. */
  help?: string;
  /** The value's name in the help text (`--limit N`); default VALUE. */
  value?: string;
}

/** Options by long name. */
export type OptionTable = Record<string, OptionSpec>;

/** How many positional words are allowed: exact, or [min, max] (max Infinity for any). */
export type PositionalCount = number | [number, number];

/** Parsed words. */
export interface ParsedWords {
  positionals: string[];
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
}

/** Parses `args` against `options`; unknown options or a wrong count of positionals are a UsageError (prefixed with `who` when given). */
export function parseWords(args: string[], options: OptionTable, positionals: PositionalCount | undefined, who?: string): ParsedWords {
  const say = (m: string) => new UsageError(who ? `${who}: ${m}` : m);
  let parsed;
  try {
    parsed = parseArgs({ args, options: parseArgsOptions(options), allowPositionals: true, strict: true });
  } catch (e) {
    throw say((e as Error).message);
  }
  const [min, max] = typeof positionals === 'number' ? [positionals, positionals] : positionals ?? [0, Infinity];
  const n = parsed.positionals.length;
  if (n < min || n > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw say(`expected ${want} argument${max === 1 ? '' : 's'}, got ${n}`);
  }
  return { positionals: parsed.positionals, values: parsed.values as ParsedWords['values'] };
}

/** The table as node:util parseArgs wants it (help texts left out). */
function parseArgsOptions(options: OptionTable): Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> {
  return Object.fromEntries(Object.entries(options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]));
}

/** The options part of a help text: one aligned line per option. */
export function optionLines(options: OptionTable): string[] {
  const heads = Object.entries(options).map(([name, o]) => `--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}${o.short ? `, -${o.short}` : ''}`);
  const width = Math.max(0, ...heads.map((h) => h.length));
  return Object.values(options).map((o, i) => `  ${heads[i].padEnd(width)}  ${o.help ?? ''}`.trimEnd());
}
