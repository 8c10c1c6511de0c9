/**
 * A TF.js model.json's weights under structural keys. `model.save` names a weight after its layer
 * (`conv1/kernel`, `dense_Dense3/bias`); the topology saved beside the weights tells each layer's
 * class and place, so the model it describes is rebuilt (its weights filled with zeros, cheaply)
 * and each saved name is given the structural key, the PyTorch key and the role that weight has
 * in that model, as weightSlots gives them.
 */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import '../models';
import { weightSlots, type WeightSlot } from './weights';

/** The saved names of a model.json's weights, and the slot each is in the model its topology describes. */
export interface TopologyKeys {
  /** Slots of the rebuilt model (descriptions only: the model is disposed), by saved weight name. */
  byName: Map<string, WeightSlot>;
  /** The rebuilt model's class name and layer count, for messages. */
  model: string;
}

/** The structural keys of `file`'s weights from its topology; `undefined` when it has none, or a reason when it cannot be rebuilt. */
export async function topologyKeys(file: string): Promise<TopologyKeys | { reason: string } | undefined> {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const topo = json.modelTopology as Record<string, unknown> | undefined | null;
  if (!topo || typeof topo !== 'object' || Array.isArray((topo as { node?: unknown }).node)) return undefined;
  const modelTopology = JSON.parse(JSON.stringify(topo), (k, v) => (k.endsWith('_initializer') && v ? { class_name: 'Zeros', config: {} } : v)) as tf.io.ModelJSON['modelTopology'];
  let model: tf.LayersModel;
  // Rebuilding makes tensors: on a fresh cpu backend TF.js would print its "install tfjs-node" banner
  // (mid-way through a `tsfreeze diffkeys` output). Its PROD flag mutes that, for this rebuild only.
  const env = tf.env();
  const prod = env.getBool('PROD');
  env.set('PROD', true);
  try {
    model = await tf.models.modelFromJSON({ modelTopology } as tf.io.ModelJSON);
  } catch (e) {
    return { reason: `its topology could not be rebuilt (${(e as Error).message.split('\n')[0]})` };
  } finally {
    env.set('PROD', prod);
  }
  try {
    const saved = new Map<tf.Variable, string>();
    for (const w of model.weights as unknown as Array<{ originalName: string; val: tf.Variable }>) saved.set(w.val, w.originalName);
    const byName = new Map<string, WeightSlot>();
    for (const s of weightSlots(model)) {
      const name = saved.get(s.variable);
      if (name !== undefined) byName.set(name, s);
    }
    return { byName, model: `${model.getClassName()} of ${model.layers.length} layers` };
  } finally {
    model.dispose();
  }
}
