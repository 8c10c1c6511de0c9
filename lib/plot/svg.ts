/**
 * Static SVG pictures of figures, drawn by plotly.js in headless Chromium (Debian's
 * /usr/bin/chromium through playwright-core). The browser starts on the first render (about
 * half a second), serves every later one, and closes after 10 s unused or on close().
 * Playwright gives it a fresh temporary profile (--user-data-dir) and removes it on close.
 */
import { existsSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import type { PlotlyFigure } from './figure';
import { plotlyScriptTag } from './plotlyjs';

/** The flags Chromium gets besides Playwright's own (--headless, a temporary --user-data-dir): no GPU, no sandbox, no network chatter. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Playwright would otherwise install SIGINT/SIGTERM/SIGHUP handlers that close the browser and
 * call process.exit(130): a library must not own its host's signals (a kernel's interrupt is
 * SIGINT). The browser still closes with the process: Playwright's exit handler, and Chromium
 * quits when its DevTools pipe closes.
 */
const OWN_NO_SIGNALS = { handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false } as const;

/** The Chromium tsfreeze uses: $TSFREEZE_CHROMIUM, else Debian's /usr/bin/chromium. */
export function chromiumPath(): string {
  return process.env.TSFREEZE_CHROMIUM || '/usr/bin/chromium';
}

export interface SvgRendererOptions {
  /** Chromium executable (default chromiumPath()). */
  executablePath?: string;
  /**
   * Close the browser after this many milliseconds without a render (default 10000; 0 keeps it
   * until close()). A running browser keeps a script's process alive: call close() when done.
   */
  idleMs?: number;
  /** Milliseconds one render may take (default 30000). */
  timeoutMs?: number;
  /** Size of a picture whose layout sets none (default 900 × the layout's height or 450). */
  width?: number;
  /** A running Playwright browser to draw in (its owner closes it; close() then closes only the renderer's page). */
  browser?: Browser;
}

/** Renders figures to SVG in one lazily started headless Chromium. */
export class SvgRenderer {
  private readonly executablePath: string;
  private readonly idleMs: number;
  private readonly timeoutMs: number;
  private readonly width: number;
  private readonly shared: Browser | undefined;
  private page: Promise<{ browser: Browser; page: Page }> | undefined;
  private idle: NodeJS.Timeout | undefined;
  private busy = 0;

  constructor(opts: SvgRendererOptions = {}) {
    this.executablePath = opts.executablePath ?? chromiumPath();
    this.idleMs = opts.idleMs ?? 10_000;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.width = opts.width ?? 900;
    this.shared = opts.browser;
  }

  /** Whether the Chromium executable is there (or a browser was given). */
  available(): boolean {
    return this.shared !== undefined || existsSync(this.executablePath);
  }

  /** Why rendering is impossible, or undefined. */
  unavailableReason(): string | undefined {
    return this.available() ? undefined : `no Chromium at ${this.executablePath} (install Debian's chromium, or set TSFREEZE_CHROMIUM)`;
  }

  /** Whether the browser is running now. */
  get running(): boolean {
    return this.page !== undefined;
  }

  /** The figure as an SVG document (what Plotly.toImage gives with format 'svg'). */
  async render(figure: PlotlyFigure, size: { width?: number; height?: number } = {}): Promise<string> {
    const reason = this.unavailableReason();
    if (reason) throw new Error(`cannot render SVG: ${reason}`);
    this.busy++;
    clearTimeout(this.idle);
    try {
      const { page } = await this.start();
      const width = size.width ?? (typeof figure.layout.width === 'number' ? figure.layout.width : this.width);
      const height = size.height ?? (typeof figure.layout.height === 'number' ? figure.layout.height : 450);
      const url = await withTimeout(
        page.evaluate(async ({ fig, w, h }) => {
          const P = (globalThis as unknown as { Plotly: { toImage(f: unknown, o: unknown): Promise<string> } }).Plotly;
          return P.toImage({ data: fig.data, layout: { ...fig.layout, width: w, height: h }, config: { ...(fig.config ?? {}), responsive: false } }, { format: 'svg', width: w, height: h });
        }, { fig: figure, w: width, h: height }),
        this.timeoutMs, `SVG rendering took more than ${this.timeoutMs} ms`,
      );
      return decodeSvgUrl(url);
    } catch (e) {
      // A crashed or hung browser is started afresh next time.
      await this.close().catch(() => undefined);
      throw e;
    } finally {
      this.busy--;
      this.armIdle();
    }
  }

  /** Closes the browser (a later render starts a new one). */
  async close(): Promise<void> {
    clearTimeout(this.idle);
    const p = this.page;
    this.page = undefined;
    if (!p) return;
    const started = await p.catch(() => undefined);
    if (!started) return;
    if (started.browser === this.shared) await started.page.close().catch(() => undefined);
    else await started.browser.close();
  }

  private start(): Promise<{ browser: Browser; page: Page }> {
    if (!this.page) {
      const starting = (async () => {
        const browser = this.shared ?? await (await import('playwright-core')).chromium.launch({ executablePath: this.executablePath, headless: true, args: CHROMIUM_ARGS, timeout: this.timeoutMs, ...OWN_NO_SIGNALS });
        try {
          browser.on('disconnected', () => { if (this.page === starting) this.page = undefined; });
          const page = await browser.newPage();
          // Nothing leaves the page: plotly.js is inlined, and a figure has no business fetching anything.
          await page.route(/^(?!data:|about:)/, (route) => route.abort());
          await page.setContent(`<!doctype html><html><head><meta charset="utf-8"></head><body>${plotlyScriptTag()}</body></html>`, { timeout: this.timeoutMs });
          const ok = await page.evaluate(() => typeof (globalThis as unknown as { Plotly?: { toImage?: unknown } }).Plotly?.toImage === 'function');
          if (!ok) throw new Error('plotly.js did not load in the headless page');
          return { browser, page };
        } catch (e) {
          if (browser !== this.shared) await browser.close().catch(() => undefined);
          throw e;
        }
      })();
      this.page = starting;
      starting.catch(() => { if (this.page === starting) this.page = undefined; });
    }
    return this.page;
  }

  private armIdle(): void {
    if (this.idleMs <= 0 || this.busy > 0 || !this.page) return;
    clearTimeout(this.idle);
    this.idle = setTimeout(() => void this.close().catch(() => undefined), this.idleMs);
    this.idle.unref();
  }
}

/** The SVG text of a `data:image/svg+xml,...` URL (percent-encoded or base64). */
export function decodeSvgUrl(url: string): string {
  const m = /^data:image\/svg\+xml(;charset=[^;,]+)?(;base64)?,/.exec(url);
  if (!m) throw new Error(`expected an SVG data URL from Plotly.toImage, got ${JSON.stringify(url.slice(0, 40))}…`);
  const body = url.slice(m[0].length);
  return m[2] ? Buffer.from(body, 'base64').toString('utf8') : decodeURIComponent(body);
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(message)), ms); })]).finally(() => clearTimeout(t));
}
