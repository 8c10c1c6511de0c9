/**
 * A restricted pickle reader (protocols 0 to 5). It rebuilds data, never code: globals are
 * names, and what a pickle asks to call is handed to the caller's `call` hook, which decides
 * (PyTorch's allow-list lives in ../pytorch/globals.ts). Every length is checked against the
 * bytes that remain before anything is sliced or allocated.
 */
import { CheckpointError } from '../errors';
import { PyDict, PyExternal, PyGlobal, PyObject, PySet, PyTuple, type PyValue } from './values';
import { dangerOf, dangerousGlobalError, normalizeModule } from './dangerous';

/** How the caller gives meaning to globals and persistent ids. */
export interface UnpickleHooks {
  /** GLOBAL, STACK_GLOBAL and INST: the value a global's name stands for, or a throw (default: refuse dangerous names, else a PyGlobal). */
  global?(module: string, name: string, at: number): PyValue;
  /** REDUCE (`fn(*args)`) and NEWOBJ (`cls.__new__(cls, *args)`): the value to push in their place. */
  call(fn: PyValue, args: PyValue[], how: 'reduce' | 'newobj', at: number): PyValue;
  /** BUILD on a value the unpickler does not own (an external value such as a tensor). */
  build?(target: PyExternal, state: PyValue, at: number): void;
  /** PERSID / BINPERSID: resolve a persistent id (PyTorch's storages). */
  persistentLoad?(pid: PyValue, at: number): PyValue;
}

/** Where to read: the pickle's bytes (a view), the file name for errors, and the absolute offset of byte 0. */
export interface PickleSource {
  bytes: Uint8Array;
  file: string;
  /** Offset of `bytes[0]` in the file, so that errors name true file offsets. */
  base?: number;
  /** When offsets are not the file's (a deflated record): what they count in, as ` of 'archive/data.pkl'`. */
  within?: string;
}

/** The value a pickle builds and the offset just past its STOP opcode. */
export interface Unpickled {
  value: PyValue;
  end: number;
  /** Opcodes run, the measure of what the pickle may expand to. */
  opcodes: number;
}

const MAX_DEPTH_HINT = 'the file is damaged or was not written by PyTorch';
const utf8 = new TextDecoder('utf-8', { fatal: false });
const latin1 = new TextDecoder('latin1');

/** Reads one pickle from `src.bytes` starting at `start`; throws CheckpointError on anything malformed. */
export function unpickle(src: PickleSource, hooks: UnpickleHooks, start = 0): Unpickled {
  return new Machine(src, hooks, start).run();
}

class Machine {
  private pos: number;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly base: number;
  private stack: PyValue[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PyValue>();
  private opAt = 0;

  constructor(private readonly src: PickleSource, private readonly hooks: UnpickleHooks, start: number) {
    this.bytes = src.bytes;
    this.view = new DataView(src.bytes.buffer, src.bytes.byteOffset, src.bytes.byteLength);
    this.base = src.base ?? 0;
    this.pos = start;
  }

  private fail(problem: string, hint = MAX_DEPTH_HINT): never {
    throw new CheckpointError(this.src.file, `${problem} at byte ${this.base + this.opAt}${this.src.within ?? ''}`, hint);
  }

  /** What a global's name stands for; dangerous names are refused whatever opcode reaches them. */
  private global(module: string, name: string): PyValue {
    const at = this.base + this.opAt;
    if (this.hooks.global) return this.hooks.global(module, name, at);
    const why = dangerOf(module, name);
    if (why) throw dangerousGlobalError(this.src.file, `${normalizeModule(module)}.${name}`, why, `${at}${this.src.within ?? ''}`);
    return new PyGlobal(normalizeModule(module), name);
  }

  private need(n: number): void {
    if (!(n >= 0) || this.pos + n > this.bytes.length) {
      this.fail(`pickle opcode 0x${this.bytes[this.opAt]?.toString(16)} needs ${n} bytes but the data ends after ${this.bytes.length - this.pos}`,
        'the file is truncated or damaged');
    }
  }

  private u8(): number { this.need(1); return this.bytes[this.pos++]; }
  private u16(): number { this.need(2); const v = this.view.getUint16(this.pos, true); this.pos += 2; return v; }
  private u32(): number { this.need(4); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  private i32(): number { this.need(4); const v = this.view.getInt32(this.pos, true); this.pos += 4; return v; }
  private u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    // Lengths beyond what the data holds fail in take(); keep them exact up to 2^53.
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
  private take(n: number): Uint8Array { this.need(n); const s = this.bytes.subarray(this.pos, this.pos + n); this.pos += n; return s; }
  private line(): string {
    const nl = this.bytes.indexOf(0x0a, this.pos);
    if (nl < 0) this.fail('pickle text opcode without a closing newline', 'the file is truncated or damaged');
    const s = latin1.decode(this.bytes.subarray(this.pos, nl));
    this.pos = nl + 1;
    return s;
  }

  private pop(): PyValue {
    if (this.stack.length === 0 || (this.marks.length > 0 && this.stack.length <= this.marks[this.marks.length - 1])) {
      this.fail('pickle stack underflow');
    }
    return this.stack.pop() as PyValue;
  }
  private top(): PyValue {
    if (this.stack.length === 0) this.fail('pickle stack underflow');
    return this.stack[this.stack.length - 1];
  }
  private popMark(): PyValue[] {
    if (this.marks.length === 0) this.fail('pickle opcode needs a MARK but none is set');
    const m = this.marks.pop() as number;
    return this.stack.splice(m);
  }
  private memoGet(i: number): PyValue {
    if (!this.memo.has(i)) this.fail(`pickle memo entry ${i} is read before it is written`);
    return this.memo.get(i) as PyValue;
  }
  private memoPut(i: number): void { this.memo.set(i, this.top()); }

  /** Little-endian two's complement, in linear time (hex text parsed once, not a shift per byte). */
  private long(bytes: Uint8Array): number | bigint {
    if (bytes.length === 0) return 0;
    const hex = Buffer.from(bytes).reverse().toString('hex'); // a copy: the pickle's bytes stay as they are
    let v = BigInt(`0x${hex}`);
    if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(bytes.length * 8);
    return smallest(v);
  }

  private setItems(target: PyValue, items: PyValue[]): void {
    // A dict subclass (an EasyDict, say) keeps its items beside its state.
    if (target instanceof PyObject) target = target.items ??= new PyDict();
    if (!(target instanceof PyDict)) this.fail('pickle SETITEMS on something that is not a dict');
    if (items.length % 2 !== 0) this.fail('pickle SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) target.map.set(items[i], items[i + 1]);
  }

  private appendItems(target: PyValue, items: PyValue[]): void {
    if (Array.isArray(target)) { for (const v of items) target.push(v); return; }
    if (target instanceof PyObject) {
      // e.g. a list subclass; keep the items as the object's list state.
      const list = Array.isArray(target.state) ? target.state : (target.state = [] as PyValue[]);
      for (const v of items) (list as PyValue[]).push(v);
      return;
    }
    this.fail('pickle APPEND on something that is not a list');
  }

  private build(target: PyValue, state: PyValue): void {
    if (target instanceof PyObject) { target.state = state; return; }
    if (target instanceof PyDict) { dictAttrs.set(target, state); return; }
    if (target instanceof PyExternal && this.hooks.build) { this.hooks.build(target, state, this.base + this.opAt); return; }
    this.fail('pickle BUILD on a value that takes no state');
  }

  private call(fn: PyValue, args: PyValue, how: 'reduce' | 'newobj'): PyValue {
    if (!(args instanceof PyTuple)) this.fail(`pickle ${how === 'reduce' ? 'REDUCE' : 'NEWOBJ'} without an argument tuple`);
    if (!(fn instanceof PyGlobal)) this.fail(`pickle ${how === 'reduce' ? 'REDUCE' : 'NEWOBJ'} on a value that is not a global`);
    return this.hooks.call(fn, args.items, how, this.base + this.opAt);
  }

  run(): Unpickled {
    const b = this.bytes;
    for (let opcodes = 1; ; opcodes++) {
      this.opAt = this.pos;
      if (this.pos >= b.length) this.fail('pickle ends without a STOP opcode', 'the file is truncated');
      const op = b[this.pos++];
      switch (op) {
        case 0x80: { const p = this.u8(); if (p > 5) this.fail(`pickle protocol ${p} is newer than 5`); break; } // PROTO
        case 0x95: this.u64(); break; // FRAME: a hint for buffered readers; the data is already in memory
        case 0x2e: { // STOP
          const value = this.pop();
          return { value, end: this.pos, opcodes };
        }
        case 0x28: this.marks.push(this.stack.length); break; // MARK
        case 0x30: this.pop(); break; // POP
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x32: this.stack.push(this.top()); break; // DUP
        case 0x4e: this.stack.push(null); break; // NONE
        case 0x88: this.stack.push(true); break; // NEWTRUE
        case 0x89: this.stack.push(false); break; // NEWFALSE
        case 0x4a: this.stack.push(this.i32()); break; // BININT
        case 0x4b: this.stack.push(this.u8()); break; // BININT1
        case 0x4d: this.stack.push(this.u16()); break; // BININT2
        case 0x8a: { const n = this.u8(); this.stack.push(this.long(this.take(n))); break; } // LONG1
        case 0x8b: { const n = this.i32(); if (n < 0) this.fail('pickle LONG4 with a negative length'); this.stack.push(this.long(this.take(n))); break; }
        case 0x49: this.stack.push(this.textInt(this.line())); break; // INT
        case 0x4c: this.stack.push(this.textLong(this.line())); break; // LONG
        case 0x46: this.stack.push(this.textFloat(this.line())); break; // FLOAT
        case 0x47: { this.need(8); const v = this.view.getFloat64(this.pos, false); this.pos += 8; this.stack.push(v); break; } // BINFLOAT
        case 0x58: { const n = this.u32(); this.stack.push(utf8.decode(this.take(n))); break; } // BINUNICODE
        case 0x8c: { const n = this.u8(); this.stack.push(utf8.decode(this.take(n))); break; } // SHORT_BINUNICODE
        case 0x8d: { const n = this.u64(); this.stack.push(utf8.decode(this.take(n))); break; } // BINUNICODE8
        case 0x56: this.stack.push(rawUnicodeEscape(this.line())); break; // UNICODE
        case 0x54: { const n = this.i32(); if (n < 0) this.fail('pickle BINSTRING with a negative length'); this.stack.push(utf8.decode(this.take(n))); break; }
        case 0x55: { const n = this.u8(); this.stack.push(utf8.decode(this.take(n))); break; } // SHORT_BINSTRING
        case 0x53: this.stack.push(this.textString(this.line())); break; // STRING
        case 0x42: { const n = this.u32(); this.stack.push(this.take(n)); break; } // BINBYTES
        case 0x43: { const n = this.u8(); this.stack.push(this.take(n)); break; } // SHORT_BINBYTES
        case 0x8e: { const n = this.u64(); this.stack.push(this.take(n)); break; } // BINBYTES8
        case 0x96: { const n = this.u64(); this.stack.push(this.take(n)); break; } // BYTEARRAY8
        case 0x97: case 0x98: this.fail('pickle uses out-of-band buffers (protocol 5 NEXT_BUFFER), which checkpoints never do');
        // eslint-disable-next-line no-fallthrough
        case 0x29: this.stack.push(new PyTuple([])); break; // EMPTY_TUPLE
        case 0x74: this.stack.push(new PyTuple(this.popMark())); break; // TUPLE
        case 0x85: { const a = this.pop(); this.stack.push(new PyTuple([a])); break; }
        case 0x86: { const b2 = this.pop(); const a = this.pop(); this.stack.push(new PyTuple([a, b2])); break; }
        case 0x87: { const c = this.pop(); const b2 = this.pop(); const a = this.pop(); this.stack.push(new PyTuple([a, b2, c])); break; }
        case 0x5d: this.stack.push([]); break; // EMPTY_LIST
        case 0x6c: this.stack.push(this.popMark()); break; // LIST
        case 0x61: { const v = this.pop(); this.appendItems(this.top(), [v]); break; } // APPEND
        case 0x65: { const items = this.popMark(); this.appendItems(this.top(), items); break; } // APPENDS
        case 0x7d: this.stack.push(new PyDict()); break; // EMPTY_DICT
        case 0x64: { const items = this.popMark(); const d = new PyDict(); this.setItems(d, items); this.stack.push(d); break; } // DICT
        case 0x73: { const v = this.pop(); const k = this.pop(); this.setItems(this.top(), [k, v]); break; } // SETITEM
        case 0x75: { const items = this.popMark(); this.setItems(this.top(), items); break; } // SETITEMS
        case 0x8f: this.stack.push(new PySet()); break; // EMPTY_SET
        case 0x90: { // ADDITEMS
          const items = this.popMark(); const s = this.top();
          if (!(s instanceof PySet)) this.fail('pickle ADDITEMS on something that is not a set');
          for (const v of items) s.items.push(v);
          break;
        }
        case 0x91: { const s = new PySet(true); for (const v of this.popMark()) s.items.push(v); this.stack.push(s); break; } // FROZENSET
        case 0x63: { // GLOBAL
          const module = this.line(); const name = this.line();
          this.stack.push(this.global(module, name)); break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop(); const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('pickle STACK_GLOBAL with names that are not strings');
          this.stack.push(this.global(module, name)); break;
        }
        case 0x52: { const args = this.pop(); const fn = this.pop(); this.stack.push(this.call(fn, args, 'reduce')); break; } // REDUCE
        case 0x81: { const args = this.pop(); const cls = this.pop(); this.stack.push(this.call(cls, args, 'newobj')); break; } // NEWOBJ
        case 0x92: { // NEWOBJ_EX
          this.pop(); // kwargs: classes built this way get no keyword arguments from us
          const args = this.pop(); const cls = this.pop();
          this.stack.push(this.call(cls, args, 'newobj')); break;
        }
        case 0x6f: { // OBJ
          const items = this.popMark();
          if (items.length === 0) this.fail('pickle OBJ without a class');
          this.stack.push(this.call(items[0], new PyTuple(items.slice(1)), 'newobj')); break;
        }
        case 0x69: { // INST
          const module = this.line(); const name = this.line();
          const cls = this.global(module, name);
          this.stack.push(this.call(cls, new PyTuple(this.popMark()), 'newobj')); break;
        }
        case 0x62: { const state = this.pop(); this.build(this.top(), state); break; } // BUILD
        case 0x70: this.memoPut(this.textIndex(this.line())); break; // PUT
        case 0x71: this.memoPut(this.u8()); break; // BINPUT
        case 0x72: this.memoPut(this.u32()); break; // LONG_BINPUT
        case 0x94: this.memoPut(this.memo.size); break; // MEMOIZE
        case 0x67: this.stack.push(this.memoGet(this.textIndex(this.line()))); break; // GET
        case 0x68: this.stack.push(this.memoGet(this.u8())); break; // BINGET
        case 0x6a: this.stack.push(this.memoGet(this.u32())); break; // LONG_BINGET
        case 0x50: case 0x51: { // PERSID, BINPERSID
          const pid = op === 0x50 ? this.line() : this.pop();
          if (!this.hooks.persistentLoad) this.fail('pickle refers to external data (a persistent id) that this file cannot hold');
          this.stack.push(this.hooks.persistentLoad(pid, this.base + this.opAt)); break;
        }
        case 0x82: case 0x83: case 0x84: this.fail('pickle uses the copyreg extension registry (EXT opcodes), which checkpoints never do');
        // eslint-disable-next-line no-fallthrough
        default: this.fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }

  private textInt(s: string): number | bigint | boolean {
    if (s === '00') return false;
    if (s === '01') return true;
    return this.textLong(s);
  }
  private textLong(s: string): number | bigint {
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[-+]?\d{1,4300}$/.test(t)) this.fail(`pickle integer ${JSON.stringify(s.slice(0, 40))} is not a number`);
    return smallest(BigInt(t));
  }
  private textFloat(s: string): number {
    const v = Number(s);
    if (Number.isNaN(v) && !/^[-+]?nan$/i.test(s.trim())) this.fail(`pickle float ${JSON.stringify(s.slice(0, 40))} is not a number`);
    return v;
  }
  private textIndex(s: string): number {
    if (!/^\d{1,10}$/.test(s)) this.fail(`pickle memo index ${JSON.stringify(s.slice(0, 40))} is not a number`);
    return Number(s);
  }
  private textString(s: string): string {
    const q = s[0];
    if (s.length < 2 || (q !== '"' && q !== "'") || s[s.length - 1] !== q) this.fail('pickle STRING is not quoted');
    return pythonEscapes(s.slice(1, -1));
  }
}

/** Attributes a pickle set on a dict (an OrderedDict's `_metadata`, say), kept aside. */
export const dictAttrs = new WeakMap<PyDict, PyValue>();

function smallest(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function rawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string | undefined, b: string | undefined) =>
    String.fromCodePoint(Math.min(parseInt(a ?? b ?? '0', 16), 0x10ffff)));
}

function pythonEscapes(s: string): string {
  const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"', '0': '\0' };
  return s.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_m, e: string) =>
    e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : (simple[e] ?? `\\${e}`));
}
