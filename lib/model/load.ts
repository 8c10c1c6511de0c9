/**
 * loadStateDict: put a checkpoint's tensors into a TF.js model, PyTorch layouts converted, and
 * say exactly what happened. Everything is checked before anything is written, so a failed
 * load leaves the model as it was; a load that takes little or nothing warns loudly.
 */
import * as tf from '@tensorflow/tfjs';
import { asFloat32, asInt32 } from '../statedict/convert';
import { permutedTensor } from '../backend/permuted-tensor';
import { diffKeyShapes, type Suggestion } from '../statedict/diff';
import { renameKeys, type RenameRule } from '../statedict/rename';
import { sameShape, shapesOf, type KeyShapes } from '../statedict/select';
import type { HostTensor, StateDict } from '../statedict/tensor';
import type { Layout } from './state-dict-of';
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
  /** Renames that were applied (from `rename`, the model's known key variants, and `map`). */
  renames: RenameRule[];
  /** The loud warning, when the load took less than half of the model. */
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

  // The architecture's other spellings of its keys (torchvision's legacy MLP names, old BERT's gamma/beta).
  const variants = layout === 'torch' ? torchVariantsOf(model) : undefined;
  if (variants?.renames?.length) {
    const v = applyVariantRenames(sd, (k) => target.has(k), variants.renames);
    sd = v.stateDict;
    renames.push(...v.applied);
  }

  if (opts.map) {
    const extra = opts.map === 'auto' ? autoRenames(sd, target) : [{ map: opts.map }];
    if (extra.length) { sd = renameKeys(sd, extra); renames.push(...extra); }
  }

  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [], ignored: [], layout, renames };
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
    if (ignorable.has(k)) report.ignored.push(k);
    else report.unexpected.push(k);
  }

  if (report.mismatched.length && !opts.skipMismatch) {
    const m = report.mismatched.slice(0, 5).map((x) => `${x.key}: checkpoint [${x.got}] vs model [${x.expected}]`).join('; ');
    throw new LoadError(`loadStateDict: ${report.mismatched.length} shape mismatch(es): ${m}. Nothing was loaded; pass skipMismatch: true to load the rest.`, report);
  }
  if (opts.strict && (report.missing.length || report.unexpected.length)) {
    throw new LoadError(`loadStateDict (strict): ${report.missing.length} missing key(s) [${report.missing.slice(0, 5).join(', ')}], ${report.unexpected.length} unexpected key(s) [${report.unexpected.slice(0, 5).join(', ')}]. Nothing was loaded.${hint(sd, target)}`, report);
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

  if (entries.length && report.loaded.length < entries.length / 2) {
    report.warning = loudWarning(report, entries.length, sd, target);
    if (opts.warn !== null) (opts.warn ?? console.warn)(report.warning);
  }
  return report;
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

function autoRenames(sd: StateDict, target: KeyShapes): RenameRule[] {
  const d = diffKeyShapes(shapesOf(sd), target);
  const rules: RenameRule[] = [];
  const prefix = d.suggestions.find((s) => !('map' in s.rule));
  if (prefix) rules.push(prefix.rule);
  const map = d.suggestions.find((s) => 'map' in s.rule);
  if (map) rules.push(map.rule);
  return rules;
}

function bestSuggestion(sd: StateDict, target: KeyShapes): Suggestion | undefined {
  return diffKeyShapes(shapesOf(sd), target).suggestions[0];
}

function hint(sd: StateDict, target: KeyShapes): string {
  const s = bestSuggestion(sd, target);
  return s ? ` Likely fix: ${s.description}: ${s.code} (matches ${s.gain} more).` : '';
}

function loudWarning(r: LoadReport, total: number, sd: StateDict, target: KeyShapes): string {
  const bar = '!'.repeat(78);
  const a = [...sd.keys()][0];
  const b = [...target.keys()][0];
  const s = bestSuggestion(sd, target);
  const lines = [
    bar,
    `tsfreeze: loaded ${r.loaded.length} of the model's ${total} weights${r.loaded.length === 0 ? ' — NOTHING was loaded' : ''}.`,
    `  checkpoint keys look like '${a ?? '(none)'}', the model's like '${b ?? '(none)'}'.`,
    s
      ? `  Likely cause: the keys differ by a prefix or naming; ${s.description} would match ${s.gain} more:\n    loadStateDict(model, source, { rename: ${JSON.stringify(s.rule)} })   // or: ${s.code}\n  or load with { map: 'auto' }.`
      : '  No rename makes them match: is this the right checkpoint for this model?',
    bar,
  ];
  return lines.join('\n');
}
