/**
 * What a training run returns: the loss of every step, a log per epoch, and each layer's weight
 * drift ‖W_t − W_0‖ / ‖W_0‖ over time (a frozen layer's row is exactly 0).
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelLike, WeightSlot } from '../model/weights';
import { weightSlots } from '../model/weights';
import { storageToken } from '../freeze/weight-storage';
import type { StateAlignment } from './optimizer-state';
import type { TrainEvent } from './callbacks';
import type { StopReason } from './stop';

/** One epoch's summary. */
export interface EpochLog {
  /** 1-based. */
  epoch: number;
  /** Mean loss over the epoch's samples (each step weighted by its batch size). */
  loss: number;
  /** Training metrics over the epoch, e.g. `{ accuracy: 0.93 }`. */
  metrics: Record<string, number>;
  valLoss?: number;
  valMetrics?: Record<string, number>;
  /** Steps run in this epoch. */
  steps: number;
  /** Set when the run stopped before the epoch's last batch (its loss and metrics cover the steps run). */
  partial?: boolean;
  /** Seconds the epoch took. */
  seconds: number;
}

/**
 * Relative weight change per layer: `values[i][j]` is layer `layers[j]`'s ‖W − W_0‖ / ‖W_0‖ after
 * `steps[i]` steps, where W is the layer's weights (BatchNorm statistics included) flattened into
 * one vector; a layer whose weights start at all zeros reports the absolute change ‖W − W_0‖.
 */
export interface Drift {
  steps: number[];
  layers: string[];
  values: number[][];
}

/** One parameter group as trained. */
export interface GroupLog {
  name: string;
  optimizer: string;
  lr: number;
  weightDecay: number;
  weightDecayMode: 'l2' | 'decoupled';
  momentum?: number;
  /** Weights the group's optimizer updated. */
  keys: string[];
  /** For an optimizer passed in with state from earlier runs: how its state was matched to these weights. */
  state?: StateAlignment;
}

export interface History {
  /** Loss of every step, in order. */
  loss: number[];
  epochs: EpochLog[];
  drift: Drift;
  groups: GroupLog[];
  /** Weights that were not trained: frozen in tsfreeze's registry, or marked not trainable in TF.js. */
  frozen: string[];
  /** Steps run in all. */
  steps: number;
  /** Set when the run ended early: stopTraining() ('interrupted'), the `signal` option ('aborted'), or a callback ('callback'). */
  stopped?: StopReason;
  /** What changed during the run, in order: unfreezes, learning rates, cache moves, the stop. */
  events: TrainEvent[];
  /** Whether the frozen layers' output was cached, where, and why (not). */
  cache: CacheReport;
  /** Frozen layers before the first trained one: they ran outside the gradient tape (every step, or once for the cache); the run's last setting. */
  offTape: string[];
}

/** The frozen-feature cache of a run (its last state, when a schedule moved it). */
export interface CacheReport {
  /** Whether training ran on cached features. */
  used: boolean;
  /** Why not; or, when used, where the cut stops and why. */
  reason: string;
  /** Layers whose outputs were cached (the frozen prefix ends after them). */
  cutAfter: string[];
  /** Bytes the cached features took (training and validation data). */
  bytes: number;
  /** Seconds spent computing them (all recomputations included). */
  seconds: number;
}

/**
 * Keeps each layer's starting weights and samples the drift. A layer whose variables all still
 * hold the storage they held at the start (weight-storage.ts: on backends where JavaScript never
 * writes into a tensor's storage, only a new storage can change a value) has drift exactly 0 and
 * is not recomputed: sampling a fine-tuning run costs the trained layers only.
 */
export class DriftTracker {
  readonly drift: Drift = { steps: [], layers: [], values: [] };
  private readonly layers: Array<{ key: string; slots: WeightSlot[]; w0: tf.Tensor1D; norm0: number; tokens: Array<object | undefined> }> = [];

  constructor(model: ModelLike) {
    const byLayer = new Map<string, WeightSlot[]>();
    for (const s of weightSlots(model)) {
      const k = s.layerKey || s.key;
      const list = byLayer.get(k) ?? [];
      list.push(s);
      byLayer.set(k, list);
    }
    for (const [key, slots] of byLayer) {
      const w0 = tf.keep(flat(slots));
      const norm0 = tf.tidy(() => tf.norm(w0).dataSync()[0]);
      this.layers.push({ key, slots, w0, norm0, tokens: slots.map((s) => storageToken(s.variable)) });
      this.drift.layers.push(key);
    }
  }

  /** Records the drift of every layer after `step` steps. */
  sample(step: number): void {
    if (this.drift.steps.length > 0 && this.drift.steps[this.drift.steps.length - 1] === step) return;
    const moved = this.layers.filter((l) => !l.slots.every((s, i) => l.tokens[i] !== undefined && storageToken(s.variable) === l.tokens[i]));
    const row = new Map<string, number>();
    if (moved.length > 0) {
      const diffs = tf.tidy(() => tf.stack(moved.map((l) => tf.norm(tf.sub(flat(l.slots), l.w0)))));
      const d = diffs.dataSync();
      diffs.dispose();
      moved.forEach((l, j) => row.set(l.key, l.norm0 > 0 ? d[j] / l.norm0 : d[j]));
    }
    this.drift.steps.push(step);
    this.drift.values.push(this.layers.map((l) => row.get(l.key) ?? 0));
  }

  dispose(): void {
    for (const l of this.layers) l.w0.dispose();
  }
}

/** A layer's weights as one float32 vector. */
function flat(slots: WeightSlot[]): tf.Tensor1D {
  return tf.tidy(() => {
    const parts = slots.map((s) => tf.reshape(s.variable.dtype === 'float32' ? s.variable : tf.cast(s.variable, 'float32'), [-1]));
    return (parts.length === 1 ? tf.clone(parts[0]) : tf.concat(parts)) as tf.Tensor1D;
  });
}

/** `drift.values` for one layer, across samples. */
export function driftOf(drift: Drift, layer: string): number[] {
  const j = drift.layers.indexOf(layer);
  if (j < 0) throw new Error(`driftOf: no layer '${layer}' in the drift (layers: ${drift.layers.join(', ')})`);
  return drift.values.map((row) => row[j]);
}
