/**
 * README's "PyTorch modules in TF.js" table is derived from the layer table: it must name every
 * PyTorch module that some registered layer class stands for (`torchModules`), so a layer added to
 * the table without a README row fails here. The zoo table's builders must be exports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as lib from '../../lib';
import { layerForms } from '../../lib/model/torch-layout';

const README = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');

/** The lines of the README section under `heading`. */
function section(heading: string): string[] {
  const start = README.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has no section "## ${heading}"`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end).split('\n');
}

/** The first cell of each row of the section's table (header and rule left out). */
function firstCells(lines: string[]): string[] {
  return lines.filter((l) => l.startsWith('| ') && !l.startsWith('|---')).slice(1).map((l) => l.split(/(?<!\\)\|/)[1]);
}

/** Module class names in code spans: `nn.GELU(approximate='tanh')` -> GELU, `BatchNorm1d` -> BatchNorm1d. */
function moduleNames(cell: string): string[] {
  return [...cell.matchAll(/`(?:nn\.|ops\.)?([A-Z]\w*)/g)].map((m) => m[1]);
}

test('the README table names every PyTorch module of the layer table', () => {
  const named = new Set(firstCells(section('PyTorch modules in TF.js')).flatMap(moduleNames));
  const wanted = new Map<string, string>();
  for (const [cls, form] of layerForms()) for (const m of form.torchModules ?? []) wanted.set((/^(?:nn\.|ops\.)?(\w+)/.exec(m) as RegExpExecArray)[1], cls);
  assert.ok(wanted.size >= 15, `the layer table lists only ${wanted.size} PyTorch modules`);
  const missing = [...wanted].filter(([m]) => !named.has(m)).map(([m, cls]) => `${m} (layer class ${cls})`);
  assert.deepEqual(missing, [], `README's "PyTorch modules in TF.js" lacks rows for: ${missing.join(', ')}`);
});

test('every builder in the README zoo table is exported by tsfreeze', () => {
  const lines = section('Real architectures: the zoo, whole pickled modules, head surgery');
  const cells = lines.filter((l) => l.trim().startsWith('| `')).map((l) => l.trim().split('|')[1]);
  const builders = cells.flatMap((c) => [...c.matchAll(/`(\w+)\(/g)].map((m) => m[1]));
  assert.ok(builders.length >= 10, `found only ${builders.length} builders in the zoo table`);
  const exported = lib as unknown as Record<string, unknown>;
  assert.deepEqual(builders.filter((b) => typeof exported[b] !== 'function'), []);
});
