/**
 * Display bundles: plotly.js inlined exactly once per PlotSession, never an image/png, the Plotly
 * JSON is the figure as JSON, HTML that cannot be broken out of, unique ids, a missing Chromium
 * said once; and the live training plot's throttled updates of one display.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { train } from '../../lib/train/train';
import { freeze } from '../../lib/freeze/freeze';
import {
  figureHtml, liveTrainingPlot, lossCurvesFigure, plotBundle, PlotSession, PLOTLY_MIME, trainingFigure, htmlPage,
  type MimeBundle, type PlotlyFigure, type LiveUpdate,
} from '../../lib/plot';
import { plotlyJsSource, plotlyScriptTag } from '../../lib/plot/plotlyjs';

const ready = tf.setBackend('cpu');
/** A stretch from the middle of plotly.js: its count in a text is the number of copies inlined. */
const MARK = plotlyJsSource().slice(500_000, 500_200);

function copies(text: string): number {
  return text.split(MARK).length - 1;
}

function figure(title = 'a figure'): PlotlyFigure {
  return lossCurvesFigure({ loss: [3, 2, 1], epochs: [] }, { title });
}

function quietSession(): PlotSession {
  return new PlotSession({ svg: false, onNote: () => assert.fail('no note expected') });
}

test('plotly.js goes into the first bundle of a session only, again after reset(), and always/never override', () => {
  const s = quietSession();
  const first = plotBundle(figure(), { session: s });
  const second = plotBundle(figure(), { session: s });
  assert.equal(copies(first.data['text/html']), 1);
  assert.ok(first.data['text/html'].length > 1_000_000, 'the whole library, not a CDN link');
  assert.equal(copies(second.data['text/html']), 0);
  assert.ok(second.data['text/html'].length < 20_000, `later bundles are small (${second.data['text/html'].length} chars)`);
  assert.doesNotMatch(first.data['text/html'] + second.data['text/html'], /<script[^>]+src=/i, 'no script loaded from elsewhere');
  assert.doesNotMatch(second.data['text/html'], /https?:/, 'no URL at all outside the library');
  assert.equal(copies(plotBundle(figure(), { session: s, inline: 'always' }).data['text/html']), 1);
  s.reset();
  assert.equal(s.needsPlotlyJs, true);
  assert.equal(copies(plotBundle(figure(), { session: s, inline: 'never' }).data['text/html']), 0, "'never' does not consume the session's inlining");
  assert.equal(copies(plotBundle(figure(), { session: s }).data['text/html']), 1);
  assert.equal(copies(plotBundle(figure(), { session: s }).data['text/html']), 0);
  assert.equal(copies(plotBundle(figure(), { session: new PlotSession({ svg: false }) }).data['text/html']), 1, 'sessions are independent');
});

test('with a plotlyUrl (the Notebook nbextension) no bundle carries plotly.js, and every one can load it; the scripts parse', () => {
  const s = new PlotSession({ svg: false, plotlyUrl: 'nbextensions/tsfreeze/plotly.min.js', onNote: () => assert.fail('no note expected') });
  const bundles = [plotBundle(figure(), { session: s }), plotBundle(figure(), { session: s })];
  for (const b of bundles) {
    const html = b.data['text/html'];
    assert.equal(copies(html), 0);
    assert.ok(html.length < 20_000, `small (${html.length} chars)`);
    assert.match(html, /"nbextensions\/tsfreeze\/plotly\.min\.js"/);
    assert.match(html, /data-base-url/, 'the URL is taken relative to the Jupyter server that shows the page');
  }
  assert.equal(s.needsPlotlyJs, false);
  assert.equal(copies(plotBundle(figure(), { session: s, inline: 'always' }).data['text/html']), 1, "'always' still inlines");
  // Each output's script is JavaScript that parses, with and without a URL (quotes in messages and regexes survive the template).
  for (const session of [s, quietSession()]) {
    const html = plotBundle(figure(), { session, inline: 'never' }).data['text/html'];
    const script = /<script type="text\/javascript">\n([\s\S]*?)\n<\/script>/.exec(html)![1];
    assert.doesNotThrow(() => new Function(script), script);
  }
});

test('a bundle has the Plotly JSON, HTML and text, an SVG only when given one, and never a PNG', () => {
  const s = quietSession();
  const fig = figure();
  const b = plotBundle(fig, { session: s });
  assert.deepEqual(Object.keys(b.data).sort(), [PLOTLY_MIME, 'text/html', 'text/plain'].sort());
  assert.deepEqual(b.data[PLOTLY_MIME], JSON.parse(JSON.stringify(fig)));
  assert.equal(b.data['text/plain'], '<Plotly figure: a figure>');
  assert.deepEqual(b.metadata, {});
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>';
  const withSvg = plotBundle(fig, { session: s, svg });
  assert.equal(withSvg.data['image/svg+xml'], svg);
  assert.ok(!('image/png' in withSvg.data));
  assert.ok(withSvg.data['text/html'].includes(`data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`), 'the picture is the fallback inside the div when scripts do not run');
  assert.match(b.data['text/html'], /class="tsfreeze-plot-note"[^>]*>a figure: an interactive Plotly plot/, 'without a picture, a line says why nothing is drawn');
});

test('the Plotly JSON is plain JSON: typed arrays become arrays, NaN and Infinity null', () => {
  const fig: PlotlyFigure = { data: [{ type: 'scatter', x: new Float32Array([1, 2, 3]) as unknown as number[], y: [1, NaN, Infinity] }], layout: {} };
  const b = plotBundle(fig, { session: quietSession() });
  assert.deepEqual(b.data[PLOTLY_MIME].data[0].x, [1, 2, 3]);
  assert.deepEqual(b.data[PLOTLY_MIME].data[0].y, [1, null, null]);
  assert.throws(() => plotBundle({ data: 'nope' } as unknown as PlotlyFigure, { session: quietSession() }), /expected a Plotly figure/);
});

test('text in a figure cannot end the script or inject HTML', () => {
  const evil = '</script><script>alert(1)</script><!--';
  const b = plotBundle(figure(evil), { session: quietSession(), inline: 'never' });
  const html = b.data['text/html'];
  assert.equal(html.split('<script').length - 1, 1, 'one script element');
  assert.equal(html.split('</script>').length - 1, 1, 'closed once');
  assert.ok(!html.includes('<script>alert'), 'title escaped in the script');
  assert.match(html, /tsfreeze-plot-note[^>]*>alert\(1\)&#60;!--: an interactive/, 'the fallback text is the title without its tags, escaped');
  // The figure inside the script still parses back to the same title.
  const json = /figure = (\{.*\});\n/.exec(html)![1];
  assert.equal(JSON.parse(json).layout.title.text, evil);
  assert.throws(() => figureHtml(figure(), { id: 'x" onload="alert(1)' }), /id must be letters/);
  assert.equal(plotlyScriptTag().split('</script').length - 1, 1, 'the inlined library has no early </script');
});

test('every div id is unique, within and across sessions', () => {
  const ids = new Set<string>();
  for (const s of [quietSession(), quietSession()]) {
    for (let i = 0; i < 50; i++) {
      const html = plotBundle(figure(), { session: s, inline: 'never' }).data['text/html'];
      const id = /<div id="([^"]+)"/.exec(html)![1];
      assert.ok(!ids.has(id), `duplicate id ${id}`);
      ids.add(id);
    }
  }
  const page = htmlPage([figure(), figure(), { html: '<p>text</p>' }]);
  assert.equal(copies(page), 1, 'a standalone page inlines plotly.js once');
  assert.equal(new Set([...page.matchAll(/<div id="([^"]+)"/g)].map((m) => m[1])).size, 2);
  assert.ok(page.includes('<p>text</p>'));
});

test('no Chromium: bundles leave out the SVG and the session says so once, without an error', async () => {
  const notes: string[] = [];
  const s = new PlotSession({ svg: { executablePath: '/nonexistent/chromium' }, onNote: (m) => notes.push(m) });
  const a = await s.bundle(figure());
  const b = await s.bundle(figure());
  assert.ok(!('image/svg+xml' in a.data) && !('image/svg+xml' in b.data));
  assert.equal(copies(a.data['text/html']), 1);
  assert.equal(notes.length, 1, notes.join(' | '));
  assert.match(notes[0], /no Chromium at \/nonexistent\/chromium.*TSFREEZE_CHROMIUM.*without a static SVG/);
  assert.match(s.svgUnavailable!, /no Chromium/);
  await s.close();
});

test('live training plot: one display, throttled updates, frozen drift rows 0, final bundle from the History', async () => {
  await ready;
  const model = tf.sequential({ layers: [tf.layers.dense({ name: 'backbone', inputShape: [2], units: 4 }), tf.layers.dense({ name: 'head', units: 1 })] });
  freeze(model, 'backbone');
  const x = tf.tensor2d(Array.from({ length: 80 }, (_, i) => Math.sin(i)), [40, 2]);
  const y = tf.tensor2d(Array.from({ length: 40 }, (_, i) => Math.cos(i)), [40, 1]);
  let clock = 0;
  const session = quietSession();
  const sent: Array<{ bundle: MimeBundle; update: LiveUpdate }> = [];
  const live = liveTrainingPlot({ session, model, interval: 250, now: () => clock, onUpdate: (bundle, update) => { sent.push({ bundle, update }); } });
  const history = await train(model, { x, y }, {
    loss: 'meanSquaredError', epochs: 2, batchSize: 2, lr: 0.01,
    onStep: (info) => { clock += 20; return live.callbacks.onStep(info); }, // 20 "ms" a step
    onEpoch: live.callbacks.onEpoch,
  });
  tf.dispose([x, y]);
  assert.equal(history.steps, 40);
  // 40 steps × 20 ms = 800 ms: the first step, then one update per 250 ms, plus one per epoch.
  assert.ok(sent.length >= 4 && sent.length <= 8, `${sent.length} updates for 40 steps over 800 ms`);
  assert.equal(sent.filter((s) => s.update.first).length, 1);
  assert.ok(sent[0].update.first);
  assert.ok(sent.every((s) => s.update.displayId === live.displayId && !s.update.final));
  assert.equal(copies(sent[0].bundle.data['text/html']), 1, 'the first bundle of the session carries plotly.js');
  assert.ok(sent.slice(1).every((s) => copies(s.bundle.data['text/html']) === 0), 'updates do not');
  const mid = sent[sent.length - 1].bundle.data[PLOTLY_MIME];
  const heat = mid.data.find((t) => t.name === 'drift')!;
  const rows = heat.y as string[];
  assert.deepEqual(rows, ['backbone', 'head']);
  assert.ok((heat.z![0] as number[]).every((v) => v === 0), 'frozen backbone row is exactly 0 in the live drift');
  assert.ok((heat.z![1].at(-1) as number) > 0, 'head moved');
  const strip = mid.data.find((t) => t.name === 'frozen or trainable')!;
  assert.deepEqual((strip.text as string[][]).map((r) => r[0]), ['frozen', 'trainable']);

  const final = await live.finish(history);
  const last = sent[sent.length - 1];
  assert.ok(last.update.final && !last.update.first && last.bundle === final);
  assert.equal(copies(final.data['text/html']), 1, 'the display that carried plotly.js carries it again in its last bundle (the one a saved notebook keeps)');
  assert.deepEqual(final.data[PLOTLY_MIME], JSON.parse(JSON.stringify(trainingFigure(history))));
  const n = sent.length;
  await live.callbacks.onStep({ step: 41, epoch: 3, batch: 0, loss: 1, size: 2 });
  assert.equal(sent.length, n, 'nothing after finish()');

  // A second live plot in the same session neither carries the library nor re-sends it at the end.
  const other = liveTrainingPlot({ session, onUpdate: (bundle, update) => { sent.push({ bundle, update }); } });
  other.sink.start(2, { epochs: 1, stepsPerEpoch: 2 });
  other.sink.update(1, { step: 1, total: 2, epoch: 1, epochs: 1, loss: 0.5, rate: 1, eta: 1, elapsed: 1 });
  const fin = await other.finish();
  assert.notEqual(other.displayId, live.displayId);
  assert.equal(copies(fin.data['text/html']), 0);
  assert.deepEqual(fin.data[PLOTLY_MIME].data[0].y, [0.5], 'the sink delivered the step loss');
});
