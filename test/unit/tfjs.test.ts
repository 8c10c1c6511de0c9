import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { looksLikeTfjsModelJson, readTfjs, writeTfjs, DEFAULT_SHARD_BYTES } from '../../lib/formats/tfjs';
import { shardNames } from '../../lib/formats/tfjs-commit';
import { limitsFor } from '../../lib/formats/formats';
import type { DType, HostTensor, StateDict } from '../../lib/statedict/tensor';
import type { Checkpoint } from '../../lib/formats/checkpoint';

const FIXTURES = join(__dirname, '..', 'fixtures', 'tfjs');

type Expected = { name: string; dtype: string; shape: number[]; values: Array<number | string> };
type ExpectedFile = { tfjsVersion: string; model: Expected[]; quantized: Expected[] };

let expected: ExpectedFile;
let scratch: string;

before(async () => {
  await tf.setBackend('cpu');
  expected = JSON.parse(await readFile(join(FIXTURES, 'expected.json'), 'utf8')) as ExpectedFile;
  scratch = await mkdtemp(join(tmpdir(), 'tsfreeze-tfjs-'));
});
after(async () => { await rm(scratch, { recursive: true, force: true }); });

/** A value of expected.json back as a number (NaN, ±Infinity and -0 are kept as strings there). */
function decodeValue(v: number | string): number {
  return typeof v === 'number' ? v : v === '-0' ? -0 : Number(v);
}

/** Reads the model.json at `file` with readTfjs. */
async function readFixture(file: string, opts = {}): Promise<Checkpoint> {
  return readTfjs(await readFile(file), file, opts, limitsFor('tfjs', opts));
}

/** Asserts a state dict holds exactly `weights`, in order, value for value (NaN equal to NaN, -0 distinct). */
function assertMatches(sd: StateDict, weights: Expected[]): void {
  assert.deepEqual([...sd.keys()], weights.map((w) => w.name));
  for (const w of weights) {
    const t = sd.get(w.name)!;
    assert.equal(t.dtype, w.dtype, w.name);
    assert.deepEqual(t.shape, w.shape, w.name);
    assert.deepEqual(Array.from(t.data as ArrayLike<number>), w.values.map(decodeValue), w.name);
  }
}

/** A fresh, empty folder under the scratch folder. */
async function freshDir(name: string): Promise<string> {
  const dir = join(scratch, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Copies a fixture folder to a fresh scratch folder, to damage it there. */
async function copyFixture(fixture: string, name: string): Promise<string> {
  const dir = await freshDir(name);
  await cp(join(FIXTURES, fixture), dir, { recursive: true });
  return dir;
}

/** Writes `manifest` (and shards) as a model.json in a fresh folder; returns its path. */
async function writeManifest(name: string, weightsManifest: unknown, shards: Record<string, Uint8Array> = {}): Promise<string> {
  const dir = await freshDir(name);
  await mkdir(dir, { recursive: true });
  for (const [n, bytes] of Object.entries(shards)) await writeFile(join(dir, n), bytes);
  const file = join(dir, 'model.json');
  await writeFile(file, JSON.stringify({ format: 'layers-model', weightsManifest }));
  return file;
}

/** Awaits `p` and asserts it rejects with a CheckpointError whose message matches every pattern. */
async function rejectsWith(p: Promise<unknown>, ...patterns: RegExp[]): Promise<Error> {
  try {
    await p;
  } catch (e) {
    const err = e as Error;
    assert.equal(err.name, 'CheckpointError', `expected a CheckpointError, got ${err.name}: ${err.message}`);
    for (const re of patterns) assert.match(err.message, re);
    assert.ok(!err.message.includes('\n'), 'the message is one line');
    return err;
  }
  assert.fail('expected a CheckpointError');
}

function tensor<D extends DType>(dtype: D, shape: number[], data: HostTensor<D>['data']): HostTensor {
  return { dtype, shape, data } as HostTensor;
}

/** The bytes of every shard of a written model.json, concatenated in manifest order, and its specs. */
async function shardsOf(file: string): Promise<{ json: Record<string, unknown>; data: ArrayBuffer; specs: tf.io.WeightsManifestEntry[] }> {
  const json = JSON.parse(await readFile(file, 'utf8')) as { weightsManifest: tf.io.WeightsManifestConfig } & Record<string, unknown>;
  const dir = join(file, '..');
  const pieces: Uint8Array[] = [];
  for (const g of json.weightsManifest) for (const p of g.paths) pieces.push(new Uint8Array(await readFile(join(dir, p))));
  const data = tf.io.concatenateArrayBuffers(pieces.map((p) => p.slice().buffer));
  return { json, data, specs: tf.io.getWeightSpecs(json.weightsManifest) };
}

/** Captures the warnings `fn` emits through process.emitWarning. */
async function captureWarnings(t: TestContext, fn: () => Promise<void>): Promise<string[]> {
  const warnings: string[] = [];
  const mock = t.mock.method(process, 'emitWarning', (w: string | Error) => { warnings.push(String(w)); });
  try { await fn(); } finally { mock.mock.restore(); }
  return warnings;
}

describe('looksLikeTfjsModelJson', () => {
  it('recognises model.json text, with or without a BOM and leading space', async () => {
    const bytes = await readFile(join(FIXTURES, 'model', 'model.json'));
    assert.equal(looksLikeTfjsModelJson(bytes), true);
    assert.equal(looksLikeTfjsModelJson(Buffer.from('\ufeff \n {"weightsManifest": []}')), true);
  });

  it('rejects other JSON, non-objects and binary data', () => {
    assert.equal(looksLikeTfjsModelJson(Buffer.from('{"modelTopology": {}}')), false);
    assert.equal(looksLikeTfjsModelJson(Buffer.from('["weightsManifest"]')), false);
    assert.equal(looksLikeTfjsModelJson(new Uint8Array([0x80, 0x02, 0x7b])), false);
    assert.equal(looksLikeTfjsModelJson(new Uint8Array(0)), false);
  });
});

describe('readTfjs on files TF.js wrote', () => {
  it('reads a Layers model saved by model.save, sharded mid-tensor, value for value', async () => {
    const ckpt = await readFixture(join(FIXTURES, 'model', 'model.json'));
    assert.equal(ckpt.format, 'tfjs');
    assertMatches(ckpt.stateDict, expected.model);
    assert.ok(ckpt.stateDict.has('dense_Dense1/kernel'));
  });

  it('keeps model.json fields and userDefinedMetadata as metadata, and notes what it did not read', async () => {
    const { metadata } = await readFixture(join(FIXTURES, 'model', 'model.json'));
    assert.equal(metadata.values.format, 'layers-model');
    assert.equal(metadata.values.generatedBy, `TensorFlow.js tfjs-layers v${expected.tfjsVersion}`);
    assert.equal(metadata.values.convertedBy, null);
    assert.equal(metadata.values.epoch, 1);
    assert.equal(metadata.values.note, 'tsfreeze fixture');
    const notes = metadata.notes.join('\n');
    assert.match(notes, /model topology \(Sequential, 4 layers\)/);
    assert.match(notes, /13 weight\(s\) are optimizer state: 'iter'/);
    assert.match(notes, /training config/);
  });

  it('views a weight that lies inside one shard without copying it', async () => {
    const { stateDict } = await readFixture(join(FIXTURES, 'model', 'model.json'));
    const bias = stateDict.get('dense_Dense1/bias')!;
    const shard3 = await readFile(join(FIXTURES, 'model', 'group1-shard3of3.bin'));
    assert.equal(bias.data.buffer.byteLength, shard3.byteLength);
  });

  it('dequantizes uint8, uint16 (at an odd offset) and float16 weights exactly as TF.js does', async () => {
    const ckpt = await readFixture(join(FIXTURES, 'quantized', 'model.json'));
    assertMatches(ckpt.stateDict, expected.quantized);
    const notes = ckpt.metadata.notes.join('\n');
    assert.match(notes, /dequantized 1 weight\(s\) stored as uint8 \(q × scale \+ min\) to float32: 'quantized\/uint8'/);
    assert.match(notes, /dequantized 1 weight\(s\) stored as float16 to float32: 'quantized\/float16'/);
    assert.match(notes, /uint8 .* to int32: 'quantized\/int32_uint8'/);
    assert.equal(ckpt.metadata.values.quantized, true);
  });
});

describe('writeTfjs', () => {
  it('writes shards TF.js decodes to the same values, split mid-tensor, and readTfjs reads back', async () => {
    const source = (await readFixture(join(FIXTURES, 'model', 'model.json'))).stateDict;
    const dir = await freshDir('roundtrip');
        const file = join(dir, 'net.json');
    await writeTfjs(file, source, { metadata: { epoch: 3, lr: [0.1, 0.01] }, shardBytes: 1000 });

    const all = await readdir(dir);
    const files = [...all.filter((f) => f !== 'net.json').sort(), 'net.json'];
    // 2952 bytes in all: the cut at byte 1000 falls inside moving_variance, the one at 2000 inside an Adam slot.
    assert.equal(all.length, 4);
    assert.match(files.slice(0, 3).join(' '), /^net\.([0-9a-z]+-[0-9a-f]+)\.group1-shard1of3\.bin net\.\1\.group1-shard2of3\.bin net\.\1\.group1-shard3of3\.bin$/);
    const sizes = await Promise.all(files.slice(0, 3).map(async (f) => (await readFile(join(dir, f))).byteLength));
    assert.deepEqual(sizes, [1000, 1000, 952]);
    const { json, data, specs } = await shardsOf(file);
    assert.equal(json.format, 'tsfreeze-weights');
    assert.equal(json.generatedBy, 'tsfreeze');
    assert.equal(json.convertedBy, null);
    assert.equal(json.modelTopology, null);
    assert.deepEqual(json.userDefinedMetadata, { epoch: 3, lr: [0.1, 0.01] });

    const decoded = tf.io.decodeWeights(data, specs);
    assert.deepEqual(Object.keys(decoded), [...source.keys()]);
    for (const [key, t] of source) {
      assert.deepEqual(decoded[key].shape, t.shape, key);
      assert.equal(decoded[key].dtype, t.dtype, key);
      assert.deepEqual(Array.from(decoded[key].dataSync()), Array.from(t.data as ArrayLike<number>), key);
    }
    const back = await readFixture(file);
    assertMatches(back.stateDict, expected.model);
    assert.equal(back.metadata.values.epoch, 3);
    assert.deepEqual(back.metadata.values.lr, [0.1, 0.01]);
  });

  it('writes one <stem>.<save>.weights.bin when everything fits in a shard', async () => {
    const dir = await freshDir('single');
        const sd: StateDict = new Map([
      ['a.weight', tensor('float32', [2, 2], new Float32Array([1, 2, 3, 4]))],
      ['a.mask', tensor('bool', [3], new Uint8Array([1, 0, 1]))],
      ['a.count', tensor('int32', [], new Int32Array([7]))],
    ]);
    await writeTfjs(join(dir, 'model.json'), sd);
    const files = await readdir(dir);
    assert.equal(files.length, 2);
    assert.ok(files.includes('model.json'));
    assert.match(files.find((f) => f !== 'model.json')!, /^model\.[0-9a-z]+-[0-9a-f]+\.weights\.bin$/);
    const { data, specs } = await shardsOf(join(dir, 'model.json'));
    const decoded = tf.io.decodeWeights(data, specs);
    assert.deepEqual(Array.from(decoded['a.mask'].dataSync()), [1, 0, 1]);
    assert.equal(decoded['a.mask'].dtype, 'bool');
    assert.deepEqual(decoded['a.count'].shape, []);
    const back = await readFixture(join(dir, 'model.json'));
    for (const [k, t] of sd) assert.deepEqual(back.stateDict.get(k), t, k);
  });

  it('names shards after the manifest, converter style when split', () => {
    assert.deepEqual(shardNames('/x/model.json', 1, 'k1-abc123'), ['model.k1-abc123.weights.bin']);
    assert.deepEqual(shardNames('/x/net.json', 2, 'k1-abc123'), ['net.k1-abc123.group1-shard1of2.bin', 'net.k1-abc123.group1-shard2of2.bin']);
    assert.equal(DEFAULT_SHARD_BYTES, 4 * 1024 * 1024);
  });

  it('writes an empty state dict as an empty manifest', async () => {
    const dir = await freshDir('empty');
        await writeTfjs(join(dir, 'model.json'), new Map());
    assert.deepEqual(await readdir(dir), ['model.json']);
    const back = await readFixture(join(dir, 'model.json'));
    assert.equal(back.stateDict.size, 0);
  });

  it('restricts to a root given as a dotted prefix', async () => {
    const dir = await freshDir('root');
        const sd: StateDict = new Map([
      ['net.fc.weight', tensor('float32', [1], new Float32Array([1]))],
      ['net.fc.bias', tensor('float32', [1], new Float32Array([2]))],
      ['ema.fc.weight', tensor('float32', [1], new Float32Array([3]))],
    ]);
    await writeTfjs(join(dir, 'model.json'), sd);
    const back = await readFixture(join(dir, 'model.json'), { root: 'net' });
    assert.deepEqual([...back.stateDict.keys()], ['fc.weight', 'fc.bias']);
    assert.deepEqual(back.metadata.outsideRoot, { ema: 1 });
  });

  it('refuses a shard size that is not a positive integer', async () => {
    await rejectsWith(writeTfjs(join(scratch, 'never.json'), new Map(), { shardBytes: 0 }), /shardBytes must be a positive integer/);
  });
});

describe('writeTfjs dtype conversions', () => {
  it('writes float64 as float32 with one warning naming the keys', async (t) => {
    const dir = await freshDir('f64');
        const sd: StateDict = new Map([
      ['w', tensor('float64', [3], new Float64Array([0.1, 1 / 3, -2.5]))],
      ['v', tensor('float64', [1], new Float64Array([1e-300]))],
    ]);
    const warnings = await captureWarnings(t, () => writeTfjs(join(dir, 'model.json'), sd));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /float64 → float32 \(rounded\): 'w', 'v'/);
    const back = await readFixture(join(dir, 'model.json'));
    assert.equal(back.stateDict.get('w')!.dtype, 'float32');
    assert.deepEqual(Array.from(back.stateDict.get('w')!.data as Float32Array), [Math.fround(0.1), Math.fround(1 / 3), -2.5]);
    assert.deepEqual(Array.from(back.stateDict.get('v')!.data as Float32Array), [0]);
  });

  it('refuses int64 values outside int32, naming the key, before writing any file', async () => {
    const dir = await freshDir('i64');
        const sd: StateDict = new Map([
      ['ok', tensor('float32', [1], new Float32Array([1]))],
      ['steps', tensor('int64', [2], new BigInt64Array([5n, 3_000_000_000n]))],
    ]);
    await rejectsWith(writeTfjs(join(dir, 'model.json'), sd), /int64 tensor 'steps' holds 3000000000 at element 1, outside int32's range/);
    assert.deepEqual(await readdir(dir), []);
  });

  it('converts every other dtype losslessly, in one warning, and TF.js decodes the result', async (t) => {
    const dir = await freshDir('others');
        const half = new Uint16Array([0x3c00, 0x8000, 0x0001, 0x7bff, 0xfc00]);
    const bf16 = new Uint16Array([0x3f80, 0xc040, 0x0001, 0x7f80]);
    const sd: StateDict = new Map([
      ['i64', tensor('int64', [3], new BigInt64Array([-2147483648n, 0n, 2147483647n]))],
      ['i8', tensor('int8', [2], new Int8Array([-128, 127]))],
      ['i16', tensor('int16', [2], new Int16Array([-32768, 32767]))],
      ['u8', tensor('uint8', [2], new Uint8Array([0, 255]))],
      ['half', tensor('float16', [5], half)],
      ['bf16', tensor('bfloat16', [4], bf16)],
      ['flag', tensor('bool', [2], new Uint8Array([0, 1]))],
    ]);
    const warnings = await captureWarnings(t, () => writeTfjs(join(dir, 'model.json'), sd, { shardBytes: 7 }));
    assert.equal(warnings.length, 1);
    for (const part of [/int64 → int32: 'i64'/, /int8 → int32 \(lossless\): 'i8'/, /int16 → int32 \(lossless\): 'i16'/, /uint8 → int32 \(lossless\): 'u8'/,
      /float16 → float32 stored as float16 \(lossless\): 'half'/, /bfloat16 → float32 \(lossless\): 'bf16'/]) assert.match(warnings[0], part);
    assert.doesNotMatch(warnings[0], /flag/);

    const want: Record<string, number[]> = {
      i64: [-2147483648, 0, 2147483647], i8: [-128, 127], i16: [-32768, 32767], u8: [0, 255],
      half: [1, -0, 2 ** -24, 65504, -Infinity], bf16: [1, -3, Math.fround(2 ** -133), Infinity], flag: [0, 1],
    };
    const { data, specs } = await shardsOf(join(dir, 'model.json'));
    assert.deepEqual(specs.find((s) => s.name === 'half')!.quantization, { dtype: 'float16' });
    const decoded = tf.io.decodeWeights(data, specs);
    const back = (await readFixture(join(dir, 'model.json'))).stateDict;
    for (const [key, values] of Object.entries(want)) {
      assert.deepEqual(Array.from(decoded[key].dataSync()), values, `TF.js: ${key}`);
      assert.deepEqual(Array.from(back.get(key)!.data as ArrayLike<number>), values, `readTfjs: ${key}`);
    }
    assert.equal(back.get('i8')!.dtype, 'int32');
    assert.equal(back.get('half')!.dtype, 'float32');
  });
});

describe('readTfjs on damaged or hostile files', () => {
  it('names the weight and byte offset when a shard is truncated', async () => {
    const dir = await copyFixture('model', 'truncated');
    await truncate(join(dir, 'group1-shard3of3.bin'), 2000);
    await rejectsWith(readFixture(join(dir, 'model.json')), /weight '[^']+' .* needs \d+ bytes from byte \d+ of weight group 1 \(byte \d+ of 'group1-shard3of3.bin'\)/, /hold 2500 bytes in all/);
  });

  it('reports bytes left over after the last weight', async () => {
    const dir = await copyFixture('quantized', 'overlong');
    await appendFile(join(dir, 'quantized.bin'), new Uint8Array(5));
    await rejectsWith(readFixture(join(dir, 'model.json')), /weight group 1's shards \(quantized.bin\) hold 52 bytes but its weights end at byte 47 after weight 'quantized\/int32_uint8'/);
  });

  it('reads shard paths written as ./name or sub/name, as tfjs-node and hand-made manifests write them', async () => {
    const weights = [{ name: 'a', shape: [2], dtype: 'int32' }, { name: 'b', shape: [1], dtype: 'float32' }];
    const file = await writeManifest('dot-paths', [{ paths: ['./w1.bin', 'sub/w2.bin'], weights }], {
      'w1.bin': new Uint8Array(new Int32Array([5, -6]).buffer).subarray(0, 6),
    });
    await mkdir(join(file, '..', 'sub'));
    await writeFile(join(file, '..', 'sub', 'w2.bin'), Buffer.concat([new Uint8Array(new Int32Array([5, -6]).buffer).subarray(6), new Uint8Array(new Float32Array([0.5]).buffer)]));
    const { stateDict } = await readFixture(file);
    assert.deepEqual(Array.from(stateDict.get('a')!.data as Int32Array), [5, -6]);
    assert.deepEqual(Array.from(stateDict.get('b')!.data as Float32Array), [0.5]);
  });

  it('names a missing shard', async () => {
    const dir = await copyFixture('model', 'missing');
    await rm(join(dir, 'group1-shard2of3.bin'));
    await rejectsWith(readFixture(join(dir, 'model.json')), /shard 'group1-shard2of3.bin' of weight group 1 is missing/);
  });

  it('refuses shard paths that leave the model folder', async () => {
    const weights = [{ name: 'w', shape: [1], dtype: 'float32' }];
    for (const path of ['../secret.bin', 'sub/../../x.bin', '..\\x.bin']) {
      const file = await writeManifest('escape', [{ paths: [path], weights }]);
      await rejectsWith(readFixture(file), /escapes the model's folder/);
    }
    for (const path of ['/etc/passwd', 'https://example.com/w.bin', 'C:\\w.bin']) {
      const file = await writeManifest('absolute', [{ paths: [path], weights }]);
      await rejectsWith(readFixture(file), /absolute path or URL/);
    }
  });

  it('rejects an absurd shape quickly, before allocating', async () => {
    const file = await writeManifest('absurd', [{ paths: ['w.bin'], weights: [{ name: 'huge', shape: [1e9, 1e9], dtype: 'float32' }] }], { 'w.bin': new Uint8Array(16) });
    const start = performance.now();
    await rejectsWith(readFixture(file), /weight 'huge' \[1000000000,1000000000\] float32 needs 4000000000000000000 bytes/);
    assert.ok(performance.now() - start < 1000);
  });

  it('rejects bad shapes, unsupported dtypes and quantizations, and duplicate names', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [[{ name: 'w', shape: [-1], dtype: 'float32' }], /weight 'w' .* has shape \[-1\]; dimensions must be non-negative integers/],
      [[{ name: 'w', shape: [1.5], dtype: 'float32' }], /has shape \[1.5\]/],
      [[{ name: 's', shape: [1], dtype: 'string' }], /weight 's' .* has dtype string, which is not supported/],
      [[{ name: 'c', shape: [1], dtype: 'complex64' }], /has dtype complex64, which is not supported/],
      [[{ name: 'x', shape: [1], dtype: 'float64' }], /unknown dtype "float64"/],
      [[{ name: 'q', shape: [1], dtype: 'float32', quantization: { dtype: 'int4' } }], /quantization .* not supported/],
      [[{ name: 'q', shape: [1], dtype: 'float32', quantization: { dtype: 'uint8' } }], /without numeric min and scale/],
      [[{ name: 'w', shape: [1], dtype: 'float32' }, { name: 'w', shape: [1], dtype: 'float32' }], /weight 'w' appears twice/],
    ];
    for (const [weights, re] of cases) {
      const file = await writeManifest('bad-spec', [{ paths: ['w.bin'], weights }], { 'w.bin': new Uint8Array(8) });
      await rejectsWith(readFixture(file), re);
    }
  });

  it('says where model.json stops being JSON, and rejects a manifest that is not an array', async () => {
    const dir = await freshDir('badjson');
        const file = join(dir, 'model.json');
    await writeFile(file, '{\n  "weightsManifest": [\n    {"paths": ["a.bin"],, }\n  ]\n}');
    await rejectsWith(readFixture(file), /model.json is not valid JSON at line 3, column \d+/);
    await writeFile(file, '{"weightsManifest": {"paths": []}}');
    await rejectsWith(readFixture(file), /weightsManifest is an object, not an array of weight groups/);
  });

  it('refuses to decode past maxAllocation', async () => {
    await rejectsWith(readFixture(join(FIXTURES, 'quantized', 'model.json'), { maxAllocation: 16 }), /decoding would allocate \d+ bytes .* over the 16-byte limit/);
  });
});
