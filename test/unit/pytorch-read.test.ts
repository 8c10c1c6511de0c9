/** Reading PyTorch checkpoints made by real PyTorch, compared byte for byte with PyTorch's own dump. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint, CheckpointError } from '../../lib';
import { TORCH_FIXTURES, expectedOf, hexOf, python } from '../helpers/torch';

const fixtures = readdirSync(TORCH_FIXTURES).filter((f) => f.endsWith('.pt') && existsSync(join(TORCH_FIXTURES, f.replace(/\.pt$/, '.expected.json'))));
/** Fixtures that call code when torch.load opens them: refused, tested apart. */
const DANGEROUS = ['evil_os_system.pt', 'evil_eval.pt'];

test('the fixture set covers every kind the issue names', () => {
  for (const f of ['state_dict.pt', 'dataparallel.pt', 'net_wrapped.pt', 'resume.pt', 'legacy.pt', 'protocol4.pt', 'whole_module.pt', 'dtype_zoo.pt', 'zip64_renamed.pt', 'evil_os_system.pt']) {
    assert.ok(fixtures.includes(f), `missing fixture ${f}`);
  }
});

for (const f of fixtures.filter((x) => !DANGEROUS.includes(x))) {
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

for (const f of DANGEROUS) {
  test(`${f}: refused with one line naming the global and its byte offset, with or without strictGlobals; nothing runs`, async () => {
    const marker = '/tmp/tsfreeze_pwned';
    rmSync(marker, { force: true });
    const [g] = expectedOf(f).unsafe_globals!;
    for (const opts of [{}, { strictGlobals: true }, { strictGlobals: true, allowGlobals: ['__main__.UserThing'] }]) {
      await assert.rejects(readCheckpoint(join(TORCH_FIXTURES, f), opts), (e: unknown) => {
        assert.ok(e instanceof CheckpointError, String(e));
        assert.match(e.message, new RegExp(`pickle names ${g.replace('.', '\\.')} \\(.*\\) at byte \\d+; torch\\.load would call it`));
        assert.ok(!e.message.includes('\n'));
        return true;
      });
    }
    assert.equal(existsSync(marker), false, 'nothing was executed');
  });
}

test('user_class.pt: a user class is an inert placeholder (tensors come out); strictGlobals refuses it unless allowGlobals lists it', async () => {
  const f = join(TORCH_FIXTURES, 'user_class.pt');
  const expected = expectedOf('user_class.pt');
  const ck = await readCheckpoint(f);
  for (const [key, want] of Object.entries(expected.tensors)) assert.equal(hexOf(ck.stateDict.get(key)!), want.hex);
  assert.deepEqual((ck.metadata.values.x as { $object: string }).$object, '__main__.UserThing');
  await assert.rejects(readCheckpoint(f, { strictGlobals: true }),
    (e: unknown) => e instanceof CheckpointError && /global __main__\.UserThing is not on PyTorch's weights_only allow-list .* at byte \d+/.test(e.message));
  const allowed = await readCheckpoint(f, { strictGlobals: true, allowGlobals: ['__main__.UserThing'] });
  assert.equal(hexOf(allowed.stateDict.get('w')!), expected.tensors.w.hex);
  await assert.rejects(readCheckpoint(f, { strictGlobals: true, allowGlobals: ['os.system'] }), /allowGlobals lists os\.system/);
});

test('whole-module saves of real torchvision models (ViT with functools.partial, SqueezeNet) read with their state_dict() keys and values', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-whole-'));
  try {
    const want = JSON.parse(python(`import json, sys, torch, torchvision
from torchvision.models.vision_transformer import VisionTransformer
torch.manual_seed(0)
out = {}
for name, m in [('vit', VisionTransformer(image_size=32, patch_size=16, num_layers=1, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=3)), ('squeezenet', torchvision.models.squeezenet1_0())]:
    torch.save(m, sys.argv[1] + '/' + name + '.pt')
    out[name] = {k: [list(v.shape), float(v.double().sum())] for k, v in m.state_dict().items()}
print(json.dumps(out))`, [dir])) as Record<string, Record<string, [number[], number]>>;
    for (const [name, tensors] of Object.entries(want)) {
      const ck = await readCheckpoint(join(dir, `${name}.pt`));
      assert.deepEqual([...ck.stateDict.keys()], Object.keys(tensors), `${name} keys`);
      for (const [k, [shape, sum]] of Object.entries(tensors)) {
        const t = ck.stateDict.get(k)!;
        assert.deepEqual(t.shape, shape, k);
        const got = Array.from(t.data as ArrayLike<number | bigint>, Number).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(got - sum) <= 1e-6 * Math.max(1, Math.abs(sum)) * 10, `${name} ${k}: ${got} vs ${sum}`);
      }
      assert.match(ck.metadata.notes.join('\n'), /no code ran/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
