/** Small HTML pieces that results' displays share: escaping, tables, collapsible lists, code lines, badges, tinted boxes. */

import { escapeHtml } from './escape-html';

export { escapeHtml };

/** Background tints that read on light and dark themes alike (translucent). */
export const TINT = {
  good: 'rgba(46, 160, 67, 0.15)',
  warn: 'rgba(230, 140, 0, 0.18)',
  bad: 'rgba(220, 50, 50, 0.15)',
  info: 'rgba(50, 110, 220, 0.14)',
  none: 'transparent',
} as const;

/** Solid colours for the left edge of a tinted block and for badges. */
export const EDGE = {
  good: '#2ea043',
  warn: '#e08c00',
  bad: '#d03030',
  info: '#326edc',
  none: '#888',
} as const;

export type Tone = keyof typeof TINT;

/** A cell of `table`: text (escaped) or `{ html }` (inserted as is). */
export type Cell = string | number | { html: string };

const cellHtml = (c: Cell) => (typeof c === 'object' ? c.html : escapeHtml(String(c)));

/** Options of `table`. */
export interface TableOptions {
  /** Tint of each row, by index (default none). */
  tone?: (row: number) => Tone;
  /** Columns aligned right (numbers), by index. */
  right?: number[];
}

/** An HTML table with a header row (none when `head` is empty); text is escaped, `{ html }` cells are not. */
export function table(head: string[], rows: Cell[][], opts: TableOptions = {}): string {
  const right = new Set(opts.right ?? []);
  const align = (i: number) => `text-align:${right.has(i) ? 'right' : 'left'}`;
  const th = head.map((h, i) => `<th style="${align(i)}">${escapeHtml(h)}</th>`).join('');
  const body = rows
    .map((r, j) => {
      const tone = opts.tone?.(j) ?? 'none';
      const style = tone === 'none' ? '' : ` style="background:${TINT[tone]}"`;
      return `<tr${style}>${r.map((c, i) => `<td style="${align(i)}">${cellHtml(c)}</td>`).join('')}</tr>`;
    })
    .join('');
  return `<table class="tsfreeze-table">${head.length ? `<thead><tr>${th}</tr></thead>` : ''}<tbody>${body}</tbody></table>`;
}

/** A collapsible block: `summary` (HTML) always shown, `body` (HTML) when opened. */
export function details(summary: string, body: string, open: boolean): string {
  return `<details${open ? ' open' : ''}><summary style="cursor:pointer">${summary}</summary>${body}</details>`;
}

/** Inline code. */
export function code(text: string): string {
  return `<code>${escapeHtml(text)}</code>`;
}

/** A line of code to copy and run, in a monospace block. */
export function codeLine(text: string): string {
  return `<pre style="margin:2px 0;padding:4px 8px;background:${TINT.info};white-space:pre-wrap">${escapeHtml(text)}</pre>`;
}

/** A coloured count: `12 matched`. */
export function badge(count: number, label: string, tone: Tone): string {
  return `<span style="display:inline-block;margin:0 6px 2px 0;padding:1px 8px;border-radius:10px;border:1px solid ${EDGE[tone]};background:${TINT[tone]}"><b>${count.toLocaleString('en-US')}</b> ${escapeHtml(label)}</span>`;
}

/** A tinted block with a coloured left edge, for results and warnings (`body` is HTML). */
export function box(body: string, tone: Tone): string {
  return `<div style="margin:4px 0;padding:6px 10px;border-left:4px solid ${EDGE[tone]};background:${TINT[tone]}">${body}</div>`;
}

/** A shape as PyTorch prints it: `[4, 1, 3, 3]`. */
export function shapeText(shape: readonly number[] | undefined): string {
  return shape ? `[${shape.join(', ')}]` : '';
}

/** An integer with thousands separators. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}
