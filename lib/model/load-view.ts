/**
 * How a load report shows itself: counts, what was missing, unexpected, mismatched, the renames
 * applied, the loud warning and the suggested fix (from the report's own `suggestion`), as text
 * and as HTML. One renderer for a cell ending in `await loadStateDict(...)` and for `%load`.
 */
import type { MimeBundle } from '../display/bundle';
import { badge, box, codeLine, details, escapeHtml, shapeText, table, type Tone } from '../display/html';
import type { RenameRule } from '../statedict/rename';
import type { LoadReport } from './load';

/** Names and extra lines a caller (such as `%load`) gives the report's display. */
export interface LoadViewOptions {
  /** What the model is called (default: "the model"). */
  model?: string;
  /** What the source is called (default: its file, else "the source"). */
  source?: string;
  /** Notes shown under the counts (e.g. the variable the report was kept in). */
  notes?: string[];
  /** The fix as the caller would write it (e.g. a `%load` line); default: a loadStateDict call. */
  fix?: string;
  /** How a rename rule is written in the notes (e.g. as a `%load --rename` word); default JSON. */
  ruleText?: (rule: RenameRule) => string;
}

/** The rules of the report's suggestion, in order. */
export function suggestionRulesOf(s: NonNullable<LoadReport['suggestion']>): RenameRule[] {
  return s.rules ?? [s.rule];
}

/** The fix as a line of TypeScript: the renames already applied plus the suggestion's; or skipMismatch when only shapes failed. */
function defaultFix(r: LoadReport): string | undefined {
  if (r.suggestion) {
    const rules = [...r.renames, ...suggestionRulesOf(r.suggestion)];
    return `loadStateDict(model, source, { rename: ${JSON.stringify(rules.length === 1 ? rules[0] : rules)} })`;
  }
  if (r.error && r.mismatched.length) return 'loadStateDict(model, source, { skipMismatch: true })   // loads the rest, lists the mismatched';
  return undefined;
}

/** The report as text and HTML. */
export function loadReportBundle(r: LoadReport, opts: LoadViewOptions = {}): MimeBundle {
  const model = opts.model ?? 'the model';
  const source = opts.source ?? r.source ?? 'the source';
  const failed = r.error !== undefined;
  const total = r.loaded.length + r.missing.length + r.mismatched.length;
  const naming = r.layout === 'torch' ? "PyTorch's" : "TF.js's";
  const whose = opts.model ? `${model}'s` : "the model's";
  const head = `${failed ? 'Nothing was loaded' : `Loaded ${r.loaded.length} of ${whose} ${total} weights`} from ${source} (keys matched in ${naming} naming)`;
  const counts = `${r.loaded.length} loaded, ${r.missing.length} missing, ${r.unexpected.length} unexpected, ${r.mismatched.length} shape-mismatched${r.ignored.length ? `, ${r.ignored.length} ignored` : ''}`;
  const notes: string[] = [];
  if (failed) notes.push(r.error!.split('. ')[0]);
  if (r.naming) notes.push(`source keys: ${r.naming}`);
  if (r.renames.length) notes.push(`renames applied: ${r.renames.map(opts.ruleText ?? ((x) => JSON.stringify(x))).join(' then ')}`);
  if (r.ignored.length) notes.push(`ignored (no TF.js twin): ${r.ignored.join(', ')}`);
  notes.push(...(opts.notes ?? []));
  const fix = r.warning || failed ? opts.fix ?? defaultFix(r) : undefined;
  const why = r.suggestion ? ` (${r.suggestion.description}, +${r.suggestion.gain} keys)` : '';

  const text = [head, counts, ...notes.map((n) => `  ${n}`)];
  const list = (title: string, keys: string[]) => { if (keys.length) text.push(`${title} (${keys.length}): ${keys.slice(0, 20).join(', ')}${keys.length > 20 ? `, … and ${keys.length - 20} more` : ''}`); };
  list('missing', r.missing);
  list('unexpected', r.unexpected);
  list('shape-mismatched', r.mismatched.map((m) => `${m.key} (checkpoint [${m.got}] vs model [${m.expected}])`));
  if (r.warning) text.push(r.warning);
  if (fix) text.push(`fix: ${fix}`, ...(why ? [`  ${why.trim()}`] : []));

  const tone: Tone = failed || r.warning ? 'bad' : r.missing.length || r.unexpected.length || r.mismatched.length ? 'warn' : 'good';
  const keyList = (title: string, t: Tone, rows: string[][], cols: string[]) =>
    rows.length ? details(badge(rows.length, title, t), table(cols, rows, { tone: () => t }), rows.length <= 20) : '';
  const fixHtml = fix ? codeLine(fix) : '';
  const html = [
    box(`<b>${escapeHtml(head)}</b><div style="margin-top:4px">${badge(r.loaded.length, 'loaded', 'good')}${badge(r.missing.length, 'missing', r.missing.length ? 'warn' : 'none')}${badge(r.unexpected.length, 'unexpected', r.unexpected.length ? 'warn' : 'none')}${badge(r.mismatched.length, 'shape-mismatched', r.mismatched.length ? 'bad' : 'none')}</div>${notes.map((n) => `<div style="opacity:0.85">${escapeHtml(n)}</div>`).join('')}`, tone),
    r.warning
      ? box(`<pre style="margin:0;white-space:pre-wrap;font-weight:bold">${escapeHtml(r.warning)}</pre>${fix ? `<div>The ${r.suggestion ? 'rename' : 'change'} that fixes it${escapeHtml(why)}:</div>${fixHtml}` : ''}`, 'bad')
      : fix ? box(`<div>Likely fix${escapeHtml(why)}:</div>${fixHtml}`, 'warn') : '',
    keyList('missing (the model has them, the source does not)', 'warn', r.missing.map((k) => [k]), ['key']),
    keyList('unexpected (the source has them, the model does not)', 'warn', r.unexpected.map((k) => [k]), ['key']),
    keyList('shape-mismatched', 'bad', r.mismatched.map((m) => [m.key, shapeText(m.got), shapeText(m.expected)]), ['key', 'in the source', 'in the model']),
    r.loaded.length ? details(badge(r.loaded.length, 'loaded', 'good'), table(['key'], r.loaded.map((k) => [k]), { tone: () => 'good' }), false) : '',
  ].filter(Boolean).join('\n');
  return { data: { 'text/plain': text.join('\n'), 'text/html': `<div class="tsfreeze-load">${html}</div>` }, metadata: {} };
}
