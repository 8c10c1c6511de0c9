/**
 * From the object a PyTorch pickle builds to a flat state dict: tensors by dotted path, the
 * rest as JSON metadata. A whole pickled nn.Module is read through its `_parameters`,
 * `_buffers` and `_modules`, giving the keys its `state_dict()` would.
 */
import { CheckpointError } from '../errors';
import type { JsonValue, TopLevel } from '../checkpoint';
import { PyDict, PyGlobal, PyObject, PySet, PyTuple, type PyValue } from '../pickle/values';
import { StorageRef, TensorRef } from './storage';

/** Tensors and non-tensor values of a pickled object, flattened by path. */
export interface Flattened {
  tensors: Map<string, TensorRef>;
  values: Record<string, JsonValue>;
  top?: TopLevel;
  notes: string[];
}

const MAX_DEPTH = 256;

/** How many keys and values a pickle's objects may flatten to: shared objects are visited once per path, so this bounds "billion laughs". */
export interface NodeBudget {
  remaining: number;
  /** The budget it started with, for the error message. */
  readonly limit: number;
  /** The file, for errors raised where only the budget travels. */
  readonly file?: string;
  /** The key being flattened, for errors. */
  where?: string;
}

/** The error for objects nested beyond MAX_DEPTH, naming the key under which it happened. */
function tooDeep(file: string, budget: NodeBudget): CheckpointError {
  return new CheckpointError(file, `objects nested more than ${MAX_DEPTH} levels deep${budget.where ? ` under '${budget.where}'` : ''}`, 'the file is damaged or not a checkpoint');
}

/** Flattens the object a checkpoint's pickle built, visiting at most `budget` keys and values. */
export function flatten(root: PyValue, file: string, budget: NodeBudget = { remaining: Infinity, limit: Infinity }): Flattened {
  return new Flattener(file, budget).run(root);
}

/** Counts one visited node against the budget, or throws when shared objects expand beyond it. */
function count(budget: NodeBudget, file: string): void {
  if (--budget.remaining < 0) {
    throw new CheckpointError(file, `the pickle's shared objects expand to more than ${budget.limit} keys and values`,
      'the file repeats references to build an exponentially large object ("billion laughs"); it is damaged or hostile');
  }
}

class Flattener {
  private readonly out: Flattened = { tensors: new Map(), values: {}, notes: [] };
  private readonly holds = new Map<object, boolean>();
  private readonly modules = new Set<string>();

  constructor(private readonly file: string, private readonly budget: NodeBudget) {}

  run(root: PyValue): Flattened {
    const top = this.entries(root);
    if (top && root instanceof PyDict) {
      const t: TopLevel = { withTensors: [], withoutTensors: [] };
      for (const [k, v] of top) { this.budget.where = k; (this.holdsTensor(v, 0) ? t.withTensors : t.withoutTensors).push(k); }
      this.out.top = t;
    }
    this.walk(root, '', 0, new Set());
    if (this.modules.size) {
      this.out.notes.push(`read a whole pickled module through its parameters and buffers; its classes (${[...this.modules].join(', ')}) were not imported and no code ran`);
    }
    return this.out;
  }

  private deep(depth: number): void {
    if (depth > MAX_DEPTH) throw tooDeep(this.file, this.budget);
  }

  /** The named children of a container, or undefined for a leaf. */
  private entries(v: PyValue): Array<[string, PyValue]> | undefined {
    if (v instanceof PyDict) return [...v.map].map(([k, x]) => [keyString(k, this.budget), x]);
    if (Array.isArray(v)) return v.map((x, i) => [String(i), x]);
    if (v instanceof PyTuple) return v.items.map((x, i) => [String(i), x]);
    if (v instanceof PySet) return v.items.map((x, i) => [String(i), x]);
    if (v instanceof PyObject) return moduleParts(v, this.budget) ?? objectParts(v, this.budget);
    return undefined;
  }

  private holdsTensor(v: PyValue, depth: number): boolean {
    if (v instanceof TensorRef) return true;
    if (v === null || typeof v !== 'object') return false;
    const cached = this.holds.get(v);
    if (cached !== undefined) return cached;
    this.deep(depth);
    this.holds.set(v, false); // cycles answer "no" while in progress
    const kids = this.entries(v);
    const r = !!kids && kids.some(([, x]) => this.holdsTensor(x, depth + 1));
    this.holds.set(v, r);
    return r;
  }

  private walk(v: PyValue, path: string, depth: number, onPath: Set<object>): void {
    if (depth <= 1) this.budget.where = path;
    this.deep(depth);
    count(this.budget, this.file);
    if (v instanceof TensorRef) {
      if (this.out.tensors.has(path)) throw new CheckpointError(this.file, `two tensors have the key '${path}'`, 'rename one of them in PyTorch');
      this.out.tensors.set(path, v);
      return;
    }
    if (v !== null && typeof v === 'object' && this.holdsTensor(v, depth)) {
      if (onPath.has(v)) return;
      onPath.add(v);
      if (v instanceof PyObject && moduleParts(v, this.budget)) this.modules.add(v.cls.qualified);
      for (const [k, x] of this.entries(v) ?? []) {
        const p = path ? `${path}.${k}` : k;
        if (this.holdsTensor(x, depth + 1)) this.walk(x, p, depth + 1, onPath);
        else if (!(v instanceof PyObject && moduleParts(v, this.budget))) this.out.values[p] = toJson(x, depth + 1, this.file, this.budget);
      }
      onPath.delete(v);
      return;
    }
    this.out.values[path] = toJson(v, depth, this.file, this.budget);
  }
}

/**
 * The named parts of an object of a class outside the allow-list: its state (a dict, or the
 * (dict, slots) pair), the items of a dict subclass, or, with neither, its constructor arguments.
 * Never recursive, so an object whose state is itself cannot loop.
 */
function objectParts(obj: PyObject, budget: NodeBudget): Array<[string, PyValue]> {
  const parts: Array<[string, PyValue]> = [];
  const fromDict = (d: PyValue) => { if (d instanceof PyDict) for (const [k, x] of d.map) parts.push([keyString(k, budget), x]); };
  const state = obj.state;
  if (state instanceof PyDict) fromDict(state);
  else if (state instanceof PyTuple && state.items.length === 2 && state.items.every((x) => x === null || x instanceof PyDict)) state.items.forEach(fromDict);
  else if (Array.isArray(state)) state.forEach((x, i) => parts.push([String(i), x]));
  else if (state !== null) parts.push(['state', state]);
  if (obj.items) fromDict(obj.items);
  if (parts.length === 0) obj.args.forEach((x, i) => parts.push([String(i), x]));
  return parts;
}

/** The state_dict() entries of a pickled nn.Module, or undefined if `obj` is not one. */
function moduleParts(obj: PyObject, budget: NodeBudget): Array<[string, PyValue]> | undefined {
  const state = obj.state;
  if (!(state instanceof PyDict)) return undefined;
  const params = state.map.get('_parameters');
  const buffers = state.map.get('_buffers');
  const children = state.map.get('_modules');
  if (!(params instanceof PyDict) && !(children instanceof PyDict)) return undefined;
  const skip = state.map.get('_non_persistent_buffers_set');
  const nonPersistent = new Set(skip instanceof PySet ? skip.items : []);
  const parts: Array<[string, PyValue]> = [];
  if (params instanceof PyDict) for (const [k, v] of params.map) if (v !== null) parts.push([keyString(k, budget), v]);
  if (buffers instanceof PyDict) for (const [k, v] of buffers.map) if (v !== null && !nonPersistent.has(k)) parts.push([keyString(k, budget), v]);
  if (children instanceof PyDict) for (const [k, v] of children.map) if (v !== null) parts.push([keyString(k, budget), v]);
  return parts;
}

function keyString(k: PyValue, budget: NodeBudget): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'boolean' || k === null) return String(k);
  const j = toJson(k, 0, budget.file ?? '', budget);
  return typeof j === 'string' ? j : JSON.stringify(j);
}

/** Integers beyond Python's own 4300-digit limit for decimal text are shown in hex (decimal conversion would take quadratic time). */
const MAX_DECIMAL_HEX_DIGITS = 3500;

/** A pickled value as JSON: tuples and sets become arrays, bytes base64, objects their class and state. */
export function toJson(v: PyValue, depth: number, file: string, budget: NodeBudget = { remaining: Infinity, limit: Infinity }, seen = new Set<object>()): JsonValue {
  if (depth > MAX_DEPTH) throw tooDeep(file, budget);
  count(budget, file);
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') {
    const hex = (v < 0n ? -v : v).toString(16);
    return hex.length > MAX_DECIMAL_HEX_DIGITS ? `${v < 0n ? '-' : ''}0x${hex}` : v.toString();
  }
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (v instanceof PyGlobal) return { $global: v.qualified };
  if (v instanceof StorageRef) return { $storage: v.key, dtype: v.dtype, numel: v.numel };
  if (seen.has(v)) return { $cycle: true };
  seen.add(v);
  const inner = (x: PyValue) => toJson(x, depth + 1, file, budget, seen);
  let out: JsonValue = null;
  if (Array.isArray(v)) out = v.map(inner);
  else if (v instanceof PyTuple || v instanceof PySet) out = v.items.map(inner);
  else if (v instanceof PyDict) {
    const o: Record<string, JsonValue> = {};
    for (const [k, x] of v.map) o[keyString(k, budget)] = inner(x);
    out = o;
  } else if (v instanceof PyObject) {
    out = { $object: v.cls.qualified, ...(v.reduced ? { $args: v.args.map(inner) } : {}), state: inner(v.state), ...(v.items ? { items: inner(v.items) } : {}) };
  }
  seen.delete(v);
  return out;
}
