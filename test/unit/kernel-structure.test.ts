/** How the kernel's code is put together: tslab's internals in one adapter; the CLI's commands and the magics share modules but never import each other. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../helpers/cli';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every module a file imports (static and dynamic), as written. */
function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/(?:from\s+|import\(\s*|require\(\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]);
}

const all = [...sources(join(ROOT, 'kernel')), ...sources(join(ROOT, 'lib'))];

test("only kernel/server/tslab.ts imports tslab's internals (tslab/dist/*)", () => {
  const users = all.filter((f) => imports(f).some((m) => m.startsWith('tslab/dist')));
  assert.deepEqual(users.map((f) => relative(ROOT, f)), ['kernel/server/tslab.ts']);
});

test('kernel/commands and kernel/magics do not import each other', () => {
  const crossing: string[] = [];
  for (const f of all) {
    const rel = relative(ROOT, f);
    const other = rel.startsWith('kernel/commands/') ? 'magics' : rel.startsWith('kernel/magics/') ? 'commands' : undefined;
    if (other && imports(f).some((m) => m.split('/').includes(other) && m.startsWith('.'))) crossing.push(rel);
  }
  assert.deepEqual(crossing, []);
});

test('the library never imports the kernel', () => {
  const up = all.filter((f) => relative(ROOT, f).startsWith('lib/') && imports(f).some((m) => /(^|\/)kernel\//.test(m)));
  assert.deepEqual(up.map((f) => relative(ROOT, f)), []);
});

test('the kernel refuses a tslab other than the one its adapter was checked against, naming both versions', async () => {
  const { checkTslab, installedTslabVersion, TSLAB_CHECKED_VERSION } = await import('../../kernel/server/tslab');
  assert.equal(installedTslabVersion(), TSLAB_CHECKED_VERSION, 'the installed tslab is the checked one');
  assert.doesNotThrow(() => checkTslab());
  assert.throws(() => checkTslab('1.0.23'), (e: Error) => e.message.includes(`tslab ${TSLAB_CHECKED_VERSION}`) && e.message.includes('tslab 1.0.23 is installed') && /npm ci/.test(e.message));
});
