/**
 * PyTorch's legacy checkpoint (torch < 1.6, or `_use_new_zipfile_serialization=False`): five
 * pickles in a row (magic number, protocol version, system info, the object, the storage keys)
 * followed by each storage as an int64 element count and its raw little-endian bytes.
 */
import { CheckpointError } from '../errors';
import type { Checkpoint, ReadLimits, ReadOptions } from '../checkpoint';
import { unpickle, type UnpickleHooks } from '../pickle/unpickle';
import { PyDict, PyGlobal, PyTuple, type PyValue } from '../pickle/values';
import { itemSize } from '../../statedict/tensor';
import { assemble } from './assemble';
import { checkAllowGlobals, describe, torchHooks } from './globals';
import { StorageRef } from './storage';

const MAGIC = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001;

/** Plain-data hooks for the small header pickles, which hold numbers, strings and dicts only. */
function dataOnly(file: string): UnpickleHooks {
  return {
    call(fn, _args, _how, at) {
      throw new CheckpointError(file, `a header pickle calls ${describe(fn)} at byte ${at}`, 'the file is damaged or not a PyTorch checkpoint');
    },
  };
}

/** Whether `bytes` starts with the legacy format's magic-number pickle. */
export function looksLikeTorchLegacy(bytes: Uint8Array): boolean {
  if (bytes.length < 2 || bytes[0] !== 0x80 || bytes[1] < 2 || bytes[1] > 5) return false;
  try {
    return unpickle({ bytes: bytes.subarray(0, 64), file: '' }, dataOnly('')).value === MAGIC;
  } catch {
    return false;
  }
}

/** Reads a legacy PyTorch checkpoint held in memory. */
export function readTorchLegacy(bytes: Uint8Array, file: string, opts: ReadOptions, limits: ReadLimits): Promise<Checkpoint> {
  function fail(problem: string, hint = 'the file is truncated or damaged'): never { throw new CheckpointError(file, problem, hint); }
  let pos = 0;
  const header = dataOnly(file);
  let opcodes = 0;
  const next = (hooks: UnpickleHooks): PyValue => { const r = unpickle({ bytes, file }, hooks, pos); pos = r.end; opcodes += r.opcodes; return r.value; };

  if (next(header) !== MAGIC) fail('not a legacy PyTorch checkpoint (wrong magic number)');
  const version = next(header);
  if (version !== PROTOCOL_VERSION) fail(`legacy checkpoint protocol version ${describe(version)} is not ${PROTOCOL_VERSION}`, 'the file was written by an unknown PyTorch');
  const sysInfo = next(header);
  if (sysInfo instanceof PyDict && sysInfo.map.get('little_endian') === false) {
    fail('legacy checkpoint was written on a big-endian machine', 'load and re-save it with a current PyTorch');
  }

  const notes: string[] = [];
  const storages = new Map<string, StorageRef>();
  const views: Array<{ view: StorageRef; base: string; offset: number; at: number }> = [];
  const hooks = torchHooks({
    file, notes, strictGlobals: opts.strictGlobals ?? false, allowGlobals: checkAllowGlobals(file, opts.allowGlobals),
    loadStorage(dtype, key, numel, at) {
      const known = storages.get(key);
      if (known) {
        if (known.dtype !== dtype || known.numel !== numel) {
          fail(`storage '${key}' is named as ${known.numel} ${known.dtype} elements and as ${numel} ${dtype} elements at byte ${at}`, 'the file is damaged or hand-made; torch.save never writes this');
        }
        return known;
      }
      const s = new StorageRef(key, dtype, numel);
      storages.set(key, s);
      return s;
    },
  });
  const storageHook = hooks.persistentLoad!;
  hooks.persistentLoad = (pid, at) => {
    const items = pid instanceof PyTuple ? pid.items : [];
    // Whole-module saves record each class's source: ('module', class, file, source).
    if (items[0] === 'module') return items[1] instanceof PyGlobal ? items[1] : null;
    const s = storageHook(pid, at) as StorageRef;
    const view = items[5];
    if (view instanceof PyTuple && view.items.length === 3) {
      // (view_key, offset, size): an old storage view into the storage just named.
      const [vk, off, size] = view.items;
      const count = (v: PyValue) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
      if (typeof vk !== 'string' || !count(off) || !count(size)) {
        fail(`storage view (${describe(vk)}, ${describe(off)}, ${describe(size)}) at byte ${at} is malformed: offset and size must be non-negative integers`, 'the file is damaged; torch.load refuses it too');
      }
      const known = storages.get(vk);
      if (known && (known.dtype !== s.dtype || known.numel !== size)) fail(`storage view '${vk}' at byte ${at} is named twice with different sizes or dtypes`);
      const v = known ?? new StorageRef(vk, s.dtype, size as number);
      if (!known) views.push({ view: v, base: s.key, offset: off as number, at });
      storages.set(vk, v);
      return v;
    }
    return s;
  };
  const root = next(hooks);
  const keys = next(header);
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) fail(`legacy storage key list before byte ${pos} is not a list of strings`);

  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const viewKeys = new Set(views.map((v) => v.view.key));
  for (const key of keys as string[]) {
    const s = storages.get(key);
    if (!s) fail(`legacy storage '${key}' at byte ${pos} is not used by the checkpoint`);
    if (s.bytes || viewKeys.has(key)) fail(`legacy storage '${key}' at byte ${pos} is listed twice, or is a view`, 'the file is damaged');
    if (pos + 8 > bytes.length) fail(`legacy storage '${key}' is cut off at byte ${pos}`);
    const count = dv.getBigInt64(pos, true);
    if (count !== BigInt(s.numel)) fail(`legacy storage '${key}' at byte ${pos} holds ${count} elements, not the ${s.numel} its tensors declare`);
    const size = s.numel * itemSize(s.dtype);
    if (pos + 8 + size > bytes.length) fail(`legacy storage '${key}' at byte ${pos} needs ${size} bytes but the file ends after ${bytes.length - pos - 8}`);
    s.bytes = bytes.subarray(pos + 8, pos + 8 + size);
    pos += 8 + size;
  }
  for (const { view, base, offset, at } of views) {
    const b = storages.get(base);
    if (!b?.bytes) fail(`legacy storage view '${view.key}' (named at byte ${at}) views storage '${base}', which the file does not hold`);
    if (offset + view.numel > b.numel) {
      fail(`legacy storage view '${view.key}' (named at byte ${at}) takes elements ${offset}..${offset + view.numel} of storage '${base}', which holds ${b.numel}`, 'the file is damaged');
    }
    const sz = itemSize(view.dtype);
    view.bytes = b.bytes.subarray(offset * sz, (offset + view.numel) * sz);
  }
  if (pos !== bytes.length) notes.push(`${bytes.length - pos} bytes after the last storage were ignored`);
  return assemble('pytorch-legacy', root, file, bytes.length, opts, notes, limits, opcodes);
}
