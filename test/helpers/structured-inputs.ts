/**
 * Inputs for the structure-aware fuzz test: pickle opcode streams inside PyTorch zips, zip
 * central directories with lying fields, TF.js manifests with odd paths and specs, and
 * safetensors headers. Each generator is deterministic in its random source.
 */
import { crc32, deflateRawSync } from 'node:zlib';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipStored } from '../../lib/formats/zip/write';

type Rng = () => number;
const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)];
const EXTREMES = [0, 1, 2, 3, 6, 255, 256, 65535, 0x7fffffff, 0xffffffff, -1, -2, 2 ** 31];

/** Globals a fuzzed pickle names: allowed ones, user classes, and dangerous ones (which must never be accepted). */
export const FUZZ_GLOBALS: ReadonlyArray<[string, string]> = [
  ['collections', 'OrderedDict'], ['torch._utils', '_rebuild_tensor_v2'], ['torch._utils', '_rebuild_parameter'],
  ['torch', 'FloatStorage'], ['torch', 'LongStorage'], ['torch', 'HalfStorage'], ['builtins', 'set'], ['_codecs', 'encode'],
  ['copyreg', '_reconstructor'], ['torch._tensor', '_rebuild_from_type_v2'], ['torch.nn.modules.conv', 'Conv2d'], ['__main__', 'Net'],
  ['os', 'system'], ['posix', 'system'], ['builtins', 'eval'], ['subprocess', 'Popen'], ['builtins', 'getattr'], ['torch', 'os.system'],
];
/** The qualified names of the dangerous ones. */
export const FUZZ_DANGEROUS = ['os.system', 'posix.system', 'builtins.eval', 'subprocess.Popen', 'builtins.getattr', 'torch.os.system'];

class Bytes {
  readonly b: number[] = [];
  op(...xs: number[]): this { this.b.push(...xs); return this; }
  u32(v: number): this { const x = Buffer.alloc(4); x.writeUInt32LE(v >>> 0); return this.op(...x); }
  i32(v: number): this { const x = Buffer.alloc(4); x.writeInt32LE(v | 0); return this.op(...x); }
  text(s: string): this { return this.op(...Buffer.from(s, 'utf8')); }
  str(s: string): this { const e = Buffer.from(s, 'utf8'); return this.op(0x58).u32(e.length).op(...e); }
  global(m: string, n: string): this { return this.op(0x63).text(`${m}\n${n}\n`); }
  small(v: number): this { return v >= 0 && v < 256 ? this.op(0x4b, v) : this.op(0x4a).i32(v); }
}

/** One random opcode (or a short well-formed macro: a storage id, a whole tensor) appended to `p`. */
function randomOp(p: Bytes, r: Rng): void {
  switch (int(r, 34)) {
    case 0: p.op(0x28); break; // MARK
    case 1: p.op(0x30); break; // POP
    case 2: p.op(0x32); break; // DUP
    case 3: p.op(pick(r, [0x4e, 0x88, 0x89])); break; // NONE, NEWTRUE, NEWFALSE
    case 4: p.small(pick(r, EXTREMES)); break;
    case 5: p.op(0x4d, int(r, 256), int(r, 256)); break; // BININT2
    case 6: { const n = int(r, 12); p.op(0x8a, n); for (let i = 0; i < n; i++) p.op(int(r, 256)); break; } // LONG1
    case 7: { const n = pick(r, [0, 3, 100, 5000, 0x7fffffff]); p.op(0x8b).i32(n); for (let i = 0; i < Math.min(n, 5000); i++) p.op(0xff); break; } // LONG4
    case 8: { const x = Buffer.alloc(8); x.writeDoubleBE(pick(r, [0.5, -2, 1e308, NaN, 2.5])); p.op(0x47, ...x); break; } // BINFLOAT
    case 9: p.str(pick(r, ['storage', 'cpu', 'w', '0', 'weight', '_parameters', '_modules', '__setstate__'])); break;
    case 10: p.op(0x58).u32(pick(r, [5, 1000, 0xffffffff])).text('abc'); break; // BINUNICODE that lies
    case 11: p.op(pick(r, [0x29, 0x5d, 0x7d, 0x8f])); break; // EMPTY_TUPLE/LIST/DICT/SET
    case 12: p.op(pick(r, [0x74, 0x85, 0x86, 0x87])); break; // TUPLE, TUPLE1-3
    case 13: p.op(pick(r, [0x6c, 0x64])); break; // LIST, DICT
    case 14: p.op(pick(r, [0x61, 0x65])); break; // APPEND(S)
    case 15: p.op(pick(r, [0x73, 0x75])); break; // SETITEM(S)
    case 16: p.op(pick(r, [0x90, 0x91])); break; // ADDITEMS, FROZENSET
    case 17: case 18: { const [m, n] = pick(r, FUZZ_GLOBALS); p.global(m, n); break; }
    case 19: { const [m, n] = pick(r, FUZZ_GLOBALS); p.op(0x8c, m.length).text(m).op(0x8c, n.length).text(n).op(0x93); break; } // STACK_GLOBAL
    case 20: p.op(0x52); break; // REDUCE
    case 21: p.op(pick(r, [0x81, 0x92])); break; // NEWOBJ, NEWOBJ_EX
    case 22: p.op(0x62); break; // BUILD
    case 23: p.op(0x6f); break; // OBJ
    case 24: { const [m, n] = pick(r, FUZZ_GLOBALS); p.op(0x69).text(`${m}\n${n}\n`); break; } // INST
    case 25: p.op(pick(r, [0x71, 0x68]), int(r, 6)); break; // BINPUT, BINGET
    case 26: p.op(pick(r, [0x72, 0x6a])).u32(pick(r, [0, 1, 2, 0xffffffff])); break; // LONG_BINPUT/GET
    case 27: p.op(0x94); break; // MEMOIZE
    case 28: case 29: { // a storage persistent id, sometimes lying
      p.op(0x28).str('storage').global('torch', pick(r, ['FloatStorage', 'LongStorage', 'HalfStorage', 'NoSuchStorage']));
      p.str(pick(r, ['0', '1', '9'])).str('cpu').small(pick(r, [0, 2, 6, 7, 1 << 30, -1])).op(0x74, 0x51);
      break;
    }
    case 30: case 31: { // a whole tensor: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())
      p.global('torch._utils', '_rebuild_tensor_v2').op(0x28);
      p.op(0x28).str('storage').global('torch', 'FloatStorage').str(pick(r, ['0', '1'])).str('cpu').small(pick(r, [6, 2, 7])).op(0x74, 0x51);
      p.small(pick(r, [0, 1, 5, -2]));
      const dims = int(r, 3);
      p.op(0x28); for (let i = 0; i < dims; i++) p.small(pick(r, [0, 1, 2, 3, 6, 100])); p.op(0x74);
      p.op(0x28); for (let i = 0; i < dims; i++) p.small(pick(r, [0, 1, 2, 3])); p.op(0x74);
      p.op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52, 0x74, 0x52);
      break;
    }
    case 32: p.op(0x95).u32(int(r, 100)).u32(0); break; // FRAME
    default: p.op(int(r, 256)); // any byte at all
  }
}

/** A well-formed value (with a small chance of a random opcode inside), so that streams reach deep into the reader. */
function randomValue(p: Bytes, r: Rng, depth: number, memo: { n: number }): void {
  const k = depth > 3 ? int(r, 4) : int(r, 13);
  switch (k) {
    case 0: p.small(pick(r, EXTREMES)); break;
    case 1: p.str(pick(r, ['a', 'weight', 'storage', ''])); break;
    case 2: p.op(pick(r, [0x4e, 0x88, 0x89])); break;
    case 3: if (memo.n > 0) p.op(0x68, int(r, memo.n)); else p.op(0x4e); break; // BINGET of an earlier value
    case 4: case 5: { p.op(0x5d, 0x28); const n = int(r, 4); for (let i = 0; i < n; i++) randomValue(p, r, depth + 1, memo); p.op(0x65); break; }
    case 6: case 7: { p.op(0x7d, 0x28); const n = int(r, 4); for (let i = 0; i < n; i++) { p.str(pick(r, ['a', 'b', 'c', '_parameters', '_modules', '_buffers', 'state_dict'])); randomValue(p, r, depth + 1, memo); } p.op(0x75); break; }
    case 8: { p.op(0x28); const n = int(r, 4); for (let i = 0; i < n; i++) randomValue(p, r, depth + 1, memo); p.op(0x74); break; }
    case 9: { // a tensor, maybe lying
      p.global('torch._utils', '_rebuild_tensor_v2').op(0x28);
      p.op(0x28).str('storage').global('torch', 'FloatStorage').str(pick(r, ['0', '1'])).str('cpu').small(pick(r, [6, 2])).op(0x74, 0x51);
      p.small(pick(r, [0, 0, 1, 4])).op(0x28).small(pick(r, [1, 2, 3])).op(0x74).op(0x28).small(pick(r, [1, 1, 0, 2])).op(0x74);
      p.op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52, 0x74, 0x52);
      break;
    }
    case 10: { const [m, n] = pick(r, FUZZ_GLOBALS); p.global(m, n).op(0x28); randomValue(p, r, depth + 1, memo); p.op(0x74, 0x52); break; } // a call
    case 11: { p.global('__main__', pick(r, ['Net', 'Block'])).op(0x29, 0x81); randomValue(p, r, depth + 1, memo); p.op(0x62); break; } // NEWOBJ + BUILD
    default: randomOp(p, r);
  }
  if (r() < 0.2) p.op(0x71, memo.n++ % 256); // BINPUT
}

/** A PyTorch zip whose data.pkl is a random opcode stream (storages '0': 6 floats, '1': 2 floats). */
export function pickleCase(r: Rng): Uint8Array {
  if (r() < 0.5) {
    // A dict of well-formed random values.
    const p = new Bytes().op(0x80, 2, 0x7d, 0x28);
    const memo = { n: 0 };
    const n = 1 + int(r, 5);
    for (let i = 0; i < n; i++) { p.str(pick(r, ['w', 'x', 'model', 'state_dict', 'epoch'])); randomValue(p, r, 0, memo); }
    p.op(0x75, 0x2e);
    return zipOf(Uint8Array.from(p.b));
  }
  const p = new Bytes().op(0x80, pick(r, [2, 2, 4, 5]));
  // Usually start from a dict of a real tensor, so that streams get past the first opcode often.
  if (r() < 0.6) {
    p.op(0x7d, 0x28).str('w');
    p.global('torch._utils', '_rebuild_tensor_v2').op(0x28).op(0x28).str('storage').global('torch', 'FloatStorage').str('0').str('cpu').small(6).op(0x74, 0x51);
    p.small(0).op(0x28).small(2).small(3).op(0x74).op(0x28).small(3).small(1).op(0x74).op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52, 0x74, 0x52);
    p.str('x');
  }
  const n = 1 + int(r, 40);
  for (let i = 0; i < n; i++) randomOp(p, r);
  if (r() < 0.5) p.op(0x75); // SETITEMS
  if (r() < 0.9) p.op(0x2e); // STOP
  return zipOf(Uint8Array.from(p.b));
}

/** A torch zip around a pickle: storages '0' (6 floats) and '1' (2 floats). */
function zipOf(pkl: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat(zipStored([
    { name: 'archive/data.pkl', data: pkl },
    { name: 'archive/data/0', data: new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer) },
    { name: 'archive/data/1', data: new Uint8Array(8) },
    { name: 'archive/version', data: Buffer.from('3\n') },
  ])));
}

/** A valid small torch zip's records, then a central directory (and end records) with random lies. */
export function zipCase(r: Rng): Uint8Array {
  const pkl = new Bytes().op(0x80, 2, 0x7d, 0x28).str('w')
    .global('torch._utils', '_rebuild_tensor_v2').op(0x28, 0x28).str('storage').global('torch', 'FloatStorage').str('0').str('cpu').small(6).op(0x74, 0x51)
    .small(0).op(0x28).small(6).op(0x74, 0x28).small(1).op(0x74, 0x89).global('collections', 'OrderedDict').op(0x29, 0x52, 0x74, 0x52, 0x75, 0x2e);
  const files = [
    { name: 'archive/data.pkl', data: Uint8Array.from(pkl.b) },
    { name: 'archive/data/0', data: new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer) },
    { name: 'archive/version', data: Buffer.from('3\n') },
  ];
  if (r() < 0.3) files.push({ name: pick(r, ['../evil', '/abs', '', 'archive/data.pkl', 'C:\\x', 'archive/data/0']), data: Buffer.from('x') });
  const out: number[] = [];
  const central: Array<{ name: Buffer; method: number; crc: number; csize: number; size: number; offset: number; extra: Buffer; flags: number }> = [];
  for (const f of files) {
    const deflate = r() < 0.3;
    const body = deflate ? deflateRawSync(f.data) : Buffer.from(f.data);
    const name = Buffer.from(f.name, 'utf8');
    const offset = out.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc32(f.data) >>> 0, 14); local.writeUInt32LE(body.length, 18); local.writeUInt32LE(f.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    out.push(...local, ...name, ...body);
    central.push({ name, method: deflate ? 8 : 0, crc: local.readUInt32LE(14), csize: body.length, size: f.data.length, offset, extra: Buffer.alloc(0), flags: 0 });
  }
  // Lies in the directory.
  for (const c of central) {
    if (r() > 0.35) continue;
    switch (int(r, 8)) {
      case 0: c.method = pick(r, [8, 12, 99]); break;
      case 1: c.flags = 1; break;
      case 2: c.csize = pick(r, EXTREMES) >>> 0; break;
      case 3: c.size = pick(r, [0, 1, 0xffffffff, 1 << 30, c.csize * 2000]) >>> 0; break;
      case 4: c.offset = pick(r, [0, central[0].offset, out.length, 0xffffffff, int(r, out.length)]) >>> 0; break;
      case 5: { c.size = 0xffffffff; c.csize = 0xffffffff; const e = Buffer.alloc(20); e.writeUInt16LE(1, 0); e.writeUInt16LE(16, 2); e.writeBigUInt64LE(BigInt(pick(r, [6, 24, 2 ** 40])), 4); e.writeBigUInt64LE(BigInt(pick(r, [24, 2 ** 50])), 12); c.extra = e; break; }
      case 6: { const e = Buffer.alloc(6); e.writeUInt16LE(1, 0); e.writeUInt16LE(pick(r, [2, 100]), 2); c.extra = e; break; }
      default: c.offset = c.offset + pick(r, [1, -1, 30]);
    }
  }
  const cdOffset = out.length;
  for (const c of central) {
    const h = Buffer.alloc(46);
    h.writeUInt32LE(0x02014b50, 0); h.writeUInt16LE(20, 4); h.writeUInt16LE(20, 6); h.writeUInt16LE(c.flags, 8); h.writeUInt16LE(c.method, 10);
    h.writeUInt32LE(c.crc, 16); h.writeUInt32LE(c.csize, 20); h.writeUInt32LE(c.size, 24); h.writeUInt16LE(c.name.length, 28); h.writeUInt16LE(c.extra.length, 30);
    h.writeUInt32LE(Math.max(0, c.offset) >>> 0, 42);
    out.push(...h, ...c.name, ...c.extra);
  }
  const cdSize = out.length - cdOffset;
  if (r() < 0.2) { // a ZIP64 end record and locator, maybe lying
    const z = Buffer.alloc(56); z.writeUInt32LE(0x06064b50, 0); z.writeBigUInt64LE(44n, 4);
    z.writeBigUInt64LE(BigInt(central.length), 24); z.writeBigUInt64LE(BigInt(pick(r, [central.length, 2 ** 40])), 32);
    z.writeBigUInt64LE(BigInt(pick(r, [cdSize, 2 ** 45])), 40); z.writeBigUInt64LE(BigInt(pick(r, [cdOffset, 2 ** 50])), 48);
    const zAt = out.length;
    out.push(...z);
    const l = Buffer.alloc(20); l.writeUInt32LE(0x07064b50, 0); l.writeBigUInt64LE(BigInt(pick(r, [zAt, out.length + 100, 2 ** 52])), 8); l.writeUInt32LE(1, 16);
    out.push(...l);
  }
  const e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0);
  const count = r() < 0.15 ? pick(r, [0, 0xffff, central.length + 1]) : central.length;
  e.writeUInt16LE(count, 8); e.writeUInt16LE(count, 10);
  e.writeUInt32LE(r() < 0.1 ? pick(r, [0, 0xffffffff]) : cdSize, 12);
  e.writeUInt32LE(r() < 0.1 ? pick(r, [0, 0xffffffff, cdOffset + 1]) : cdOffset, 16);
  out.push(...e);
  return Uint8Array.from(out);
}

/** A TF.js folder under `dir`: a few shards, a manifest with odd paths and specs; returns model.json's path. */
export function manifestCase(r: Rng, dir: string, outside: string): string {
  mkdirSync(dir, { recursive: true });
  const shardNames = ['a.bin', 'b.bin', 'c.bin'].slice(0, 1 + int(r, 3));
  for (const s of shardNames) writeFileSync(join(dir, s), new Uint8Array(pick(r, [0, 4, 12, 16, 1000])));
  if (r() < 0.2) { try { symlinkSync(outside, join(dir, 'link.bin')); } catch { /* exists */ } }
  const path = () => pick(r, [...shardNames, ...shardNames, 'missing.bin', '../x.bin', '/etc/passwd', 'link.bin', './a.bin', 'sub/../a.bin', 'http://x/y.bin', '', 'a.bin']);
  const spec = () => {
    const s: Record<string, unknown> = {
      name: pick(r, ['w', 'b', 'k', 'w', 'dense/kernel']),
      shape: Array.from({ length: int(r, 3) }, () => pick(r, [0, 1, 2, 3, 4, -1, 2.5, 1e9, 'x'])),
      dtype: pick(r, ['float32', 'float32', 'int32', 'bool', 'string', 'complex64', 'float64', 7]),
    };
    if (r() < 0.2) s.quantization = pick(r, [{ dtype: 'uint8', min: 0, scale: 1 }, { dtype: 'float16' }, { dtype: 'uint16' }, { dtype: 'int4' }, null]);
    return s;
  };
  const groups = Array.from({ length: int(r, 3) }, () => ({ paths: Array.from({ length: 1 + int(r, 3) }, path), weights: Array.from({ length: int(r, 4) }, spec) }));
  let text = JSON.stringify({ format: 'layers-model', modelTopology: r() < 0.5 ? null : { class_name: 'Sequential', config: { layers: [] } }, weightsManifest: r() < 0.1 ? {} : groups });
  if (r() < 0.1) text = text.slice(0, int(r, text.length));
  writeFileSync(join(dir, 'model.json'), text);
  return join(dir, 'model.json');
}

/** A safetensors file with a random header: dtypes, shapes and offsets that may lie, duplicate keys, odd metadata. */
export function safetensorsCase(r: Rng): Uint8Array {
  const codes = ['F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F64', 'I8', 'X9', 'F8_E4M3'];
  const size: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, U8: 1, BOOL: 1, F64: 8, I8: 1 };
  const parts: string[] = [];
  let at = 0;
  const n = int(r, 6);
  for (let i = 0; i < n; i++) {
    const dtype = pick(r, codes);
    const shape = Array.from({ length: int(r, 3) }, () => pick(r, [0, 1, 2, 3, 5]));
    const bytes = shape.reduce((a, b) => a * b, 1) * (size[dtype] ?? 1);
    let offsets: unknown = [at, at + bytes];
    if (r() < 0.15) offsets = pick(r, [[at + 1, at + bytes], [0, bytes], [at, at + bytes + 1], [-1, 2], [at], 'x', [2 ** 60, 2 ** 61]]);
    const name = r() < 0.1 && i > 0 ? 't0' : `t${i}`;
    parts.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype, shape: r() < 0.05 ? [-1] : shape, data_offsets: offsets })}`);
    at += bytes;
  }
  if (r() < 0.3) parts.unshift(`"__metadata__":${pick(r, ['{"a":"b"}', '{"a":1}', '[]', '"x"'])}`);
  let header = `{${parts.join(',')}}`;
  if (r() < 0.1) header = header.slice(0, int(r, header.length));
  const h = Buffer.from(header, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(r() < 0.1 ? pick(r, [0, 1, h.length + 5, 2 ** 40]) : h.length));
  const data = new Uint8Array(r() < 0.15 ? Math.max(0, at + pick(r, [-1, 1, 100])) : at);
  return new Uint8Array(Buffer.concat([len, h, data]));
}
