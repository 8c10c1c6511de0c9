/**
 * The role of every key of a state dict or model (kernel, bias, gamma, moving_mean, ...), so that
 * key matching never pairs tensors whose roles differ. A model's roles come from its weight slots;
 * a bare state dict's are read from its key names with the layer table's names (torch-layout.ts):
 * `weight` of a 4-D tensor is a kernel, `weight` beside `running_mean` a BatchNorm gamma, TF.js's
 * `conv1/kernel` a kernel.
 */
import type { KeyInfo } from '../statedict/diff';
import type { KeyShapes } from '../statedict/select';
import type { TorchEntry } from './torch-entries';
import { layerForms, type WeightRole } from './torch-layout';
import type { WeightSlot } from './weights';

/** A layer class's names, as the table gives them. */
interface FormNames { weights: Map<string, WeightRole>; ignored: Set<string> }

/** The table's layer classes as name → role maps (both namings), rebuilt per call: layer forms may be registered at any time. */
function formNames(): FormNames[] {
  const out: FormNames[] = [];
  for (const form of layerForms().values()) {
    const weights = new Map<string, WeightRole>();
    for (const [short, w] of Object.entries(form.weights)) {
      weights.set(short, w.role);
      if (w.torch) weights.set(w.torch, w.role);
    }
    out.push({ weights, ignored: new Set(form.ignored ?? []) });
  }
  return out;
}

/** Whether a tensor of rank `rank` can play `role`. */
function rankFits(role: WeightRole, rank: number): boolean {
  switch (role) {
    case 'kernel': return rank >= 2;
    case 'embeddings': return rank === 2;
    case 'position': case 'token': return rank === 2 || rank === 3;
    case 'bias': case 'gamma': case 'beta': case 'moving_mean': case 'moving_variance': return rank === 1;
    default: return true;
  }
}

/** Where a key's last name starts: after its last `.` or `/`. */
function leafStart(key: string): number {
  return Math.max(key.lastIndexOf('.'), key.lastIndexOf('/')) + 1;
}

/** What every key of `shapes` is, read from the names alone (a state dict with no model behind it). */
export function keyInfosOf(shapes: KeyShapes): Map<string, KeyInfo> {
  const forms = formNames();
  const ignoredNames = new Set(forms.flatMap((f) => [...f.ignored]));
  // Keys by module (everything before the last name), for the names beside each key.
  const modules = new Map<string, Array<[string, number[]]>>();
  for (const [key, { shape }] of shapes) {
    const at = leafStart(key);
    const list = modules.get(key.slice(0, at)) ?? [];
    list.push([key.slice(at), shape]);
    modules.set(key.slice(0, at), list);
  }
  const out = new Map<string, KeyInfo>();
  for (const [module, leaves] of modules) {
    for (const [leaf, shape] of leaves) {
      const key = module + leaf;
      if (ignoredNames.has(leaf)) { out.set(key, { role: 'ignored', ignored: true }); continue; }
      out.set(key, { role: roleOf(module, leaf, shape, leaves, forms) });
    }
  }
  // Names the table gives with a dot inside (`out_proj.weight`): the module is one level up. A
  // module that is itself the parameter (`class_token`, `pos_embedding`) is known by its role's word.
  for (const [key, { shape }] of shapes) {
    if (out.get(key)?.role !== 'other') continue;
    const role = dottedRole(key, shape.length, forms) ?? bareRole(key.slice(leafStart(key)), shape.length);
    if (role) out.set(key, { role });
  }
  return out;
}

/** How a parameter that is its own module (PyTorch name '') shows its role: `class_token` [1, 1, D], `pos_embedding` [1, N, D] (not `position_ids`, a buffer). */
const BARE_WORDS: Partial<Record<WeightRole, RegExp>> = { token: /token$/i, position: /pos(ition)?_?embed/i };

/** The role of a key named after a parameter that is its own module, when a layer class has one of that role and its name says so. */
function bareRole(leaf: string, rank: number): string | undefined {
  const roles = new Set<string>();
  for (const form of layerForms().values()) {
    for (const w of Object.values(form.weights)) {
      if (w.torch === '' && BARE_WORDS[w.role]?.test(leaf) && rank === 3) roles.add(w.role);
    }
  }
  return roles.size === 1 ? [...roles][0] : undefined;
}

/** A key's role among the layer classes whose names fit it and its siblings (and their ranks); `a|b` when they disagree. */
function roleOf(module: string, leaf: string, shape: number[], siblings: Array<[string, number[]]>, forms: FormNames[]): string {
  const own = forms.filter((f) => { const r = f.weights.get(leaf); return r !== undefined && rankFits(r, shape.length); });
  if (!own.length) return 'other';
  // Layer classes that explain every name beside this one, at its rank: `bias` beside a 1-D `weight` is a beta.
  const whole = own.filter((f) => siblings.every(([n, s]) => f.ignored.has(n) || (f.weights.has(n) && rankFits(f.weights.get(n) as WeightRole, s.length))));
  const roles = [...new Set((whole.length ? whole : own).map((f) => f.weights.get(leaf) as WeightRole))].sort();
  if (roles.length === 1) return roles[0];
  // A 2-D `weight` alone is a Linear's, an Embedding's or a position table's: the module's own name tells which.
  const name = module.replace(/[./]$/, '').split(/[./]/).pop() ?? '';
  if (roles.includes('position') && /pos/i.test(name)) return 'position';
  if (roles.includes('embeddings') && /embed/i.test(name)) return 'embeddings';
  return roles.join('|');
}

/** The role of a key that ends with a dotted table name (`attn.out_proj.weight`), if one fits. */
function dottedRole(key: string, rank: number, forms: FormNames[]): string | undefined {
  const roles = new Set<string>();
  for (const f of forms) {
    for (const [name, role] of f.weights) {
      if (name.includes('.') && (key.endsWith(`.${name}`) || key.endsWith(`/${name}`)) && rankFits(role, rank)) roles.add(role);
    }
  }
  return roles.size ? [...roles].sort().join('|') : undefined;
}

/** The roles of a model's weights under its TF.js structural keys; a plain variable's is read from its name, as a state dict's. */
export function slotInfos(slots: readonly WeightSlot[]): Map<string, KeyInfo> {
  return withVariableRoles(slots.map((s) => [s.key, s]));
}

/** The roles of a model's PyTorch keys (a packed key has its parts' role). */
export function entryInfos(entries: readonly TorchEntry[]): Map<string, KeyInfo> {
  return withVariableRoles(entries.map((e) => [e.key, { ...e.parts[0], shape: e.shape }]));
}

/** Roles by key; plain variables (a model given as an object of tf.Variables) have no layer class, so their names tell. */
function withVariableRoles(items: Array<[string, Pick<WeightSlot, 'role' | 'layerClass' | 'shape'>]>): Map<string, KeyInfo> {
  const out = new Map<string, KeyInfo>(items.map(([k, s]) => [k, { role: s.role }]));
  const plain: KeyShapes = new Map(items.filter(([, s]) => s.layerClass === 'Variable').map(([k, s]) => [k, { shape: s.shape }]));
  if (plain.size) for (const [k, info] of keyInfosOf(plain)) out.set(k, info);
  return out;
}

/** Whether a key's last name is one the layer table lists as having no TF.js twin (`num_batches_tracked`). */
export function isIgnoredName(key: string): boolean {
  const leaf = key.slice(leafStart(key));
  for (const form of layerForms().values()) if (form.ignored?.includes(leaf)) return true;
  return false;
}
