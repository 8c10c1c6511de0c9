/**
 * Training data for the loop: in-memory tensors cut into batches (optionally shuffled with a
 * seed, a new order each epoch), or a tf.data.Dataset of already batched `{xs, ys}`.
 */
import * as tf from '@tensorflow/tfjs';

/** Tensors in memory (first dimension: samples). */
export interface TrainTensors {
  x: tf.Tensor;
  y: tf.Tensor;
}

/** An already batched dataset of `{xs, ys}` (tf.data convention, as model.fitDataset takes). */
export type BatchDataset = tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }>;

export type TrainData = TrainTensors | BatchDataset;

/** One batch; the loop disposes it after the step. */
export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor;
  /** Index of the batch within its epoch, 0-based. */
  index: number;
}

export interface BatchOptions {
  batchSize?: number;
  /** Shuffle the samples each epoch (TrainTensors only; a Dataset shuffles itself). */
  shuffle?: boolean;
  /** Seed of the shuffle; epoch `e` uses the order drawn from (seed, e), so a run is reproducible. */
  seed?: number;
}

/** A source of batches, one pass per epoch. */
export interface BatchSource {
  /** Batches per epoch, when known. */
  readonly stepsPerEpoch: number | undefined;
  /** The batches of epoch `epoch` (0-based); each yielded batch belongs to the caller. */
  epoch(epoch: number): AsyncGenerator<Batch>;
}

export const DEFAULT_BATCH_SIZE = 32;

export function isDataset(d: unknown): d is BatchDataset {
  return typeof d === 'object' && d !== null && typeof (d as { iterator?: unknown }).iterator === 'function' && !(d instanceof tf.Tensor);
}

/** The batch source for `data`. */
export function batchSource(data: TrainData, opts: BatchOptions = {}, what = 'data'): BatchSource {
  if (isDataset(data)) return datasetSource(data, what);
  if (typeof data !== 'object' || data === null || !(data.x instanceof tf.Tensor) || !(data.y instanceof tf.Tensor)) {
    throw new TypeError(`train: ${what} must be { x: tf.Tensor, y: tf.Tensor } or a tf.data.Dataset of batched { xs, ys }`);
  }
  return tensorSource(data, opts, what);
}

function tensorSource({ x, y }: TrainTensors, opts: BatchOptions, what: string): BatchSource {
  const n = x.shape[0];
  if (x.rank === 0 || y.rank === 0) throw new Error(`train: ${what}.x and ${what}.y need a first (sample) dimension`);
  if (y.shape[0] !== n) throw new Error(`train: ${what}.x has ${n} samples but ${what}.y has ${y.shape[0]}`);
  if (n === 0) throw new Error(`train: ${what} has no samples`);
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`train: batchSize must be a positive integer, got ${batchSize}`);
  const steps = Math.ceil(n / batchSize);
  const shuffle = opts.shuffle ?? false;
  const seed = opts.seed ?? 0;
  return {
    stepsPerEpoch: steps,
    async *epoch(e: number) {
      const order = shuffle ? permutation(n, seed, e) : undefined;
      for (let b = 0; b < steps; b++) {
        const start = b * batchSize;
        const size = Math.min(batchSize, n - start);
        if (!order) {
          yield { x: sliceRows(x, start, size), y: sliceRows(y, start, size), index: b };
        } else {
          const idx = tf.tensor1d(order.subarray(start, start + size), 'int32');
          try {
            yield { x: tf.gather(x, idx), y: tf.gather(y, idx), index: b };
          } finally {
            idx.dispose();
          }
        }
      }
    },
  };
}

function sliceRows(t: tf.Tensor, start: number, size: number): tf.Tensor {
  return tf.slice(t, [start, ...t.shape.slice(1).map(() => 0)], [size, ...t.shape.slice(1)]);
}

function datasetSource(ds: BatchDataset, what: string): BatchSource {
  const size = (ds as { size?: number | null }).size;
  const known = typeof size === 'number' && Number.isFinite(size) && size >= 0 ? size : undefined;
  return {
    stepsPerEpoch: known,
    async *epoch() {
      const it = await ds.iterator();
      for (let index = 0; ; index++) {
        const r = await it.next();
        if (r.done) return;
        const v = r.value as unknown;
        const el = v as { xs?: unknown; ys?: unknown };
        if (typeof v !== 'object' || v === null || !(el.xs instanceof tf.Tensor) || !(el.ys instanceof tf.Tensor)) {
          if (v !== null && typeof v === 'object') tf.dispose(v as tf.TensorContainer);
          throw new TypeError(`train: ${what} elements must be batched { xs: tf.Tensor, ys: tf.Tensor } (got ${describe(v)}); map the dataset first, e.g. ds.map(({x, y}) => ({xs: x, ys: y})).batch(32)`);
        }
        yield { x: el.xs, y: el.ys, index };
      }
    },
  };
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
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
