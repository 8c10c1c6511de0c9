/** Writing ZIP archives of stored (uncompressed) entries, data aligned as PyTorch aligns it, ZIP64 when needed. */
import { crc32 } from 'node:zlib';

/** One file to store. */
export interface ZipInput {
  name: string;
  data: Uint8Array;
}

const U32_MAX = 0xffffffff;
const DOS_DATE_1980 = (1 << 5) | 1; // 1980-01-01, so equal inputs give equal archives

/** The bytes of an archive of `files`, each entry's data starting at a multiple of `align`; returned as chunks to write in order. */
export function zipStored(files: ZipInput[], opts: { align?: number; forceZip64?: boolean } = {}): Uint8Array[] {
  const align = opts.align ?? 64;
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const push = (b: Uint8Array) => { chunks.push(b); offset += b.length; };

  for (const f of files) {
    const name = Buffer.from(f.name, 'utf8');
    const size = f.data.length;
    const crc = crc32(f.data) >>> 0;
    const big = opts.forceZip64 || size >= U32_MAX || offset >= U32_MAX;
    const localOffset = offset;
    const z64Local = big ? zip64Extra([size, size]) : Buffer.alloc(0);
    // Pad with an extra field (id 'FB', as PyTorch does) so the data starts aligned.
    const before = offset + 30 + name.length + z64Local.length + 4;
    const padLen = (align - (before % align)) % align;
    const pad = Buffer.alloc(4 + padLen);
    pad.writeUInt16LE(0x4246, 0);
    pad.writeUInt16LE(padLen, 2);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(big ? 45 : 20, 4);
    local.writeUInt16LE(f.name === name.toString('latin1') ? 0 : 0x800, 6);
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(DOS_DATE_1980, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(big ? U32_MAX : size, 18);
    local.writeUInt32LE(big ? U32_MAX : size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(z64Local.length + pad.length, 28);
    push(local); push(name); push(z64Local); push(pad); push(f.data);

    const z64Central = big ? zip64Extra([size, size, localOffset]) : Buffer.alloc(0);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(45, 4);
    c.writeUInt16LE(big ? 45 : 20, 6);
    c.writeUInt16LE(local.readUInt16LE(6), 8);
    c.writeUInt16LE(0, 10);
    c.writeUInt16LE(0, 12);
    c.writeUInt16LE(DOS_DATE_1980, 14);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(big ? U32_MAX : size, 20);
    c.writeUInt32LE(big ? U32_MAX : size, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(z64Central.length, 30);
    c.writeUInt32LE(big ? U32_MAX : localOffset, 42);
    central.push(c, name, z64Central);
  }

  const cdOffset = offset;
  for (const c of central) push(c);
  const cdSize = offset - cdOffset;
  const zip64 = opts.forceZip64 || files.length >= 0xffff || cdOffset >= U32_MAX || cdSize >= U32_MAX;
  if (zip64) {
    const z = Buffer.alloc(56);
    z.writeUInt32LE(0x06064b50, 0);
    z.writeBigUInt64LE(44n, 4);
    z.writeUInt16LE(45, 12);
    z.writeUInt16LE(45, 14);
    z.writeBigUInt64LE(BigInt(files.length), 24);
    z.writeBigUInt64LE(BigInt(files.length), 32);
    z.writeBigUInt64LE(BigInt(cdSize), 40);
    z.writeBigUInt64LE(BigInt(cdOffset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(offset), 8);
    locator.writeUInt32LE(1, 16);
    push(z); push(locator);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(zip64 ? 0xffff : files.length, 8);
  eocd.writeUInt16LE(zip64 ? 0xffff : files.length, 10);
  eocd.writeUInt32LE(zip64 ? U32_MAX : cdSize, 12);
  eocd.writeUInt32LE(zip64 ? U32_MAX : cdOffset, 16);
  push(eocd);
  return chunks;
}

function zip64Extra(values: number[]): Buffer {
  const b = Buffer.alloc(4 + 8 * values.length);
  b.writeUInt16LE(0x0001, 0);
  b.writeUInt16LE(8 * values.length, 2);
  values.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 4 + 8 * i));
  return b;
}
