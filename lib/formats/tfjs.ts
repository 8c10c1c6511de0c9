/**
 * TF.js weights: a `model.json` whose `weightsManifest` lists groups of shard files. Each group's
 * shards, concatenated in order, hold its weights back to back, so a weight may straddle a shard
 * boundary (tfjs-converter cuts every 4 MiB, mid-element if need be).
 *
 * Shards are read only from the model's own folder (symbolic links followed, then checked), each
 * file once, and only regular files. Written as a single group named after the manifest's stem
 * and the save (`model.<save>.weights.bin`, or `model.<save>.group1-shard1of3.bin` ... when
 * split), atomically as a whole: see ./tfjs-commit.ts.
 */
import { closeSync, fstatSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { CheckpointError } from './errors';
import { commitModelFiles } from './tfjs-commit';
import { openRegularFile, readAt } from './source';
import { refuseShared } from './aliases';
import { selectRoot, type Checkpoint, type CheckpointMetadata, type JsonValue, type ReadLimits, type ReadOptions } from './checkpoint';
import { bytesOf, numel, viewAs, type HostTensor, type StateDict } from '../statedict/tensor';

/** Bytes per element of the dtypes a TF.js manifest can lay out (string's length varies, complex64 has no host dtype). */
const STORED_BYTES = { float32: 4, int32: 4, bool: 1 } as const;
type StoredDType = keyof typeof STORED_BYTES;

/** Bytes per element of the quantized encodings TF.js decodes. */
const QUANTIZED_BYTES = { uint8: 1, uint16: 2, float16: 2 } as const;
type QuantizedDType = keyof typeof QUANTIZED_BYTES;

/** How a quantized weight's values are stored; `min` and `scale` only for the integer encodings. */
interface Quantization { dtype: QuantizedDType; min: number; scale: number }

/** One entry of a group's `weights`, validated. */
interface WeightSpec { name: string; shape: number[]; dtype: StoredDType; quantization?: Quantization; group?: string }

/** One group of the manifest: its weights, and where they lie in the concatenation of its shards. */
interface GroupPlan {
  index: number;
  paths: string[];
  /** Open descriptors of the shards, in order (closed by the reader when done). */
  fds: number[];
  sizes: number[];
  weights: Array<{ spec: WeightSpec; start: number; end: number }>;
}

/** The shard size tfjs-converter writes by default (4 MiB). */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/** What `writeTfjs` puts in model.json's `format`. */
export const TSFREEZE_WEIGHTS_FORMAT = 'tsfreeze-weights';

/** Whether `bytes` looks like a TF.js model.json: JSON object text that mentions `weightsManifest`. */
export function looksLikeTfjsModelJson(bytes: Uint8Array): boolean {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  if (bytes[i] !== 0x7b) return false;
  // A byte search, not a parse: cheap even on a large file that only starts like JSON.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf('"weightsManifest"', i) >= 0;
}

/** A model.json read with its shards: the parsed JSON, its weight specs in shard order, and the groups' bytes. */
export interface TfjsArtifacts {
  json: Record<string, unknown>;
  /** Every weight of every group, in the order of their bytes. */
  specs: WeightSpec[];
  /** Each group's shards, concatenated: the bytes TF.js's decodeWeights takes with the group's specs. */
  groups: Array<{ specs: WeightSpec[]; shards: Uint8Array[] }>;
}

/** Reads model.json's bytes and its shards (validated as readTfjs validates them), keeping the JSON as it is. */
export function readTfjsArtifacts(bytes: Uint8Array, file: string, limits: ReadLimits): TfjsArtifacts {
  const maxJson = limits.limit('manifestBytes', bytes.length);
  if (bytes.length > maxJson) throw new CheckpointError(file, `model.json of ${bytes.length} bytes is larger than the ${maxJson}-byte limit`, 'the file is damaged or not a TF.js model.json');
  const json = parseModelJson(bytes, file);
  const specs = parseManifest(json.weightsManifest, file);
  const plans: GroupPlan[] = [];
  try {
    const seen = new Map<string, string>();
    for (const [g, group] of specs.entries()) plans.push(planGroup(file, g, group.paths, group.weights, seen));
    checkAllocation(file, plans, limits);
    return { json, specs: specs.flatMap((g) => g.weights), groups: plans.map((plan) => ({ specs: plan.weights.map((w) => w.spec), shards: loadShards(file, plan) })) };
  } finally {
    for (const plan of plans) for (const fd of plan.fds) closeSync(fd);
  }
}

/** Reads a TF.js model.json (its bytes, and its path to find the shards) into a state dict keyed by weight name. */
export async function readTfjs(bytes: Uint8Array, file: string, opts: ReadOptions, limits: ReadLimits): Promise<Checkpoint> {
  const { json, groups } = readTfjsArtifacts(bytes, file, limits);
  const metadata = describeModel(json);
  const tensors = new Map<string, HostTensor>();
  const plans: Array<{ weights: Array<{ spec: WeightSpec }> }> = [];
  for (const group of groups) {
    let at = 0;
    for (const spec of group.specs) {
      const end = at + storedBytes(spec);
      tensors.set(spec.name, decodeWeight(file, spec, sliceAcross(group.shards, at, end)));
      at = end;
    }
    plans.push({ weights: group.specs.map((spec) => ({ spec })) });
  }
  noteQuantized(metadata, plans);
  noteOptimizerWeights(metadata, plans);
  const stateDict = selectRoot(file, tensors, metadata, opts.root, undefined);
  return { format: 'tfjs', stateDict, metadata };
}

// ---------------------------------------------------------------------------------------------
// Reading: model.json and its manifest

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** model.json's top-level object, or a CheckpointError saying where its JSON breaks. */
function parseModelJson(bytes: Uint8Array, file: string): JsonObject {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new CheckpointError(file, 'model.json is not valid UTF-8 text', 'the file is damaged or not a TF.js model.json');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `model.json is not valid JSON${jsonErrorPlace(text, (e as Error).message)}: ${(e as Error).message}`,
      'the file is truncated or damaged');
  }
  if (!isObject(json)) throw new CheckpointError(file, 'model.json is not a JSON object');
  return json;
}

/** ` at line L, column C` from the position V8 puts in JSON.parse messages, when it does. */
function jsonErrorPlace(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m) return message.includes('end of JSON') ? ' (it ends early)' : '';
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return ` at line ${line}, column ${pos - before.lastIndexOf('\n')}`;
}

/** The manifest's groups with every entry checked: names, shapes, dtypes, quantization. */
function parseManifest(manifest: unknown, file: string): Array<{ paths: string[]; weights: WeightSpec[] }> {
  if (!Array.isArray(manifest)) throw new CheckpointError(file, `weightsManifest is ${describeJson(manifest)}, not an array of weight groups`);
  const seen = new Map<string, number>();
  return manifest.map((group: unknown, g) => {
    const where = `weightsManifest[${g}]`;
    if (!isObject(group)) throw new CheckpointError(file, `${where} is ${describeJson(group)}, not an object with paths and weights`);
    const { paths, weights } = group;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) {
      throw new CheckpointError(file, `${where}.paths is not an array of shard file names`);
    }
    if (!Array.isArray(weights)) throw new CheckpointError(file, `${where}.weights is not an array`);
    const specs = weights.map((w: unknown, i) => parseWeightSpec(w, `${where}.weights[${i}]`, file));
    for (const s of specs) {
      const earlier = seen.get(s.name);
      if (earlier !== undefined) throw new CheckpointError(file, `weight '${s.name}' appears twice (groups ${earlier + 1} and ${g + 1})`);
      seen.set(s.name, g);
    }
    return { paths: paths as string[], weights: specs };
  });
}

/** One manifest entry, validated; unsupported dtypes and encodings fail here, before any shard is read. */
function parseWeightSpec(w: unknown, where: string, file: string): WeightSpec {
  if (!isObject(w)) throw new CheckpointError(file, `${where} is ${describeJson(w)}, not a weight entry`);
  const { name, shape, dtype, quantization, group } = w;
  if (typeof name !== 'string') throw new CheckpointError(file, `${where} has no string name`);
  const label = `weight '${name}' (${where})`;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new CheckpointError(file, `${label} has shape ${JSON.stringify(shape)}; dimensions must be non-negative integers`);
  }
  if (dtype === 'string' || dtype === 'complex64') {
    throw new CheckpointError(file, `${label} has dtype ${dtype}, which is not supported`, 'only float32, int32 and bool weights can be read');
  }
  if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(STORED_BYTES, dtype)) {
    throw new CheckpointError(file, `${label} has unknown dtype ${JSON.stringify(dtype)}`, 'TF.js weights are float32, int32 or bool');
  }
  const spec: WeightSpec = { name, shape: shape as number[], dtype: dtype as StoredDType };
  if (quantization !== undefined) spec.quantization = parseQuantization(quantization, spec, label, file);
  if (typeof group === 'string') spec.group = group;
  return spec;
}

/** A weight's `quantization`, checked as TF.js's decoder checks it. */
function parseQuantization(q: unknown, spec: WeightSpec, label: string, file: string): Quantization {
  if (!isObject(q) || typeof q.dtype !== 'string' || !Object.prototype.hasOwnProperty.call(QUANTIZED_BYTES, q.dtype)) {
    throw new CheckpointError(file, `${label} has quantization ${JSON.stringify(q)}, which is not supported`, "supported quantization dtypes: 'uint8', 'uint16', 'float16'");
  }
  const dtype = q.dtype as QuantizedDType;
  if (dtype === 'float16') {
    if (spec.dtype !== 'float32') throw new CheckpointError(file, `${label} is ${spec.dtype} quantized as float16; only float32 weights can be`);
    return { dtype, min: 0, scale: 1 };
  }
  if (spec.dtype === 'bool') throw new CheckpointError(file, `${label} is bool quantized as ${dtype}; only float32 and int32 weights can be`);
  if (typeof q.min !== 'number' || typeof q.scale !== 'number') {
    throw new CheckpointError(file, `${label} is quantized as ${dtype} without numeric min and scale`);
  }
  return { dtype, min: q.min, scale: q.scale };
}

/** A short description of a JSON value's kind, for error messages. */
function describeJson(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

// ---------------------------------------------------------------------------------------------
// Reading: shards

/** Bytes a weight occupies in its shards (possibly beyond any safe integer, for an absurd shape). */
function storedBytes(spec: WeightSpec): number {
  const per = spec.quantization ? QUANTIZED_BYTES[spec.quantization.dtype] : STORED_BYTES[spec.dtype];
  return numel(spec.shape) * per;
}

/** Finds a group's shards on disk (each once, inside the model's folder) and places its weights in them, checking sizes before anything is read. */
function planGroup(file: string, g: number, paths: string[], weights: WeightSpec[], seen: Map<string, string>): GroupPlan {
  const dir = dirname(file);
  const plan: GroupPlan = { index: g, paths, fds: [], sizes: [], weights: [] };
  for (const p of paths) {
    const { fd, size } = openShard(file, dir, p, g, seen);
    plan.fds.push(fd);
    plan.sizes.push(size);
  }
  const have = plan.sizes.reduce((a, b) => a + b, 0);
  let at = 0;
  for (const spec of weights) {
    const need = storedBytes(spec);
    if (at + need > have) {
      throw new CheckpointError(file,
        `weight '${spec.name}' [${spec.shape}] ${spec.quantization?.dtype ?? spec.dtype} needs ${need} bytes from byte ${at} of weight group ${g + 1}${shardPlace(plan, at)}, but the group's shards (${paths.join(', ')}) hold ${have} bytes in all`,
        'a shard is truncated or missing, or model.json does not belong with these shards');
    }
    plan.weights.push({ spec, start: at, end: at + need });
    at += need;
  }
  if (at !== have) {
    const last = weights.length ? ` after weight '${weights[weights.length - 1].name}'` : '';
    throw new CheckpointError(file,
      `weight group ${g + 1}'s shards (${paths.join(', ')}) hold ${have} bytes but its weights end at byte ${at}${last}; ${have - at} bytes are unaccounted for`,
      'model.json does not belong with these shards, or a shard was replaced');
  }
  return plan;
}

/** ` (byte B of shard 'S')`: where a group offset falls among its shards. */
function shardPlace(plan: GroupPlan, offset: number): string {
  let start = 0;
  for (const [i, size] of plan.sizes.entries()) {
    if (offset < start + size) return ` (byte ${offset - start} of '${plan.paths[i]}')`;
    start += size;
  }
  return ' (past the end of its last shard)';
}

/**
 * Opens the shard a manifest path names: a regular file inside the model's folder once every
 * symbolic link is followed, and not a file another path of the manifest already named.
 */
function openShard(file: string, dir: string, p: string, g: number, seen: Map<string, string>): { fd: number; size: number } {
  const path = shardFile(file, dir, p, g);
  const hint = 'shards must be files inside the folder that holds model.json';
  let real: string, realDir: string;
  try {
    realDir = realpathSync(dir);
    real = realpathSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CheckpointError(file, `shard '${p}' of weight group ${g + 1} is missing (looked for ${path})`, 'copy every file listed in weightsManifest next to model.json');
    }
    throw new CheckpointError(file, `cannot read shard '${p}' of weight group ${g + 1}: ${code ?? (e as Error).message}`);
  }
  const rel = relative(realDir, real);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new CheckpointError(file, `shard '${p}' of weight group ${g + 1} resolves through a symbolic link to ${real}, outside the model's folder`, hint);
  }
  let opened: { fd: number; size: number };
  try {
    opened = openRegularFile(real, file, hint);
  } catch (e) {
    if (e instanceof CheckpointError) throw new CheckpointError(file, `shard '${p}' of weight group ${g + 1} ${e.problem}`, e.hint);
    throw e;
  }
  const { fd, size } = opened;
  const st = fstatSync(fd);
  // The same file under two names (a repeated path, a second link, a hard link) would be read twice.
  const id = `${st.dev}:${st.ino}`;
  const earlier = seen.get(id);
  if (earlier !== undefined) {
    closeSync(fd);
    throw new CheckpointError(file, `shard '${p}' of weight group ${g + 1} is the same file as shard '${earlier}'`, 'each shard holds different bytes; a manifest that lists one file twice is damaged or hostile');
  }
  seen.set(id, p);
  return { fd, size };
}

/** The file a manifest path names, refusing paths that would leave the model's folder. */
function shardFile(file: string, dir: string, p: string, g: number): string {
  const hint = 'shard paths must be relative to the folder holding model.json';
  if (p === '' || p.includes('\0')) throw new CheckpointError(file, `weight group ${g + 1} lists an empty or invalid shard path ${JSON.stringify(p)}`);
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(p) || p.startsWith('/') || p.startsWith('\\')) {
    throw new CheckpointError(file, `weight group ${g + 1} lists shard '${p}', an absolute path or URL`, hint);
  }
  // Both separators count: a manifest written on Windows may use either.
  const segments = p.split(/[\\/]/);
  if (segments.includes('..')) throw new CheckpointError(file, `weight group ${g + 1} lists shard '${p}', which escapes the model's folder`, hint);
  return join(dir, ...segments);
}

/** Bytes beyond the shards' own that decoding will allocate: straddling and unaligned copies, dequantized values. */
function extraBytes(plan: GroupPlan): number {
  let extra = 0;
  const bounds = shardBounds(plan.sizes);
  for (const { spec, start, end } of plan.weights) {
    if (spec.quantization) { extra += numel(spec.shape) * 4; continue; }
    const k = shardAt(bounds, start);
    const within = end <= bounds[k + 1];
    if (!within || (start - bounds[k]) % STORED_BYTES[spec.dtype] !== 0) extra += end - start;
  }
  return extra;
}

/** Refuses to decode when copies would exceed the copy budget (default: 4 × the shards' size + 64 MiB). */
function checkAllocation(file: string, plans: GroupPlan[], limits: ReadLimits): void {
  const shardTotal = plans.reduce((a, p) => a + p.sizes.reduce((x, y) => x + y, 0), 0);
  const limit = limits.limit('copyBytes', shardTotal);
  const extra = plans.reduce((a, p) => a + extraBytes(p), 0);
  if (extra > limit) {
    throw new CheckpointError(file, `decoding would allocate ${extra} bytes beyond the shards' ${shardTotal}, over the ${limit}-byte limit`,
      'raise ReadOptions.maxAllocation if this is expected');
  }
}

/** Reads a group's shards through the descriptors opened when the group was planned (so they are the files that were checked). */
function loadShards(file: string, plan: GroupPlan): Uint8Array[] {
  return plan.fds.map((fd, i) => {
    const buf = readAt(fd, 0, plan.sizes[i], `${file}: shard '${plan.paths[i]}'`);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  });
}

/** Cumulative start offsets of shards, with the total at the end. */
function shardBounds(sizes: number[]): number[] {
  const bounds = [0];
  for (const s of sizes) bounds.push(bounds[bounds.length - 1] + s);
  return bounds;
}

/** Index of the shard holding group offset `at` (the last non-empty shard starting at or before it). */
function shardAt(bounds: number[], at: number): number {
  let k = 0;
  while (k + 2 < bounds.length && bounds[k + 1] <= at) k++;
  return k;
}

/** Bytes [start, end) of a group: a view when they lie in one shard, else one copy of the pieces. */
function sliceAcross(shards: Uint8Array[], start: number, end: number): Uint8Array {
  if (start === end) return new Uint8Array(0);
  const bounds = shardBounds(shards.map((s) => s.byteLength));
  const k = shardAt(bounds, start);
  if (end <= bounds[k + 1]) return shards[k].subarray(start - bounds[k], end - bounds[k]);
  const out = new Uint8Array(end - start);
  for (let i = k, at = start; at < end; i++) {
    const piece = shards[i].subarray(at - bounds[i], Math.min(end, bounds[i + 1]) - bounds[i]);
    out.set(piece, at - start);
    at += piece.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading: values

/** A weight's tensor from its stored bytes: a view for plain dtypes, decoded values for quantized ones. */
function decodeWeight(file: string, spec: WeightSpec, raw: Uint8Array): HostTensor {
  const shape = [...spec.shape];
  const q = spec.quantization;
  if (!q) return { dtype: spec.dtype, shape, data: viewAs(spec.dtype, raw) };
  if (q.dtype === 'float16') return { dtype: 'float32', shape, data: halfToFloat(viewAs('float16', raw)) };
  // uint16 codes are read as raw 16-bit words, which is what the float16 view holds.
  const codes = q.dtype === 'uint8' ? raw : viewAs('float16', raw);
  if (spec.dtype === 'int32') {
    // TF.js rounds dequantized int32 weights to the nearest integer.
    const out = new Int32Array(codes.length);
    for (let i = 0; i < codes.length; i++) out[i] = Math.round(codes[i] * q.scale + q.min);
    return { dtype: 'int32', shape, data: out };
  }
  if (spec.dtype !== 'float32') throw new CheckpointError(file, `weight '${spec.name}' is ${spec.dtype} quantized as ${q.dtype}, which cannot be decoded`);
  const out = new Float32Array(codes.length);
  // Computed in double and rounded once to float32, as TF.js does, so values match it bit for bit.
  for (let i = 0; i < codes.length; i++) out[i] = codes[i] * q.scale + q.min;
  return { dtype: 'float32', shape, data: out };
}

let halfTable: Float32Array | undefined;

/** float32 values of IEEE half-precision bit patterns (exact: every half is a float32). */
function halfToFloat(bits: Uint16Array): Float32Array {
  const table = (halfTable ??= buildHalfTable());
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/** Every half-precision bit pattern's value, indexed by the pattern. */
function buildHalfTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) table[h] = sign * fraction * 2 ** -24;
    else if (exponent === 31) table[h] = fraction ? NaN : sign * Infinity;
    else table[h] = sign * (1024 + fraction) * 2 ** (exponent - 25);
  }
  return table;
}

// ---------------------------------------------------------------------------------------------
// Reading: metadata

/** The model-level fields of model.json as metadata values and notes. */
function describeModel(json: JsonObject): CheckpointMetadata {
  const metadata: CheckpointMetadata = { values: {}, notes: [] };
  for (const k of ['format', 'generatedBy', 'convertedBy'] as const) {
    if (json[k] !== undefined) metadata.values[k] = json[k] as JsonValue;
  }
  const user = json.userDefinedMetadata;
  if (isObject(user)) {
    for (const [k, v] of Object.entries(user)) {
      if (k in metadata.values) metadata.notes.push(`userDefinedMetadata '${k}' hides model.json's own '${k}' (${JSON.stringify(metadata.values[k])})`);
      metadata.values[k] = v as JsonValue;
    }
  } else if (user !== undefined && user !== null) {
    metadata.values.userDefinedMetadata = user as JsonValue;
  }
  const topology = describeTopology(json.modelTopology);
  if (topology) metadata.notes.push(`${topology}; only the weights were read`);
  if (json.trainingConfig != null) metadata.notes.push('has a training config (loss, optimizer), which was not read');
  return metadata;
}

/** A phrase saying what model topology model.json carries, if any. */
function describeTopology(t: unknown): string | undefined {
  if (t === undefined || t === null) return undefined;
  if (!isObject(t)) return 'has a model topology';
  if (Array.isArray(t.node)) return `has a graph model topology (${t.node.length} nodes)`;
  // Keras-converted files nest the model under model_config; tf.io saves it at the top.
  const model = isObject(t.model_config) ? t.model_config : t;
  const config = isObject(model.config) ? model.config : undefined;
  const className = typeof model.class_name === 'string' ? `${model.class_name}, ` : '';
  if (config && Array.isArray(config.layers)) return `has a model topology (${className}${config.layers.length} layers)`;
  return 'has a model topology';
}

/** Notes which weights were dequantized, one sentence per encoding. */
function noteQuantized(metadata: CheckpointMetadata, plans: Array<{ weights: Array<{ spec: WeightSpec }> }>): void {
  const byEncoding = new Map<string, string[]>();
  for (const plan of plans) {
    for (const { spec } of plan.weights) {
      if (!spec.quantization) continue;
      const target = spec.quantization.dtype === 'float16' ? 'float32' : spec.dtype;
      const how = spec.quantization.dtype === 'float16' ? 'float16' : `${spec.quantization.dtype} (q × scale + min)`;
      const key = `${how} to ${target}`;
      byEncoding.set(key, [...(byEncoding.get(key) ?? []), spec.name]);
    }
  }
  for (const [how, names] of byEncoding) metadata.notes.push(`dequantized ${names.length} weight(s) stored as ${how}: ${listNames(names)}`);
}

/** Notes weights TF.js saved as optimizer state rather than model weights (they keep their names). */
function noteOptimizerWeights(metadata: CheckpointMetadata, plans: Array<{ weights: Array<{ spec: WeightSpec }> }>): void {
  const names = plans.flatMap((p) => p.weights.filter((w) => w.spec.group === 'optimizer').map((w) => w.spec.name));
  if (names.length) metadata.notes.push(`${names.length} weight(s) are optimizer state: ${listNames(names)}`);
}

/** Up to five quoted names, then how many more. */
function listNames(names: string[]): string {
  const shown = names.slice(0, 5).map((n) => `'${n}'`).join(', ');
  return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Options of `writeTfjs`. */
export interface WriteTfjsOptions {
  /** Stored as model.json's `userDefinedMetadata`. */
  metadata?: Record<string, JsonValue>;
  /** Largest shard in bytes (default 4 MiB, as tfjs-converter); tensors are cut across shards as needed. */
  shardBytes?: number;
}

/** A state dict entry as TF.js will store it. */
interface Stored { spec: WeightSpec; bytes: Uint8Array; conversion?: string }

/**
 * Writes a state dict as `path` (model.json) plus weight shards beside it, converting dtypes TF.js
 * lacks. Atomic as a whole: a reader sees the previous save or this one, even if the writer is killed.
 */
export async function writeTfjs(path: string, sd: StateDict, opts: WriteTfjsOptions = {}): Promise<void> {
  const shardBytes = opts.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!Number.isSafeInteger(shardBytes) || shardBytes <= 0) {
    throw new CheckpointError(path, `shardBytes must be a positive integer, got ${shardBytes}`);
  }
  refuseShared(path, sd, 'TF.js');
  // Every conversion, and so every refusal, happens before the first file is written.
  const stored = [...sd].map(([key, t]) => toStored(path, key, t));
  warnConversions(path, stored);
  await commitModelFiles(path, {
    json: { format: TSFREEZE_WEIGHTS_FORMAT, generatedBy: 'tsfreeze', convertedBy: null, modelTopology: null, userDefinedMetadata: opts.metadata ?? {} },
    weights: stored.map((s) => s.spec),
    shards: stored.length ? cutIntoShards(stored.map((s) => s.bytes), shardBytes) : [],
  });
}

/** Consecutive byte pieces cut into shards of at most `shardBytes` (always at least one shard). */
export function cutIntoShards(pieces: Uint8Array[], shardBytes: number): Uint8Array[][] {
  const shards: Uint8Array[][] = [[]];
  let room = shardBytes;
  for (let piece of pieces) {
    while (piece.byteLength > 0) {
      if (room === 0) { shards.push([]); room = shardBytes; }
      const take = Math.min(room, piece.byteLength);
      shards[shards.length - 1].push(piece.subarray(0, take));
      piece = piece.subarray(take);
      room -= take;
    }
  }
  return shards;
}

/** A tensor as a TF.js weight: float32, int32 and bool as they are, other dtypes converted. */
function toStored(path: string, key: string, t: HostTensor): Stored {
  const n = numel(t.shape);
  if (t.data.length !== n) throw new CheckpointError(path, `tensor '${key}' has shape [${t.shape}] but ${t.data.length} elements`);
  const spec = (dtype: StoredDType): WeightSpec => ({ name: key, shape: [...t.shape], dtype });
  switch (t.dtype) {
    case 'float32': case 'int32': case 'bool':
      return { spec: spec(t.dtype), bytes: bytesOf(t) };
    case 'float64':
      return { spec: spec('float32'), bytes: asBytes(Float32Array.from(t.data as Float64Array)), conversion: 'float64 → float32 (rounded)' };
    case 'int64':
      return { spec: spec('int32'), bytes: asBytes(int64ToInt32(path, key, t.data as BigInt64Array)), conversion: 'int64 → int32' };
    case 'float16':
      // Stored as TF.js's float16 quantization of a float32 weight: lossless, and half the bytes.
      return { spec: { ...spec('float32'), quantization: { dtype: 'float16' } as Quantization }, bytes: bytesOf(t), conversion: 'float16 → float32 stored as float16 (lossless)' };
    case 'bfloat16':
      return { spec: spec('float32'), bytes: asBytes(bfloat16ToFloat32(t.data as Uint16Array)), conversion: 'bfloat16 → float32 (lossless)' };
    case 'int8': case 'int16': case 'uint8':
      return { spec: spec('int32'), bytes: asBytes(Int32Array.from(t.data as Int8Array | Int16Array | Uint8Array)), conversion: `${t.dtype} → int32 (lossless)` };
  }
  const unknown: never = t.dtype;
  throw new CheckpointError(path, `tensor '${key}' has dtype ${String(unknown)}, which TF.js cannot store`);
}

/** int32 copies of int64 values, or a CheckpointError naming the key and the first value that does not fit. */
function int64ToInt32(path: string, key: string, data: BigInt64Array): Int32Array {
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < -2147483648n || v > 2147483647n) {
      throw new CheckpointError(path, `int64 tensor '${key}' holds ${v} at element ${i}, outside int32's range, and TF.js has no int64`,
        'convert or drop this tensor before writing TF.js weights');
    }
    out[i] = Number(v);
  }
  return out;
}

/** float32 values of bfloat16 bit patterns (exact: bfloat16 is the top half of a float32). */
function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const words = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i] << 16;
  return new Float32Array(words.buffer);
}

function asBytes(a: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** One process warning listing every dtype conversion of a write, by conversion. */
function warnConversions(path: string, stored: Stored[]): void {
  const byConversion = new Map<string, string[]>();
  for (const s of stored) {
    if (s.conversion) byConversion.set(s.conversion, [...(byConversion.get(s.conversion) ?? []), s.spec.name]);
  }
  if (byConversion.size === 0) return;
  const parts = [...byConversion].map(([how, names]) => `${how}: ${listNames(names)}`);
  process.emitWarning(`${path}: TF.js weights are float32, int32 or bool; converted ${parts.join('; ')}`,
    { type: 'TsfreezeWarning', code: 'TSFREEZE_TFJS_DTYPE' });
}

