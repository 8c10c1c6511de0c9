/**
 * The magic registry: each magic is one small file that calls registerMagic(). A magic parses
 * its words against its option table (kernel/options.ts; a magic and the CLI command of the same
 * name share one table), and returns a value that displays itself.
 */
import type { MimeBundle } from '../../lib/display/bundle';
import { optionLines, parseWords, type OptionSpec, type PositionalCount } from '../options';
import { UsageError } from '../usage-error';
import { splitWords, UnterminatedQuoteError } from './words';

export { UsageError };

/** One option of a magic (see kernel/options.ts). */
export type MagicOption = OptionSpec;

/** What a magic can use from the kernel session. */
export interface MagicContext {
  /** The session's variables (those the cells declared), by name. */
  readonly locals: Record<string, unknown>;
  /** Runs TypeScript in the session, as a cell would; resolves to the last expression's value. */
  run(code: string): Promise<unknown>;
  /** Declares `name` in the session with the TypeScript type `type` (e.g. `import("tsfreeze").LoadReport`) and sets it to `value`. */
  define(name: string, value: unknown, type: string): Promise<void>;
  /** Shows a MIME bundle now; with an id, a later call with `update: true` replaces it. */
  display(bundle: MimeBundle, opts?: { id?: string; update?: boolean }): void;
  /** Writes text to the cell's stdout. */
  print(text: string): void;
  /** The directory relative paths are resolved against (the notebook's). */
  readonly cwd: string;
  /** State a magic keeps across cells, by key (e.g. the last fingerprint). */
  readonly state: Map<string, unknown>;
}

/** A call of a magic, parsed. */
export interface MagicCall {
  /** The magic's name without % signs. */
  name: string;
  /** The argument line as written. */
  line: string;
  /** Positional words, after option parsing. */
  positionals: string[];
  /** Option values by long name. */
  options: Record<string, string | boolean | string[] | boolean[] | undefined>;
  /** For a cell magic (%%name), the rest of the cell. */
  body?: string;
}

/** A magic: its name, its help, and what it does. */
export interface Magic {
  name: string;
  /** 'line' for %name, 'cell' for %%name, 'both' when it is either. */
  kind: 'line' | 'cell' | 'both';
  /** One line, for %lsmagic. */
  summary: string;
  /** Usage line(s), e.g. `%diffkeys A B [--limit N]`. */
  usage: string;
  /** Longer help for %name?. */
  help?: string;
  options?: Record<string, MagicOption>;
  /** Allowed number of positional words: exact, or [min, max] (max Infinity for any). */
  positionals?: PositionalCount;
  /** With raw: true the magic gets the line unsplit (positionals is [line] or []). */
  raw?: boolean;
  /** Completions for the word being typed (`partial`) after the already typed `words`. */
  complete?(words: string[], partial: string, ctx: MagicContext): string[] | Promise<string[]>;
  run(call: MagicCall, ctx: MagicContext): unknown;
}

const magics = new Map<string, Magic>();

/** Adds a magic; a second one with the same name is an error (magics are registered once, at load). */
export function registerMagic(magic: Magic): Magic {
  if (magics.has(magic.name)) throw new Error(`magic %${magic.name} is registered twice`);
  magics.set(magic.name, magic);
  return magic;
}

/** The magic called `name`, or undefined. */
export function findMagic(name: string): Magic | undefined {
  return magics.get(name);
}

/** Every registered magic, by name. */
export function allMagics(): Magic[] {
  return [...magics.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Parses a magic's argument line against its option table; throws UsageError for unknown options or wrong counts. */
export function parseMagicCall(magic: Magic, line: string, body?: string): MagicCall {
  if (magic.raw) return { name: magic.name, line, positionals: line.trim() ? [line.trim()] : [], options: {}, body };
  let words: string[];
  try {
    words = splitWords(line);
  } catch (e) {
    if (e instanceof UnterminatedQuoteError) throw new UsageError(`%${magic.name}: ${e.message}`);
    throw e;
  }
  let parsed;
  try {
    parsed = parseWords(words, magic.options ?? {}, magic.positionals, `%${magic.name}`);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nusage: ${magic.usage}`);
  }
  return { name: magic.name, line, positionals: parsed.positionals, options: parsed.values, body };
}

/** The help text of a magic, for %name?. */
export function magicHelp(magic: Magic): string {
  const lines = [`${magic.kind === 'cell' ? '%%' : '%'}${magic.name}: ${magic.summary}`, '', `usage: ${magic.usage}`];
  if (magic.help) lines.push('', magic.help);
  if (Object.keys(magic.options ?? {}).length) lines.push('', 'options:', ...optionLines(magic.options!));
  return lines.join('\n');
}
