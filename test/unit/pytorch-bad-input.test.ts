/** Broken PyTorch files: each gives one clear CheckpointError line, fast, allocating nothing the file does not justify. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint, CheckpointError } from '../../lib';
import { openZip } from '../../lib/formats/zip/read';
import { zipStored } from '../../lib/formats/zip/write';
import { memorySource } from '../../lib/formats/source';
import { TORCH_FIXTURES } from '../helpers/torch';

const zipBytes = new Uint8Array(readFileSync(join(TORCH_FIXTURES, 'state_dict.pt')));
const legacyBytes = new Uint8Array(readFileSync(join(TORCH_FIXTURES, 'legacy.pt')));
const records = (() => {
  const zip = openZip(memorySource(zipBytes, 'state_dict.pt'));
  return [...zip.entries.values()].map((e) => ({ name: e.name, data: zip.read(e) }));
})();
const rezip = (files: Array<{ name: string; data: Uint8Array }>) => new Uint8Array(Buffer.concat(zipStored(files)));

/** A pickle that is torch.save's, with one storage's declared element count replaced. */
function withStorageSize(n: number): Uint8Array {
  return rezip(records.map((r) => {
    if (!r.name.endsWith('data.pkl')) return r;
    // The first storage tuple: ... 'cpu' BINUNICODE, then the element count (BININT1/BININT2/BININT).
    const pkl = Buffer.from(r.data);
    let at = pkl.indexOf(Buffer.from('cpu')) + 3;
    if (pkl[at] === 0x71) at += 2; // BINPUT of the string
    const op = pkl[at];
    const len = op === 0x4b ? 2 : op === 0x4d ? 3 : 5;
    const big = Buffer.alloc(5); big[0] = 0x4a; big.writeInt32LE(n, 1);
    return { name: r.name, data: Buffer.concat([pkl.subarray(0, at), big, pkl.subarray(at + len)]) };
  }));
}

const cases: Array<[string, () => Uint8Array, RegExp]> = [
  ['an empty file', () => new Uint8Array(0), /is empty/],
  ['a text file', () => Buffer.from('just some text'), /not a checkpoint in any supported format/],
  ['a zip truncated in its data', () => zipBytes.subarray(0, zipBytes.length - 200), /end-of-central-directory|past the end/],
  ['a zip truncated to its first bytes', () => zipBytes.subarray(0, 100), /no end-of-central-directory record/],
  ['a legacy file truncated in a storage', () => legacyBytes.subarray(0, legacyBytes.length - 10), /legacy storage '\d+' (at byte \d+ needs \d+ bytes but the file ends|is cut off at byte \d+)/],
  ['a legacy file truncated in its pickle', () => legacyBytes.subarray(0, 300), /at byte \d+/],
  ['a missing storage record', () => rezip(records.filter((r) => !r.name.endsWith('/data/0'))), /storage record 'state_dict\/data\/0' named at byte \d+ is missing/],
  ['a storage that claims more elements than its record holds', () => withStorageSize(2 ** 30), /holds \d+ bytes but 1073741824 float32 elements need 4294967296/],
  ['a central directory offset past the end', () => { const b = Buffer.from(rezip(records)); b.writeUInt32LE(0x7fffffff, b.length - 6); return b; }, /central directory .* lies past the end/],
  ['a zip of something else', () => rezip([{ name: 'readme.txt', data: Buffer.from('hi') }]), /no <root>\/data\.pkl, so it is not a PyTorch checkpoint/],
  ['a bare Python pickle', () => Buffer.from('80027d71002e', 'hex'), /a Python pickle but not a PyTorch checkpoint/],
  ['a corrupted tensor record', () => { const b = Buffer.from(zipBytes); b[b.indexOf(Buffer.from('PK\x03\x04'), 2000) + 100] ^= 0xff; return b; }, /fails its CRC-32 check/],
];
for (const [name, make, re] of cases) {
  test(`${name}: one clear error line, fast`, async () => {
    const t0 = performance.now();
    await assert.rejects(readCheckpoint(make()), (e: unknown) => {
      assert.ok(e instanceof CheckpointError, `a CheckpointError, got ${(e as Error)?.stack}`);
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    assert.ok(performance.now() - t0 < 1000, 'answers at once');
  });
}
