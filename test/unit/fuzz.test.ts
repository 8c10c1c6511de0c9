/**
 * Thousands of mutated real checkpoints of each format: every read either succeeds or throws
 * one CheckpointError; no other exception, no hang. Seeded, so a failure names its case.
 */
import { mulberry32 as rng } from '../../lib/train/data';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint } from '../../lib/formats/read';
import { CheckpointError } from '../../lib/formats/errors';
import { openZip } from '../../lib/formats/zip/read';
import { memorySource } from '../../lib/formats/source';
import { zipStored } from '../../lib/formats/zip/write';
import { encodeSafetensors } from '../../lib/formats/safetensors';
import { TORCH_FIXTURES } from '../helpers/torch';

const CASES = Number(process.env.FUZZ_CASES ?? 2000);
const SLOW_MS = 2000; // a read this slow on a file of a few KB can only be a hang

const EXTREMES = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff];

/** One to three random mutations stacked. */
function mutate(src: Uint8Array, r: () => number): Uint8Array {
  let b = mutateOnce(src, r);
  while (r() < 0.3) b = mutateOnce(b, r);
  return b;
}

/** One random mutation: flip bytes, write an extreme integer, truncate, insert, or duplicate a run. */
function mutateOnce(src: Uint8Array, r: () => number): Uint8Array {
  const b = Buffer.from(src);
  const at = Math.floor(r() * b.length);
  switch (Math.floor(r() * 6)) {
    case 0: { const n = 1 + Math.floor(r() * 8); for (let i = 0; i < n; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256); return b; }
    case 1: { const v = EXTREMES[Math.floor(r() * EXTREMES.length)]; if (at + 4 <= b.length) b.writeUInt32LE(v >>> 0, at); return b; }
    case 2: return b.subarray(0, at);
    case 3: return Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256))), b.subarray(at)]);
    case 4: { const len = Math.floor(r() * 64); return Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]); }
    default: { if (at + 8 <= b.length) b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(Math.floor(r() * 2 ** 53)) * 4096n), at); return b; }
  }
}

async function fuzz(name: string, seed: number, make: (r: () => number) => Promise<Uint8Array | string> | Uint8Array | string): Promise<void> {
  const r = rng(seed);
  let ok = 0, refused = 0;
  for (let i = 0; i < CASES; i++) {
    const input = await make(r);
    const t0 = performance.now();
    try {
      await readCheckpoint(input);
      ok++;
    } catch (e) {
      if (!(e instanceof CheckpointError)) assert.fail(`${name} case ${i} (seed ${seed}): ${(e as Error)?.stack ?? e}`);
      assert.ok(!e.message.includes('\n'), `${name} case ${i}: the error is one line`);
      refused++;
    }
    const ms = performance.now() - t0;
    assert.ok(ms < SLOW_MS, `${name} case ${i} (seed ${seed}) took ${ms.toFixed(0)} ms`);
  }
  assert.ok(refused > CASES / 10, `${name}: mutations were refused ${refused} times of ${CASES}`);
  console.log(`# fuzz ${name}: ${CASES} cases, ${ok} read, ${refused} refused with a CheckpointError`);
}

const zipFixture = readFileSync(join(TORCH_FIXTURES, 'dtype_zoo.pt'));

test('fuzz: PyTorch zip archives, raw byte mutations', () => fuzz('torch-zip', 1, (r) => mutate(zipFixture, r)));

test('fuzz: PyTorch pickles inside valid archives (the CRC is made to match, so the unpickler sees every mutation)', () => {
  const fixtures = ['dtype_zoo.pt', 'whole_module.pt', 'resume.pt', 'protocol4.pt'].map((f) => {
    const bytes = new Uint8Array(readFileSync(join(TORCH_FIXTURES, f)));
    const zip = openZip(memorySource(bytes, f));
    return [...zip.entries.values()].map((e) => ({ name: e.name, data: zip.read(e) }));
  });
  return fuzz('torch-pickle', 2, (r) => {
    const files = fixtures[Math.floor(r() * fixtures.length)];
    const mutated = files.map((f) => (f.name.endsWith('data.pkl') ? { name: f.name, data: mutate(f.data, r) } : f));
    return new Uint8Array(Buffer.concat(zipStored(mutated)));
  });
});

const legacyFixture = readFileSync(join(TORCH_FIXTURES, 'legacy.pt'));
test('fuzz: PyTorch legacy files', () => fuzz('torch-legacy', 3, (r) => mutate(legacyFixture, r)));

const stFixture = Buffer.concat(encodeSafetensors(new Map([
  ['w', { dtype: 'float32', shape: [3, 4], data: new Float32Array(12).fill(1.5) }],
  ['n', { dtype: 'int64', shape: [], data: BigInt64Array.from([7n]) }],
  ['h', { dtype: 'bfloat16', shape: [2], data: Uint16Array.from([1, 2]) }],
]), { epoch: '3' }));
test('fuzz: safetensors', () => fuzz('safetensors', 4, (r) => {
  // Aim half the mutations at the header, where the lies live.
  const m = mutate(r() < 0.5 ? stFixture.subarray(0, 8 + Number(stFixture.readBigUInt64LE(0))) : stFixture, r);
  return r() < 0.5 && m.length < stFixture.length ? Buffer.concat([m, stFixture.subarray(m.length)]) : m;
}));

test('fuzz: TF.js model.json and shards', async () => {
  const src = join(__dirname, '..', 'fixtures', 'tfjs', 'model');
  const manifest = readFileSync(join(src, 'model.json'));
  const json = JSON.parse(manifest.toString()) as { weightsManifest: Array<{ paths: string[] }> };
  const shards = json.weightsManifest.flatMap((g) => g.paths).map((p) => [p, readFileSync(join(src, p))] as const);
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-fuzz-'));
  let n = 0;
  return fuzz('tfjs', 5, (r) => {
    const sub = join(dir, String(n++ % 50));
    require('node:fs').mkdirSync(sub, { recursive: true });
    const target = Math.floor(r() * (shards.length + 1));
    writeFileSync(join(sub, 'model.json'), target === 0 ? mutate(manifest, r) : manifest);
    shards.forEach(([p, b], i) => writeFileSync(join(sub, p), target === i + 1 ? mutate(b, r) : b));
    return join(sub, 'model.json');
  });
});
