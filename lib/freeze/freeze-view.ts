/**
 * How a freeze report and a trainable summary show themselves, as text and HTML: one renderer
 * for a cell ending in `freeze(model, ...)` or `trainableSummary(model)`, and for `%freeze`,
 * `%unfreeze` and `%summary`.
 */
import type { MimeBundle } from '../display/bundle';
import { badge, box, code, count, details, escapeHtml, table, type Tone } from '../display/html';
import type { FreezeReport } from './freeze';
import { formatSummary, type TrainableSummary } from './summary';

/** Names and notes a caller (such as `%freeze`) gives the report's display. */
export interface FreezeViewOptions {
  /** What the model is called (default: "the model"). */
  model?: string;
  /** What was selected, in words (e.g. `'features.*', /^fc/`). */
  selected?: string;
  /** Lines shown under the counts. */
  notes?: string[];
}

/** A freeze or unfreeze report: what changed, BatchNorm layers switched, the trainable and frozen counts after it, the keys. */
export function freezeReportBundle(r: FreezeReport, opts: FreezeViewOptions = {}): MimeBundle {
  const freezing = r.action !== 'unfreeze';
  const n = r.keys.length;
  const head = `${freezing ? 'froze' : 'unfroze'} ${n} tensor${n === 1 ? '' : 's'} of ${opts.model ?? 'the model'}${opts.selected ? ` (${opts.selected})` : ''}`;
  const notes: string[] = [];
  if (r.unchanged.length) notes.push(`${r.unchanged.length} selected tensor${r.unchanged.length === 1 ? ' was' : 's were'} already ${freezing ? 'frozen' : 'trainable'}`);
  if (r.batchNorm.length) notes.push(`BatchNorm layers ${freezing ? 'now normalising with their frozen moving statistics' : 'back to training behaviour'}: ${r.batchNorm.map((k) => `'${k}'`).join(', ')}`);
  const t = r.totals;
  const totals = t ? `Trainable params: ${count(t.trainable)} · Frozen params: ${count(t.frozen)}${t.statistics ? ` (of which BatchNorm statistics: ${count(t.statistics)})` : ''} · Total: ${count(t.total)}` : undefined;
  const lines = [head, ...notes.map((x) => `  ${x}`), ...(totals ? [totals] : []), ...(opts.notes ?? [])];
  if (n) lines.push(`${freezing ? 'frozen' : 'unfrozen'}: ${r.keys.slice(0, 12).join(', ')}${n > 12 ? `, … and ${n - 12} more` : ''}`);
  const badges = t ? `<div style="margin-top:4px">${badge(t.trainable, 'trainable params', 'info')}${badge(t.frozen, 'frozen params', 'good')}${t.statistics ? badge(t.statistics, 'of them BatchNorm statistics', 'none') : ''}</div>` : '';
  const html = [
    box(`<b>${escapeHtml(head)}</b>${notes.map((x) => `<div>${escapeHtml(x)}</div>`).join('')}${badges}${(opts.notes ?? []).map((x) => `<div style="opacity:0.8">${escapeHtml(x)}</div>`).join('')}`, n ? 'good' : 'warn'),
    n ? details(badge(n, freezing ? 'frozen now' : 'trainable now', freezing ? 'good' : 'info'), table(['key'], r.keys.map((k) => [k])), n <= 20) : '',
  ].filter(Boolean).join('\n');
  return { data: { 'text/plain': lines.join('\n'), 'text/html': `<div class="tsfreeze-freeze">${html}</div>` }, metadata: {} };
}

/** A trainable summary: one row per layer (trainable, frozen, BatchNorm statistics) and totals; fully frozen rows tinted blue, fully trainable orange. */
export function summaryBundle(s: TrainableSummary, opts: { model?: string } = {}): MimeBundle {
  const tone = (i: number): Tone => {
    const l = s.layers[i];
    return l.trainable === 0 ? 'info' : l.frozen - l.statistics === 0 ? 'warn' : 'none';
  };
  const rows = s.layers.map((l) => [l.key || '(root)', l.className, count(l.trainable), count(l.frozen - l.statistics), l.statistics ? count(l.statistics) : '']);
  const t = s.totals;
  const name = opts.model ? code(opts.model) : 'Parameters';
  const html = `<div class="tsfreeze-summary">${box(`<b>${name}</b>: ${badge(t.total, 'params', 'none')}${badge(t.trainable, 'trainable', 'warn')}${badge(t.frozen - t.statistics, 'frozen', 'info')}${t.statistics ? badge(t.statistics, 'BatchNorm statistics', 'info') : ''}`, 'none')}${table(['layer', 'class', 'trainable', 'frozen', 'BatchNorm stats'], rows, { tone, right: [2, 3, 4] })}</div>`;
  return { data: { 'text/plain': `${opts.model ? `${opts.model}\n` : ''}${formatSummary(s)}`, 'text/html': html }, metadata: {} };
}
