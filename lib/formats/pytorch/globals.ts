/**
 * What a PyTorch pickle may build. Globals on PyTorch's own `weights_only=True` allow-list
 * (./allow-list.ts) are rebuilt as data; dangerous ones (../pickle/dangerous.ts) are refused;
 * any other (a user's class in a whole-module save) becomes an inert PyObject, or an error
 * with `strictGlobals`. Nothing is ever called.
 */
import { CheckpointError } from '../errors';
import { PyDict, PyGlobal, PyObject, PySet, PyTuple, type PyValue } from '../pickle/values';
import type { UnpickleHooks } from '../pickle/unpickle';
import { dangerOf, dangerousGlobalError, normalizeModule } from '../pickle/dangerous';
import { TORCH_BLOCKED_MODULES, TORCH_WEIGHTS_ONLY_GLOBALS } from './allow-list';
import { STORAGE_DTYPES, StorageRef, TensorRef } from './storage';
import type { DType } from '../../statedict/tensor';

/** Where the hooks report to and how they find storages. */
export interface TorchContext {
  file: string;
  /** Resolves a persistent id `('storage', type, key, location, numel)` to the storage's bytes. */
  loadStorage(dtype: DType, key: string, numel: number, at: number): StorageRef;
  strictGlobals: boolean;
  /** Globals (`module.name`) the caller trusts beyond PyTorch's allow-list: kept as inert placeholders even with strictGlobals. */
  allowGlobals: ReadonlySet<string>;
  notes: string[];
  /** Where the pickle's byte offsets count from, when not the file's start (` of 'archive/data.pkl'`). */
  within?: string;
}

/** Checks a caller's `allowGlobals` list: `module.name` strings, none of them dangerous. */
export function checkAllowGlobals(file: string, names: readonly string[] | undefined): ReadonlySet<string> {
  const out = new Set<string>();
  for (const q of names ?? []) {
    const dot = typeof q === 'string' ? q.lastIndexOf('.') : -1;
    if (dot <= 0 || dot === q.length - 1) throw new CheckpointError(file, `allowGlobals entry ${JSON.stringify(q)} is not a 'module.name' string`);
    // module.name split at the last dot (os.path.join -> os.path + join); dangerOf also looks at every prefix of the module.
    const module = q.slice(0, dot), name = q.slice(dot + 1);
    const why = dangerOf(module, name);
    if (why || TORCH_BLOCKED_MODULES.has(normalizeModule(module.split('.')[0]))) {
      throw new CheckpointError(file, `allowGlobals lists ${q}, ${why ?? 'of a module PyTorch never allows'}`, 'only classes that hold data can be allowed');
    }
    out.add(`${normalizeModule(module)}.${name}`);
  }
  return out;
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
  'torch._utils._rebuild_tensor_v3': 'a tensor of a dtype PyTorch saves as an untyped storage (float8, uint16, ...)',
  'torch._utils._rebuild_device_tensor_from_cpu_tensor': 'a device tensor',
};

/** The unpickler hooks for a PyTorch checkpoint. */
export function torchHooks(ctx: TorchContext): UnpickleHooks {
  function bad(at: number, problem: string, hint = 'the file is damaged or was not written by PyTorch'): never {
    throw new CheckpointError(ctx.file, `${problem} at byte ${at}${ctx.within ?? ''}`, hint);
  }
  // One note per global left uncalled, counting its uses, so a file of many does not flood the notes.
  const uncalled = new Map<string, { index: number; count: number; at: number }>();
  const noteUncalled = (name: string, at: number): void => {
    const seen = uncalled.get(name) ?? { index: ctx.notes.push('') - 1, count: 0, at };
    seen.count++;
    uncalled.set(name, seen);
    ctx.notes[seen.index] = `did not call ${name}(…) at byte ${seen.at}${ctx.within ?? ''}${seen.count > 1 ? ` and ${seen.count - 1} more time(s)` : ''}: it is not on PyTorch's weights_only allow-list; kept an inert placeholder`;
  };
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

  const hooks: UnpickleHooks = {
    global(module, name, at) {
      const g = new PyGlobal(normalizeModule(module), name);
      const q = g.qualified;
      if (TORCH_WEIGHTS_ONLY_GLOBALS.has(q)) return g;
      const why = dangerOf(module, name);
      if (why) throw dangerousGlobalError(ctx.file, q, why, `${at}${ctx.within ?? ''}`);
      if (ctx.strictGlobals && !ctx.allowGlobals.has(q)) {
        bad(at, `global ${q} is not on PyTorch's weights_only allow-list (torch.load(weights_only=True) refuses it too)`,
          `read without strictGlobals to keep it as an inert placeholder, or list it in allowGlobals if you trust it`);
      }
      return g;
    },
    call(fn, args, how, at) {
      const name = (fn as PyGlobal).qualified;
      switch (name) {
        case 'collections.OrderedDict': case 'collections.Counter': {
          const d = new PyDict(name === 'collections.OrderedDict');
          const items = args[0];
          if (Array.isArray(items)) for (const kv of items) if (kv instanceof PyTuple && kv.items.length === 2) d.map.set(kv.items[0], kv.items[1]);
          if (items instanceof PyDict) for (const [k, v] of items.map) d.map.set(k, v);
          return d;
        }
        case 'builtins.set': case 'builtins.frozenset': {
          const s = new PySet(name.endsWith('frozenset'));
          const items = args[0];
          const list = Array.isArray(items) ? items : items instanceof PyTuple ? items.items : [];
          for (const v of list) s.items.push(v);
          return s;
        }
        case '_codecs.encode': {
          // Protocol 2 writes bytes as _codecs.encode(text, 'latin1').
          const [text, enc] = args;
          if (typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) bad(at, '_codecs.encode with arguments other than (str, "latin1")');
          return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
        }
        case 'builtins.bytearray':
          return args[0] instanceof Uint8Array ? args[0] : new Uint8Array(0);
        case 'builtins.complex':
          return new PyObject(fn as PyGlobal, args, true);
        case 'torch.serialization._get_layout':
          return typeof args[0] === 'string' ? args[0] : null;
        case 'torch._tensor._rebuild_from_type_v2': {
          // (func, type, args, state): a tensor subclass, or a tensor with Python attributes; read as the plain tensor func builds.
          const [func, type, inner] = args;
          if (!(func instanceof PyGlobal) || !(inner instanceof PyTuple)) bad(at, '_rebuild_from_type_v2 without a rebuild function and its arguments');
          const t = hooks.call(func, inner.items, 'reduce', at);
          if (t instanceof TensorRef && type instanceof PyGlobal && type.qualified !== 'torch.Tensor' && type.qualified !== 'torch.nn.parameter.Parameter') {
            ctx.notes.push(`read a tensor of subclass ${type.qualified} at byte ${at}${ctx.within ?? ''} as a plain tensor`);
          }
          return t;
        }
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
        case 'copyreg._reconstructor': case 'copyreg.__newobj__': case 'copyreg.__newobj_ex__': {
          // cls.__new__(cls, ...) for protocols 0 and 1: an instance of cls, built inert like NEWOBJ.
          const cls = args[0];
          if (!(cls instanceof PyGlobal)) bad(at, `${name} of ${describe(cls)} instead of a class`);
          const rest = name === 'copyreg.__newobj__' ? args.slice(1) : name === 'copyreg.__newobj_ex__' && args[1] instanceof PyTuple ? args[1].items : [];
          return new PyObject(cls, rest, false);
        }
      }
      if (UNSUPPORTED[name]) bad(at, `${UNSUPPORTED[name]} (${name}) cannot be read into a dense state dict`, 'convert it to a dense CPU tensor in PyTorch first');
      if (how === 'reduce') noteUncalled(name, at);
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
  return hooks;
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
