/** tsfreeze run without a kernel: iopub messages to nbformat outputs, markdown, the HTML page. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newMessage, type Message } from '../../kernel/protocol/wire';
import { CellOutputs, applyCarriageReturns, type DisplayRegistry } from '../../kernel/run/outputs';
import { renderMarkdown, safeUrl } from '../../kernel/run/markdown';
import { notebookHtml } from '../../kernel/run/html';
import { ansiToHtml, stripAnsi } from '../../kernel/run/ansi';
import { plotlyScriptTag } from '../../lib/plot/plotlyjs';
import { checkNotebook, serializeNotebook, type Notebook, type Output } from '../../kernel/run/notebook';
import { PYTHON, requirePython } from '../helpers/jupyter';

const msg = (type: string, content: Record<string, unknown>): Message => newMessage(type, content, 's');
const plotlyFigure = { data: [{ type: 'scatter', x: [1, 2, 3], y: [3, 1, 2] }], layout: { title: { text: 'loss' } } };

test('streams to one stream merge, carriage returns overwrite the line, stdout and stderr stay apart', () => {
  const c = new CellOutputs(new Map());
  for (const t of ['epoch 1 10%\r', 'epoch 1 50%\r', 'epoch 1 100%\n', 'done\n']) c.handle(msg('stream', { name: 'stdout', text: t }));
  c.handle(msg('stream', { name: 'stderr', text: 'warn\n' }));
  c.handle(msg('stream', { name: 'stdout', text: 'after\n' }));
  assert.deepEqual(c.outputs, [
    { output_type: 'stream', name: 'stdout', text: 'epoch 1 100%\ndone\n' },
    { output_type: 'stream', name: 'stderr', text: 'warn\n' },
    { output_type: 'stream', name: 'stdout', text: 'after\n' },
  ]);
  assert.equal(applyCarriageReturns('a\r\nb'), 'a\r\nb');
  assert.equal(applyCarriageReturns('12345\rab'), 'ab');
});

test('update_display_data changes every output of that display_id, in earlier cells too; others stay', () => {
  const displays: DisplayRegistry = new Map();
  const first = new CellOutputs(displays);
  first.handle(msg('display_data', { data: { 'text/plain': 'v1' }, metadata: {}, transient: { display_id: 'd' } }));
  first.handle(msg('display_data', { data: { 'text/plain': 'other' }, metadata: {}, transient: { display_id: 'e' } }));
  const second = new CellOutputs(displays);
  second.handle(msg('display_data', { data: { 'text/plain': 'v1 again' }, metadata: {}, transient: { display_id: 'd' } }));
  second.handle(msg('update_display_data', { data: { 'text/plain': 'v2', 'text/html': '<b>v2</b>' }, metadata: { x: 1 }, transient: { display_id: 'd' } }));
  second.handle(msg('update_display_data', { data: { 'text/plain': 'nobody' }, metadata: {}, transient: { display_id: 'unknown' } }));
  assert.deepEqual(first.outputs.map((o) => (o as { data: unknown }).data), [{ 'text/plain': 'v2', 'text/html': '<b>v2</b>' }, { 'text/plain': 'other' }]);
  assert.deepEqual(second.outputs, [{ output_type: 'display_data', data: { 'text/plain': 'v2', 'text/html': '<b>v2</b>' }, metadata: { x: 1 } }]);
  // transient is not saved in the notebook.
  assert.ok(!('transient' in first.outputs[0]));
});

test('clear_output clears now, or (wait) just before the next output', () => {
  const c = new CellOutputs(new Map());
  c.handle(msg('stream', { name: 'stdout', text: 'a\n' }));
  c.handle(msg('clear_output', { wait: false }));
  assert.deepEqual(c.outputs, []);
  c.handle(msg('stream', { name: 'stdout', text: 'b\n' }));
  c.handle(msg('clear_output', { wait: true }));
  assert.equal(c.outputs.length, 1);
  c.handle(msg('execute_result', { data: { 'text/plain': '3' }, metadata: {}, execution_count: 7 }));
  assert.deepEqual(c.outputs, [{ output_type: 'execute_result', execution_count: 7, data: { 'text/plain': '3' }, metadata: {} }]);
  c.handle(msg('error', { ename: 'E', evalue: 'v', traceback: ['t1', 't2'] }));
  c.handle(msg('status', { execution_state: 'idle' }));
  assert.deepEqual(c.outputs[1], { output_type: 'error', ename: 'E', evalue: 'v', traceback: ['t1', 't2'] });
  assert.equal(c.outputs.length, 2);
});

test('markdown (markdown-it, CommonMark): headings, emphasis, code, lists, tables, quotes, links, TeX kept as source', () => {
  const html = renderMarkdown([
    '# Title with *em*', '', 'Text **bold**, _em_, `a < b`, ~~old~~ and [docs](https://example.org "Docs").', '',
    '- one', '- two', '  1. nested', '', '```ts', 'const x = 1 < 2;', '```', '', '> quoted', '', '| k | v |', '|:--|--:|', '| a | 1 |', '', 'Sub', '---',
    '', 'inline $a_b * c_d$ and', '', '$$', 'E = m c^2_{x}', '$$',
  ].join('\n'));
  assert.match(html, /<h1>Title with <em>em<\/em><\/h1>/);
  assert.match(html, /<p>Text <strong>bold<\/strong>, <em>em<\/em>, <code>a &lt; b<\/code>, <s>old<\/s> and <a href="https:\/\/example.org" title="Docs">docs<\/a>\.<\/p>/);
  assert.match(html, /<ul>\n<li>one<\/li>\n<li>two\n<ol>\n<li>nested<\/li>\n<\/ol>\n<\/li>\n<\/ul>/);
  assert.match(html, /<pre><code class="language-ts">const x = 1 &lt; 2;\n<\/code><\/pre>/);
  assert.match(html, /<blockquote>\n<p>quoted<\/p>\n<\/blockquote>/);
  assert.match(html, /<th style="text-align:left">k<\/th>\n<th style="text-align:right">v<\/th>/);
  assert.match(html, /<td style="text-align:left">a<\/td>\n<td style="text-align:right">1<\/td>/);
  assert.match(html, /<h2>Sub<\/h2>/);
  // TeX is left as written: no emphasis from its underscores or stars.
  assert.match(html, /<span class="math">\$a_b \* c_d\$<\/span>/);
  assert.match(html, /<div class="math">\$\$E = m c\^2_\{x\}\$\$<\/div>/);
  assert.equal(renderMarkdown('snake_case_name'), '<p>snake_case_name</p>');
});

test('markdown is sanitized as nbconvert does it: allowed tags kept without unsafe attributes, others shown as text, no script, no javascript: or data: links', () => {
  const html = renderMarkdown([
    '<script>alert(1)</script> <img src=x onerror=alert(1)> <b onclick="steal()">bold</b> <abbr title="t">ab</abbr> <!-- hidden --> <iframe src="https://evil.example"></iframe> <style>p{}</style>',
    '',
    '[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) ![i](javascript:alert(1)) [z](data:text/html,hi) <a href="javascript:alert(2)">raw</a> <a href="https://ok.example" onmouseover="x()">ok</a> <img src="data:text/html;base64,AAAA">',
  ].join('\n'));
  assert.doesNotMatch(html, /<script|<iframe|<style|\son\w+=|(href|src)="\s*(javascript|vbscript|data):|hidden/i);
  // A link that cannot be kept stays as its Markdown text.
  assert.match(html, /\[x\]\(javascript:alert\(1\)\)/);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'a disallowed tag is shown as text (bleach strip=False)');
  assert.match(html, /<img src="x" \/>/);
  assert.match(html, /<b>bold<\/b>/);
  assert.match(html, /<abbr title="t">ab<\/abbr>/);
  assert.match(html, /<a>raw<\/a>/);
  assert.match(html, /<a href="https:\/\/ok.example">ok<\/a>/);
  assert.equal(safeUrl('vbscript:x'), null);
  assert.equal(safeUrl('../data/a.png'), '../data/a.png');
  assert.equal(safeUrl('//evil.example/x'), null);
  assert.equal(safeUrl('data:image/png;base64,AAAA', true), 'data:image/png;base64,AAAA');
  assert.equal(safeUrl('data:image/png;base64,AAAA'), null);
});

test('ANSI colours become spans; other escapes are dropped', () => {
  assert.equal(ansiToHtml('\x1b[31mred\x1b[0m <x> \x1b[1;32mok\x1b[39m\x1b[2K'), '<span style="color:#c4362b">red</span> &#60;x&#62; <span style="color:#3a8a2e;font-weight:bold">ok</span>');
  assert.equal(stripAnsi('\x1b[0;31mValueError\x1b[0m: x'), 'ValueError: x');
});

function sampleNotebook(outputs: Output[], markdown = '# Report'): Notebook {
  return checkNotebook({
    nbformat: 4, nbformat_minor: 5, metadata: {},
    cells: [
      { cell_type: 'markdown', source: markdown, metadata: {}, attachments: { 'dot.png': { 'image/png': 'iVBORw0KGgo=' } } },
      { cell_type: 'code', source: ['const a = 1;\n', 'a'], metadata: {}, outputs, execution_count: 3 },
    ],
  });
}

test('HTML page: every output inline, plotly.js only when a figure needs it, nothing fetched from the network', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-html-'));
  writeFileSync(join(dir, 'pic.png'), Buffer.from('89504e470d0a1a0a', 'hex'));
  const outputs: Output[] = [
    { output_type: 'stream', name: 'stdout', text: 'hello <world>\n' },
    { output_type: 'display_data', data: { 'image/png': 'iVBORw0KGgo=\n', 'text/plain': '<img>' }, metadata: { 'image/png': { width: 40 } } },
    { output_type: 'display_data', data: { 'application/vnd.plotly.v1+json': plotlyFigure, 'text/html': '<div>fallback html</div>', 'text/plain': 'fig' }, metadata: {} },
    { output_type: 'execute_result', execution_count: 3, data: { 'text/html': '<table class="t"><tr><td>1</td></tr></table>', 'text/plain': '1' }, metadata: {} },
    { output_type: 'error', ename: 'Error', evalue: 'bad', traceback: ['\x1b[31mError\x1b[0m: bad'] },
  ];
  const page = notebookHtml(sampleNotebook(outputs, '# Report\n\n![dot](attachment:dot.png) ![pic](pic.png)'), { title: 'My <nb>', baseDir: dir });
  // plotly.js is inlined once (checked here); the rest of the page is checked without it (1.5 MB).
  const tag = plotlyScriptTag();
  assert.equal(page.split(tag).length - 1, 1, 'plotly.js inlined exactly once');
  const html = page.replace(tag, '');
  assert.match(html, /<title>My (&lt;|&#60;)nb(&gt;|&#62;)<\/title>/);
  assert.match(html, /<h1>Report<\/h1>/);
  assert.match(html, /<img src="data:image\/png;base64,iVBORw0KGgo=" alt="dot" \/>/);
  assert.match(html, new RegExp(`<img src="data:image/png;base64,${Buffer.from('89504e470d0a1a0a', 'hex').toString('base64')}" alt="pic" />`));
  assert.match(html, /<pre>hello &#60;world&#62;\n<\/pre>/);
  assert.match(html, /<img src="data:image\/png;base64,iVBORw0KGgo=" width="40" alt="png image">/);
  assert.match(html, /<table class="t">/);
  assert.match(html, /Out\[3\]:/);
  assert.match(html, /<span style="color:#c4362b">Error<\/span>: bad/);
  // The figure is drawn from its JSON (not the text/html fallback), with plotly.js inlined once.
  assert.doesNotMatch(html, /fallback html/);
  assert.match(html, /Plotly\.newPlot/);
  assert.match(html, /"y":\[3,1,2\]/);
  assert.ok(page.indexOf(tag) < page.indexOf('<body>'), 'plotly.js is in the head');
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\//);

  const plain = notebookHtml(sampleNotebook([{ output_type: 'stream', name: 'stderr', text: 'x' }]));
  assert.ok(plain.length < 20_000, 'no plotly.js without a figure');
  assert.doesNotMatch(plain, /inlined by tsfreeze/);
});

test('notebooks: ids given where nbformat 4.5 needs them, written as nbformat writes them, valid for Python nbformat', () => {
  requirePython('nbformat');
  const nb = sampleNotebook([{ output_type: 'stream', name: 'stdout', text: 'x\n' }, { output_type: 'display_data', data: { 'application/vnd.plotly.v1+json': plotlyFigure, 'text/plain': 'f' }, metadata: {} }]);
  assert.ok(nb.cells.every((c) => typeof c.id === 'string' && c.id.length > 0));
  const text = serializeNotebook(nb);
  assert.ok(text.endsWith('}\n'));
  assert.match(text, /^{\n "cells": \[/);
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-nb-'));
  writeFileSync(join(dir, 'a.ipynb'), text);
  const r = spawnSync(PYTHON, ['-c', 'import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], 4)); print("valid")', join(dir, 'a.ipynb')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.throws(() => checkNotebook({ nbformat: 3, worksheets: [], cells: [] }, 'old.ipynb'), /old.ipynb is nbformat 3; only nbformat 4 is supported/);
  assert.throws(() => checkNotebook({ nbformat: 4, cells: [{ cell_type: 'code' }] }, 'x.ipynb'), /x.ipynb: cell 1 has no source text/);
});
