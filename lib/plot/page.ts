/** A standalone HTML page of figures: plotly.js inlined once in the head, nothing fetched from the network. */
import { atomicWrite } from '../formats/atomic-write';
import { escapeHtml } from '../display/escape-html';
import { figureHtml, jsonFigure, PlotSession, type MimeBundle } from './bundle';
import type { PlotlyFigure } from './figure';
import { plotlyScriptTag } from './plotlyjs';

/** One item of a page: a figure, a bundle's figure, or HTML placed as is (a heading, a paragraph). */
export type PageItem = PlotlyFigure | MimeBundle | { html: string };

export interface HtmlPageOptions {
  /** The page's <title> and top heading (default 'tsfreeze plots'). */
  title?: string;
  /** Static SVG pictures to show when scripts do not run, by item index (default: a bundle's own image/svg+xml). */
  svg?: Array<string | undefined>;
}

/** The HTML of a self-contained page showing `items` in order. */
export function htmlPage(items: PageItem[], opts: HtmlPageOptions = {}): string {
  const title = opts.title ?? 'tsfreeze plots';
  // A private session: ids unique on this page; plotly.js is in the head, so no item carries it.
  const session = new PlotSession({ svg: false, onNote: () => undefined });
  const body = items.map((item, i) => {
    if ('html' in item && typeof item.html === 'string') return item.html;
    const figure = isBundle(item) ? item.data['application/vnd.plotly.v1+json'] : (item as PlotlyFigure);
    const svg = opts.svg?.[i] ?? (isBundle(item) ? item.data['image/svg+xml'] : undefined);
    return `<section class="tsfreeze-figure">\n${figureHtml(jsonFigure(figure), { id: session.nextId(), svg })}\n</section>`;
  });
  return [
    ...pageHead(title, 'body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#222}section.tsfreeze-figure{margin:24px 0}', true),
    '<body>',
    `<h1>${escapeHtml(title)}</h1>`,
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Writes htmlPage(items) to `path` (through a temporary file, so a reader never sees half a page). */
export async function writeHtmlPage(path: string, items: PageItem[], opts: HtmlPageOptions = {}): Promise<void> {
  await atomicWrite(path, [Buffer.from(htmlPage(items, opts), 'utf8')]);
}

function isBundle(x: PageItem): x is MimeBundle {
  const d = (x as MimeBundle).data as unknown;
  return typeof d === 'object' && d !== null && !Array.isArray(d) && 'application/vnd.plotly.v1+json' in d;
}

/** The lines of a standalone page up to </head>: title, style, and plotly.js inlined when `plotly` (about 1.5 MB). */
export function pageHead(title: string, css: string, plotly: boolean): string[] {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${css}</style>`,
    ...(plotly ? [plotlyScriptTag()] : []),
    '</head>',
  ];
}
