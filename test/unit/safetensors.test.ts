/** safetensors: the layout the reference writes, and the validation it does on read. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSafetensors, readSafetensors, MAX_HEADER_BYTES } from '../../lib/formats/safetensors';
import { CheckpointError } from '../../lib/formats/errors';
import { limitsFor } from '../../lib/formats/formats';
import type { StateDict } from '../../lib/statedict/tensor';

function sample(): StateDict {
  return new Map([
    ['b.weight', { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
    ['a.steps', { dtype: 'int64', shape: [], data: BigInt64Array.from([2n ** 62n]) }],
    ['c.mask', { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) }],
    ['d.half', { dtype: 'float16', shape: [2], data: Uint16Array.from([0x3c00, 0xc000]) }],
    ['e.empty', { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) }],
  ]);
}

function file(header: object | string, data = new Uint8Array(0)): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return new Uint8Array(Buffer.concat([len, json, data]));
}

test('written as the reference writes: 8-byte length, compact JSON with __metadata__ first, space padding to 8, widest dtypes first then by name', () => {
  const bytes = Buffer.concat(encodeSafetensors(sample(), { epoch: 3, note: 'x' }));
  const n = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0, 'data starts 8-aligned');
  const text = bytes.subarray(8, 8 + n).toString('utf8');
  assert.match(text, /^\{"__metadata__":\{"epoch":"3","note":"x"\},/);
  assert.equal(text.trimEnd(), JSON.stringify(JSON.parse(text)), 'compact JSON, padded with spaces only');
  const header = JSON.parse(text);
  assert.deepEqual(Object.keys(header), ['__metadata__', 'a.steps', 'b.weight', 'e.empty', 'd.half', 'c.mask']);
  assert.deepEqual(header['a.steps'], { dtype: 'I64', shape: [], data_offsets: [0, 8] });
  assert.deepEqual(header['b.weight'], { dtype: 'F32', shape: [2, 3], data_offsets: [8, 32] });
  assert.deepEqual(header['e.empty'].data_offsets, [32, 32]);
  assert.equal(bytes.length, 8 + n + 8 + 24 + 4 + 3);
});

test('round trip: every tensor and the metadata come back; tensors are views of the file', () => {
  const sd = sample();
  const bytes = new Uint8Array(Buffer.concat(encodeSafetensors(sd, { k: 'v' })));
  const ck = readSafetensors(bytes, 'x.safetensors', {}, limitsFor('safetensors'));
  assert.equal(ck.format, 'safetensors');
  assert.deepEqual(ck.metadata.values, { k: 'v' });
  for (const [k, t] of sd) {
    const got = ck.stateDict.get(k)!;
    assert.deepEqual([got.dtype, got.shape, Array.from(got.data as ArrayLike<unknown>)], [t.dtype, t.shape, Array.from(t.data as ArrayLike<unknown>)]);
    if (t.data.length) assert.equal(got.data.buffer, bytes.buffer);
  }
});

const lies: Array<[string, () => Uint8Array, RegExp]> = [
  ['absurd header length', () => { const b = Buffer.alloc(16); b.writeBigUInt64LE(BigInt(MAX_HEADER_BYTES) + 1n); return b; }, /exceeds the 100000000-byte limit/],
  ['header past the end', () => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1000n); b[8] = 0x7b; return b; }, /runs past the end/],
  ['offsets past the end', () => file({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)), /cover 16 bytes but 8 follow/],
  ['gap between tensors', () => file({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, b: { dtype: 'U8', shape: [1], data_offsets: [2, 3] } }, new Uint8Array(3)), /starts at data offset 2, expected 1/],
  ['overlapping tensors', () => file({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } }, new Uint8Array(3)), /expected 2/],
  ['size disagrees with shape', () => file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /needs 12 bytes but its offsets span 8/],
  ['huge shape', () => file({ a: { dtype: 'F32', shape: [1e9, 1e9], data_offsets: [0, 4] } }, new Uint8Array(4)), /needs/],
  ['unknown dtype', () => file({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /dtype "C64"/],
  ['bad JSON', () => file('{"a": '), /is not a valid JSON object at byte 14: ends inside a value/],
  ['not UTF-8', () => { const b = file('{ }'); b[9] = 0xff; return b; }, /not valid UTF-8/],
  ['a key twice', () => file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', new Uint8Array(2)), /holds the key "a" twice \(the second at byte 61\)/],
  ['non-string metadata', () => file({ __metadata__: { a: 1 } }), /__metadata__ value 'a' is not a string/],
  ['trailing bytes', () => file({}, new Uint8Array(3)), /cover 0 bytes but 3 follow/],
];
for (const [name, make, re] of lies) {
  test(`a header that lies (${name}) is one clear error`, () => {
    assert.throws(() => readSafetensors(make(), 'lie.safetensors', {}, limitsFor('safetensors')), (e: unknown) => e instanceof CheckpointError && re.test(e.message) && e.message.startsWith('lie.safetensors: '));
  });
}
