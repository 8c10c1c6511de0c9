/**
 * Training data for the loop: in-memory tensors cut into batches (optionally shuffled with a
 * seed, a new order each epoch), or a tf.data.Dataset of already batched `{xs, ys}`. A model
 * with several inputs takes `x` (or `xs`) as an array of tensors in input order, or as a map
 * from input name to tensor.
 */
import * as tf from '@tensorflow/tfjs';

/** A model's input: one tensor, one per input in order, or a map from input name to tensor. */
export type Inputs = tf.Tensor | tf.Tensor[] | { [name: string]: tf.Tensor };

/** Tensors in memory (first dimension: samples). */
export interface TrainTensors {
  x: Inputs;
  y: tf.Tensor;
}

/** One element of a batched dataset. */
export interface DatasetElement {
  xs: Inputs;
  ys: tf.Tensor;
  [key: string]: tf.TensorContainer;
}

/**
 * An already batched dataset of `{xs, ys}` (tf.data convention, as model.fitDataset takes). A
 * dataset typed loosely (tf.data.array(...).batch(n) is a Dataset<TensorContainer>) is accepted
 * too; its elements are checked as they come.
 */
export type BatchDataset = tf.data.Dataset<DatasetElement> | tf.data.Dataset<tf.TensorContainer>;

export type TrainData = TrainTensors | BatchDataset;

/** How the user gave the inputs, so that a custom forward gets them back in that form. */
export type InputForm = { kind: 'tensor' } | { kind: 'array'; length: number } | { kind: 'map'; names: string[] };

export const DEFAULT_BATCH_SIZE = 32;

const FIXED = Symbol.for('tsfreeze.fixedData');

/**
 * Marks a dataset whose every pass yields the same batches in the same order (no shuffling, no
 * random augmentation), so that train() may cache the frozen layers' output for it as it does
 * for tensors. Returns the same dataset.
 */
export function fixedData<T extends BatchDataset>(ds: T): T {
  if (!isDataset(ds)) throw new TypeError('fixedData: expects a tf.data.Dataset of batched { xs, ys }');
  Object.defineProperty(ds, FIXED, { value: true, enumerable: false, configurable: true });
  return ds;
}

/** Whether `ds` was marked with fixedData(). */
export function isFixedData(ds: unknown): boolean {
  return typeof ds === 'object' && ds !== null && (ds as Record<symbol, unknown>)[FIXED] === true;
}

export function isDataset(d: unknown): d is BatchDataset {
  return typeof d === 'object' && d !== null && typeof (d as { iterator?: unknown }).iterator === 'function' && !(d instanceof tf.Tensor);
}

/**
 * The inputs as a list in the model's input order (`names`: the model's input names, used to
 * order a map; without them a map keeps its own key order), and the form they came in.
 */
export function inputList(x: unknown, names: readonly string[] | undefined, what: string): { tensors: tf.Tensor[]; form: InputForm } {
  if (x instanceof tf.Tensor) {
    if (names && names.length > 1) throw new Error(`train: the model has ${names.length} inputs (${names.join(', ')}); give ${what} as an array of ${names.length} tensors or a map { ${names.map((n) => `${n}: …`).join(', ')} }`);
    return { tensors: [x], form: { kind: 'tensor' } };
  }
  if (Array.isArray(x)) {
    if (x.length === 0 || !x.every((t) => t instanceof tf.Tensor)) throw new TypeError(`train: ${what} as an array must hold one tf.Tensor per model input`);
    if (names && x.length !== names.length) throw new Error(`train: ${what} has ${x.length} tensors but the model has ${names.length} input${names.length === 1 ? '' : 's'} (${names.join(', ')})`);
    return { tensors: [...x], form: { kind: 'array', length: x.length } };
  }
  if (typeof x === 'object' && x !== null) {
    const map = x as Record<string, unknown>;
    const keys = Object.keys(map);
    if (keys.length === 0 || !keys.every((k) => map[k] instanceof tf.Tensor)) throw new TypeError(`train: ${what} as a map must map each input name to a tf.Tensor`);
    if (!names) return { tensors: keys.map((k) => map[k] as tf.Tensor), form: { kind: 'map', names: keys } };
    const missing = names.filter((n) => !(n in map));
    const extra = keys.filter((k) => !names.includes(k));
    if (missing.length || extra.length) {
      throw new Error(`train: ${what} names ${keys.map((k) => `'${k}'`).join(', ')} but the model's inputs are ${names.map((n) => `'${n}'`).join(', ')}${missing.length ? ` (missing ${missing.join(', ')})` : ''}${extra.length ? ` (unknown ${extra.join(', ')})` : ''}`);
    }
    return { tensors: names.map((n) => map[n] as tf.Tensor), form: { kind: 'map', names: [...names] } };
  }
  throw new TypeError(`train: ${what} must be a tf.Tensor, an array of tensors or a map of named tensors (got ${describe(x)})`);
}

/** The inputs back in the form the user gave them. */
export function packInputs(tensors: tf.Tensor[], form: InputForm): Inputs {
  if (form.kind === 'tensor') return tensors[0];
  if (form.kind === 'array') return tensors;
  const out: { [name: string]: tf.Tensor } = {};
  form.names.forEach((n, i) => { out[n] = tensors[i]; });
  return out;
}

/** In-memory data checked and listed: inputs in model order, labels, and the number of samples. */
export interface RowData {
  xs: tf.Tensor[];
  y: tf.Tensor;
  n: number;
  form: InputForm;
}

/** Checks `{x, y}` data and lists its inputs in the model's order. */
export function rowData(data: TrainData, names: readonly string[] | undefined, what: string): RowData {
  if (typeof data !== 'object' || data === null || !('x' in data) || !(data.y instanceof tf.Tensor)) {
    throw new TypeError(`train: ${what} must be { x, y } with y a tf.Tensor (x: a tensor, an array of tensors or a map of named tensors), or a tf.data.Dataset of batched { xs, ys }`);
  }
  const { tensors, form } = inputList(data.x, names, `${what}.x`);
  const y = data.y;
  const n = tensors[0].shape[0];
  if (tensors.some((t) => t.rank === 0) || y.rank === 0) throw new Error(`train: ${what}.x and ${what}.y need a first (sample) dimension`);
  tensors.forEach((t, i) => {
    if (t.shape[0] !== n) throw new Error(`train: ${what}.x has ${n} samples in its first input but ${t.shape[0]} in input ${i}`);
  });
  if (y.shape[0] !== n) throw new Error(`train: ${what}.x has ${n} samples but ${what}.y has ${y.shape[0]}`);
  if (n === 0) throw new Error(`train: ${what} has no samples`);
  return { xs: tensors, y, n, form };
}

/** Checks a batch size (default 32). */
export function batchSizeOf(batchSize: number | undefined): number {
  const b = batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(b) || b < 1) throw new Error(`train: batchSize must be a positive integer, got ${batchSize}`);
  return b;
}

/** Rows of one batch: a contiguous range, or the shuffled sample indices it takes. */
export interface Rows {
  start: number;
  size: number;
  /** The epoch's order when shuffled: the batch takes order[start, start + size). */
  order?: Int32Array;
}

/** The batches of an epoch over `n` samples: in order, or in the order drawn from (seed, epoch). */
export function epochRows(n: number, batchSize: number, shuffle: boolean, seed: number, epoch: number): Rows[] {
  const order = shuffle ? permutation(n, seed, epoch) : undefined;
  const out: Rows[] = [];
  for (let start = 0; start < n; start += batchSize) out.push({ start, size: Math.min(batchSize, n - start), order });
  return out;
}

/** The rows of `t` one batch takes (a new tensor). */
export function takeRows(t: tf.Tensor, rows: Rows): tf.Tensor {
  if (!rows.order) return tf.slice(t, [rows.start, ...t.shape.slice(1).map(() => 0)], [rows.size, ...t.shape.slice(1)]);
  return tf.tidy(() => tf.gather(t, tf.tensor1d(rows.order!.subarray(rows.start, rows.start + rows.size), 'int32')));
}

/** One batch of a dataset, inputs in model order. */
export interface DatasetBatch {
  xs: tf.Tensor[];
  y: tf.Tensor;
  form: InputForm;
}

/** The batches of one pass over a dataset; each belongs to the caller. */
export async function* datasetBatches(ds: BatchDataset, names: readonly string[] | undefined, what: string): AsyncGenerator<DatasetBatch> {
  const it = await ds.iterator();
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    const v = r.value as unknown;
    const el = v as { xs?: unknown; ys?: unknown };
    const xsOk = typeof v === 'object' && v !== null && el.xs !== undefined && el.ys instanceof tf.Tensor;
    if (!xsOk) {
      if (v !== null && typeof v === 'object') tf.dispose(v as tf.TensorContainer);
      throw new TypeError(`train: ${what} elements must be batched { xs: tf.Tensor, ys: tf.Tensor } (xs may also be an array of tensors or a map of named tensors; got ${describe(v)}); map the dataset first, e.g. ds.map(({x, y}) => ({xs: x, ys: y})).batch(32)`);
    }
    let listed: { tensors: tf.Tensor[]; form: InputForm };
    try {
      listed = inputList(el.xs, names, `${what} element xs`);
    } catch (e) {
      tf.dispose(v as tf.TensorContainer);
      throw e;
    }
    yield { xs: listed.tensors, y: el.ys as tf.Tensor, form: listed.form };
  }
}

/** Batches per pass of a dataset, when it says. */
export function datasetSize(ds: BatchDataset): number | undefined {
  const size = (ds as { size?: number | null }).size;
  return typeof size === 'number' && Number.isFinite(size) && size >= 0 ? size : undefined;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof tf.Tensor) return `a tensor of shape [${v.shape}]`;
  if (typeof v === 'object' && v !== null) return `{ ${Object.keys(v).join(', ')} }`;
  return typeof v;
}

/** A seeded 32-bit PRNG (mulberry32): uniform numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The sample order of epoch `epoch` under `seed` (Fisher–Yates). */
export function permutation(n: number, seed: number, epoch: number): Int32Array {
  const rand = mulberry32((Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
