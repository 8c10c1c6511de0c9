/**
 * What a magic's word stands for: a variable of the session (a model, a StateDict, a History,
 * a list of keys...), reached by name or dotted path (`run.history`), or a checkpoint file.
 * Values are recognised by their shape, without loading TF.js: magic files stay cheap to load.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MagicCall, MagicContext } from './registry';
import { UsageError } from './registry';
import { pathNames } from './complete';
import { splitWords } from './words';

/** The kinds of session values the magics take. */
export type Kind = 'model' | 'statedict' | 'history' | 'drift' | 'keys' | 'loadreport' | 'freezereport' | 'fingerprint';

const KIND_TEXT: Record<Kind, string> = {
  model: 'a model (a TF.js LayersModel, or an object of tf.Variables)',
  statedict: 'a StateDict (a Map from key to tensor)',
  history: 'a training History (what train() returns)',
  drift: 'a Drift (a History\'s drift)',
  keys: 'a list of keys (string[])',
  loadreport: 'a LoadReport (what loadStateDict or %load returns)',
  freezereport: 'a FreezeReport (what freeze() returns)',
  fingerprint: 'a Fingerprint (what fingerprint() returns)',
};

const KIND_PLURAL: Record<Kind, string> = {
  model: 'models', statedict: 'StateDicts', history: 'Histories', drift: 'Drifts', keys: 'key lists',
  loadreport: 'LoadReports', freezereport: 'FreezeReports', fingerprint: 'Fingerprints',
};

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null;
const isArrayOf = (x: unknown, test: (v: unknown) => boolean) => Array.isArray(x) && x.every(test);
const isString = (v: unknown) => typeof v === 'string';

/** Whether `x` looks like a TF.js LayersModel. */
export function isLayersModelLike(x: unknown): boolean {
  return isObj(x) && Array.isArray(x.layers) && typeof x.getClassName === 'function';
}

function isVariableLike(x: unknown): boolean {
  return isObj(x) && typeof x.assign === 'function' && typeof x.trainable === 'boolean' && Array.isArray(x.shape) && typeof x.dtype === 'string';
}

/** A plain object whose leaves are all tf.Variables or LayersModels (tsfreeze's ModelLike), with at least one. */
function isVariableTree(x: unknown, depth = 0): boolean {
  if (!isObj(x) || depth > 6) return false;
  const proto = Object.getPrototypeOf(x);
  if (proto !== Object.prototype && proto !== null) return false;
  const values = Object.values(x);
  return values.length > 0 && values.every((v) => isVariableLike(v) || isLayersModelLike(v) || isVariableTree(v, depth + 1));
}

function isHostTensorLike(x: unknown): boolean {
  return isObj(x) && typeof x.dtype === 'string' && Array.isArray(x.shape) && ArrayBuffer.isView(x.data);
}

/** The kind of a session value, or undefined when it is none the magics take. */
export function kindOf(x: unknown): Kind | undefined {
  if (x instanceof Map) {
    const values = [...x.values()];
    if (values.every(isHostTensorLike)) return 'statedict';
    return undefined;
  }
  if (Array.isArray(x)) return x.every(isString) ? 'keys' : undefined;
  if (!isObj(x)) return undefined;
  if (isLayersModelLike(x) || isVariableTree(x)) return 'model';
  if (Array.isArray(x.loss) && Array.isArray(x.epochs) && isObj(x.drift) && Array.isArray(x.groups)) return 'history';
  if (Array.isArray(x.steps) && isArrayOf(x.layers, isString) && Array.isArray(x.values)) return 'drift';
  if (isArrayOf(x.loaded, isString) && Array.isArray(x.missing) && Array.isArray(x.unexpected) && Array.isArray(x.mismatched)) return 'loadreport';
  if (isArrayOf(x.keys, isString) && Array.isArray(x.unchanged) && Array.isArray(x.batchNorm)) return 'freezereport';
  if (x.entries instanceof Map) return 'fingerprint';
  return undefined;
}

/** What `kinds` are, in words: `a model (…) or a StateDict (…)`. */
export function describeKinds(kinds: readonly Kind[]): string {
  return kinds.map((k) => KIND_TEXT[k]).join(' or ');
}

/** The value at `word` (a variable name or a dotted path `a.b.c`), or undefined when there is none. */
export function lookup(ctx: MagicContext, word: string): { value: unknown } | undefined {
  if (!/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(word)) return undefined;
  const [first, ...rest] = word.split('.');
  if (!Object.prototype.hasOwnProperty.call(ctx.locals, first)) return undefined;
  let v: unknown = ctx.locals[first];
  for (const p of rest) {
    if (!isObj(v) || !(p in v)) return undefined;
    v = (v as Obj)[p];
  }
  return { value: v };
}

/** Names of the session's variables whose values are of one of `kinds`. */
export function variablesOf(ctx: MagicContext, kinds: readonly Kind[]): string[] {
  const out: string[] = [];
  for (const [name, v] of Object.entries(ctx.locals)) {
    const k = kindOf(v);
    if (k && kinds.includes(k)) out.push(name);
  }
  return out.sort();
}

/** "Models in this session: a, b" or "there is no model in this session yet". */
function existing(ctx: MagicContext, kinds: readonly Kind[]): string {
  const names = variablesOf(ctx, kinds);
  const what = kinds.map((k) => KIND_PLURAL[k]).join(' or ');
  return names.length ? `${what} in this session: ${names.join(', ')}` : `there are no ${what} in this session yet`;
}

/** A session value of one of `kinds`. */
export interface Resolved<T = unknown> {
  /** The word as written (the variable name or path). */
  name: string;
  value: T;
  kind: Kind;
}

/** The variable `word` names, which must be of one of `kinds`; else a UsageError naming what there is. */
export function expectVariable<T = unknown>(ctx: MagicContext, word: string, kinds: readonly Kind[], magic: string, usage: string): Resolved<T> {
  const found = lookup(ctx, word);
  if (!found) throw new UsageError(`%${magic}: no variable '${word}' in this session (expected ${describeKinds(kinds)}); ${existing(ctx, kinds)}\nusage: ${usage}`);
  const kind = kindOf(found.value);
  if (!kind || !kinds.includes(kind)) {
    throw new UsageError(`%${magic}: '${word}' is ${kind ? KIND_TEXT[kind] : `a ${typeName(found.value)}`}, not ${describeKinds(kinds)}; ${existing(ctx, kinds)}\nusage: ${usage}`);
  }
  return { name: word, value: found.value as T, kind };
}

/** A side of a load or a comparison: a session variable of one of `kinds`, or an existing file (`value` is then its absolute path). */
export type Source<T = unknown> = Resolved<T> | { name: string; value: string; kind: 'path' };

/** `word` as a variable of one of `kinds` when the session has one by that name, else as a checkpoint path relative to the session's folder. */
export function expectSource<T = unknown>(ctx: MagicContext, word: string, kinds: readonly Kind[], magic: string, usage: string): Source<T> {
  if (lookup(ctx, word)) return expectVariable<T>(ctx, word, kinds, magic, usage);
  const path = resolve(ctx.cwd, word);
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) throw new UsageError(`%${magic}: ${path} is a folder, not a checkpoint file\nusage: ${usage}`);
    return { name: word, value: path, kind: 'path' };
  }
  throw new UsageError(`%${magic}: '${word}' is neither a variable of this session nor a file (${path} does not exist); expected ${describeKinds(kinds)}, or a checkpoint path; ${existing(ctx, kinds)}\nusage: ${usage}`);
}

/** Variable names of `kinds` that start with `partial`; after a dot, the properties of that kind (`run.` → `run.history`). */
export function completeVariables(ctx: MagicContext, partial: string, kinds: readonly Kind[]): string[] {
  const dot = partial.lastIndexOf('.');
  if (dot < 0) return variablesOf(ctx, kinds).filter((n) => n.startsWith(partial));
  const owner = lookup(ctx, partial.slice(0, dot));
  if (!owner || !isObj(owner.value) || owner.value instanceof Map || Array.isArray(owner.value)) return [];
  const stem = partial.slice(dot + 1);
  return Object.entries(owner.value)
    .filter(([k, v]) => k.startsWith(stem) && /^[A-Za-z_$][\w$]*$/.test(k) && kinds.includes(kindOf(v) as Kind))
    .map(([k]) => `${partial.slice(0, dot + 1)}${k}`)
    .sort();
}

/** Variable names of `kinds` and file paths that start with `partial`. */
export function completeSources(ctx: MagicContext, partial: string, kinds: readonly Kind[]): string[] {
  return [...completeVariables(ctx, partial, kinds), ...pathNames(ctx, partial)];
}

/** The TypeScript type `name` exported by this package's library, for ctx.define (absolute, so it works from dist and from sources). */
export function libType(name: string): string {
  return `import(${JSON.stringify(resolve(__dirname, '..', '..', 'lib', 'index'))}).${name}`;
}

/** A value's class or type, for messages. */
function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  if (typeof x === 'object') return (Object.getPrototypeOf(x)?.constructor?.name as string | undefined) ?? 'object';
  return typeof x;
}

/** A variable name made of a source's word (a file's stem, or a dotted name with '_' for '.'). */
export function identifierOf(source: Source): string {
  const base = source.kind === 'path' ? source.name.replace(/^.*\//, '').replace(/\.[A-Za-z0-9]+$/, '') : source.name;
  const id = base.replace(/[^\w$]/g, '_');
  return /^[A-Za-z_$]/.test(id) ? id : `_${id}`;
}

/** What a selector word stands for: keys of a variable, a /regex/, or a glob / key / layer key. */
export interface SelectorWord {
  /** A Selector of lib/freeze/selector (string glob or key, RegExp, string[] or StateDict). */
  selector: string | RegExp | string[] | Map<string, unknown>;
  /** For messages: `'features.*'`, `/^fc/`, `_load (the 12 keys it loaded)`. */
  description: string;
}

/** The kinds of variables a selector word may name. */
export const SELECTOR_KINDS: readonly Kind[] = ['statedict', 'keys', 'loadreport', 'freezereport'];

/**
 * A freeze selector from a word: `/pattern/flags` is a RegExp; a variable holding a StateDict, a
 * string[], a LoadReport (its loaded keys) or a FreezeReport (its keys) stands for those keys;
 * any other word is a glob or key (`features.*`, `features.**`, `head`, `fc.bias`).
 */
export function selectorOf(ctx: MagicContext, word: string, magic: string, usage: string): SelectorWord {
  const re = /^\/(.+)\/([a-z]*)$/.exec(word);
  if (re) {
    try {
      return { selector: new RegExp(re[1], re[2]), description: word };
    } catch (e) {
      throw new UsageError(`%${magic}: ${word} is not a valid regular expression: ${(e as Error).message}\nusage: ${usage}`);
    }
  }
  const found = lookup(ctx, word);
  const kind = found ? kindOf(found.value) : undefined;
  if (found && kind && SELECTOR_KINDS.includes(kind)) {
    const v = found.value as Record<string, unknown>;
    if (kind === 'statedict') return { selector: v as unknown as Map<string, unknown>, description: `${word} (the ${(v as unknown as Map<string, unknown>).size} keys of this StateDict)` };
    if (kind === 'keys') return { selector: v as unknown as string[], description: `${word} (a list of ${(v as unknown as string[]).length} keys)` };
    if (kind === 'loadreport') return { selector: v.loaded as string[], description: `${word} (the ${(v.loaded as string[]).length} keys it loaded)` };
    return { selector: v.keys as string[], description: `${word} (the ${(v.keys as string[]).length} keys of this FreezeReport)` };
  }
  return { selector: word, description: `'${word}'` };
}

/**
 * The words of a call as written, for regular expressions: the shell-like word splitting takes
 * `\.` outside quotes as an escaped '.', which would turn `/^fc\.0\./` into `/^fc.0./`. Returns a
 * function from a parsed word to its literal form (the word itself when nothing was lost).
 */
export function literalWords(call: MagicCall): (word: string) => string {
  const pairs = new Map<string, string>();
  const add = (parsed: string, literal: string) => { if (parsed !== literal && !pairs.has(parsed)) pairs.set(parsed, literal); };
  const literals = splitWords(call.line, { keepBackslashes: true });
  splitWords(call.line).forEach((parsed, i) => {
    const literal = literals[i];
    add(parsed, literal);
    // `--option=value`: the value alone, as the option parser hands it over.
    const [pe, le] = [parsed.indexOf('='), literal.indexOf('=')];
    if (parsed.startsWith('--') && pe > 0 && le > 0) add(parsed.slice(pe + 1), literal.slice(le + 1));
  });
  return (word) => pairs.get(word) ?? word;
}
