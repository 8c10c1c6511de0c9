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

/** Flattens the object a checkpoint's pickle built. */
export function flatten(root: PyValue, file: string): Flattened {
  return new Flattener(file).run(root);
}

class Flattener {
  private readonly out: Flattened = { tensors: new Map(), values: {}, notes: [] };
  private readonly holds = new Map<object, boolean>();
  private readonly modules = new Set<string>();

  constructor(private readonly file: string) {}

  run(root: PyValue): Flattened {
    const top = this.entries(root);
    if (top && root instanceof PyDict) {
      const t: TopLevel = { withTensors: [], withoutTensors: [] };
      for (const [k, v] of top) (this.holdsTensor(v, 0) ? t.withTensors : t.withoutTensors).push(k);
      this.out.top = t;
    }
    this.walk(root, '', 0, new Set());
    if (this.modules.size) {
      this.out.notes.push(`read a whole pickled module through its parameters and buffers; its classes (${[...this.modules].join(', ')}) were not imported and no code ran`);
    }
    return this.out;
  }

  private deep(depth: number): void {
    if (depth > MAX_DEPTH) throw new CheckpointError(this.file, `objects nested more than ${MAX_DEPTH} levels deep`, 'the file is damaged or not a checkpoint');
  }

  /** The named children of a container, or undefined for a leaf. */
  private entries(v: PyValue): Array<[string, PyValue]> | undefined {
    if (v instanceof PyDict) return [...v.map].map(([k, x]) => [keyString(k), x]);
    if (Array.isArray(v)) return v.map((x, i) => [String(i), x]);
    if (v instanceof PyTuple) return v.items.map((x, i) => [String(i), x]);
    if (v instanceof PySet) return v.items.map((x, i) => [String(i), x]);
    if (v instanceof PyObject) {
      const mod = moduleParts(v);
      if (mod) return mod;
      return this.entries(v.state);
    }
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
    this.deep(depth);
    if (v instanceof TensorRef) {
      if (this.out.tensors.has(path)) throw new CheckpointError(this.file, `two tensors have the key '${path}'`, 'rename one of them in PyTorch');
      this.out.tensors.set(path, v);
      return;
    }
    if (v !== null && typeof v === 'object' && this.holdsTensor(v, depth)) {
      if (onPath.has(v)) return;
      onPath.add(v);
      if (v instanceof PyObject && moduleParts(v)) this.modules.add(v.cls.qualified);
      for (const [k, x] of this.entries(v) ?? []) {
        const p = path ? `${path}.${k}` : k;
        if (this.holdsTensor(x, depth + 1)) this.walk(x, p, depth + 1, onPath);
        else if (!(v instanceof PyObject && moduleParts(v))) this.out.values[p] = toJson(x, depth + 1, this.file);
      }
      onPath.delete(v);
      return;
    }
    this.out.values[path] = toJson(v, depth, this.file);
  }
}

/** The state_dict() entries of a pickled nn.Module, or undefined if `obj` is not one. */
function moduleParts(obj: PyObject): Array<[string, PyValue]> | undefined {
  const state = obj.state;
  if (!(state instanceof PyDict)) return undefined;
  const params = state.map.get('_parameters');
  const buffers = state.map.get('_buffers');
  const children = state.map.get('_modules');
  if (!(params instanceof PyDict) && !(children instanceof PyDict)) return undefined;
  const skip = state.map.get('_non_persistent_buffers_set');
  const nonPersistent = new Set(skip instanceof PySet ? skip.items : []);
  const parts: Array<[string, PyValue]> = [];
  if (params instanceof PyDict) for (const [k, v] of params.map) if (v !== null) parts.push([keyString(k), v]);
  if (buffers instanceof PyDict) for (const [k, v] of buffers.map) if (v !== null && !nonPersistent.has(k)) parts.push([keyString(k), v]);
  if (children instanceof PyDict) for (const [k, v] of children.map) if (v !== null) parts.push([keyString(k), v]);
  return parts;
}

function keyString(k: PyValue): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean' || k === null) return String(k);
  return JSON.stringify(toJson(k, 0, ''));
}

/** A pickled value as JSON: tuples and sets become arrays, bytes base64, objects their class and state. */
export function toJson(v: PyValue, depth: number, file: string, seen = new Set<object>()): JsonValue {
  if (depth > MAX_DEPTH) throw new CheckpointError(file, `objects nested more than ${MAX_DEPTH} levels deep`, 'the file is damaged or not a checkpoint');
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (v instanceof PyGlobal) return { $global: v.qualified };
  if (v instanceof StorageRef) return { $storage: v.key, dtype: v.dtype, numel: v.numel };
  if (seen.has(v)) return { $cycle: true };
  seen.add(v);
  const inner = (x: PyValue) => toJson(x, depth + 1, file, seen);
  let out: JsonValue = null;
  if (Array.isArray(v)) out = v.map(inner);
  else if (v instanceof PyTuple || v instanceof PySet) out = v.items.map(inner);
  else if (v instanceof PyDict) {
    const o: Record<string, JsonValue> = {};
    for (const [k, x] of v.map) o[keyString(k)] = inner(x);
    out = o;
  } else if (v instanceof PyObject) {
    out = { $object: v.cls.qualified, ...(v.reduced ? { $args: v.args.map(inner) } : {}), state: inner(v.state) };
  }
  seen.delete(v);
  return out;
}
