/** `tsfreeze diffkeys A B`: which keys of two checkpoints match, differ in shape, or are on one side only, and the renames that fix them. */
import { diffKeys, type ModelKeyDiff } from '../../lib/model/diff-keys';
import type { WeightSource } from '../../lib/model/sources';
import { ruleCode, type RenameRule } from '../../lib/statedict/rename';
import type { Suggestion } from '../../lib/statedict/diff';

/** Compares the keys and shapes of A and B (checkpoint paths, state dicts or models); `--json` prints the result as is. */
export async function diffKeysReport(a: WeightSource, b: WeightSource): Promise<ModelKeyDiff> {
  return diffKeys(a, b);
}

/** Options of formatKeyDiff. */
export interface FormatKeyDiffOptions {
  /** What A and B are called in the text (file names). */
  a?: string;
  b?: string;
  /** The most entries shown per list before "… and N more" (default 20). */
  limit?: number;
  /** The name the ready-to-run lines give A's state dict (default `sd`). */
  sd?: string;
}

/** The rules a suggestion stands for, in order: a key map is found after the best prefix rule, so it applies after it. */
export function suggestionRules(d: Pick<ModelKeyDiff, 'suggestions'>, s: Suggestion): RenameRule[] {
  const first = d.suggestions[0];
  if ('map' in s.rule && first && first !== s && !('map' in first.rule)) return [first.rule, s.rule];
  return [s.rule];
}

/** The TypeScript line that applies a suggestion to A's state dict. */
export function suggestionCode(d: Pick<ModelKeyDiff, 'suggestions'>, s: Suggestion, sd = 'sd'): string {
  return suggestionRules(d, s).reduce((code, rule) => ruleCode(rule, code), sd);
}

/** The diff as text: counts, then each list (long ones cut), then the suggestions as ready-to-run lines. */
export function formatKeyDiff(d: ModelKeyDiff, opts: FormatKeyDiffOptions = {}): string {
  const limit = opts.limit ?? 20;
  const a = opts.a ?? 'A', b = opts.b ?? 'B';
  const shape = (s: number[]) => `[${s.join(', ')}]`;
  const out: string[] = [];
  out.push(`A: ${a}`);
  out.push(`B: ${b}`);
  out.push(`compared in ${d.layout === 'torch' ? "PyTorch's" : "TF.js's"} naming and layout`);
  out.push(`${d.matched.length} matched, ${d.mismatched.length} shape-mismatched, ${d.onlyA.length} only in A, ${d.onlyB.length} only in B`);
  const list = (title: string, rows: string[]) => {
    out.push('', `${title} (${rows.length}):`);
    if (!rows.length) { out.push('  (none)'); return; }
    for (const r of rows.slice(0, limit)) out.push(`  ${r}`);
    if (rows.length > limit) out.push(`  … and ${rows.length - limit} more`);
  };
  list('matched', d.matched);
  const width = Math.max(0, ...d.mismatched.slice(0, limit).map((m) => m.key.length));
  list('shape-mismatched (A vs B)', d.mismatched.map((m) => `${m.key.padEnd(width)}  ${shape(m.a)} vs ${shape(m.b)}`));
  list('only in A', d.onlyA);
  list('only in B', d.onlyB);
  out.push('');
  if (!d.suggestions.length) {
    const same = !d.onlyA.length && !d.onlyB.length && !d.mismatched.length;
    out.push(same ? 'every key matches: no rename needed' : 'no rename of A matches more keys of B');
  } else {
    out.push(`suggestions (renames of A's keys, best first):`);
    for (const s of d.suggestions) {
      out.push(`  +${s.gain} matched: ${s.description}`);
      out.push(`    ${suggestionCode(d, s, opts.sd)}`);
    }
    out.push(`or load with: loadStateDict(model, ${JSON.stringify(a)}, { map: 'auto' })`);
  }
  return out.join('\n');
}
