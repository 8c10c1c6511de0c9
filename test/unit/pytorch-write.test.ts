/** What tsfreeze writes, real PyTorch reads: torch.load(weights_only=True), every tensor bit-identical. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint, writeCheckpoint, type StateDict } from '../../lib';
import { encodeTorchZip } from '../../lib/formats/pytorch/write';
import { atomicWrite } from '../../lib/formats/atomic-write';
import { PYTHON, TORCH_FIXTURES, expectedOf, hexOf, python, requireTorch } from '../helpers/torch';

requireTorch();
const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-write-'));
const CHECK = join(TORCH_FIXTURES, 'check_roundtrip.py');

/** The expected-dump JSON of a state dict as tsfreeze holds it. */
function dumpOf(sd: StateDict): string {
  return JSON.stringify({ tensors: Object.fromEntries([...sd].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, hex: hexOf(t) }])) });
}

function torchReads(file: string, sd: StateDict, extra: string[] = []): string {
  const exp = `${file}.expected.json`;
  writeFileSync(exp, dumpOf(sd));
  return execFileSync(PYTHON, [CHECK, file, exp, ...extra], { encoding: 'utf8' });
}

const fixtures = readdirSync(TORCH_FIXTURES).filter((f) => f.endsWith('.pt') && !f.startsWith('evil') && existsSync(join(TORCH_FIXTURES, f.replace(/\.pt$/, '.expected.json'))));
for (const f of fixtures) {
  test(`${f} read by tsfreeze, written as .pth, is read by torch.load(weights_only=True) bit for bit`, async () => {
    const ck = await readCheckpoint(join(TORCH_FIXTURES, f), { root: '' });
    const out = join(dir, f.replace(/\.pt$/, '.pth'));
    await writeCheckpoint(out, ck.stateDict);
    assert.match(torchReads(out, ck.stateDict), new RegExp(`roundtrip ok ${ck.stateDict.size} tensors`));
  });
}

test('a written .pth loads with load_state_dict(strict=True) into the module it came from', async () => {
  const ck = await readCheckpoint(join(TORCH_FIXTURES, 'state_dict.pt'));
  const out = join(dir, 'strict.pth');
  await writeCheckpoint(out, ck.stateDict);
  const ref = join(TORCH_FIXTURES, 'state_dict.pt');
  const r = python(`import torch,sys\na=torch.load(sys.argv[1]); b=torch.load(sys.argv[2], weights_only=True)\nassert list(a)==list(b)\nprint(all(torch.equal(a[k], b[k]) for k in a))`, [ref, out]);
  assert.equal(r.trim(), 'True');
});

test('metadata beside the state dict: ints and strings load with weights_only=True, floats with a full load (torch 1.13 has no float opcode in weights_only)', async () => {
  const sd: StateDict = new Map([['w', { dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) }]]);
  const out = join(dir, 'meta.pth');
  await writeCheckpoint(out, sd, { metadata: { epoch: 7, name: 'run-1', ids: [1, 2, 3] } });
  assert.equal(python(`import torch,sys\nc=torch.load(sys.argv[1], weights_only=True)\nprint(c['epoch'], c['name'], c['ids'], c['state_dict']['w'].tolist())`, [out]).trim(), "7 run-1 [1, 2, 3] [1.0, 2.0]");
  await writeCheckpoint(out, sd, { metadata: { loss: 0.125, lr: [0.001, 0.01] } });
  assert.equal(python(`import torch,sys\nc=torch.load(sys.argv[1])\nprint(c['loss'], c['lr'])`, [out]).trim(), '0.125 [0.001, 0.01]');
  const back = await readCheckpoint(out);
  assert.deepEqual(back.metadata.values, { loss: 0.125, lr: [0.001, 0.01] });
  assert.deepEqual(back.metadata.root, { path: 'state_dict', chosenBy: 'reader' });
});

test('ZIP64 archives written by tsfreeze are read by PyTorch and by tsfreeze', async () => {
  const ck = await readCheckpoint(join(TORCH_FIXTURES, 'dtype_zoo.pt'), { root: '' });
  const out = join(dir, 'zip64.pth');
  writeFileSync(out, Buffer.concat(encodeTorchZip(ck.stateDict, { forceZip64: true, rootName: 'other_root' })));
  assert.match(torchReads(out, ck.stateDict), /roundtrip ok/);
  const back = await readCheckpoint(out);
  assert.equal(back.stateDict.size, ck.stateDict.size);
});

test('records are 64-byte aligned, so every tensor read back is a view', async () => {
  const ck = await readCheckpoint(join(TORCH_FIXTURES, 'dtype_zoo.pt'), { root: '' });
  const out = join(dir, 'aligned.pth');
  await writeCheckpoint(out, ck.stateDict);
  const bytes = new Uint8Array(readFileSync(out));
  const back = await readCheckpoint(bytes);
  for (const [k, t] of back.stateDict) if (t.data.length) assert.equal(t.data.buffer, bytes.buffer, `${k} is a view`);
});

test('safetensors written by tsfreeze parse per the spec in Python and match byte for byte', async () => {
  const ck = await readCheckpoint(join(TORCH_FIXTURES, 'dtype_zoo.pt'), { root: '' });
  // 'rows' views 'base' in the zoo: safetensors cannot store a view, so it gets its own copy here.
  const rows = ck.stateDict.get('rows')!;
  ck.stateDict.set('rows', { ...rows, data: rows.data.slice() } as typeof rows);
  const out = join(dir, 'zoo.safetensors');
  await writeCheckpoint(out, ck.stateDict, { metadata: { source: 'dtype_zoo' } });
  // An independent reader of the format, in Python, straight from the spec.
  const hexes = JSON.parse(python(`import json,struct,sys
b=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); data=b[8+n:]
meta=h.pop('__metadata__')
assert (8+n)%8==0 and sorted((v['data_offsets'] for v in h.values()))[-1][1]==len(data)
print(json.dumps({'meta':meta, 't':{k:data[v['data_offsets'][0]:v['data_offsets'][1]].hex() for k,v in h.items()}}))`, [out]));
  assert.deepEqual(hexes.meta, { source: 'dtype_zoo' });
  for (const [k, t] of ck.stateDict) assert.equal(hexes.t[k], hexOf(t), k);
});

test('an interrupted write leaves the old checkpoint in place and no temporary file behind', async () => {
  const out = join(dir, 'atomic.pth');
  const sd: StateDict = new Map([['w', { dtype: 'float32', shape: [1], data: Float32Array.from([1]) }]]);
  await writeCheckpoint(out, sd);
  const before = readFileSync(out);
  const chunks = encodeTorchZip(new Map([['w', { dtype: 'float32', shape: [4], data: Float32Array.from([1, 2, 3, 4]) }]]));
  function* failing() { yield chunks[0]; yield chunks[1]; throw new Error('disk unplugged'); }
  await assert.rejects(atomicWrite(out, failing()), /disk unplugged/);
  assert.deepEqual(readFileSync(out), before);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
  assert.equal((await readCheckpoint(out)).stateDict.get('w')!.shape[0], 1);
});

test('shared tensors: a .pth keeps them shared (one storage, written once, still shared in torch.load); safetensors and TF.js refuse them', async () => {
  const big = new Float32Array(64 * 1024).map((_, i) => i);
  const sd: StateDict = new Map();
  for (let i = 0; i < 50; i++) sd.set(`tied.${i}`, { dtype: 'float32', shape: [256, 256], data: big });
  sd.set('half', { dtype: 'float32', shape: [128, 256], data: big.subarray(128 * 256) });
  const out = join(dir, 'tied.pth');
  await writeCheckpoint(out, sd);
  assert.ok(readFileSync(out).length < big.byteLength + 64 * 1024, `written once: ${readFileSync(out).length} bytes`);
  assert.equal(python(`import torch,sys
c=torch.load(sys.argv[1], weights_only=True)
p={t.storage().data_ptr() for t in c.values()}
print(len(c), len(p), c['half'].storage_offset(), torch.equal(c['half'], c['tied.0'][128:]))`, [out]).trim(), '51 1 32768 True');
  const back = await readCheckpoint(out);
  assert.equal(back.stateDict.get('tied.0')!.data, back.stateDict.get('tied.49')!.data, 'aliases come back as one array');
  for (const ext of ['safetensors', 'json']) {
    await assert.rejects(writeCheckpoint(join(dir, `tied.${ext}`), sd), /tensors 'tied\.0', 'tied\.1', 'tied\.2', 'tied\.3' and 47 more share memory; .*keep one key of each group/);
    assert.equal(existsSync(join(dir, `tied.${ext}`)), false, 'nothing written');
  }
});

test("dtype_zoo's views of one storage stay views of one storage through tsfreeze's .pth", async () => {
  const ck = await readCheckpoint(join(TORCH_FIXTURES, 'dtype_zoo.pt'), { root: '' });
  const out = join(dir, 'zoo-views.pth');
  await writeCheckpoint(out, ck.stateDict);
  assert.equal(python(`import torch,sys
c=torch.load(sys.argv[1], weights_only=True)
print(c['rows'].storage().data_ptr()==c['base'].storage().data_ptr(), c['rows'].storage_offset())`, [out]).trim(), 'True 6');
});
