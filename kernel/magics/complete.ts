/** Completing a magic's words: its own completer, else the session's variable names and file paths. */
import { readdirSync } from 'node:fs';
import { dirname, basename, join, resolve } from 'node:path';
import type { Magic, MagicContext } from './registry';

/** Session variables whose names start with `partial`. */
export function variableNames(ctx: MagicContext, partial: string): string[] {
  return Object.keys(ctx.locals).filter((n) => n.startsWith(partial)).sort();
}

/** Paths (relative to the session's directory) that start with `partial`; folders end with '/'. */
export function pathNames(ctx: MagicContext, partial: string): string[] {
  const dir = partial.endsWith('/') ? partial : dirname(partial) === '.' && !partial.startsWith('./') ? '' : dirname(partial) + '/';
  const stem = partial.endsWith('/') ? '' : basename(partial);
  try {
    return readdirSync(resolve(ctx.cwd, dir || '.'), { withFileTypes: true })
      .filter((e) => e.name.startsWith(stem) && (stem.startsWith('.') || !e.name.startsWith('.')))
      .map((e) => join(dir, e.name) + (e.isDirectory() ? '/' : ''))
      .sort();
  } catch {
    return [];
  }
}

/** Completions for a magic's word being typed: options after '-', else the magic's completer or variables and paths. */
export async function completeMagicWords(magic: Magic, words: string[], partial: string, ctx: MagicContext): Promise<string[]> {
  if (partial.startsWith('-')) return Object.keys(magic.options ?? {}).map((o) => `--${o}`).filter((o) => o.startsWith(partial));
  if (magic.complete) return magic.complete(words, partial, ctx);
  return [...variableNames(ctx, partial), ...pathNames(ctx, partial)];
}
