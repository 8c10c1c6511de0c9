/**
 * Resume checkpoints (seed 003 §2.3): the model's weights, the optimizer's state and the epoch
 * in one file, so that training picks up exactly where it stopped.
 */
import * as tf from '@tensorflow/tfjs';
import { readCheckpoint } from '../formats/read';
import { writeCheckpoint } from '../formats/write';
import type { JsonValue } from '../formats/checkpoint';
import type { StateDict } from '../statedict/tensor';
import { stateDictOf, toHost } from '../model/state-dict-of';
import { loadStateDict, type LoadReport } from '../model/load';
import { asFloat32 } from '../statedict/convert';
import { weightSlots, type ModelLike } from '../model/weights';
import { isBuiltInOptimizer, restoreBiasCorrection } from './optimizer-state';

const MODEL = 'model_state_dict';
const OPTIMIZER = 'optimizer_state_dict';

/** What a resume checkpoint holds besides tensors. */
export interface TrainingProgress {
  epoch: number;
  /** Anything else worth keeping (loss, step, hyper-parameters). */
  [key: string]: JsonValue;
}

/** Writes the model's weights, the optimizer's state and `progress` to one checkpoint (.pth nests them as PyTorch does). */
export async function saveTrainingCheckpoint(path: string, model: ModelLike, optimizer: tf.Optimizer, progress: TrainingProgress): Promise<void> {
  const sd: StateDict = new Map();
  for (const [k, t] of stateDictOf(model)) sd.set(`${MODEL}.${k}`, t);
  const keyOfVar = variableKeys(model);
  const weights = await optimizer.getWeights();
  weights.forEach(({ name, tensor }, i) => {
    // Optimizer slots are named after the variable they follow (`dense_Dense1/kernel/momentum`);
    // keep them under the weight's structural key so another instance of the model can take them.
    const slash = name.lastIndexOf('/');
    const owner = slash > 0 ? keyOfVar.get(name.slice(0, slash)) : undefined;
    const key = i === 0 && !owner ? 'iterations' : owner ? `state.${owner}.${name.slice(slash + 1)}` : `state.${name}`;
    sd.set(`${OPTIMIZER}.${String(i).padStart(4, '0')}.${key}`, toHost(tensor));
  });
  await writeCheckpoint(path, sd, { metadata: { ...progress, optimizer: optimizer.getClassName() }, nest: [MODEL, OPTIMIZER] });
}

/** Restores the model's weights and the optimizer's state from a resume checkpoint; returns the progress it held. */
export async function loadTrainingCheckpoint(path: string, model: ModelLike, optimizer: tf.Optimizer): Promise<{ progress: TrainingProgress; report: LoadReport }> {
  const ck = await readCheckpoint(path, { root: '' });
  const modelSd: StateDict = new Map();
  const optSd: Array<[string, StateDict extends Map<string, infer T> ? T : never]> = [];
  for (const [k, t] of ck.stateDict) {
    if (k.startsWith(`${MODEL}.`)) modelSd.set(k.slice(MODEL.length + 1), t);
    else if (k.startsWith(`${OPTIMIZER}.`)) optSd.push([k.slice(OPTIMIZER.length + 1), t]);
  }
  const report = await loadStateDict(model, modelSd, { strict: true, from: 'tfjs' });
  const saved = ck.metadata.values.optimizer;
  if (saved !== undefined && saved !== optimizer.getClassName()) {
    throw new Error(`${path}: the optimizer state is ${String(saved)}'s, not ${optimizer.getClassName()}'s`);
  }
  const varOfKey = new Map([...variableKeys(model)].map(([v, k]) => [k, v]));
  const named = optSd.sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, t]) => {
    const rest = k.slice(k.indexOf('.') + 1);
    const m = /^state\.(.+)\.([^.]+)$/.exec(rest);
    const name = m && varOfKey.has(m[1]) ? `${varOfKey.get(m[1])}/${m[2]}` : rest;
    return { name, tensor: tf.tensor(asFloat32(t), t.shape, 'float32') };
  });
  // TF.js's own optimizers copy each tensor into a new variable (the iteration count into a
  // number) and drop their old state variables without disposing them: both are freed here.
  const builtIn = isBuiltInOptimizer(optimizer);
  const old = builtIn ? await optimizer.getWeights() : [];
  try {
    await optimizer.setWeights(named);
  } catch (e) {
    if (builtIn) tf.dispose([old[0].tensor, ...named.map((w) => w.tensor)]);
    throw e;
  }
  if (builtIn) tf.dispose([...old, ...named].map((w) => w.tensor));
  restoreBiasCorrection(optimizer);
  const progress = { ...ck.metadata.values } as TrainingProgress;
  delete progress.optimizer;
  return { progress, report };
}

/** Each trainable variable's name → its structural key. */
function variableKeys(model: ModelLike): Map<string, string> {
  return new Map(weightSlots(model).map((s) => [s.variable.name, s.key]));
}
