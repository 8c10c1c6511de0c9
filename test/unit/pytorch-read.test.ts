/** Reading PyTorch checkpoints made by real PyTorch, compared byte for byte with PyTorch's own dump. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint, CheckpointError } from '../../lib';
import { TORCH_FIXTURES, expectedOf, hexOf } from '../helpers/torch';

const fixtures = readdirSync(TORCH_FIXTURES).filter((f) => f.endsWith('.pt') && existsSync(join(TORCH_FIXTURES, f.replace(/\.pt$/, '.expected.json'))));

test('the fixture set covers every kind the issue names', () => {
  for (const f of ['state_dict.pt', 'dataparallel.pt', 'net_wrapped.pt', 'resume.pt', 'legacy.pt', 'protocol4.pt', 'whole_module.pt', 'dtype_zoo.pt', 'zip64_renamed.pt', 'evil_os_system.pt']) {
    assert.ok(fixtures.includes(f), `missing fixture ${f}`);
  }
});

for (const f of fixtures) {
  test(`${f}: every tensor equals PyTorch's dump byte for byte`, async () => {
    const expected = expectedOf(f);
    const ck = await readCheckpoint(join(TORCH_FIXTURES, f), { root: '' });
    assert.equal(ck.format, expected.format);
    assert.deepEqual([...ck.stateDict.keys()], Object.keys(expected.tensors), 'keys and their order');
    for (const [key, want] of Object.entries(expected.tensors)) {
      const got = ck.stateDict.get(key)!;
      assert.equal(got.dtype, want.dtype, `${key} dtype`);
      assert.deepEqual(got.shape, want.shape, `${key} shape`);
      assert.equal(hexOf(got), want.hex, `${key} bytes`);
    }
    if (expected.values) {
      for (const [path, v] of Object.entries(expected.values)) assert.deepEqual(ck.metadata.values[path], v, `value ${path}`);
    }
  });
}

test('a sniffed format ignores the extension', async () => {
  const bytes = readFileSync(join(TORCH_FIXTURES, 'legacy.pt'));
  const ck = await readCheckpoint(new Uint8Array(bytes));
  assert.equal(ck.format, 'pytorch-legacy');
});

test('DataParallel keys keep their module. prefix', async () => {
  const ck = await readCheckpoint(join(TORCH_FIXTURES, 'dataparallel.pt'));
  assert.ok([...ck.stateDict.keys()].every((k) => k.startsWith('module.')));
});

test('{net: ...} keeps its path in the key unless root picks the sub-tree', async () => {
  const whole = await readCheckpoint(join(TORCH_FIXTURES, 'net_wrapped.pt'));
  assert.ok([...whole.stateDict.keys()].every((k) => k.startsWith('net.')));
  assert.equal(whole.metadata.root, undefined);
  const net = await readCheckpoint(join(TORCH_FIXTURES, 'net_wrapped.pt'), { root: 'net' });
  const plain = await readCheckpoint(join(TORCH_FIXTURES, 'state_dict.pt'));
  assert.deepEqual([...net.stateDict.keys()], [...plain.stateDict.keys()]);
  assert.deepEqual(net.metadata.root, { path: 'net', chosenBy: 'caller' });
});

test('a resume checkpoint: the reader picks model_state_dict and says so; epoch, loss and param_groups are metadata', async () => {
  const ck = await readCheckpoint(join(TORCH_FIXTURES, 'resume.pt'));
  const plain = await readCheckpoint(join(TORCH_FIXTURES, 'state_dict.pt'));
  assert.deepEqual([...ck.stateDict.keys()], [...plain.stateDict.keys()]);
  assert.deepEqual(ck.metadata.root, { path: 'model_state_dict', chosenBy: 'reader' });
  assert.ok(ck.metadata.outsideRoot?.optimizer_state_dict, 'optimizer tensors are counted');
  assert.match(ck.metadata.notes.join('\n'), /model_state_dict/);
  assert.equal(ck.metadata.values.epoch, 7);
  assert.equal(ck.metadata.values.loss, 0.125);
  assert.ok(Array.isArray(ck.metadata.values['optimizer_state_dict.param_groups']));
  const opt = await readCheckpoint(join(TORCH_FIXTURES, 'resume.pt'), { root: 'optimizer_state_dict' });
  assert.ok([...opt.stateDict.keys()].every((k) => /^state\.\d+\.momentum_buffer$/.test(k)));
});

test('a root that holds no tensors is a clear error naming what is there', async () => {
  await assert.rejects(readCheckpoint(join(TORCH_FIXTURES, 'resume.pt'), { root: 'nope' }),
    (e: unknown) => e instanceof CheckpointError && /no tensors under root 'nope'/.test(e.message) && /model_state_dict/.test(e.message));
});

test('a whole pickled module gives its state_dict() keys, without its non-persistent buffer, and runs nothing', async () => {
  const ck = await readCheckpoint(join(TORCH_FIXTURES, 'whole_module.pt'));
  const expected = expectedOf('whole_module.pt');
  assert.deepEqual([...ck.stateDict.keys()], Object.keys(expected.tensors));
  assert.match(ck.metadata.notes.join('\n'), /no code ran/);
});

test('tensors of a zip checkpoint are views of the file bytes, not copies', async () => {
  const bytes = new Uint8Array(readFileSync(join(TORCH_FIXTURES, 'state_dict.pt')));
  const ck = await readCheckpoint(bytes);
  for (const [key, t] of ck.stateDict) if (t.data.length) assert.equal(t.data.buffer, bytes.buffer, `${key} is a view`);
});

for (const f of ['evil_os_system.pt', 'evil_eval.pt', 'user_class.pt']) {
  test(`${f}: unsafe globals are never called; tensors still come out; strictGlobals refuses`, async () => {
    const marker = '/tmp/tsfreeze_pwned';
    rmSync(marker, { force: true });
    const expected = expectedOf(f);
    const ck = await readCheckpoint(join(TORCH_FIXTURES, f));
    for (const [key, want] of Object.entries(expected.tensors)) assert.equal(hexOf(ck.stateDict.get(key)!), want.hex);
    assert.equal(existsSync(marker), false, 'nothing was executed');
    for (const g of expected.unsafe_globals ?? []) {
      assert.ok(JSON.stringify(ck.metadata).includes(g), `${g} is reported`);
      await assert.rejects(readCheckpoint(join(TORCH_FIXTURES, f), { strictGlobals: true }),
        (e: unknown) => e instanceof CheckpointError && e.message.includes(g));
    }
  });
}
