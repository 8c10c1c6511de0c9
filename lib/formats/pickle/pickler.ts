/** A small pickle writer (protocol 2, as torch.save writes by default): opcodes in, bytes out. */
import type { JsonValue } from '../checkpoint';

/** Accumulates pickle opcodes. */
export class Pickler {
  private readonly parts: Buffer[] = [];

  constructor() { this.raw(0x80, 2); } // PROTO 2

  private raw(...bytes: number[]): this { this.parts.push(Buffer.from(bytes)); return this; }

  mark(): this { return this.raw(0x28); }
  none(): this { return this.raw(0x4e); }
  bool(v: boolean): this { return this.raw(v ? 0x88 : 0x89); }
  emptyTuple(): this { return this.raw(0x29); }
  /** TUPLE from the last MARK. */
  tuple(): this { return this.raw(0x74); }
  emptyDict(): this { return this.raw(0x7d); }
  emptyList(): this { return this.raw(0x5d); }
  setItems(): this { return this.raw(0x75); }
  appends(): this { return this.raw(0x65); }
  reduce(): this { return this.raw(0x52); }
  binPersId(): this { return this.raw(0x51); }
  stop(): this { return this.raw(0x2e); }

  global(module: string, name: string): this {
    this.raw(0x63);
    this.parts.push(Buffer.from(`${module}\n${name}\n`, 'utf8'));
    return this;
  }

  int(v: number | bigint): this {
    if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new RangeError(`${v} is not an integer`);
    const n = BigInt(v);
    if (n >= 0n && n < 256n) return this.raw(0x4b, Number(n));
    if (n >= 0n && n < 65536n) return this.raw(0x4d, Number(n) & 0xff, Number(n) >> 8);
    if (n >= -(2n ** 31n) && n < 2n ** 31n) { const b = Buffer.alloc(5); b[0] = 0x4a; b.writeInt32LE(Number(n), 1); this.parts.push(b); return this; }
    // LONG1: little-endian two's complement, as few bytes as hold the sign.
    const bytes: number[] = [];
    let x = n;
    do { bytes.push(Number(BigInt.asUintN(8, x))); x >>= 8n; } while (!(x === 0n && (bytes[bytes.length - 1] & 0x80) === 0) && !(x === -1n && (bytes[bytes.length - 1] & 0x80) !== 0));
    return this.raw(0x8a, bytes.length, ...bytes);
  }

  float(v: number): this {
    const b = Buffer.alloc(9);
    b[0] = 0x47;
    b.writeDoubleBE(v, 1);
    this.parts.push(b);
    return this;
  }

  str(s: string): this {
    const utf8 = Buffer.from(s, 'utf8');
    const head = Buffer.alloc(5);
    head[0] = 0x58;
    head.writeUInt32LE(utf8.length, 1);
    this.parts.push(head, utf8);
    return this;
  }

  /** A JSON value as the Python value json.loads would give (integers as int, other numbers as float). */
  json(v: JsonValue): this {
    if (v === null) return this.none();
    if (typeof v === 'boolean') return this.bool(v);
    if (typeof v === 'number') return Number.isSafeInteger(v) && !Object.is(v, -0) ? this.int(v) : this.float(v);
    if (typeof v === 'string') return this.str(v);
    if (Array.isArray(v)) {
      this.emptyList();
      if (v.length) { this.mark(); for (const x of v) this.json(x); this.appends(); }
      return this;
    }
    this.emptyDict();
    const entries = Object.entries(v);
    if (entries.length) { this.mark(); for (const [k, x] of entries) { this.str(k); this.json(x); } this.setItems(); }
    return this;
  }

  bytes(): Buffer { return Buffer.concat(this.parts); }
}
