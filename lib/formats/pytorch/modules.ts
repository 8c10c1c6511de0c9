/**
 * The module tree of a whole pickled nn.Module (`torch.save(model)`): each module's class, its
 * plain attributes (in_channels, kernel_size, stride, ...), its parameters, buffers and children.
 * Read from the inert objects the restricted unpickler built; no class is imported, nothing runs.
 */
import type { JsonValue } from '../checkpoint';
import { PyDict, PyObject, PySet, type PyValue } from '../pickle/values';
import { toJson, type NodeBudget } from './tree';
import { CheckpointError } from '../errors';

/** One module of a pickled nn.Module tree. */
export interface ModuleNode {
  /** The module's class, qualified (`torch.nn.modules.conv.Conv2d`, `torchvision.models.resnet.ResNet`). */
  cls: string;
  /** Its dotted path from the root ('' for the root). */
  path: string;
  /** Plain attributes from the module's `__dict__` (names without a leading underscore). */
  attrs: Record<string, JsonValue>;
  /** Names of its own parameters and persistent buffers, in registration order (None entries left out). */
  params: string[];
  buffers: string[];
  /** Its children in registration order; a child set to None is left out. */
  children: ModuleNode[];
}

const MAX_MODULES = 100_000;

/** The module tree at `path` of a pickled object, when what is there is an nn.Module. */
export function moduleTreeAt(root: PyValue, path: string, file: string, budget?: NodeBudget): ModuleNode | undefined {
  let v: PyValue = root;
  for (const seg of path ? path.split('.') : []) {
    if (v instanceof PyDict) v = v.map.get(seg) ?? null;
    else if (v instanceof PyObject && isModule(v)) v = children(v).find(([k]) => k === seg)?.[1] ?? null;
    else return undefined;
  }
  if (!(v instanceof PyObject) || !isModule(v)) return undefined;
  return build(v, path, file, budget);
}

function build(rootObj: PyObject, rootPath: string, file: string, budget?: NodeBudget): ModuleNode {
  // An explicit stack: a deep tree never exhausts the call stack.
  const root = node(rootObj, rootPath, file, budget);
  const stack: Array<[PyObject, ModuleNode, Set<PyObject>]> = [[rootObj, root, new Set([rootObj])]];
  let count = 1;
  while (stack.length) {
    const [obj, n, onPath] = stack.pop()!;
    for (const [name, child] of children(obj)) {
      if (!(child instanceof PyObject) || !isModule(child) || onPath.has(child)) continue;
      if (++count > MAX_MODULES) throw new CheckpointError(file, `more than ${MAX_MODULES} modules in the pickled module tree`, 'the file is damaged or hostile');
      const c = node(child, n.path ? `${n.path}.${name}` : name, file, budget);
      n.children.push(c);
      stack.push([child, c, new Set([...onPath, child])]);
    }
  }
  return root;
}

function node(obj: PyObject, path: string, file: string, budget?: NodeBudget): ModuleNode {
  const state = obj.state as PyDict;
  const attrs: Record<string, JsonValue> = {};
  for (const [k, v] of state.map) if (typeof k === 'string' && !k.startsWith('_')) attrs[k] = toJson(v, 0, file, budget);
  const names = (key: string, skip?: Set<PyValue>) => {
    const d = state.map.get(key);
    return d instanceof PyDict ? [...d.map].filter(([k, v]) => v !== null && typeof k === 'string' && !skip?.has(k)).map(([k]) => k as string) : [];
  };
  const np = state.map.get('_non_persistent_buffers_set');
  return { cls: obj.cls.qualified, path, attrs, params: names('_parameters'), buffers: names('_buffers', new Set(np instanceof PySet ? np.items : [])), children: [] };
}

function isModule(obj: PyObject): boolean {
  return obj.state instanceof PyDict && (obj.state.map.get('_parameters') instanceof PyDict || obj.state.map.get('_modules') instanceof PyDict);
}

function children(obj: PyObject): Array<[string, PyValue]> {
  const m = (obj.state as PyDict).map.get('_modules');
  return m instanceof PyDict ? [...m.map].filter(([k]) => typeof k === 'string').map(([k, v]) => [k as string, v]) : [];
}
