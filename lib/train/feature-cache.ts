/**
 * Cached frozen features: the output of the frozen, deterministic prefix of the model (the cut,
 * split.ts) for every training example, computed once in inference mode and outside any tape,
 * then used by every epoch instead of the inputs. In-memory data keeps one tensor per cut
 * tensor with a row per example (shuffling picks rows as it would pick inputs); a dataset marked
 * fixed keeps its batches as they came.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { DatasetBatch, RowData } from './data';
import type { ModelForward } from './forward';
import { yieldToEventLoop } from './stop';

/** train()'s `cacheFrozen` option. */
export type CacheFrozenOption = 'auto' | false | { maxBytes?: number };

const GiB = 2 ** 30;

/** The memory budget of a cache in bytes, or undefined when caching is off: min(1 GiB, a quarter of free memory) unless maxBytes says. */
export function cacheBudget(opt: CacheFrozenOption | undefined): number | undefined {
  if (opt === false) return undefined;
  if (opt === undefined || opt === 'auto') return Math.min(GiB, Math.floor(os.freemem() / 4));
  if (typeof opt === 'object' && opt !== null) {
    const max = opt.maxBytes;
    if (max === undefined) return cacheBudget('auto');
    if (typeof max !== 'number' || !(max >= 0)) throw new Error(`train: cacheFrozen.maxBytes must be a number of bytes ≥ 0, got ${max}`);
    return max;
  }
  throw new Error(`train: cacheFrozen must be 'auto', false or { maxBytes }, got ${JSON.stringify(opt)}`);
}

/** Features of in-memory data: per cut tensor, one tensor of all examples. */
export interface RowFeatures {
  rows: tf.Tensor[];
  bytes: number;
}

/** Features of a fixed dataset: per batch, the cut tensors and the batch's labels. */
export interface BatchFeatures {
  batches: Array<{ feats: tf.Tensor[]; y: tf.Tensor }>;
  bytes: number;
}

/** A cache that would not fit: the bytes it would take. */
export interface OverBudget {
  over: number;
}

function bytesOf(ts: readonly tf.Tensor[]): number {
  return ts.reduce((s, t) => s + t.size * (t.dtype === 'complex64' ? 8 : 4), 0);
}

/** A cache pass given up because the run was asked to stop. */
export interface Stopped {
  stopped: true;
}

/**
 * Computes the features of every example of `data`, `batchSize` at a time; gives up (freeing what
 * it made) as soon as the total would pass `maxBytes`, or when `stopping()` says so between two
 * batches (it yields to the event loop there, so that an interrupt can be heard).
 */
export async function cacheRows(forward: ModelForward, data: RowData, batchSize: number, maxBytes: number, stopping: () => boolean): Promise<RowFeatures | OverBudget | Stopped> {
  const chunks: tf.Tensor[][] = [];
  let bytes = 0;
  try {
    for (let start = 0; start < data.n; start += batchSize) {
      const size = Math.min(batchSize, data.n - start);
      const feats = tf.tidy(() => forward.features(data.xs.map((x) => tf.slice(x, [start, ...x.shape.slice(1).map(() => 0)], [size, ...x.shape.slice(1)]))));
      chunks.push(feats);
      bytes += bytesOf(feats);
      const projected = Math.ceil((bytes / (start + size)) * data.n);
      if (projected > maxBytes) {
        tf.dispose(chunks.flat());
        return { over: projected };
      }
      await yieldToEventLoop();
      if (stopping()) {
        tf.dispose(chunks.flat());
        return { stopped: true };
      }
    }
    const rows = chunks[0].map((_, j) => (chunks.length === 1 ? chunks[0][j] : tf.concat(chunks.map((c) => c[j]), 0)));
    if (chunks.length > 1) tf.dispose(chunks.flat());
    return { rows, bytes: bytesOf(rows) };
  } catch (e) {
    tf.dispose(chunks.flat());
    throw e;
  }
}

/** Computes the features of every batch of one pass over a fixed dataset; keeps each batch's labels. */
export async function cacheBatches(forward: ModelForward, batches: AsyncGenerator<DatasetBatch>, maxBytes: number, stopping: () => boolean): Promise<BatchFeatures | OverBudget | Stopped> {
  const out: BatchFeatures['batches'] = [];
  let bytes = 0;
  try {
    for await (const b of batches) {
      let feats: tf.Tensor[];
      try {
        feats = forward.features(b.xs);
      } finally {
        tf.dispose(b.xs);
      }
      out.push({ feats, y: b.y });
      bytes += bytesOf(feats) + bytesOf([b.y]);
      if (bytes > maxBytes) {
        disposeBatches(out);
        return { over: bytes };
      }
      await yieldToEventLoop();
      if (stopping()) {
        disposeBatches(out);
        return { stopped: true };
      }
    }
    return { batches: out, bytes };
  } catch (e) {
    disposeBatches(out);
    throw e;
  }
}

export function disposeBatches(batches: BatchFeatures['batches']): void {
  for (const b of batches) tf.dispose([...b.feats, b.y]);
}

/** Bytes as `12.3 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 2 ** 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < GiB) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / GiB).toFixed(2)} GiB`;
}
