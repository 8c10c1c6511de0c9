/** An executed notebook as one self-contained HTML page: every output shown offline, plotly.js inlined once. */
import { existsSync, readFileSync } from 'node:fs';
import { extname, isAbsolute, join } from 'node:path';
import { atomicWrite } from '../../lib/formats/atomic-write';
import { figureHtml, jsonFigure, PLOTLY_MIME } from '../../lib/plot/bundle';
import { pageHead } from '../../lib/plot/page';
import type { PlotlyFigure } from '../../lib/plot/figure';
import { ansiToHtml } from './ansi';
import { escapeHtml, renderMarkdown } from './markdown';
import { text, type Cell, type Notebook, type Output } from './notebook';
import { JSON_MIME } from './outputs';

export interface HtmlOptions {
  /** The page's title (default: the notebook's metadata title, else 'Notebook'). */
  title?: string;
  /** The notebook's folder: relative image paths in markdown are inlined from it. */
  baseDir?: string;
  /** A line shown at the top, e.g. why the run stopped. */
  banner?: { text: string; kind: 'error' | 'info' };
  /** 0-based index of the cell to mark as the one that failed. */
  failedCell?: number;
}

const IMAGES: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/gif': 'gif', 'image/webp': 'webp' };
const FILE_IMAGES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp', '.svg': 'image/svg+xml' };

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:0;background:#fff}
main{max-width:1100px;margin:0 auto;padding:16px 24px 64px}
.cell{margin:14px 0;display:grid;grid-template-columns:4.5em minmax(0,1fr);column-gap:8px}
.cell>*{grid-column:2}.prompt{grid-column:1;text-align:right;font:12px/1.6 ui-monospace,monospace;color:#6e7781;padding-top:6px}
.input pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:4px;padding:8px 10px;margin:0}
pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
.output{margin:6px 0;overflow-x:auto}.output pre{margin:0;padding:2px 10px}
.stderr{background:#fff5f5}.error pre{background:#fff0f0;border-left:3px solid #cf222e}
.failed .input pre{border-color:#cf222e}
.banner{padding:10px 14px;border-radius:4px;margin:12px 0;font-size:14px}.banner.error{background:#ffebe9;border:1px solid #ff8182}.banner.info{background:#ddf4ff;border:1px solid #54aeff}
.markdown{line-height:1.55}.markdown pre{background:#f6f8fa;padding:8px 10px;border-radius:4px}
.markdown code{background:#f6f8fa;padding:0 3px;border-radius:3px}.markdown pre code{padding:0}
.markdown table,.output table{border-collapse:collapse}.markdown th,.markdown td{border:1px solid #d0d7de;padding:4px 8px}
.markdown blockquote{border-left:3px solid #d0d7de;margin-left:0;padding-left:12px;color:#57606a}
img{max-width:100%}.math{font-family:ui-monospace,monospace}
`;

/** The HTML page of `nb`. */
export function notebookHtml(nb: Notebook, opts: HtmlOptions = {}): string {
  const meta = nb.metadata as { title?: unknown };
  const title = opts.title ?? (typeof meta.title === 'string' ? meta.title : 'Notebook');
  const ctx = { plotIds: 0, hasPlotly: false, baseDir: opts.baseDir };
  const cells = nb.cells.map((c, i) => renderCell(c, i === opts.failedCell, ctx));
  return [
    // Only pages with a Plotly figure carry plotly.js; figures wait for it in a queue.
    ...pageHead(title, CSS, ctx.hasPlotly),
    '<body>',
    '<main>',
    ...(opts.banner ? [`<div class="banner ${opts.banner.kind}">${escapeHtml(opts.banner.text)}</div>`] : []),
    ...cells,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Writes notebookHtml(nb) to `path` atomically. */
export async function writeNotebookHtml(path: string, nb: Notebook, opts: HtmlOptions = {}): Promise<void> {
  await atomicWrite(path, [Buffer.from(notebookHtml(nb, opts), 'utf8')]);
}

interface Ctx { plotIds: number; hasPlotly: boolean; baseDir?: string }

function renderCell(cell: Cell, failed: boolean, ctx: Ctx): string {
  const src = text(cell.source);
  if (cell.cell_type === 'markdown') {
    const attachments = cell.attachments ?? {};
    const resolveImage = (s: string) => imageSource(s, attachments, ctx.baseDir);
    return `<div class="cell markdown">${renderMarkdown(src, { resolveImage })}</div>`;
  }
  if (cell.cell_type === 'raw') return src.trim() ? `<div class="cell raw"><pre>${escapeHtml(src)}</pre></div>` : '';
  const n = cell.execution_count ?? ' ';
  const outputs = cell.outputs.map((o) => renderOutput(o, ctx)).filter(Boolean);
  return [
    `<div class="cell code${failed ? ' failed' : ''}">`,
    `<div class="prompt">In&nbsp;[${n}]:</div>`,
    `<div class="input"><pre><code>${escapeHtml(src)}</code></pre></div>`,
    ...outputs,
    '</div>',
  ].join('\n');
}

function renderOutput(o: Output, ctx: Ctx): string {
  switch (o.output_type) {
    case 'stream':
      return `<div class="output stream ${o.name}"><pre>${ansiToHtml(text(o.text))}</pre></div>`;
    case 'error': {
      const tb = o.traceback.length ? o.traceback.join('\n') : `${o.ename}: ${o.evalue}`;
      return `<div class="output error"><pre>${ansiToHtml(tb)}</pre></div>`;
    }
    case 'execute_result': {
      const body = renderBundle(o.data, o.metadata, ctx);
      return body ? `<div class="prompt">Out[${o.execution_count ?? ' '}]:</div>\n<div class="output result">${body}</div>` : '';
    }
    case 'display_data': {
      const body = renderBundle(o.data, o.metadata, ctx);
      return body ? `<div class="output display">${body}</div>` : '';
    }
    default:
      return '';
  }
}

/** The richest representation of a bundle this page can show, as Jupyter front ends choose. */
function renderBundle(data: Record<string, unknown>, metadata: Record<string, unknown>, ctx: Ctx): string {
  const str = (m: string) => (typeof data[m] === 'string' ? (data[m] as string) : Array.isArray(data[m]) ? (data[m] as string[]).join('') : undefined);
  if (data[PLOTLY_MIME] && typeof data[PLOTLY_MIME] === 'object') {
    try {
      const figure = jsonFigure(data[PLOTLY_MIME] as PlotlyFigure);
      ctx.hasPlotly = true;
      ctx.plotIds += 1;
      return figureHtml(figure, { id: `nb-plot-${ctx.plotIds}`, svg: str('image/svg+xml') });
    } catch { /* not a figure: use the next representation */ }
  }
  const html = str('text/html');
  if (html !== undefined) return html;
  const svg = str('image/svg+xml');
  if (svg !== undefined) return `<img src="data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}"${size(metadata, 'image/svg+xml')} alt="SVG image">`;
  for (const [mime, kind] of Object.entries(IMAGES)) {
    const b64 = str(mime);
    if (b64 !== undefined) return `<img src="data:image/${kind};base64,${b64.replace(/\s+/g, '')}"${size(metadata, mime)} alt="${kind} image">`;
  }
  const md = str('text/markdown');
  if (md !== undefined) return `<div class="markdown">${renderMarkdown(md)}</div>`;
  const latex = str('text/latex');
  if (latex !== undefined) return `<pre class="math">${escapeHtml(latex)}</pre>`;
  for (const [mime, v] of Object.entries(data)) {
    if (JSON_MIME.test(mime)) return `<pre>${escapeHtml(JSON.stringify(v, null, 2))}</pre>`;
  }
  const plain = str('text/plain');
  return plain !== undefined ? `<pre>${ansiToHtml(plain)}</pre>` : '';
}

function size(metadata: Record<string, unknown>, mime: string): string {
  const m = (metadata[mime] && typeof metadata[mime] === 'object' ? metadata[mime] : metadata) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v) : undefined);
  const w = num(m.width);
  const h = num(m.height);
  return `${w !== undefined ? ` width="${w}"` : ''}${h !== undefined ? ` height="${h}"` : ''}`;
}

/** An image of a markdown cell as a data URI when it is an attachment or a file beside the notebook (the page must work offline). */
function imageSource(src: string, attachments: Record<string, Record<string, string>>, baseDir: string | undefined): string {
  if (src.startsWith('attachment:')) {
    const bundle = attachments[decodeURIComponent(src.slice('attachment:'.length))];
    if (bundle) {
      for (const [mime, b64] of Object.entries(bundle)) {
        if (mime.startsWith('image/')) return `data:${mime};base64,${String(b64).replace(/\s+/g, '')}`;
      }
    }
    return src;
  }
  if (!baseDir || /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(src) || src.startsWith('//')) return src;
  const file = isAbsolute(src) ? src : join(baseDir, decodeURIComponent(src.split(/[?#]/)[0]));
  const mime = FILE_IMAGES[extname(file).toLowerCase()];
  if (!mime || !existsSync(file)) return src;
  try {
    return `data:${mime};base64,${readFileSync(file).toString('base64')}`;
  } catch {
    return src;
  }
}
