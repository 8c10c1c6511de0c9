/**
 * A strict reader of ZIP archives held in memory (ZIP64 included). Stored entries come back
 * as views of the archive's bytes, deflated ones are inflated; every offset and size is
 * checked against the archive before it is used.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { CheckpointError } from '../errors';
import type { ByteSource } from '../source';

/** One file of an archive, as its central directory describes it. */
export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header in the archive. */
  localOffset: number;
}

/** An opened archive: its entries by name, and a way to get an entry's bytes. */
export interface ZipArchive {
  entries: Map<string, ZipEntry>;
  /** What the reader noticed: entries ignored for their names. */
  notes: string[];
  /** The entry's bytes (a view for stored entries of in-memory archives), CRC-checked unless `verify` is false. */
  read(entry: ZipEntry, verify?: boolean): Uint8Array;
  /** The same, reading in the background (so that one entry's read overlaps another's CRC check). */
  readAsync(entry: ZipEntry, verify?: boolean): Promise<Uint8Array>;
  /** Offset of the entry's data in the archive. */
  dataOffset(entry: ZipEntry): number;
}

const EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50, CENTRAL = 0x02014b50, LOCAL = 0x04034b50;
const DEFLATE_MAX_RATIO = 1032; // deflate cannot expand data by more than this
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Whether `bytes` starts like a ZIP archive. */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5) && (bytes[3] === 4 || bytes[3] === 6);
}

function view(b: Uint8Array): DataView { return new DataView(b.buffer, b.byteOffset, b.byteLength); }

/** Limits on what an archive may make a reader allocate. */
export interface ZipLimits {
  /** Bytes all deflated entries may inflate to, in all. */
  inflatedBytes?: number;
  /** How that limit was set, for the error message. */
  inflatedHow?: string;
}

/** Why an entry name is ignored (it could point outside a folder it were extracted to), or undefined when it is fine. */
function oddName(name: string): string | undefined {
  if (name === '' || name.includes('\0')) return 'empty or holds a NUL byte';
  if (name.startsWith('/') || name.startsWith('\\') || /^[a-zA-Z]:/.test(name)) return 'an absolute path';
  if (name.split(/[\\/]/).includes('..')) return "a path with '..'";
  return undefined;
}

/**
 * Opens an archive, reading only its directory; throws CheckpointError naming the byte offset of
 * anything inconsistent. Entries may not overlap one another or the directory (so no byte is read
 * twice), deflated entries may not inflate beyond `limits.inflatedBytes` in all, and entries
 * whose names are absolute or hold `..` are ignored with a note.
 */
export function openZip(src: ByteSource, limits: ZipLimits = {}): ZipArchive {
  const file = src.name;
  const len = src.size;
  function fail(problem: string, hint = 'the file is truncated or damaged'): never { throw new CheckpointError(file, problem, hint); }
  const u64 = (dv: DataView, at: number): number => {
    const v = dv.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  };

  // End of central directory: the last signature within the final 64 KiB + 22 bytes (+ the ZIP64 locator before it).
  const tailStart = Math.max(0, len - 22 - 0xffff - 20);
  const tail = src.read(tailStart, len - tailStart);
  const tv = view(tail);
  let e = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD) { e = i; break; }
  }
  if (e < 0) fail('zip archive has no end-of-central-directory record');
  let disks = [tv.getUint16(e + 4, true), tv.getUint16(e + 6, true)];
  let count = tv.getUint16(e + 10, true);
  let cdSize = tv.getUint32(e + 12, true);
  let cdOffset = tv.getUint32(e + 16, true);

  const loc = e - 20;
  if (loc >= 0 && tv.getUint32(loc, true) === ZIP64_LOCATOR) {
    const z = u64(tv, loc + 8);
    if (z + 56 > tailStart + loc) fail(`zip64 end-of-central-directory offset ${z} lies past its locator at byte ${tailStart + loc}`);
    const zv = view(src.read(z, 56));
    if (zv.getUint32(0, true) !== ZIP64_EOCD) fail(`no zip64 end-of-central-directory record at byte ${z}`);
    disks = [zv.getUint32(16, true), zv.getUint32(20, true)];
    count = u64(zv, 32);
    cdSize = u64(zv, 40);
    cdOffset = u64(zv, 48);
  }
  if (disks[0] !== 0 || disks[1] !== 0) fail('zip archive spans several disks', 'join it into one file first');
  if (cdOffset + cdSize > len) fail(`zip central directory (bytes ${cdOffset}..${cdOffset + cdSize}) lies past the end of the ${len}-byte file`);
  if (count * 46 > cdSize) fail(`zip central directory of ${cdSize} bytes cannot hold the ${count} entries it claims`);

  const cd = src.read(cdOffset, cdSize);
  const dv = view(cd);
  const entries = new Map<string, ZipEntry>();
  const all: ZipEntry[] = [];
  const notes: string[] = [];
  let inflated = 0, ignored = 0;
  let p = 0;
  for (let i = 0; i < count; i++) {
    const at = cdOffset + p;
    if (p + 46 > cdSize || dv.getUint32(p, true) !== CENTRAL) fail(`zip central directory entry ${i} at byte ${at} is damaged`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true), extraLen = dv.getUint16(p + 30, true), commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cdSize) fail(`zip central directory entry ${i} at byte ${at} runs past the directory`);
    const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: the 64-bit values of the fields set to 0xFFFFFFFF, in order.
    for (let x = p + 46 + nameLen, end = x + extraLen; x + 4 <= end;) {
      const id = dv.getUint16(x, true), sz = dv.getUint16(x + 2, true);
      if (x + 4 + sz > end) fail(`zip extra field of '${name}' at byte ${cdOffset + x} runs past its entry`);
      if (id === 0x0001) {
        let q = x + 4;
        const take = (): number => { if (q + 8 > x + 4 + sz) fail(`zip64 field of '${name}' at byte ${cdOffset + x} is too short`); const v = u64(dv, q); q += 8; return v; };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localOffset === 0xffffffff) localOffset = take();
      }
      x += 4 + sz;
    }
    if (flags & 1) fail(`zip entry '${name}' is encrypted`, 'decrypt the archive first');
    if (method !== 0 && method !== 8) fail(`zip entry '${name}' uses compression method ${method}`, 'only stored and deflated entries are supported');
    if (method === 0 && size !== compressedSize) fail(`stored zip entry '${name}' has size ${size} but ${compressedSize} stored bytes`);
    if (method === 8 && size > compressedSize * DEFLATE_MAX_RATIO + 1024) fail(`deflated zip entry '${name}' claims ${size} bytes from ${compressedSize}, more than deflate can expand`);
    if (localOffset + 30 + compressedSize > len) fail(`zip entry '${name}' (${compressedSize} bytes from byte ${localOffset}) lies past the end of the ${len}-byte file`);
    if (entries.has(name)) fail(`zip archive holds '${name}' twice`);
    const entry = { name, method, crc, compressedSize, size, localOffset };
    all.push(entry);
    if (method === 8) inflated += size;
    const odd = oddName(name);
    if (!odd) entries.set(name, entry);
    else if (++ignored <= 5) notes.push(`ignored zip entry ${JSON.stringify(name)}: its name is ${odd}`);
    p = next;
  }
  if (ignored > 5) notes.push(`ignored ${ignored - 5} more zip entries with absolute names or '..'`);
  const maxInflated = limits.inflatedBytes ?? Infinity;
  if (inflated > maxInflated) {
    fail(`zip entries would inflate to ${inflated} bytes, more than the ${maxInflated} this ${len}-byte file justifies (${limits.inflatedHow ?? 'inflated-bytes budget'})`,
      'a zip bomb, or an archive re-compressed by hand; torch.save never compresses');
  }
  // Each entry owns the bytes from its local header to the next entry's (or the directory): overlapping entries would read the same bytes many times.
  all.sort((a, b) => a.localOffset - b.localOffset);
  const ends = new Map<ZipEntry, number>();
  for (const [i, entry] of all.entries()) {
    const end = i + 1 < all.length ? all[i + 1].localOffset : cdOffset;
    if (entry.localOffset + 30 + entry.compressedSize > end) {
      fail(`zip entry '${entry.name}' (${entry.compressedSize} bytes from byte ${entry.localOffset}) overlaps ${i + 1 < all.length ? `entry '${all[i + 1].name}' at byte ${end}` : `the central directory at byte ${end}`}`,
        'overlapping entries are how zip bombs share bytes; the file is damaged or hostile');
    }
    ends.set(entry, end);
  }

  const dataOffsets = new Map<ZipEntry, number>();
  const dataOffset = (entry: ZipEntry): number => {
    let d = dataOffsets.get(entry);
    if (d === undefined) {
      const lv = view(src.read(entry.localOffset, 30));
      if (lv.getUint32(0, true) !== LOCAL) fail(`zip entry '${entry.name}': no local header at byte ${entry.localOffset}`);
      d = entry.localOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
      const end = ends.get(entry) ?? len;
      if (d + entry.compressedSize > end) {
        fail(`zip entry '${entry.name}' (bytes ${d}..${d + entry.compressedSize}) runs past ${end === len ? `the end of the ${len}-byte file` : `the next entry or the directory at byte ${end}`}`);
      }
      dataOffsets.set(entry, d);
    }
    return d;
  };

  return {
    entries,
    notes,
    dataOffset,
    read(entry, verify = true) {
      const at = dataOffset(entry);
      return decode(entry, at, src.read(at, entry.compressedSize), verify);
    },
    async readAsync(entry, verify = true) {
      const at = dataOffset(entry);
      if (!src.readAsync) return decode(entry, at, src.read(at, entry.compressedSize), verify);
      if (entry.method !== 0 || !verify) return decode(entry, at, await src.readAsync(at, entry.compressedSize), verify);
      // Stored: the CRC is computed chunk by chunk as the chunks arrive.
      let crc = 0;
      const data = await src.readAsync(at, entry.compressedSize, (chunk) => { crc = crc32(chunk, crc); });
      if (crc >>> 0 !== entry.crc) fail(`zip entry '${entry.name}' at byte ${at} fails its CRC-32 check`, 'the file is damaged');
      return data;
    },
  };

  /** An entry's stored bytes inflated (when deflated) and checked. */
  function decode(entry: ZipEntry, at: number, raw: Uint8Array, verify: boolean): Uint8Array {
      let data = raw;
      if (entry.method === 8) {
        try {
          data = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
        } catch (err) {
          fail(`zip entry '${entry.name}' at byte ${at} does not inflate: ${(err as Error).message}`);
        }
        if (data.length !== entry.size) fail(`zip entry '${entry.name}' inflates to ${data.length} bytes, not ${entry.size}`);
      }
      if (verify && crc32(data) >>> 0 !== entry.crc) fail(`zip entry '${entry.name}' at byte ${at} fails its CRC-32 check`, 'the file is damaged');
      return data;
  }
}
