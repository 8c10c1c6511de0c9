/**
 * `tsfreeze diffkeys A B` and `%diffkeys A B`: which keys of two checkpoints (or models) match,
 * differ in shape, or are on one side only, and the renames that fix them; as text for the
 * terminal and as an HTML table for the notebook.
 */
import type { ModelKeyDiff } from '../../lib/model/diff-keys';
import type { Layout } from '../../lib/model/state-dict-of';
import { ruleCode, type RenameRule } from '../../lib/statedict/rename';
import type { Suggestion } from '../../lib/statedict/diff';
import type { KeyShapes } from '../../lib/statedict/select';
import { badge, box, code, codeLine, details, escapeHtml, shapeText, table, type Tone } from '../magics/html';

/** Options of formatKeyDiff. */
export interface FormatKeyDiffOptions {
  /** What A and B are called in the text (file names). */
  a?: string;
  b?: string;
  /** The most entries shown per list before "… and N more" (default 20). */
  limit?: number;
  /** The name the ready-to-run lines give A's state dict (default `sd`). */
  sd?: string;
  /** More ready-to-run lines for a suggestion (the magics' own), shown after its TypeScript line. */
  extraLines?: (s: Suggestion) => string[];
  /** The closing hint after the suggestions (default: loadStateDict with map: 'auto'). */
  footer?: string;
  /** Both sides' shapes: each listed key is shown with its shape. */
  shapes?: { a: KeyShapes; b: KeyShapes };
}

/** The rules a suggestion stands for, in order. */
export function suggestionRules(_d: Pick<ModelKeyDiff, 'suggestions'>, s: Suggestion): RenameRule[] {
  return s.rules ?? [s.rule];
}

/** The TypeScript line that applies a suggestion to A's state dict. */
export function suggestionCode(d: Pick<ModelKeyDiff, 'suggestions'>, s: Suggestion, sd = 'sd'): string {
  return suggestionRules(d, s).reduce((code, rule) => ruleCode(rule, code), sd);
}

const NAMING: Record<Layout, string> = { torch: "PyTorch's naming and layout", tfjs: "TF.js's naming and layout" };

/** Which naming the comparison was made in, truthfully: one line, or a warning when the sides could not be brought to one. */
export function comparedIn(d: Pick<ModelKeyDiff, 'layout' | 'sides'>): string {
  if (!d.sides) return `compared in ${NAMING[d.layout]}`;
  if (d.sides.a.layout === d.sides.b.layout) return `compared in ${NAMING[d.sides.a.layout]}`;
  return `NOT compared in one naming: A is in ${NAMING[d.sides.a.layout]}, B in ${NAMING[d.sides.b.layout]} (neither side could be converted): names will not match`;
}

/** The entries kept apart (num_batches_tracked and the like), counted by name. */
export function ignoredSummary(keys: string[]): string {
  const byName = new Map<string, number>();
  for (const k of keys) { const n = k.slice(Math.max(k.lastIndexOf('.'), k.lastIndexOf('/')) + 1); byName.set(n, (byName.get(n) ?? 0) + 1); }
  return [...byName].map(([n, c]) => `${c} × ${n}`).join(', ');
}

/** The diff as text: counts, then each list (long ones cut), then the suggestions as ready-to-run lines. */
export function formatKeyDiff(d: ModelKeyDiff, opts: FormatKeyDiffOptions = {}): string {
  const limit = opts.limit ?? 20;
  const a = opts.a ?? 'A', b = opts.b ?? 'B';
  const out: string[] = [];
  out.push(`A: ${a}${d.sides ? ` — ${d.sides.a.naming}` : ''}`);
  out.push(`B: ${b}${d.sides ? ` — ${d.sides.b.naming}` : ''}`);
  out.push(comparedIn(d));
  const ign = d.ignored ?? { a: [], b: [] };
  out.push(`${d.matched.length} matched, ${d.mismatched.length} shape-mismatched, ${d.onlyA.length} only in A, ${d.onlyB.length} only in B${ign.a.length + ign.b.length ? `; ignored apart: ${ign.a.length} in A, ${ign.b.length} in B` : ''}`);
  const list = (title: string, rows: string[]) => {
    out.push('', `${title} (${rows.length}):`);
    if (!rows.length) { out.push('  (none)'); return; }
    for (const r of rows.slice(0, limit)) out.push(`  ${r}`);
    if (rows.length > limit) out.push(`  … and ${rows.length - limit} more`);
  };
  const sh = opts.shapes;
  const withShape = (keys: string[], side: KeyShapes | undefined) => {
    if (!side) return keys;
    const w = Math.max(0, ...keys.slice(0, limit).map((k) => k.length));
    return keys.map((k) => `${k.padEnd(w)}  ${shapeText(side.get(k)?.shape ?? [])}`);
  };
  list('matched', withShape(d.matched, sh?.a));
  const width = Math.max(0, ...d.mismatched.slice(0, limit).map((m) => m.key.length));
  list('shape-mismatched (A vs B)', d.mismatched.map((m) => `${m.key.padEnd(width)}  ${shapeText(m.a)} vs ${shapeText(m.b)}`));
  list('only in A', withShape(d.onlyA, sh?.a));
  list('only in B', withShape(d.onlyB, sh?.b));
  if (ign.a.length + ign.b.length) {
    out.push('', 'ignored (no TF.js twin, never loaded; not counted above):');
    if (ign.a.length) out.push(`  A: ${ignoredSummary(ign.a)}`);
    if (ign.b.length) out.push(`  B: ${ignoredSummary(ign.b)}`);
  }
  out.push('');
  if (!d.suggestions.length) {
    const same = !d.onlyA.length && !d.onlyB.length && !d.mismatched.length;
    out.push(same ? 'every key matches: no rename needed' : 'no rename of A matches more keys of B');
    for (const n of d.notes ?? []) out.push(`  note: ${n}`);
  } else {
    out.push(`suggestions (renames of A's keys, best first):`);
    for (const s of d.suggestions) {
      out.push(`  +${s.gain} matched: ${s.description}`);
      out.push(`    ${suggestionCode(d, s, opts.sd)}`);
      for (const line of opts.extraLines?.(s) ?? []) out.push(`    ${line}`);
    }
    for (const n of d.notes ?? []) out.push(`  note: ${n}`);
    out.push(opts.footer ?? `or load with: loadStateDict(model, ${JSON.stringify(a)}, { map: 'auto' })`);
  }
  return out.join('\n');
}

/** Options of keyDiffHtml: formatKeyDiff's, with `limit` the longest list shown open. */
export type KeyDiffHtmlOptions = FormatKeyDiffOptions;

/**
 * The diff as HTML: coloured counts, one collapsible table per list (keys with their shapes;
 * lists longer than `limit` start collapsed), then each suggested rename as ready-to-run lines.
 */
export function keyDiffHtml(d: ModelKeyDiff, opts: KeyDiffHtmlOptions = {}): string {
  const limit = opts.limit ?? 20;
  const sh = opts.shapes;
  const shapeOf = (side: KeyShapes | undefined, k: string) => shapeText(side?.get(k)?.shape);
  const section = (title: string, tone: Tone, n: number, head: string[], rows: string[][]) => {
    if (!n) return '';
    const summary = `${badge(n, title, tone)}${n > limit ? ' <span style="opacity:0.7">(click to show)</span>' : ''}`;
    return details(summary, table(head, rows, { tone: () => tone }), n <= limit);
  };
  const parts: string[] = [];
  const one = !d.sides || d.sides.a.layout === d.sides.b.layout;
  const naming = (s: 'a' | 'b') => (d.sides ? ` <span style="opacity:0.75">(${escapeHtml(d.sides[s].naming)})</span>` : '');
  parts.push(`<div>A: ${code(opts.a ?? 'A')}${naming('a')}</div><div>B: ${code(opts.b ?? 'B')}${naming('b')}</div><div style="${one ? 'opacity:0.75' : 'font-weight:bold'}">${escapeHtml(comparedIn(d))}</div>`);
  const ign = d.ignored ?? { a: [], b: [] };
  parts.push(`<div style="margin:4px 0">${badge(d.matched.length, 'matched', 'good')}${badge(d.mismatched.length, 'shape-mismatched', 'warn')}${badge(d.onlyA.length, 'only in A', 'bad')}${badge(d.onlyB.length, 'only in B', 'info')}${ign.a.length + ign.b.length ? badge(ign.a.length + ign.b.length, 'ignored', 'none') : ''}</div>`);
  parts.push(section('matched', 'good', d.matched.length, ['key', 'shape'], d.matched.map((k) => [k, shapeOf(sh?.a, k)])));
  parts.push(section('shape-mismatched', 'warn', d.mismatched.length, ['key', 'shape in A', 'shape in B'], d.mismatched.map((m) => [m.key, shapeText(m.a), shapeText(m.b)])));
  parts.push(section('only in A', 'bad', d.onlyA.length, ['key', 'shape in A'], d.onlyA.map((k) => [k, shapeOf(sh?.a, k)])));
  parts.push(section('only in B', 'info', d.onlyB.length, ['key', 'shape in B'], d.onlyB.map((k) => [k, shapeOf(sh?.b, k)])));
  if (ign.a.length + ign.b.length) {
    const rows = [...ign.a.map((k) => ['A', k]), ...ign.b.map((k) => ['B', k])];
    const summary = `${badge(rows.length, 'ignored', 'none')} <span style="opacity:0.7">no TF.js twin, never loaded: ${escapeHtml([ign.a.length ? `A ${ignoredSummary(ign.a)}` : '', ign.b.length ? `B ${ignoredSummary(ign.b)}` : ''].filter(Boolean).join('; '))}</span>`;
    parts.push(details(summary, table(['side', 'key'], rows, { tone: () => 'none' }), false));
  }
  const notes = (d.notes ?? []).map((n) => `<div style="opacity:0.85">note: ${escapeHtml(n)}</div>`).join('');
  if (!d.suggestions.length) {
    const same = !d.onlyA.length && !d.onlyB.length && !d.mismatched.length;
    parts.push(box(`${same ? 'Every key matches: no rename needed.' : 'No rename of A matches more keys of B.'}${notes}`, same ? 'good' : 'warn'));
  } else {
    const items = d.suggestions.map((s, i) => {
      const lines = [suggestionCode(d, s, opts.sd), ...(opts.extraLines?.(s) ?? [])];
      return `<div style="margin:6px 0"><b>${i === 0 ? 'Suggested' : 'Or'}</b> (+${s.gain} matched): ${escapeHtml(s.description)}${lines.map(codeLine).join('')}</div>`;
    });
    const footer = opts.footer ?? `or load with: loadStateDict(model, ${JSON.stringify(opts.a ?? 'A')}, { map: 'auto' })`;
    parts.push(box(`<div><b>Renames of A's keys that match more of B</b>, best first:</div>${items.join('')}${notes}<div style="opacity:0.8">${escapeHtml(footer)}</div>`, 'info'));
  }
  return `<div class="tsfreeze-diffkeys">${parts.filter(Boolean).join('\n')}</div>`;
}
