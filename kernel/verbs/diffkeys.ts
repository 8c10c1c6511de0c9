/** `diffkeys`: what `tsfreeze diffkeys` and `%diffkeys` share, their option table and help. */
import type { OptionTable } from '../options';

/** The options of both, one table. */
export const DIFFKEYS_OPTIONS: OptionTable = {
  limit: { type: 'string', value: 'N', help: 'list at most N keys per list (HTML: longer lists start collapsed); default 20' },
  json: { type: 'boolean', help: 'the comparison as JSON (matched, mismatched, onlyA, onlyB, suggestions, layout)' },
};

export const DIFFKEYS_SUMMARY = 'compare the keys and shapes of two checkpoints (or state dicts, or models), with the renames of A that match more of B';

/** The usage line after the command's name (`tsfreeze diffkeys` or `%diffkeys`). */
export const DIFFKEYS_ARGS = 'A B [--limit N] [--json]';

/** The --limit value: a positive integer (default 20), or an error message. */
export function diffkeysLimit(value: unknown): number | string {
  if (value === undefined) return 20;
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? n : `--limit takes a positive integer, got ${JSON.stringify(value)}`;
}
