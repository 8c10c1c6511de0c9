/**
 * loadStateDict: put a checkpoint's tensors into a TF.js model, PyTorch layouts converted, and
 * say exactly what happened. Everything is checked before anything is written, so a failed
 * load leaves the model as it was; a load that takes little or nothing warns loudly.
 */
import * as tf from '@tensorflow/tfjs';
import { asFloat32, asInt32 } from '../statedict/convert';
import { permutedTensor } from '../backend/permuted-tensor';
import { diffKeyShapes, type KeyInfo, type Suggestion } from '../statedict/diff';
import { renameKeys, type RenameRule } from '../statedict/rename';
import { sameShape, shapesOf, type KeyShapes } from '../statedict/select';
import type { HostTensor, StateDict } from '../statedict/tensor';
import type { Layout } from './state-dict-of';
import { entryInfos, isIgnoredName, keyInfosOf } from './key-roles';
import { resolveStateDict, type WeightSource } from './sources';
import { torchEntries, unpackPart, type TorchEntry } from './torch-entries';
import { layerForm } from './torch-layout';
import { applyVariantRenames, torchVariantsOf } from './torch-variants';
import { weightSlots, type ModelLike, type WeightSlot } from './weights';

/** Options of loadStateDict. */
export interface LoadOptions {
  /** Throw when the model has weights the source lacks, or the source has tensors the model lacks. */
  strict?: boolean;
  /** Skip (and list) tensors whose shape differs from the model's instead of throwing. */
  skipMismatch?: boolean;
  /** The source's naming and layout; by default PyTorch for PyTorch files and torch-looking keys. */
  from?: Layout;
  /** Renames applied to the source's keys first. */
  rename?: RenameRule | RenameRule[];
  /** 'auto': apply the rename diffKeys suggests when it matches more; or an explicit key map. */
  map?: 'auto' | Record<string, string>;
  /** Sub-tree of a checkpoint file to read (see readCheckpoint). */
  root?: string;
  /** Where the loud warning goes (default console.warn); null keeps it in the report only. */
  warn?: ((message: string) => void) | null;
}

/** A weight of the model left at its initial value while the source had unused tensors of its shape and role. */
export interface StrandedWeight {
  /** The model's key (in the source's naming). */
  key: string;
  shape: number[];
  /** The source's unused keys with that shape and a compatible role. */
  candidates: string[];
}

/** What a load did, key by key. */
export interface LoadReport {
  /** Model keys that received a value. */
  loaded: string[];
  /** Model keys the source had nothing for. */
  missing: string[];
  /** Source keys the model has no weight for. */
  unexpected: string[];
  /** Keys both have, with different shapes (in the source's layout). */
  mismatched: Array<{ key: string; expected: number[]; got: number[] }>;
  /** Source keys with no TF.js twin, left out on purpose (BatchNorm's num_batches_tracked). */
  ignored: string[];
  /** The naming the source was matched in. */
  layout: Layout;
  /** How the source's keys were formed, in words (as saved; a model.json's names made structural by its topology). */
  naming?: string;
  /** Renames that were applied (from `rename`, the model's known key variants, and `map`). */
  renames: RenameRule[];
  /** Missing weights for which the source had unused tensors of the same shape and role: "loaded, but not that one". */
  stranded: StrandedWeight[];
  /** The rename that would load more, when there is one (what diffKeys suggests for the source as loaded). */
  suggestion?: Pick<Suggestion, 'rule' | 'rules' | 'code' | 'description' | 'gain'>;
  /** The loud warning: the load took less than half of the model, left weights at their initial values beside unused tensors of their shape, or `map: 'auto'` left weights unloaded. */
  warning?: string;
}

/** A load that could not be done as asked; `report` says what was found. */
export class LoadError extends Error {
  override readonly name = 'LoadError';
  constructor(message: string, readonly report: LoadReport) { super(message); }
}

/** Loads `source` into `model` and reports what was loaded, missing, unexpected and mismatched. */
export async function loadStateDict(model: ModelLike, source: WeightSource, opts: LoadOptions = {}): Promise<LoadReport> {
  const resolved = await resolveStateDict(source, { root: opts.root, layout: opts.from });
  const layout = opts.from ?? resolved.layout;
  const renames: RenameRule[] = opts.rename ? (Array.isArray(opts.rename) ? [...opts.rename] : [opts.rename]) : [];
  let sd = renames.length ? renameKeys(resolved.stateDict, renames) : resolved.stateDict;

  const slots = weightSlots(model);
  const entries = targetsOf(slots, layout);
  const target: KeyShapes = new Map(entries.map((e) => [e.key, { shape: e.shape }]));
  const targetInfo = entryInfos(entries);

  // The architecture's other spellings of its keys (torchvision's legacy MLP names, old BERT's gamma/beta).
  const variants = layout === 'torch' ? torchVariantsOf(model) : undefined;
  if (variants?.renames?.length) {
    const v = applyVariantRenames(sd, (k) => target.has(k), variants.renames);
    sd = v.stateDict;
    renames.push(...v.applied);
  }

  if (opts.map) {
    const extra = opts.map === 'auto' ? autoRenames(sd, target, targetInfo) : [{ map: opts.map }];
    if (extra.length) { sd = renameKeys(sd, extra); renames.push(...extra); }
  }

  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [], ignored: [], layout, naming: resolved.naming, renames, stranded: [] };
  const plan: Array<[TorchEntry, HostTensor]> = [];
  for (const e of entries) {
    const t = sd.get(e.key);
    if (!t) report.missing.push(e.key);
    else if (!sameShape(t.shape, e.shape)) report.mismatched.push({ key: e.key, expected: e.shape, got: t.shape });
    else plan.push([e, t]);
  }
  const ignorable = ignoredKeys(slots);
  for (const k of variants?.ignored ?? []) ignorable.add(k);
  for (const k of sd.keys()) {
    if (target.has(k)) continue;
    // A name the layer table says has no TF.js twin is never wanted, wherever it sits (an unrenamed 'module.bn.num_batches_tracked' too).
    if (ignorable.has(k) || isIgnoredName(k)) report.ignored.push(k);
    else report.unexpected.push(k);
  }
  const sourceInfo = keyInfosOf(shapesOf(sd));
  report.stranded = strandedWeights(report, sd, target, targetInfo, sourceInfo);
  if (report.missing.length || report.unexpected.length) {
    const s = bestSuggestion(sd, target, targetInfo);
    if (s) report.suggestion = { rule: s.rule, rules: s.rules, code: s.code, description: s.description, gain: s.gain };
  }

  if (report.mismatched.length && !opts.skipMismatch) {
    const m = report.mismatched.slice(0, 5).map((x) => `${x.key}: checkpoint [${x.got}] vs model [${x.expected}]${layoutHint(x.got, x.expected, layout)}`).join('; ');
    throw new LoadError(`loadStateDict: ${report.mismatched.length} shape mismatch(es): ${m}. Nothing was loaded; pass skipMismatch: true to load the rest.`, report);
  }
  if (opts.strict && (report.missing.length || report.unexpected.length)) {
    throw new LoadError(`loadStateDict (strict): ${report.missing.length} missing key(s) [${report.missing.slice(0, 5).join(', ')}], ${report.unexpected.length} unexpected key(s) [${report.unexpected.slice(0, 5).join(', ')}]${report.ignored.length ? ` (${report.ignored.length} ignored entr${report.ignored.length > 1 ? 'ies' : 'y'} such as num_batches_tracked not counted)` : ''}. Nothing was loaded.${hint(report)}`, report);
  }

  // Convert everything first: a failure here leaves the model untouched.
  const values: Array<[WeightSlot, tf.Tensor]> = [];
  // wasm copies what tf.tensor is given into its own memory; other backends keep the array.
  const backendCopies = tf.getBackend() === 'wasm';
  try {
    for (const [e, t] of plan) {
      e.parts.forEach((s, i) => {
        const part = layout === 'torch' ? unpackPart(e, t, i) : t;
        const perm = layout === 'torch' ? s.fromTorchPermutation : undefined;
        if (perm && s.dtype === 'float32' && part.data instanceof Float32Array) {
          // A pure permutation: done by the backend (wasm transposes in its own memory), never sharing the source's array.
          values.push([s, permutedTensor({ ...part, shape: perm.reshape ?? part.shape }, perm.perm)]);
          return;
        }
        const v = layout === 'torch' ? s.fromTorch(part) : part;
        let data: Float32Array | Int32Array | Uint8Array = s.dtype === 'int32' ? asInt32(v, e.key) : s.dtype === 'bool' ? Uint8Array.from(asFloat32(v), (x) => (x ? 1 : 0)) : asFloat32(v);
        // tf.tensor keeps the array it is given on most backends: copy what is still the source's
        // own memory, so the model never shares storage with the state dict (or the file's bytes).
        if (!backendCopies && data.buffer === t.data.buffer) data = data.slice();
        values.push([s, tf.tensor(data, s.shape, s.dtype as tf.DataType)]);
      });
    }
  } catch (err) {
    tf.dispose(values.map(([, v]) => v));
    throw err;
  }
  for (const [s, v] of values) { s.write(v); v.dispose(); }
  report.loaded.push(...plan.map(([e]) => e.key));

  const warning = loudWarning(report, entries.length, sd, target, opts.map === 'auto');
  if (warning) {
    report.warning = warning;
    if (opts.warn !== null) (opts.warn ?? console.warn)(report.warning);
  }
  return report;
}

/** Why two shapes of one convolution kernel differ, when the difference says it (a grouped or depthwise convolution on one side only). */
function layoutHint(got: number[], expected: number[], layout: Layout): string {
  if (got.length !== 4 || expected.length !== 4 || layout !== 'torch') return '';
  // PyTorch's kernel is [out, in / groups, kh, kw]: the same out and window, in-channels divided.
  const [o1, i1, h1, w1] = got;
  const [o2, i2, h2, w2] = expected;
  if (o1 !== o2 || h1 !== h2 || w1 !== w2 || i1 === i2) return '';
  const [small, large] = i1 < i2 ? [i1, i2] : [i2, i1];
  if (large % small !== 0) return '';
  const groups = large / small;
  const side = i1 < i2 ? 'the checkpoint' : 'the model';
  return ` (${side}'s convolution looks grouped, groups = ${groups}${small === 1 ? ', depthwise' : ''}: build the layer with torchConv2d({ groups: ${groups} }) to match)`;
}

/** The keys a load fills, in the source's naming: PyTorch entries (packed weights together) or TF.js weights one by one. */
function targetsOf(slots: WeightSlot[], layout: Layout): TorchEntry[] {
  return layout === 'torch' ? torchEntries(slots) : slots.map((s) => ({ key: s.key, shape: s.shape, parts: [s] }));
}

/** Source keys with no TF.js twin in this model (a BatchNorm layer's num_batches_tracked), from the layer table. */
function ignoredKeys(slots: WeightSlot[]): Set<string> {
  const out = new Set<string>();
  for (const s of slots) for (const n of layerForm(s.layerClass)?.ignored ?? []) out.add(s.layerKey ? `${s.layerKey}.${n}` : n);
  return out;
}

/** The renames `map: 'auto'` applies: the best suggestion's rules (rename rules, then a key map when one is consistent). */
function autoRenames(sd: StateDict, target: KeyShapes, targetInfo: Map<string, KeyInfo>): RenameRule[] {
  return bestSuggestion(sd, target, targetInfo)?.rules ?? [];
}

function bestSuggestion(sd: StateDict, target: KeyShapes, targetInfo: Map<string, KeyInfo>): Suggestion | undefined {
  const shapes = shapesOf(sd);
  return diffKeyShapes(shapes, target, { infoA: keyInfosOf(shapes), infoB: targetInfo }).suggestions[0];
}

/** Missing model weights beside unused source tensors of the same shape and a compatible role. */
function strandedWeights(r: LoadReport, sd: StateDict, target: KeyShapes, targetInfo: Map<string, KeyInfo>, sourceInfo: Map<string, KeyInfo>): StrandedWeight[] {
  if (!r.missing.length || !r.unexpected.length) return [];
  // A warning errs on the side of speaking: a role the names leave unknown ('other') fits any.
  const fits = (a: string, b: string) => a === 'other' || b === 'other' || a.split('|').some((x) => b.split('|').includes(x));
  const out: StrandedWeight[] = [];
  for (const key of r.missing) {
    const shape = target.get(key)!.shape;
    const role = targetInfo.get(key)?.role ?? 'other';
    const candidates = r.unexpected.filter((u) => sameShape(sd.get(u)!.shape, shape) && fits(sourceInfo.get(u)?.role ?? 'other', role));
    if (candidates.length) out.push({ key, shape, candidates });
  }
  return out;
}

function hint(r: LoadReport): string {
  const s = r.suggestion;
  const fix = s ? ` Likely fix: ${s.description}: ${s.code} (matches ${s.gain} more).` : '';
  const stranded = r.stranded.length ? ` ${r.stranded.length} missing weight(s) have unused checkpoint tensors of their shape, e.g. ${r.stranded[0].key} [${r.stranded[0].shape}] ← ${r.stranded[0].candidates.slice(0, 3).join(' | ')}.` : '';
  return fix + stranded;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The loud warning of a load, or undefined when nothing calls for one. */
function loudWarning(r: LoadReport, total: number, sd: StateDict, target: KeyShapes, auto: boolean): string | undefined {
  const few = total > 0 && r.loaded.length < total / 2;
  const leftAfterAuto = auto && r.missing.length > 0;
  if (!few && !r.stranded.length) {
    // New layers are the point of transfer learning: a notice, not the banner, but never silence after map: 'auto'.
    if (!leftAfterAuto) return undefined;
    return `tsfreeze: loaded ${r.loaded.length} of the model's ${total} weights; map: 'auto' left ${plural(r.missing.length, 'weight')} at ${r.missing.length === 1 ? 'its initial value' : 'their initial values'} (the checkpoint has nothing of their shape and role): ${keyList(r.missing)}.`;
  }
  const bar = '!'.repeat(78);
  const lines = [bar];
  const s = r.suggestion;
  const renameLine = (x: NonNullable<LoadReport['suggestion']>) => `    loadStateDict(model, source, { rename: ${JSON.stringify(x.rules.length === 1 ? x.rules[0] : x.rules)} })   // or: ${x.code}`;
  if (few) {
    const a = [...sd.keys()][0];
    const b = [...target.keys()][0];
    lines.push(
      `tsfreeze: loaded ${r.loaded.length} of the model's ${total} weights${r.loaded.length === 0 ? ' — NOTHING was loaded' : ''}.`,
      `  checkpoint keys look like '${a ?? '(none)'}', the model's like '${b ?? '(none)'}'.`,
    );
  } else {
    lines.push(`tsfreeze: loaded ${r.loaded.length} of the model's ${total} weights; ${plural(r.missing.length, 'weight')} kept ${r.missing.length === 1 ? 'its' : 'their'} initial value${r.missing.length === 1 ? '' : 's'}${auto ? " after map: 'auto'" : ''}.`);
  }
  if (r.stranded.length && few && s) {
    // The rename below explains it: one line, not the list.
    const w = r.stranded[0];
    lines.push(`  ${plural(r.stranded.length, 'model weight')} stayed at ${r.stranded.length === 1 ? 'its' : 'their'} initial value while the checkpoint has unused tensors of the same shape and role (${w.key} ← ${w.candidates.slice(0, 2).join(' | ')}${w.candidates.length > 2 ? ' | …' : ''}, …).`);
  } else if (r.stranded.length) {
    lines.push(`  Loaded, but not that one? ${plural(r.stranded.length, 'model weight')} stayed at ${r.stranded.length === 1 ? 'its' : 'their'} initial value while the checkpoint has unused tensors of the same shape and role:`);
    for (const w of r.stranded.slice(0, 8)) {
      const c = w.candidates;
      lines.push(`    ${w.key} [${w.shape}]  ←  ${c.slice(0, 3).join(' | ')}${c.length > 3 ? ` | … (${c.length} in all)` : ''}`);
    }
    if (r.stranded.length > 8) lines.push(`    … and ${r.stranded.length - 8} more`);
    // Without a rename that names and roles confirm, the one-to-one pairs by shape are the last resort.
    const pairs = s ? [] : likelyPairs(r.stranded);
    if (pairs.length) lines.push(`  If they belong together, the one-to-one pairs: loadStateDict(model, source, { map: ${JSON.stringify(Object.fromEntries(pairs.slice(0, 8)))}${pairs.length > 8 ? ' /* … */' : ''} }) — check the names first: shapes alone do not prove it.`);
  } else if (leftAfterAuto) {
    lines.push(`  map: 'auto' left ${plural(r.missing.length, 'weight')} at ${r.missing.length === 1 ? 'its initial value' : 'their initial values'}: ${keyList(r.missing)}.`);
  }
  if (s) {
    lines.push(`  Likely cause: the keys differ by a prefix or naming; ${s.description} would match ${s.gain} more:`, renameLine(s));
    if (!auto) lines.push(`  or load with { map: 'auto' }.`);
  } else if (few) {
    lines.push('  No rename makes them match: is this the right checkpoint for this model?');
  }
  lines.push(bar);
  return lines.join('\n');
}

/** Up to 8 keys, then how many more. */
function keyList(keys: string[]): string {
  return `${keys.slice(0, 8).join(', ')}${keys.length > 8 ? `, … and ${keys.length - 8} more` : ''}`;
}

/** Stranded weights with exactly one candidate that no other stranded weight shares: [source key, model key]. */
function likelyPairs(stranded: StrandedWeight[]): Array<[string, string]> {
  const uses = new Map<string, number>();
  for (const w of stranded) for (const c of w.candidates) uses.set(c, (uses.get(c) ?? 0) + 1);
  return stranded.filter((w) => w.candidates.length === 1 && uses.get(w.candidates[0]) === 1).map((w) => [w.candidates[0], w.key]);
}
