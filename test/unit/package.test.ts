/** The package as users get it: its main export from plain Node (CommonJS and ESM), its bin. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tsfreeze } from '../helpers/cli';

const fixture = join(ROOT, 'test', 'fixtures', 'torch', 'state_dict.pt');
const run = (args: string[]) => spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });

test('require("tsfreeze") works from plain CommonJS', () => {
  const r = run(['-e', `const t = require('tsfreeze'); t.readCheckpoint(${JSON.stringify(fixture)}).then((c) => console.log(c.format, c.stateDict.size))`]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^pytorch-zip \d+/);
});

test('import { readCheckpoint } from "tsfreeze" works from plain ESM', () => {
  const r = run(['--input-type=module', '-e', `import { readCheckpoint, writeCheckpoint, CheckpointError } from 'tsfreeze'; const c = await readCheckpoint(${JSON.stringify(fixture)}); console.log(typeof writeCheckpoint, typeof CheckpointError, c.stateDict.size)`]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^function function \d+/);
});

test('package.json: exports the library with types, bin.tsfreeze is the CLI', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'tsfreeze');
  assert.ok(pkg.exports['.'].types.endsWith('.d.ts'));
  assert.equal(pkg.bin.tsfreeze, './dist/kernel/cli.js');
  assert.match(readFileSync(join(ROOT, pkg.bin.tsfreeze), 'utf8'), /^#!\/usr\/bin\/env node/);
  const r = tsfreeze('--help');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /keys FILE/);
});
