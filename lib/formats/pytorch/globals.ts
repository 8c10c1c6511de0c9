/**
 * What a PyTorch pickle may build. The allow-list follows PyTorch's own `weights_only=True`
 * loader (torch/_weights_only_unpickler.py) plus plain-data builders of the standard library;
 * every other global becomes an inert PyObject and nothing is ever called.
 */
import { CheckpointError } from '../errors';
import { PyDict, PyGlobal, PyObject, PySet, PyTuple, type PyValue } from '../pickle/values';
import type { UnpickleHooks } from '../pickle/unpickle';
import { STORAGE_DTYPES, StorageRef, TensorRef } from './storage';
import type { DType } from '../../statedict/tensor';

/** Where the hooks report to and how they find storages. */
export interface TorchContext {
  file: string;
  /** Resolves a persistent id `('storage', type, key, location, numel)` to the storage's bytes. */
  loadStorage(dtype: DType, key: string, numel: number, at: number): StorageRef;
  strictGlobals: boolean;
  notes: string[];
}

const DTYPE_OF_NAME = STORAGE_DTYPES;

/** Rebuild functions PyTorch allows but that denote tensors a state dict of dense host tensors cannot hold. */
const UNSUPPORTED: Record<string, string> = {
  'torch._utils._rebuild_sparse_tensor': 'a sparse tensor',
  'torch._utils._rebuild_sparse_csr_tensor': 'a sparse CSR tensor',
  'torch._utils._rebuild_meta_tensor_no_storage': 'a meta tensor (it has no data)',
  'torch._utils._rebuild_qtensor': 'a quantized tensor',
  'torch._utils._rebuild_device_tensor_from_numpy': 'a device tensor saved through numpy',
  'torch._utils._rebuild_wrapper_subclass': 'a tensor subclass',
  'torch._utils._rebuild_nested_tensor': 'a nested tensor',
  'torch._tensor._rebuild_from_type_v2': 'a tensor subclass',
};

/** The unpickler hooks for a PyTorch checkpoint. */
export function torchHooks(ctx: TorchContext): UnpickleHooks {
  function bad(at: number, problem: string, hint = 'the file is damaged or was not written by PyTorch'): never {
    throw new CheckpointError(ctx.file, `${problem} at byte ${at}`, hint);
  }
  const int = (v: PyValue, what: string, at: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) bad(at, `${what} is ${describe(v)}, not a non-negative integer`);
    return v;
  };
  const ints = (v: PyValue, what: string, at: number): number[] => {
    const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : bad(at, `${what} is ${describe(v)}, not a tuple`);
    return items.map((x) => int(x, what, at));
  };
  const tensor = (args: PyValue[], at: number): TensorRef => {
    const [storage, offset, size, stride, requiresGrad] = args;
    if (!(storage instanceof StorageRef)) bad(at, `tensor rebuilt from ${describe(storage)} instead of a storage`);
    const shape = ints(size, 'tensor size', at);
    const strides = ints(stride, 'tensor stride', at);
    if (shape.length !== strides.length) bad(at, `tensor has ${shape.length} sizes but ${strides.length} strides`);
    const t = new TensorRef(storage, int(offset, 'storage offset', at), shape, strides);
    t.requiresGrad = requiresGrad === true;
    return t;
  };

  return {
    call(fn, args, how, at) {
      const name = (fn as PyGlobal).qualified;
      switch (name) {
        case 'collections.OrderedDict': {
          const d = new PyDict(true);
          const items = args[0];
          if (Array.isArray(items)) for (const kv of items) if (kv instanceof PyTuple && kv.items.length === 2) d.map.set(kv.items[0], kv.items[1]);
          return d;
        }
        case 'builtins.set': case '__builtin__.set': case 'builtins.frozenset': case '__builtin__.frozenset': {
          const s = new PySet(name.endsWith('frozenset'));
          const items = args[0];
          if (Array.isArray(items)) s.items.push(...items);
          else if (items instanceof PyTuple) s.items.push(...items.items);
          return s;
        }
        case '_codecs.encode': {
          // Protocol 2 writes bytes as _codecs.encode(text, 'latin1').
          const [text, enc] = args;
          if (typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) bad(at, '_codecs.encode with arguments other than (str, "latin1")');
          return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
        }
        case 'builtins.bytearray': case '__builtin__.bytearray':
          return args[0] instanceof Uint8Array ? args[0] : new Uint8Array(0);
        case 'torch._utils._rebuild_tensor': case 'torch._utils._rebuild_tensor_v2':
          return tensor(args, at);
        case 'torch._utils._rebuild_parameter': case 'torch._utils._rebuild_parameter_with_state': case 'torch.nn.parameter.Parameter': {
          const [data, requiresGrad] = args;
          if (!(data instanceof TensorRef)) bad(at, `a Parameter wraps ${describe(data)} instead of a tensor`);
          data.requiresGrad = requiresGrad !== false;
          return data;
        }
        case 'torch.Size':
          return new PyTuple(args[0] instanceof PyTuple ? args[0].items : Array.isArray(args[0]) ? args[0] : []);
        case 'torch.device':
          return args.map(String).join(':');
        case 'copyreg._reconstructor': {
          const cls = args[0];
          return new PyObject(cls instanceof PyGlobal ? cls : new PyGlobal('builtins', 'object'), [], false);
        }
      }
      if (UNSUPPORTED[name]) bad(at, `${UNSUPPORTED[name]} (${name}) cannot be read into a dense state dict`, 'convert it to a dense CPU tensor in PyTorch first');
      if (ctx.strictGlobals) bad(at, `global ${name} is not on PyTorch's weights_only allow-list`, 'only state dicts of tensors can be read with strictGlobals');
      if (how === 'reduce') ctx.notes.push(`did not call ${name}(…) at byte ${at}: it is not on PyTorch's weights_only allow-list; kept an inert placeholder`);
      return new PyObject(fn as PyGlobal, args, how === 'reduce');
    },
    build(target, state, at) {
      // _rebuild_parameter_with_state / tensor BUILD: Python attributes of a tensor; nothing to keep.
      if (!(target instanceof TensorRef)) bad(at, 'BUILD on a storage');
      void state;
    },
    persistentLoad(pid, at) {
      const items = pid instanceof PyTuple ? pid.items : bad(at, `persistent id ${describe(pid)} is not a tuple`);
      if (items[0] !== 'storage' || items.length < 5) bad(at, `persistent id of kind ${describe(items[0])} is not a storage`);
      const [, type, key, , size] = items;
      const typeName = type instanceof PyGlobal ? type.name : describe(type);
      if (!(type instanceof PyGlobal) || !DTYPE_OF_NAME[type.name]) {
        bad(at, `storage type ${typeName} is not supported`, `supported: ${Object.keys(DTYPE_OF_NAME).join(', ')}`);
      }
      if (typeof key !== 'string') bad(at, `storage key ${describe(key)} is not a string`);
      return ctx.loadStorage(DTYPE_OF_NAME[type.name], key, int(size, 'storage size', at), at);
    },
  };
}

/** A short human description of a pickled value, for error messages. */
export function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v !== 'object') return String(v);
  if (v instanceof PyGlobal) return v.qualified;
  if (v instanceof PyObject) return `an object of ${v.cls.qualified}`;
  if (v instanceof PyTuple) return 'a tuple';
  if (v instanceof PyDict) return 'a dict';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof TensorRef) return 'a tensor';
  if (v instanceof StorageRef) return 'a storage';
  return 'a value';
}
