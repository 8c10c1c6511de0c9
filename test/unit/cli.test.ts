/** The `tsfreeze keys` and `tsfreeze convert` commands, run as a user runs them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint } from '../../lib';
import { TORCH_FIXTURES, expectedOf, hexOf, python } from '../helpers/torch';
import { tsfreeze } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-cli-'));
const fixture = (f: string) => join(TORCH_FIXTURES, f);

test('keys lists key, dtype and shape per tensor, then totals', () => {
  const r = tsfreeze('keys', fixture('state_dict.pt'));
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^key\s+dtype\s+shape$/);
  assert.match(r.stdout, /^0\.weight\s+float32\s+\[4, 1, 3, 3\]$/m);
  assert.match(r.stdout, /^1\.num_batches_tracked\s+int64\s+\[\]$/m);
  const expected = expectedOf('state_dict.pt');
  const params = Object.values(expected.tensors).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  assert.match(lines[lines.length - 1], new RegExp(`^${Object.keys(expected.tensors).length} tensors, ${params.toLocaleString('en-US')} parameters, .* \\(pytorch-zip\\)$`));
});

test('keys --json gives the same data as JSON; --root picks a sub-tree', () => {
  const r = tsfreeze('keys', fixture('resume.pt'), '--root', 'optimizer_state_dict', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.format, 'pytorch-zip');
  assert.ok(j.tensors.length > 0 && j.tensors.every((t: { key: string }) => t.key.startsWith('state.')));
  assert.equal(j.totals.tensors, j.tensors.length);
  assert.equal(j.metadata.values.epoch, 7);
});

test('keys shows the module tree of a whole pickled module (classes and attributes, read, not run)', () => {
  const file = join(dir, 'whole_resnet.pt');
  python(`import sys, torch, torchvision\ntorch.save(torchvision.models.resnet18(num_classes=3), sys.argv[1])`, [file]);
  const r = tsfreeze('keys', file);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /a whole pickled module \(torch\.save\(model\)\): modelFromCheckpoint\(file\) or %load NAME FILE rebuild it/);
  assert.match(r.stdout, /^\(root\): ResNet\b/m);
  assert.match(r.stdout, /^  conv1: Conv2d\(in_channels=3, out_channels=64, kernel_size=\(7, 7\), stride=\(2, 2\), padding=\(3, 3\)/m);
  assert.match(r.stdout, /^      downsample: Sequential\n        0: Conv2d\(in_channels=64, out_channels=128, kernel_size=\(1, 1\), stride=\(2, 2\)/m);
  assert.match(r.stdout, /^  fc: Linear\(in_features=512, out_features=3\)$/m);
  const j = JSON.parse(tsfreeze('keys', file, '--json').stdout);
  assert.equal(j.modules.cls, 'torchvision.models.resnet.ResNet');
  assert.equal(j.modules.children.length, 10);
});

test('keys says which root the reader chose', () => {
  const r = tsfreeze('keys', fixture('resume.pt'));
  assert.match(r.stdout, /root 'model_state_dict' \(chosen by the reader\)/);
  assert.match(r.stdout, /^note: used 'model_state_dict'/m);
});

for (const ext of ['safetensors', 'pth', 'json']) {
  test(`convert to .${ext} keeps every tensor (values compared with PyTorch's dump)`, async () => {
    const out = join(dir, `dp.${ext}`);
    const r = tsfreeze('convert', fixture('dataparallel.pt'), out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wrote .* \d+ tensors/);
    const back = await readCheckpoint(out);
    const expected = expectedOf('dataparallel.pt');
    for (const [key, want] of Object.entries(expected.tensors)) {
      const got = back.stateDict.get(key);
      assert.ok(got, `${key} present`);
      if (ext !== 'json' || want.dtype === 'float32') assert.equal(hexOf(got), want.hex, key); // TF.js narrows int64 to int32
    }
  });
}

const badInputs: Array<[string, () => string[], RegExp]> = [
  ['a missing file', () => ['keys', join(dir, 'nope.pt')], /nope\.pt: cannot be read: ENOENT/],
  ['a file that is no checkpoint', () => { const f = join(dir, 'text.pt'); writeFileSync(f, 'hello world, not a checkpoint'); return ['keys', f]; }, /text\.pt: is not a checkpoint in any supported format/],
  ['a truncated checkpoint', () => { const f = join(dir, 'cut.pt'); writeFileSync(f, require('node:fs').readFileSync(fixture('state_dict.pt')).subarray(0, 3000)); return ['keys', f]; }, /cut\.pt: zip archive has no end-of-central-directory record/],
  ['an unknown output extension', () => ['convert', fixture('state_dict.pt'), join(dir, 'x.h5')], /x\.h5: has extension '\.h5'/],
  ['an unknown command', () => ['frobnicate'], /unknown command 'frobnicate'/],
  ['a missing argument', () => ['keys'], /expected 1 argument, got 0/],
  ['an unknown option', () => ['keys', fixture('state_dict.pt'), '--nope'], /Unknown option '--nope'/],
];
for (const [name, args, re] of badInputs) {
  test(`bad input (${name}): exit code 1 and a line that says what is wrong`, () => {
    const r = tsfreeze(...args());
    assert.equal(r.code, 1);
    assert.match(r.stderr.split('\n')[0], re);
    assert.equal(r.stdout, '');
  });
}

test('every command answers --help (and -h) from its option table: its usage line and every option, exit 0', () => {
  const { COMMANDS } = require('../../kernel/commands/index') as typeof import('../../kernel/commands/index');
  assert.ok(COMMANDS.length >= 6);
  for (const c of COMMANDS) {
    for (const flag of ['--help', '-h']) {
      const r = tsfreeze(c.name, flag);
      assert.equal(r.code, 0, `${c.name} ${flag}: ${r.stderr}`);
      assert.equal(r.stderr, '');
      assert.ok(r.stdout.startsWith(`usage: tsfreeze ${c.name} ${c.args}\n`), r.stdout);
      for (const name of Object.keys(c.options)) assert.match(r.stdout, new RegExp(`^  --${name}\\b`, 'm'), `${c.name} --help lists --${name}`);
    }
  }
  // Help wins over missing arguments; the overview lists every command.
  assert.equal(tsfreeze('keys', '--help').code, 0);
  const all = tsfreeze('--help');
  assert.equal(all.code, 0);
  for (const c of COMMANDS) assert.match(all.stdout, new RegExp(`^  ${c.name} `, 'm'));
});

test('install --prefix writes the kernelspec with its logos and the plotly.js nbextension, which the kernelspec names; --uninstall removes both', () => {
  const prefix = mkdtempSync(join(tmpdir(), 'tsfreeze-install-'));
  const share = join(prefix, 'share', 'jupyter');
  const r = tsfreeze('install', '--prefix', prefix);
  assert.equal(r.code, 0, r.stderr);
  const { existsSync, readFileSync, statSync } = require('node:fs') as typeof import('node:fs');
  const spec = JSON.parse(readFileSync(join(share, 'kernels', 'tsfreeze', 'kernel.json'), 'utf8')) as { env: Record<string, string> };
  for (const logo of ['logo-32x32.png', 'logo-64x64.png']) {
    const png = readFileSync(join(share, 'kernels', 'tsfreeze', logo));
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    const size = Number(/(\d+)x/.exec(logo)![1]);
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [size, size], `${logo} is ${size}×${size}`);
  }
  const plotly = join(share, 'nbextensions', 'tsfreeze', 'plotly.min.js');
  assert.equal(spec.env.TSFREEZE_PLOTLY_NBEXTENSION, plotly);
  assert.ok(statSync(plotly).size > 1_000_000, 'the whole of plotly.js');
  assert.match(readFileSync(plotly, 'utf8').slice(0, 200), /plotly\.js v\d/);
  assert.equal(tsfreeze('install', '--prefix', prefix, '--uninstall').code, 0);
  assert.equal(existsSync(join(share, 'kernels', 'tsfreeze')), false);
  assert.equal(existsSync(join(share, 'nbextensions', 'tsfreeze')), false);
});
