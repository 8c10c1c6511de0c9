/**
 * loadStateDict: put a checkpoint's tensors into a TF.js model, PyTorch layouts converted, and
 * say exactly what happened. Everything is checked before anything is written, so a failed
 * load leaves the model as it was; a load that takes little or nothing warns loudly.
 */
import * as tf from '@tensorflow/tfjs';
import { asFloat32, asInt32 } from '../statedict/convert';
import { diffKeyShapes, type Suggestion } from '../statedict/diff';
import { renameKeys, type RenameRule } from '../statedict/rename';
import { sameShape, shapesOf, type KeyShapes } from '../statedict/select';
import type { HostTensor, StateDict } from '../statedict/tensor';
import type { Layout } from './state-dict-of';
import { resolveStateDict, type WeightSource } from './sources';
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
  /** Renames that were applied (from `rename` and `map`). */
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
  const keyOf = (s: WeightSlot) => (layout === 'torch' ? s.torchKey : s.key);
  const shapeOf = (s: WeightSlot) => (layout === 'torch' ? s.torchShape : s.shape);
  const target: KeyShapes = new Map(slots.map((s) => [keyOf(s), { shape: shapeOf(s) }]));

  if (opts.map) {
    const extra = opts.map === 'auto' ? autoRenames(sd, target) : [{ map: opts.map }];
    if (extra.length) { sd = renameKeys(sd, extra); renames.push(...extra); }
  }

  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [], ignored: [], layout, renames };
  const plan: Array<[WeightSlot, HostTensor]> = [];
  for (const s of slots) {
    const t = sd.get(keyOf(s));
    if (!t) report.missing.push(keyOf(s));
    else if (!sameShape(t.shape, shapeOf(s))) report.mismatched.push({ key: keyOf(s), expected: shapeOf(s), got: t.shape });
    else plan.push([s, t]);
  }
  const bnLayers = new Set(slots.filter((s) => s.layerClass === 'BatchNormalization').map((s) => s.layerKey));
  for (const k of sd.keys()) {
    if (target.has(k)) continue;
    if (k.endsWith('.num_batches_tracked') && bnLayers.has(k.slice(0, -'.num_batches_tracked'.length))) report.ignored.push(k);
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
  const values = plan.map(([s, t]) => {
    const v = layout === 'torch' ? s.fromTorch(t) : t;
    let data: Float32Array | Int32Array | Uint8Array = s.dtype === 'int32' ? asInt32(v, keyOf(s)) : s.dtype === 'bool' ? Uint8Array.from(asFloat32(v), (x) => (x ? 1 : 0)) : asFloat32(v);
    // tf.tensor keeps the array it is given: copy what is still the source's own memory, so
    // the model never shares storage with the state dict (or the file's bytes) it came from.
    if (data.buffer === t.data.buffer) data = data.slice();
    return tf.tensor(data, s.shape, s.dtype as tf.DataType);
  });
  plan.forEach(([s], i) => { s.write(values[i]); values[i].dispose(); report.loaded.push(keyOf(s)); });

  if (slots.length && report.loaded.length < slots.length / 2) {
    report.warning = loudWarning(report, slots.length, sd, target);
    if (opts.warn !== null) (opts.warn ?? console.warn)(report.warning);
  }
  return report;
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
