/**
 * Globals a checkpoint never needs and an attacker does: whatever `torch.load` would run to
 * execute code, start processes, touch files or the network, import modules or reach attributes.
 *
 * tsfreeze never calls any global, so this list is not what keeps a reader safe; it is how a
 * reader tells an attack (refused, whatever opcode reaches the name) from a user's class in a
 * whole-module save (kept as an inert placeholder). `torch.load(weights_only=True)` refuses all
 * of these too, as it refuses everything outside its allow-list.
 */
import { CheckpointError } from '../errors';

/** Python 2 module names that pickles of protocol 0-2 may use, as Python 3 (and PyTorch's NAME_MAPPING) maps them. */
const PY2_MODULES: Readonly<Record<string, string>> = {
  __builtin__: 'builtins', exceptions: 'builtins', copy_reg: 'copyreg', cPickle: 'pickle', commands: 'subprocess',
  thread: '_thread', Queue: 'queue', urllib2: 'urllib', httplib: 'http', SocketServer: 'socketserver',
};

/** A pickled module name as Python 3 resolves it. */
export function normalizeModule(module: string): string {
  return PY2_MODULES[module] ?? module;
}

/**
 * Module trees whose every global runs code, spawns processes, reaches the file system or network,
 * or imports. Not functools: `functools.partial(nn.BatchNorm2d, eps=…)` is common in whole-module
 * saves, and a partial of something dangerous names that thing, which is refused.
 */
const DANGEROUS_MODULES = new Set([
  'os', 'posix', 'nt', 'posixpath', 'ntpath', 'sys', 'subprocess', '_posixsubprocess', '_winapi', 'pty', 'shutil',
  'socket', '_socket', 'ssl', 'socketserver', 'select', 'selectors', 'http', 'urllib', 'urllib3', 'ftplib', 'smtplib',
  'telnetlib', 'poplib', 'imaplib', 'nntplib', 'xmlrpc', 'asyncio', 'multiprocessing', 'concurrent', 'threading',
  '_thread', 'signal', 'ctypes', '_ctypes', 'cffi', 'importlib', 'imp', 'pkgutil', 'zipimport', 'runpy', 'code', 'codeop',
  'pdb', 'bdb', 'cProfile', 'profile', '_lsprof', 'timeit', 'trace', 'doctest', 'pydoc', 'webbrowser', 'pickle', '_pickle',
  'marshal', 'shelve', 'dbm', 'tempfile', 'io', '_io', 'fileinput', 'gc', 'inspect', 'operator', '_operator',
  'sched', 'atexit', 'site', 'sysconfig', 'platform', 'venv', 'ensurepip',
  'distutils', 'setuptools', 'pip', 'popen2', 'linecache', 'zipfile', 'tarfile', 'glob', 'mailcap', 'builtins',
  '__builtins__', 'logging.config', 'dill', 'cloudpickle', 'joblib', 'yaml', 'jinja2', 'requests', 'httpx', 'aiohttp',
  'paramiko', 'IPython', 'numpy.testing', 'numpy.f2py', 'numpy.distutils', 'numpy.ctypeslib', 'numpy.lib.npyio',
  'torch.hub', 'torch.jit', 'torch.fx', 'torch.package', 'torch.utils.cpp_extension', 'torch._inductor',
  'torch._dynamo', 'torch.ops', 'torch._ops', 'torch.classes', 'torch._classes', 'torch._C', 'torch.serialization',
  'torch.storage', 'torch.multiprocessing', 'torch.distributed', 'torch.compiler', 'torch.export',
]);

/** Names that run code or reach attributes wherever they are found, also as a segment of a dotted name (`torch.os.system`). */
const DANGEROUS_NAMES = new Set([
  'eval', 'exec', 'execfile', 'compile', '__import__', 'getattr', 'setattr', 'delattr', 'globals', 'locals', 'vars',
  'open', 'system', 'popen', 'popen2', 'popen3', 'popen4', 'spawn', 'breakpoint', 'input', 'apply', 'runstring',
  'run_path', 'run_module', '__builtins__', '__globals__', '__code__', '__subclasses__', '__getattribute__',
  '__reduce__', '__reduce_ex__', '__setstate__', '__class__', '__dict__', '__init_subclass__', '__call__',
  'load', 'loads', 'save', 'from_file',
  // types' constructors of code (types.SimpleNamespace and the like are plain data)
  'FunctionType', 'LambdaType', 'CodeType', 'MethodType', 'ModuleType', 'BuiltinFunctionType',
]);

/** Names of module `torch` itself that load, compile or import (its data types and classes are fine). */
const DANGEROUS_TORCH_NAMES = new Set([
  'load', 'save', 'compile', 'from_file', 'hub', 'jit', 'ops', 'classes', '_C', '_dynamo', '_inductor', 'package',
  'fx', 'utils', '_ops', '_classes', 'serialization', 'storage', 'multiprocessing', 'distributed', 'cuda', 'backends',
  'export', 'compiler', 'library', '_library',
]);

/** What `builtins` may give a checkpoint: plain data types (`type` too: pickle writes `type(None)` as `type(None)`) and exception classes, never a function. */
const PLAIN_BUILTINS = new Set([
  'set', 'frozenset', 'bytearray', 'bytes', 'complex', 'int', 'float', 'str', 'bool', 'list', 'dict', 'tuple', 'slice',
  'range', 'object', 'Ellipsis', 'NotImplemented', 'type', 'NoneType',
]);

/** Library modules whose classes appear in checkpoints as data (a Namespace, a Path): their classes may be named, their methods (`pathlib.Path.write_text`) not. */
const LIBRARY_MODULES = new Set([
  'argparse', 'pathlib', 'collections', 'datetime', 'decimal', 'fractions', 'enum', 'uuid', 're', 'copyreg', 'codecs',
  '_codecs', 'typing', 'numpy', 'torch', 'torchvision', 'builtins',
]);

/** Why `module.name` is dangerous, or undefined when it is not known to be (a user's class, a torch module class). */
export function dangerOf(rawModule: string, name: string): string | undefined {
  const module = normalizeModule(rawModule);
  const segments = name.split('.');
  const top = module.split('.')[0];
  if (module === 'builtins' || module === '__builtins__') {
    if (segments.length === 1 && (PLAIN_BUILTINS.has(name) || /^[A-Z]\w*(Error|Exception|Warning)$/.test(name))) return undefined;
    return 'a Python built-in function that can run code or reach any attribute';
  }
  for (const s of segments) {
    if (DANGEROUS_NAMES.has(s)) return `a function that ${s === 'system' || s.startsWith('popen') || s === 'spawn' ? 'runs a shell command' : 'runs code, loads files or reaches attributes'}`;
    if (DANGEROUS_MODULES.has(s)) return `the module ${s}, reached as an attribute`;
  }
  const parts = module.split('.');
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join('.');
    if (DANGEROUS_MODULES.has(prefix)) return `part of the module ${prefix}, which runs commands, code or I/O`;
  }
  if (module === 'torch' && DANGEROUS_TORCH_NAMES.has(segments[0])) return `torch.${segments[0]}, which loads, compiles or imports code`;
  if (segments.length > 1 && LIBRARY_MODULES.has(top)) return `a method (${name}) of a library class, which a checkpoint never needs`;
  return undefined;
}

/** The one-line refusal of a dangerous global: which global, where, and what it means. */
export function dangerousGlobalError(file: string, qualified: string, why: string, at: string): CheckpointError {
  return new CheckpointError(file, `pickle names ${qualified} (${why}) at byte ${at}; torch.load would call it when loading this file`,
    'refused: the file tries to run code; never open it with torch.load; torch.load(weights_only=True) refuses it too');
}
