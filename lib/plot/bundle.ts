/**
 * The MIME bundle that shows a figure in a notebook.
 *
 * - `application/vnd.plotly.v1+json`: the figure, for front ends with a Plotly renderer
 *   (JupyterLab/Notebook 7 with the jupyterlab-plotly extension, VS Code): it wins when present.
 * - `text/html`: a div and a script that draws it with plotly.js. plotly.js (about 1.5 MB) is
 *   never fetched from a CDN. When the session has a `plotlyUrl` (the kernel sets it when
 *   `tsfreeze install` put plotly.js beside the kernelspec as a Notebook nbextension), every
 *   output loads it from the Jupyter server that shows the page, so each output draws itself,
 *   after re-runs and in a reopened notebook, and none carries plotly.js. Without one, the first
 *   bundle of a session carries plotly.js inline and the later ones wait for it. Front ends run
 *   these scripts only in trusted output; untrusted, the div shows a static SVG picture instead
 *   when one was rendered, else a line saying why nothing is drawn. An exported page
 *   (`tsfreeze run`, htmlPage) inlines plotly.js once in its head.
 * - `image/svg+xml`: the same figure rendered by headless Chromium, for static viewers. Never
 *   `image/png`: JupyterLab would show it in place of the interactive plot.
 * - `text/plain`: one line naming the figure.
 */
import { randomBytes } from 'node:crypto';
import { escapeHtml } from '../display/escape-html';
import type { PlotlyFigure } from './figure';
import { plotlyJsVersion, plotlyScriptTag, QUEUE } from './plotlyjs';
import { SvgRenderer, type SvgRendererOptions } from './svg';

export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

/** A Jupyter display bundle (display_data / execute_result / update_display_data content). */
export interface MimeBundle {
  data: {
    [PLOTLY_MIME]: PlotlyFigure;
    'text/html': string;
    'text/plain': string;
    'image/svg+xml'?: string;
  };
  metadata: Record<string, unknown>;
}

/** Whether a bundle carries plotly.js: 'auto' (when its session has not yet), 'always', or 'never'. */
export type InlinePlotly = 'auto' | 'always' | 'never';

export interface PlotSessionOptions {
  /** Static SVG pictures: true (default) starts a headless Chromium when one is installed; false never; or a renderer to share. */
  svg?: boolean | SvgRenderer | SvgRendererOptions;
  /** Where the session says things once (no Chromium, say); default: a line on stderr. */
  onNote?: (message: string) => void;
  /**
   * plotly.js's URL relative to the base URL of the Jupyter server that shows the outputs (such
   * as PLOTLY_NBEXTENSION): every output loads it from there, and no bundle carries plotly.js
   * unless asked with inline 'always'.
   */
  plotlyUrl?: string;
}

/**
 * One notebook page's worth of plot state: whether plotly.js was sent already, the counter of
 * div ids, and the SVG renderer. A kernel owns one per kernel process and resets it when the
 * page it feeds may have lost plotly.js (a restart).
 */
export class PlotSession {
  /** Random part of every div id of this session: ids stay unique across sessions saved in one notebook. */
  readonly token: string;
  private counter = 0;
  private inlined = false;
  private renderer: SvgRenderer | undefined;
  private ownsRenderer = false;
  private svgOff: string | undefined;
  private readonly notes = new Set<string>();
  private readonly onNote: (message: string) => void;
  /** See PlotSessionOptions.plotlyUrl. */
  readonly plotlyUrl: string | undefined;

  constructor(opts: PlotSessionOptions = {}) {
    this.token = randomBytes(4).toString('hex');
    this.plotlyUrl = opts.plotlyUrl;
    this.onNote = opts.onNote ?? ((m) => process.stderr.write(`tsfreeze: ${m}\n`));
    const svg = opts.svg ?? true;
    if (svg instanceof SvgRenderer) this.renderer = svg;
    else if (svg !== false) {
      this.renderer = new SvgRenderer(svg === true ? {} : svg);
      this.ownsRenderer = true;
    } else this.svgOff = 'SVG pictures are off for this session';
  }

  /** Whether the next 'auto' bundle will carry plotly.js. */
  get needsPlotlyJs(): boolean {
    return !this.inlined && this.plotlyUrl === undefined;
  }

  /** A new div id, unique on any page this session's outputs land on. */
  nextId(): string {
    this.counter += 1;
    return `tsfreeze-plot-${this.token}-${this.counter}`;
  }

  /** Decides whether a bundle carries plotly.js, and records it when it does. */
  takePlotlyJs(inline: InlinePlotly): boolean {
    const take = inline === 'always' || (inline === 'auto' && this.needsPlotlyJs);
    if (take) this.inlined = true;
    return take;
  }

  /** Forgets that plotly.js was sent: the next bundle carries it again (after a kernel restart, or for a new page). */
  reset(): void {
    this.inlined = false;
  }

  /** Why SVG pictures are left out, or undefined when they are rendered. */
  get svgUnavailable(): string | undefined {
    if (this.svgOff) return this.svgOff;
    if (this.renderer && !this.renderer.available()) return this.renderer.unavailableReason();
    return undefined;
  }

  /** The figure as an SVG picture, or undefined (said once) when no Chromium can render it. */
  async svg(figure: PlotlyFigure): Promise<string | undefined> {
    const off = this.svgUnavailable;
    if (off !== undefined || !this.renderer) {
      if (off && !this.svgOff) this.note(`${off}; plots are shown without a static SVG picture`);
      return undefined;
    }
    try {
      return await this.renderer.render(figure);
    } catch (e) {
      this.svgOff = `SVG pictures are off for this session: ${(e as Error).message}`;
      this.note(this.svgOff);
      return undefined;
    }
  }

  /** The figure's full bundle: Plotly JSON, HTML, and an SVG picture when Chromium is present. */
  async bundle(figure: PlotlyFigure, opts: { inline?: InlinePlotly } = {}): Promise<MimeBundle> {
    const svg = await this.svg(figure);
    return plotBundle(figure, { session: this, svg, inline: opts.inline });
  }

  /** Says `message` through onNote, once per session. */
  note(message: string): void {
    if (this.notes.has(message)) return;
    this.notes.add(message);
    this.onNote(message);
  }

  /** Closes the session's own headless browser (a shared renderer is left to its owner). */
  async close(): Promise<void> {
    if (this.ownsRenderer) await this.renderer?.close();
  }
}

export interface PlotBundleOptions {
  session: PlotSession;
  /** A pre-rendered SVG picture (PlotSession.bundle renders one itself). */
  svg?: string;
  /** Default 'auto': plotly.js goes into the first bundle of the session only. */
  inline?: InlinePlotly;
  /** Div id (default: the session's next id). */
  id?: string;
}

/** The display bundle of `figure` (synchronous: no SVG unless given one; see PlotSession.bundle). */
export function plotBundle(figure: PlotlyFigure, opts: PlotBundleOptions): MimeBundle {
  const json = jsonFigure(figure);
  const id = opts.id ?? opts.session.nextId();
  const withLib = opts.session.takePlotlyJs(opts.inline ?? 'auto');
  const html = figureHtml(json, { id, svg: opts.svg, plotlyUrl: opts.session.plotlyUrl }) + (withLib ? `\n${plotlyScriptTag()}` : '');
  const data: MimeBundle['data'] = { [PLOTLY_MIME]: json, 'text/html': html, 'text/plain': `<Plotly figure: ${titleText(json)}>` };
  if (opts.svg !== undefined) data['image/svg+xml'] = opts.svg;
  return { data, metadata: {} };
}

/**
 * The HTML of one figure without plotly.js: a div holding a fallback (the SVG picture, or a line
 * of text) and a script that replaces it with the interactive plot as soon as `window.Plotly`
 * exists. With `plotlyUrl`, on a page served by Jupyter (classic Notebook's body names its base
 * URL; JupyterLab's page config does), the script loads plotly.js from there once per page.
 */
export function figureHtml(figure: PlotlyFigure, opts: { id: string; svg?: string; plotlyUrl?: string }): string {
  if (!/^[A-Za-z][\w-]*$/.test(opts.id)) throw new Error(`figureHtml: id must be letters, digits, '-' or '_' starting with a letter, got ${JSON.stringify(opts.id)}`);
  const height = typeof figure.layout.height === 'number' ? figure.layout.height : 450;
  const title = titleText(figure);
  const fallback = opts.svg !== undefined
    ? `<img alt="${escapeHtml(title)}" style="max-width:100%" src="data:image/svg+xml;base64,${Buffer.from(opts.svg, 'utf8').toString('base64')}">`
    : `<div class="tsfreeze-plot-note" style="padding:8px;color:#666;font-family:sans-serif;font-size:13px">${escapeHtml(title)}: an interactive Plotly plot, drawn when this output's JavaScript runs (in JupyterLab: trust the notebook, or run the cell).</div>`;
  const script = `(function () {
  var id = ${JSON.stringify(opts.id)}, figure = ${scriptJson(figure)};
  var script = document.currentScript, root = script && script.parentNode;
  function find() { return (root && root.querySelector && root.querySelector('[id="' + id + '"]')) || document.getElementById(id); }
  function draw(tries) {
    var div = find();
    if (!div) return;
    // Plotly measures its container: wait until the output is on the page.
    if (!div.isConnected) { if ((tries || 0) < 600) requestAnimationFrame(function () { draw((tries || 0) + 1); }); return; }
    div.innerHTML = '';
    div.style.minHeight = '';
    window.Plotly.newPlot(div, figure.data, figure.layout, figure.config);
  }
  function jupyterBase() {
    var base = document.body && document.body.getAttribute('data-base-url');
    if (base) return base;
    var config = document.getElementById('jupyter-config-data');
    try { return (config && JSON.parse(config.textContent).baseUrl) || null; } catch (e) { return null; }
  }
  if (window.Plotly) draw();
  else {
    (window.${QUEUE} = window.${QUEUE} || []).push(draw);
    var url = ${JSON.stringify(opts.plotlyUrl ?? null)}, base = url && jupyterBase();
    if (base && !window.${QUEUE}Loading) {
      window.${QUEUE}Loading = true;
      var tag = document.createElement('script');
      tag.src = (base.slice(-1) === '/' ? base : base + '/') + url + '?v=' + ${JSON.stringify(plotlyJsVersion())};
      tag.onerror = function () { window.${QUEUE}Loading = false; };
      document.head.appendChild(tag);
    }
    setTimeout(function () {
      var div = find(), note = div && div.querySelector('.tsfreeze-plot-note');
      if (!window.Plotly && note) note.textContent = url
        ? 'plotly.js could not be loaded from this Jupyter server (' + url + ', which tsfreeze install puts beside the kernelspec for classic Notebook). In JupyterLab, the Plotly extension draws the figure (pip install plotly).'
        : 'plotly.js is not on this page: tsfreeze sends it with the first plot of a kernel session. Re-run the cell that drew the first plot, or install the kernel with tsfreeze install, whose outputs load plotly.js themselves.';
    }, 8000);
  }
})();`;
  return `<div id="${opts.id}" class="tsfreeze-plot" style="width:100%;min-height:${height}px">${fallback}</div>\n<script type="text/javascript">\n${script}\n</script>`;
}

/** A JSON copy of the figure: typed arrays become arrays, NaN and ±Infinity become null (as Jupyter's JSON would). */
export function jsonFigure(figure: PlotlyFigure): PlotlyFigure {
  if (!figure || !Array.isArray(figure.data) || typeof figure.layout !== 'object' || figure.layout === null) {
    throw new TypeError('plotBundle: expected a Plotly figure { data: [...traces], layout: {...}, config? }');
  }
  return JSON.parse(JSON.stringify(figure, (_k, v: unknown) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as unknown as ArrayLike<number>) : v))) as PlotlyFigure;
}

/** The figure's title as plain text. */
export function titleText(figure: PlotlyFigure): string {
  const t = figure.layout.title as unknown;
  const text = typeof t === 'string' ? t : (t as { text?: unknown } | undefined)?.text;
  return typeof text === 'string' && text ? text.replace(/<[^>]*>/g, '') : 'figure';
}

/** JSON safe inside a <script>: no '<', '>', '&' or line separators that HTML or old JS parsers would take for something else. */
function scriptJson(x: unknown): string {
  return JSON.stringify(x).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
