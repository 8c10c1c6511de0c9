/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Plots in a real browser (headless Debian Chromium through playwright-core, one browser for the
 * file): a standalone page and a page of notebook outputs in a row (as nbconvert exports them)
 * draw every figure from file:// with no page error and no request leaving file:; the figures
 * pass Plotly.validate; the SVG renderer's output parses as SVG with the traces' marks; with
 * JavaScript off, a bundle shows its SVG picture. A screenshot of each page is left in
 * $TSFREEZE_ARTIFACTS (default <tmpdir>/tsfreeze-artifacts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { Browser, Page } from 'playwright-core';
import { train } from '../../lib/train/train';
import { freeze } from '../../lib/freeze/freeze';
import { stateDictOf } from '../../lib/model/state-dict-of';
import { mulberry32 } from '../../lib/train/data';
import {
  driftHeatmapFigure, lossCurvesFigure, parameterCountsFigure, plotBundle, PlotSession, SvgRenderer, trainingFigure,
  weightChange, weightHistogramFigure, writeHtmlPage, type PlotlyFigure,
} from '../../lib/plot';
import { seqNet } from '../helpers/models';
import { artifactDir, launchChromium } from '../helpers/browser';

let browser: Browser;
let dir: string;
let figures: PlotlyFigure[];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsfreeze-plot-'));
  const launching = launchChromium();
  await tf.setBackend('cpu');
  const model = seqNet();
  freeze(model, ['0.kernel', '0.bias', '1.gamma', '1.beta']);
  const start = stateDictOf(model);
  const rand = mulberry32(3);
  const x = tf.tensor4d(Array.from({ length: 8 * 64 }, () => rand() - 0.5), [8, 8, 8, 1]);
  const y = tf.tensor2d(Array.from({ length: 16 }, (_, i) => i % 2), [8, 2]);
  const history = await train(model, { x, y }, { loss: 'meanSquaredError', epochs: 2, batchSize: 4, lr: 0.05, validationData: { x, y } });
  tf.dispose([x, y]);
  figures = [parameterCountsFigure(model), driftHeatmapFigure(history), weightHistogramFigure(weightChange(model, start)), lossCurvesFigure(history), trainingFigure(history)];
  browser = await launching;
});

after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Visit { page: Page; errors: string[]; offsite: string[] }

/** Opens `file` and records page errors, console errors and every request that is not file: or data:. */
async function visit(file: string, opts: { javaScriptEnabled?: boolean } = {}): Promise<Visit> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, javaScriptEnabled: opts.javaScriptEnabled ?? true });
  const page = await context.newPage();
  const errors: string[] = [];
  const offsite: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('request', (r) => { if (!/^(file|data):/.test(r.url())) offsite.push(r.url()); });
  await page.goto(pathToFileURL(file).href);
  return { page, errors, offsite };
}

/** Waits until every plot div on the page holds a drawn Plotly figure; returns per div: svg count, traces, validation errors. */
async function drawn(page: Page, count: number): Promise<Array<{ svgs: number; traces: number; invalid: unknown }>> {
  await page.waitForFunction((n) => {
    const divs = document.querySelectorAll('div.tsfreeze-plot');
    return divs.length === n && [...divs].every((d) => d.querySelector('svg.main-svg'));
  }, count, { timeout: 20_000 });
  return page.evaluate(() => {
    const P = (globalThis as unknown as { Plotly: { validate(d: unknown, l: unknown): unknown } }).Plotly;
    return [...document.querySelectorAll('div.tsfreeze-plot')].map((d) => {
      const g = d as unknown as { data: unknown[]; layout: unknown };
      return { svgs: d.querySelectorAll('svg.main-svg').length, traces: d.querySelectorAll('g.trace').length, invalid: P.validate(g.data, g.layout) ?? null };
    });
  });
}

test('a standalone page draws every figure from file:// with nothing fetched and no error', async () => {
  const file = join(dir, 'plots.html');
  await writeHtmlPage(file, [{ html: '<p>tsfreeze plots test</p>' }, ...figures], { title: 'tsfreeze browser test' });
  const v = await visit(file);
  const result = await drawn(v.page, figures.length);
  result.forEach((r, i) => {
    assert.ok(r.svgs >= 1, `figure ${i} drew`);
    assert.ok(r.traces >= figures[i].data.filter((t) => t.x?.[0] !== null).length, `figure ${i}: ${r.traces} traces drawn for ${figures[i].data.length}`);
    assert.equal(r.invalid, null, `figure ${i} passes Plotly.validate: ${JSON.stringify(r.invalid)}`);
  });
  assert.deepEqual(v.errors, []);
  assert.deepEqual(v.offsite, []);
  const shot = join(artifactDir(), 'plot-page.png');
  await v.page.screenshot({ path: shot, fullPage: true });
  await v.page.context().close();
});

test('notebook outputs in a row (an exported notebook): plotly.js from the first plot serves all, even one rendered before it', async () => {
  const session = new PlotSession({ svg: false });
  const bundles = figures.slice(0, 3).map((f) => plotBundle(f, { session }));
  // Out of order, as a lazily rendered notebook may run them: a plain output runs before the one with the library.
  const html = `<!doctype html><html><head><meta charset="utf-8"></head><body>\n${[bundles[1], bundles[0], bundles[2]].map((b) => `<div class="output">${b.data['text/html']}</div>`).join('\n')}\n</body></html>`;
  const file = join(dir, 'outputs.html');
  writeFileSync(file, html);
  const v = await visit(file);
  const result = await drawn(v.page, 3);
  assert.ok(result.every((r) => r.svgs >= 1 && r.invalid === null), JSON.stringify(result));
  assert.ok(await v.page.evaluate(() => document.querySelectorAll('.tsfreeze-plot-note').length === 0), 'the fallback lines are gone once drawn');
  assert.deepEqual(v.errors, []);
  assert.deepEqual(v.offsite, []);
  await v.page.screenshot({ path: join(artifactDir(), 'plot-outputs.png'), fullPage: true });
  await v.page.context().close();
});

test('SVG renderer: output parses as SVG and holds the marks of the traces; with JavaScript off the bundle shows it', async () => {
  const renderer = new SvgRenderer({ browser });
  const session = new PlotSession({ svg: renderer, onNote: (m) => assert.fail(`unexpected note: ${m}`) });
  try {
    const [counts, drift] = figures;
    const svgCounts = await renderer.render(counts);
    const b = await session.bundle(drift);
    const svgDrift = b.data['image/svg+xml'];
    assert.ok(svgDrift, 'bundle carries an SVG');
    assert.ok(!('image/png' in b.data));
    const page = await browser.newPage();
    const parse = (svg: string) => page.evaluate((text) => {
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      return {
        root: doc.documentElement.nodeName,
        error: doc.querySelector('parsererror')?.textContent ?? null,
        bars: doc.querySelectorAll('g.trace.bars').length,
        points: doc.querySelectorAll('g.trace.bars g.point path').length,
        heatmaps: doc.querySelectorAll('g.hm image').length,
        text: doc.documentElement.textContent ?? '',
      };
    }, svg);
    const c = await parse(svgCounts);
    assert.equal(c.root, 'svg');
    assert.equal(c.error, null);
    assert.equal(c.bars, counts.data.length, 'one bar group per trace');
    assert.equal(c.points, counts.data.reduce((a, t) => a + t.x!.length, 0), 'one bar per layer and trace');
    assert.match(c.text, /Parameters per layer/);
    const d = await parse(svgDrift!);
    assert.equal(d.root, 'svg');
    assert.equal(d.error, null);
    assert.equal(d.heatmaps, 2, 'the drift heatmap and the frozen/trainable strip');
    await page.close();

    // Untrusted output: scripts do not run, the picture inside the div shows.
    const file = join(dir, 'untrusted.html');
    writeFileSync(file, `<!doctype html><html><head><meta charset="utf-8"></head><body>${b.data['text/html']}</body></html>`);
    const v = await visit(file, { javaScriptEnabled: false });
    const img = await v.page.evaluate(() => {
      const i = document.querySelector('div.tsfreeze-plot img') as HTMLImageElement | null;
      return i && i.complete ? { w: i.naturalWidth, h: i.naturalHeight } : null;
    });
    assert.ok(img && img.w > 100 && img.h > 100, `fallback picture shown: ${JSON.stringify(img)}`);
    assert.deepEqual(v.offsite, []);
    await v.page.context().close();
  } finally {
    await session.close();
    await renderer.close();
  }
});
