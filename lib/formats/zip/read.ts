/**
 * A strict reader of ZIP archives held in memory (ZIP64 included). Stored entries come back
 * as views of the archive's bytes, deflated ones are inflated; every offset and size is
 * checked against the archive before it is used.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { CheckpointError } from '../errors';

/** One file of an archive. */
export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's data in the archive (after its local header). */
  dataOffset: number;
}

/** An opened archive: its entries by name, and a way to get an entry's bytes. */
export interface ZipArchive {
  entries: Map<string, ZipEntry>;
  /** The entry's bytes (a view for stored entries), CRC-checked. */
  read(entry: ZipEntry): Uint8Array;
}

const EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50, CENTRAL = 0x02014b50, LOCAL = 0x04034b50;
const DEFLATE_MAX_RATIO = 1032; // deflate cannot expand data by more than this
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Whether `bytes` starts like a ZIP archive. */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5) && (bytes[3] === 4 || bytes[3] === 6);
}

/** Opens an archive held in memory; throws CheckpointError naming the byte offset of anything inconsistent. */
export function openZip(bytes: Uint8Array, file: string): ZipArchive {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  function fail(problem: string, hint = 'the file is truncated or damaged'): never { throw new CheckpointError(file, problem, hint); }
  const u64 = (at: number): number => {
    const v = dv.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  };

  // End of central directory: the last signature within the final 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = len - 22; i >= Math.max(0, len - 22 - 0xffff); i--) {
    if (dv.getUint32(i, true) === EOCD) { eocd = i; break; }
  }
  if (eocd < 0) fail('zip archive has no end-of-central-directory record');
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  let disks = [dv.getUint16(eocd + 4, true), dv.getUint16(eocd + 6, true)];

  const loc = eocd - 20;
  if (loc >= 0 && dv.getUint32(loc, true) === ZIP64_LOCATOR) {
    const z = u64(loc + 8);
    if (z + 56 > loc) fail(`zip64 end-of-central-directory offset ${z} lies past its locator at byte ${loc}`);
    if (dv.getUint32(z, true) !== ZIP64_EOCD) fail(`no zip64 end-of-central-directory record at byte ${z}`);
    disks = [dv.getUint32(z + 16, true), dv.getUint32(z + 20, true)];
    count = u64(z + 32);
    cdSize = u64(z + 40);
    cdOffset = u64(z + 48);
  }
  if (disks[0] !== 0 || disks[1] !== 0) fail('zip archive spans several disks', 'join it into one file first');
  if (cdOffset + cdSize > len) fail(`zip central directory (bytes ${cdOffset}..${cdOffset + cdSize}) lies past the end of the ${len}-byte file`);
  if (count * 46 > cdSize) fail(`zip central directory of ${cdSize} bytes cannot hold the ${count} entries it claims`);

  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd || dv.getUint32(p, true) !== CENTRAL) fail(`zip central directory entry ${i} at byte ${p} is damaged`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true), extraLen = dv.getUint16(p + 30, true), commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cdEnd) fail(`zip central directory entry ${i} at byte ${p} runs past the directory`);
    const name = utf8.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: the 64-bit values of the fields set to 0xFFFFFFFF, in order.
    for (let e = p + 46 + nameLen, end = e + extraLen; e + 4 <= end;) {
      const id = dv.getUint16(e, true), sz = dv.getUint16(e + 2, true);
      if (e + 4 + sz > end) fail(`zip extra field of '${name}' at byte ${e} runs past its entry`);
      if (id === 0x0001) {
        let q = e + 4;
        const take = (): number => { if (q + 8 > e + 4 + sz) fail(`zip64 field of '${name}' at byte ${e} is too short`); const v = u64(q); q += 8; return v; };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localOffset === 0xffffffff) localOffset = take();
      }
      e += 4 + sz;
    }
    if (flags & 1) fail(`zip entry '${name}' is encrypted`, 'decrypt the archive first');
    if (method !== 0 && method !== 8) fail(`zip entry '${name}' uses compression method ${method}`, 'only stored and deflated entries are supported');
    if (method === 0 && size !== compressedSize) fail(`stored zip entry '${name}' has size ${size} but ${compressedSize} stored bytes`);
    if (method === 8 && size > compressedSize * DEFLATE_MAX_RATIO + 1024) fail(`deflated zip entry '${name}' claims ${size} bytes from ${compressedSize}, more than deflate can expand`);
    if (localOffset + 30 > len || dv.getUint32(localOffset, true) !== LOCAL) fail(`zip entry '${name}': no local header at byte ${localOffset}`);
    const dataOffset = localOffset + 30 + dv.getUint16(localOffset + 26, true) + dv.getUint16(localOffset + 28, true);
    if (dataOffset + compressedSize > len) fail(`zip entry '${name}' (bytes ${dataOffset}..${dataOffset + compressedSize}) lies past the end of the ${len}-byte file`);
    if (entries.has(name)) fail(`zip archive holds '${name}' twice`);
    entries.set(name, { name, method, crc, compressedSize, size, dataOffset });
    p = next;
  }

  return {
    entries,
    read(entry) {
      const raw = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
      let data = raw;
      if (entry.method === 8) {
        try {
          data = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
        } catch (e) {
          fail(`zip entry '${entry.name}' at byte ${entry.dataOffset} does not inflate: ${(e as Error).message}`);
        }
        if (data.length !== entry.size) fail(`zip entry '${entry.name}' inflates to ${data.length} bytes, not ${entry.size}`);
      }
      if (crc32(data) >>> 0 !== entry.crc) fail(`zip entry '${entry.name}' at byte ${entry.dataOffset} fails its CRC-32 check`, 'the file is damaged');
      return data;
    },
  };
}
