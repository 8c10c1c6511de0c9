/**
 * PyTorch's `weights_only=True` allow-list, name for name, as torch 2.x builds it in
 * `torch/_weights_only_unpickler.py` (`_get_allowed_globals`, read at pytorch/pytorch main,
 * torch 2.6-2.9). torch 1.13's list (Debian's python3-torch) is a subset of this one: it lacks
 * Counter, device, _codecs.encode, builtins.bytearray/set/complex, the newer dtypes, the
 * quantization schemes and the newer rebuild functions.
 */

const TENSOR_TYPES = ['Double', 'Float', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool'];
const STORAGE_TYPES = [...TENSOR_TYPES, 'ComplexDouble', 'ComplexFloat'];

/** `str(dtype)` of torch's dtypes: those of `_dtype_to_storage_type_map`, `_new_dtypes`, uint1-7 and int1-7. */
const DTYPES = [
  'float64', 'float32', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool', 'complex64',
  'complex128', 'qint8', 'quint8', 'qint32', 'quint4x2', 'quint2x4',
  'float8_e5m2', 'float8_e4m3fn', 'float8_e5m2fnuz', 'float8_e4m3fnuz', 'float8_e8m0fnu', 'float4_e2m1fn_x2',
  'bits8', 'bits16', 'bits1x8', 'bits2x4', 'bits4x2', 'complex32', 'uint16', 'uint32', 'uint64',
  ...[1, 2, 3, 4, 5, 6, 7].flatMap((x) => [`uint${x}`, `int${x}`]),
];

/** Every global `torch.load(weights_only=True)` (torch 2.x) accepts, as `module.name`. */
export const TORCH_WEIGHTS_ONLY_GLOBALS: ReadonlySet<string> = new Set([
  'collections.OrderedDict', 'collections.Counter', 'torch.nn.parameter.Parameter', 'torch.serialization._get_layout',
  'torch.Size', 'torch.Tensor', 'torch.device', '_codecs.encode', 'builtins.bytearray', 'builtins.set', 'builtins.complex',
  ...DTYPES.map((d) => `torch.${d}`),
  // torch._tensor_classes
  ...['torch', 'torch.cuda'].flatMap((m) => TENSOR_TYPES.map((t) => `${m}.${t}Tensor`)),
  ...['torch.sparse', 'torch.cuda.sparse'].flatMap((m) => TENSOR_TYPES.filter((t) => t !== 'Bool').map((t) => `${m}.${t}Tensor`)),
  // torch._storage_classes
  ...STORAGE_TYPES.map((t) => `torch.${t}Storage`),
  ...['QUInt8', 'QInt8', 'QInt32', 'QUInt4x2', 'QUInt2x4'].map((t) => `torch.${t}Storage`),
  ...STORAGE_TYPES.map((t) => `torch.cuda.${t}Storage`),
  'torch.storage.TypedStorage', 'torch.storage.UntypedStorage',
  // quantization schemes
  ...['per_tensor_affine', 'per_tensor_symmetric', 'per_channel_affine', 'per_channel_symmetric', 'per_channel_affine_float_qparams'].map((q) => `torch.${q}`),
  // rebuild functions
  ...['_rebuild_parameter', '_rebuild_parameter_with_state', '_rebuild_qtensor', '_rebuild_tensor', '_rebuild_tensor_v2',
    '_rebuild_tensor_v3', '_rebuild_sparse_tensor', '_rebuild_meta_tensor_no_storage', '_rebuild_wrapper_subclass',
    '_rebuild_device_tensor_from_numpy', '_rebuild_device_tensor_from_cpu_tensor'].map((f) => `torch._utils.${f}`),
  'torch._tensor._rebuild_from_type_v2',
]);

/** Modules from which PyTorch refuses globals even when a user allow-lists them. */
export const TORCH_BLOCKED_MODULES: ReadonlySet<string> = new Set(['sys', 'os', 'posix', 'nt']);
