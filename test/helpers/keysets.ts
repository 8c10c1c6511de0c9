/**
 * Real key sets and what happens to them in the wild, for the key-matching tests: torchvision's
 * and Hugging Face's key names, a TF.js model saved by `model.save` and rebuilt with other layer
 * names, random renames (prefixes, separators, names in the middle, dropped or added names,
 * shuffles), and an independent reading of each canonical key's role.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { HostTensor, StateDict } from '../../lib';
import { python } from './torch';

/** Keys with shapes, in order. */
export type KeyList = Array<[string, number[]]>;

/** A state dict of empty tensors with these keys and shapes (diffs look at shapes only). */
export function shapeDict(keys: KeyList): StateDict {
  return new Map(keys.map(([k, shape]): [string, HostTensor] => [k, { dtype: 'float32', shape, data: new Float32Array(0) }]));
}

/** torchvision's state_dict keys and shapes for an architecture (Debian's torchvision 0.14). */
export function torchvisionKeys(arch: string): KeyList {
  const out = python(`import sys, json, torchvision
m = getattr(torchvision.models, sys.argv[1])()
print(json.dumps([[k, list(v.shape)] for k, v in m.state_dict().items()]))`, [arch]);
  return JSON.parse(out) as KeyList;
}

/**
 * Hugging Face's BertForSequenceClassification keys (transformers' names: `bert.embeddings.word_embeddings.weight`,
 * `bert.encoder.layer.0.attention.self.query.weight`, …, `classifier.weight`), small dimensions.
 */
export function bertKeys(layers = 4, hidden = 32, intermediate = 64, vocab = 100, positions = 64, labels = 3): KeyList {
  const out: KeyList = [
    ['bert.embeddings.position_ids', [1, positions]],
    ['bert.embeddings.word_embeddings.weight', [vocab, hidden]],
    ['bert.embeddings.position_embeddings.weight', [positions, hidden]],
    ['bert.embeddings.token_type_embeddings.weight', [2, hidden]],
    ['bert.embeddings.LayerNorm.weight', [hidden]],
    ['bert.embeddings.LayerNorm.bias', [hidden]],
  ];
  const linear = (p: string, o: number, i: number) => out.push([`${p}.weight`, [o, i]], [`${p}.bias`, [o]]);
  const norm = (p: string) => out.push([`${p}.weight`, [hidden]], [`${p}.bias`, [hidden]]);
  for (let l = 0; l < layers; l++) {
    const p = `bert.encoder.layer.${l}`;
    for (const n of ['query', 'key', 'value']) linear(`${p}.attention.self.${n}`, hidden, hidden);
    linear(`${p}.attention.output.dense`, hidden, hidden);
    norm(`${p}.attention.output.LayerNorm`);
    linear(`${p}.intermediate.dense`, intermediate, hidden);
    linear(`${p}.output.dense`, hidden, intermediate);
    norm(`${p}.output.LayerNorm`);
  }
  linear('bert.pooler.dense', hidden, hidden);
  linear('classifier', labels, hidden);
  return out;
}

/**
 * The role of a canonical PyTorch key, read independently of the library: `weight` of rank ≥ 2 is
 * a kernel (an embedding table under an `*embeddings` module, a position table under
 * `position_embeddings`), of rank 1 a norm's gamma; `bias`
 * beside a 1-D weight is a beta; running statistics by name.
 */
export function oracleRoles(keys: KeyList): Map<string, string> {
  const rank = new Map(keys.map(([k, s]) => [k, s.length]));
  const out = new Map<string, string>();
  for (const [k, s] of keys) {
    const at = k.lastIndexOf('.');
    const mod = k.slice(0, at), leaf = k.slice(at + 1);
    let role = 'other';
    if (leaf === 'num_batches_tracked') role = 'ignored';
    else if (leaf === 'running_mean') role = 'moving_mean';
    else if (leaf === 'running_var') role = 'moving_variance';
    // A position table is its own role (tsfreeze's TorchPositionEmbedding), other embedding tables 'embeddings'.
    else if (leaf === 'weight') role = s.length >= 2 ? (/position_embeddings$/.test(mod) ? 'position' : /embeddings$/.test(mod) ? 'embeddings' : 'kernel') : 'gamma';
    else if (leaf === 'bias') role = rank.get(`${mod}.weight`) === 1 ? 'beta' : 'bias';
    out.set(k, role);
  }
  return out;
}

/** Writes what TF.js's `model.save` produces (model.json with topology and weight names like `conv1/kernel`, one .bin) into `dir`. */
export async function saveLikeTfjs(model: tf.LayersModel, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await model.save(tf.io.withSaveHandler(async (art) => {
    const json = { modelTopology: art.modelTopology, format: art.format, generatedBy: art.generatedBy, convertedBy: art.convertedBy, weightsManifest: [{ paths: ['weights.bin'], weights: art.weightSpecs }] };
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    writeFileSync(join(dir, 'weights.bin'), Buffer.from(art.weightData as ArrayBuffer));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return join(dir, 'model.json');
}

/**
 * The same architecture with other layer names, rebuilt from its topology: 'auto' gives TF.js's own
 * auto-names (`torch_conv2_d_TorchConv2D3`: unnamed layers, structural keys are indices), 'keras'
 * Keras-style names (`torch_conv2_d_3`). Layers come in TF.js's graph order, not creation order.
 */
export async function relabelLayers(model: tf.LayersModel, style: 'auto' | 'keras'): Promise<tf.LayersModel> {
  const topo = JSON.parse(JSON.stringify(model.toJSON(null, false))) as { config: { layers: Array<{ class_name: string; name: string; config: { name: string }; inbound_nodes: Array<Array<[string, number, number]>> }>; output_layers: Array<[string, number, number]> } };
  const names = new Map<string, string>();
  const counts = new Map<string, number>();
  for (const l of topo.config.layers) {
    if (l.class_name === 'InputLayer') continue;
    const n = (counts.get(l.class_name) ?? 0) + 1;
    counts.set(l.class_name, n);
    const snake = l.class_name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
    names.set(l.config.name, style === 'auto' ? `${snake}_${l.class_name}${n}` : `${snake}_${n}`);
  }
  const rn = (s: string) => names.get(s) ?? s;
  for (const l of topo.config.layers) {
    l.name = rn(l.name);
    l.config.name = rn(l.config.name);
    for (const node of l.inbound_nodes) for (const inb of node) inb[0] = rn(inb[0]);
  }
  topo.config.output_layers = topo.config.output_layers.map(([n, a, b]) => [rn(n), a, b]);
  const rebuilt = await tf.models.modelFromJSON({ modelTopology: topo } as unknown as tf.io.ModelJSON);
  rebuilt.setWeights(model.getWeights());
  return rebuilt;
}

/** One random rename of a key set, with what it did. */
export interface Renamed { keys: KeyList; original: Map<string, string>; what: string[]; ordered: boolean }

const TOKENS = ['blk', 'stage', 'enc', 'trunk', 'm', 'body', 'x1', 'shortcut', 'proj'];

/**
 * Applies 1–3 random renames to `keys`: a prefix added, a name replaced everywhere (a prefix or in
 * the middle), a name dropped or added, TF.js separators, Keras-style layer names, shuffled keys or
 * layers. Renames that would make two keys one are skipped. `original` maps each new key back;
 * `ordered` is false when the order of the keys was changed.
 */
export function randomRename(keys: KeyList, rand: () => number): Renamed {
  let cur = keys.map(([k, s]) => ({ key: k, orig: k, shape: s }));
  const what: string[] = [];
  let ordered = true;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const segs = (k: string) => k.split(/[./]/);
  const innerNames = () => [...new Set(cur.flatMap((e) => segs(e.key).slice(0, -1)).filter((n) => !/^\d+$/.test(n)))];
  const rewrite = (f: (k: string) => string, label: string): void => {
    const next = cur.map((e) => ({ ...e, key: f(e.key) }));
    if (new Set(next.map((e) => e.key)).size !== next.length || next.every((e, i) => e.key === cur[i].key)) return;
    cur = next;
    what.push(label);
  };
  const bySegment = (k: string, f: (names: string[]) => string[]): string => {
    const names = k.split('.');
    return [...f(names.slice(0, -1)), names[names.length - 1]].join('.');
  };
  const steps = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < steps; i++) {
    switch (Math.floor(rand() * 9)) {
      case 0: { const p = pick(['module.', 'model.', 'backbone.', 'net.']); rewrite((k) => p + k, `add ${p}`); break; }
      case 1: { const n = pick(innerNames()); const t = pick(TOKENS); if (n) rewrite((k) => bySegment(k, (s) => s.map((x) => (x === n ? t : x))), `${n} → ${t}`); break; }
      case 2: { const n = pick(innerNames()); if (n) rewrite((k) => bySegment(k, (s) => s.filter((x) => x !== n)), `drop ${n}`); break; }
      case 3: { const n = pick(innerNames()); const t = pick(TOKENS); if (n) rewrite((k) => bySegment(k, (s) => s.flatMap((x) => (x === n ? [x, t] : [x]))), `add ${t} after ${n}`); break; }
      case 4: rewrite((k) => k.replace(/\.(?=[^.]*$)/, '/'), 'last . → /'); break;
      case 5: {
        // Keras-style: each layer named by its kind and a counter, in order.
        const mods = new Map<string, string>();
        rewrite((k) => {
          const at = k.lastIndexOf('.');
          if (at < 0) return k;
          const mod = k.slice(0, at);
          if (!mods.has(mod)) mods.set(mod, `layer_${mods.size + 1}`);
          return `${mods.get(mod)}${k.slice(at)}`;
        }, 'Keras-style layer names');
        break;
      }
      case 6: {
        const a = [...cur];
        for (let j = a.length - 1; j > 0; j--) { const r = Math.floor(rand() * (j + 1)); [a[j], a[r]] = [a[r], a[j]]; }
        cur = a; ordered = false; what.push('keys shuffled');
        break;
      }
      case 7: {
        // Two neighbouring layers change places (a graph order that differs from registration order).
        const mods = [...new Set(cur.map((e) => e.key.slice(0, Math.max(e.key.lastIndexOf('.'), e.key.lastIndexOf('/')))))];
        if (mods.length < 2) break;
        const j = Math.floor(rand() * (mods.length - 1));
        const order = [...mods];
        [order[j], order[j + 1]] = [order[j + 1], order[j]];
        const rank = new Map(order.map((m, r) => [m, r]));
        const modOf = (k: string) => k.slice(0, Math.max(k.lastIndexOf('.'), k.lastIndexOf('/')));
        cur = [...cur].sort((x, y) => (rank.get(modOf(x.key)) as number) - (rank.get(modOf(y.key)) as number));
        ordered = false; what.push(`layers ${mods[j]} and ${mods[j + 1]} swapped`);
        break;
      }
      default: { const p = segs(cur[0].key)[0]; if (cur.every((e) => segs(e.key)[0] === p) && cur.every((e) => segs(e.key).length > 2)) rewrite((k) => k.slice(p.length + 1), `strip ${p}.`); }
    }
  }
  return { keys: cur.map((e) => [e.key, e.shape]), original: new Map(cur.map((e) => [e.key, e.orig])), what, ordered };
}
