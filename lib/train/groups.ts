/**
 * Parameter groups (seed 002 §2.3, PyTorch's optimizer param groups): each group of weights gets
 * its own optimizer, learning rate, weight decay and momentum. Weights that no group names form
 * the default group with the run's own settings. A frozen weight belongs to no optimizer.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelLike, WeightSlot } from '../model/weights';
import { frozenKeys, isStatistic, trainableSlots } from '../freeze/registry';
import { weightSlots } from '../model/weights';
import { matcher, type Selector } from '../freeze/selector';
import { isLayersModel, layerSegment } from '../model/weights';

/** What a factory gets to build one group's optimizer. */
export interface OptimizerSettings {
  /** Index of the group (the default group comes last). */
  index: number;
  name: string;
  lr: number;
  momentum: number | undefined;
  /** Structural keys of the group's weights, in model order. */
  keys: string[];
}

/** A built-in optimizer, a factory for one (called once per group), or one optimizer instance (for a single group only). */
export type OptimizerSpec = 'sgd' | 'adam' | 'momentum' | 'rmsprop' | ((settings: OptimizerSettings) => tf.Optimizer) | tf.Optimizer;

/**
 * How weight decay acts. 'l2' (default): `wd·w` is added to the gradient before the optimizer,
 * as torch.optim.SGD's / Adam's `weight_decay` do (for SGD it equals decoupled decay).
 * 'decoupled': the weight shrinks by `lr·wd·w` beside the optimizer's step, as torch.optim.AdamW does.
 */
export type WeightDecayMode = 'l2' | 'decoupled';

/** One parameter group, as in `torch.optim.SGD([{'params': ..., 'lr': 1e-2}, ...])`; unset fields take the run's values. */
export interface ParamGroup {
  /** Which weights: a glob, RegExp, list of keys (a layer key selects its weights), a StateDict, or a predicate. */
  params: Selector;
  /** A label for reports (default `group<i>`). */
  name?: string;
  lr?: number;
  weightDecay?: number;
  weightDecayMode?: WeightDecayMode;
  momentum?: number;
  optimizer?: OptimizerSpec;
}

/** The settings every group inherits unless it sets its own. */
export interface GroupDefaults {
  lr?: number;
  weightDecay?: number;
  weightDecayMode?: WeightDecayMode;
  momentum?: number;
  optimizer?: OptimizerSpec;
}

/** A group ready to train. */
export interface ResolvedGroup {
  index: number;
  name: string;
  lr: number;
  weightDecay: number;
  weightDecayMode: WeightDecayMode;
  momentum: number | undefined;
  optimizerName: string;
  /** The weights this group's optimizer updates, in weightSlots order (optimizer state is positional). */
  slots: WeightSlot[];
  /** Weights the selector picked that are frozen: never handed to the optimizer. */
  frozen: string[];
  optimizer: tf.Optimizer;
  /** Whether the loop made the optimizer (and disposes it at the end). */
  owned: boolean;
}

export interface GroupPlan {
  groups: ResolvedGroup[];
  /** Every weight that will be updated, in weightSlots order (the union the gradients are taken over). */
  trainable: WeightSlot[];
  /** Keys frozen in tsfreeze's registry. */
  frozen: string[];
  /** Keys not in the registry but kept out of training because TF.js marks them (or their layer) not trainable. */
  untrainedByFlag: string[];
  /** Running statistics (BatchNorm moving mean/variance): updated by the forward pass, never by an optimizer. */
  statistics: string[];
}

const DEFAULT_LR: Record<string, number> = { sgd: 0.01, momentum: 0.01, adam: 0.001, rmsprop: 0.001 };

/** Splits the model's trainable weights into groups and builds each group's optimizer. */
export function planGroups(model: ModelLike, groups: readonly ParamGroup[] | undefined, defaults: GroupDefaults): GroupPlan {
  const all = weightSlots(model);
  const frozenSet = frozenKeys(model);
  const { trainable, untrainedByFlag } = trainingCandidates(model);
  const skip = new Set(untrainedByFlag);
  const statistics = all.filter((s) => isStatistic(s)).map((s) => s.key);

  const specs = [...(groups ?? [])];
  const owner = new Map<string, number>();
  const frozenPicked: string[][] = specs.map(() => []);
  specs.forEach((g, i) => {
    if (g === null || typeof g !== 'object' || g.params === undefined) throw new Error(`train: paramGroups[${i}] needs a 'params' selector`);
    const match = matcher(g.params);
    let any = false;
    for (const s of all) {
      if (!match(s.key, s.torchKey)) continue;
      any = true;
      if (frozenSet.has(s.key) || skip.has(s.key) || isStatistic(s)) { frozenPicked[i].push(s.key); continue; }
      const prev = owner.get(s.key);
      if (prev !== undefined) throw new Error(`train: weight '${s.key}' is in paramGroups[${prev}] and paramGroups[${i}]; a weight may belong to one group only`);
      owner.set(s.key, i);
    }
    if (!any) throw new Error(`train: paramGroups[${i}] (${describe(g.params)}) matches no weight of the model; its keys are ${all.slice(0, 6).map((s) => s.key).join(', ')}${all.length > 6 ? ', …' : ''}`);
  });

  const resolved: ResolvedGroup[] = [];
  try {
    specs.forEach((g, i) => {
      const slots = trainable.filter((s) => owner.get(s.key) === i);
      resolved.push(buildGroup(i, g.name ?? `group${i}`, g, defaults, slots, frozenPicked[i], resolved));
    });
    const rest = trainable.filter((s) => !owner.has(s.key));
    if (rest.length > 0 || specs.length === 0) resolved.push(buildGroup(specs.length, 'default', {}, defaults, rest, [], resolved));
  } catch (e) {
    for (const g of resolved) if (g.owned) disposeOptimizer(g.optimizer);
    throw e;
  }
  return { groups: resolved, trainable, frozen: all.filter((s) => frozenSet.has(s.key)).map((s) => s.key), untrainedByFlag, statistics };
}

/** The weights a run trains (in weightSlots order), and those TF.js's flags keep out though tsfreeze has them unfrozen. */
export function trainingCandidates(model: ModelLike): { trainable: WeightSlot[]; untrainedByFlag: string[] } {
  const offByFlag = layersOffByFlag(model);
  const candidates = trainableSlots(model);
  const untrainedByFlag = candidates.filter((s) => !s.variable.trainable || !s.trainable || offByFlag.has(s.layerKey)).map((s) => s.key);
  const skip = new Set(untrainedByFlag);
  return { trainable: candidates.filter((s) => !skip.has(s.key)), untrainedByFlag };
}

/** Builds one group's optimizer (unset settings from `defaults`); `others` are the groups built so far, whose optimizers it may not share. */
export function buildGroup(index: number, name: string, g: GroupDefaults, defaults: GroupDefaults, slots: WeightSlot[], frozen: string[], others: readonly ResolvedGroup[]): ResolvedGroup {
  const spec = g.optimizer ?? defaults.optimizer ?? 'sgd';
  const momentum = g.momentum ?? defaults.momentum;
  const kind = typeof spec === 'string' ? spec : 'custom';
  const lr = g.lr ?? defaults.lr ?? DEFAULT_LR[kind] ?? 0.01;
  const weightDecay = g.weightDecay ?? defaults.weightDecay ?? 0;
  const weightDecayMode = g.weightDecayMode ?? defaults.weightDecayMode ?? 'l2';
  check(name, lr, weightDecay, weightDecayMode, momentum);
  const keys = slots.map((s) => s.key);
  const taken = (o: tf.Optimizer) => others.some((r) => r.optimizer === o);
  let optimizer: tf.Optimizer;
  let owned = false;
  if (spec instanceof tf.Optimizer) {
    if (taken(spec)) throw new Error(`train: one optimizer instance is shared by two parameter groups; its state is per variable position, so give each group its own (pass a factory)`);
    optimizer = spec;
  } else if (typeof spec === 'function') {
    optimizer = spec({ index, name, lr, momentum, keys });
    if (!(optimizer instanceof tf.Optimizer)) throw new Error(`train: the optimizer factory of ${name} did not return a tf.Optimizer`);
    if (taken(optimizer)) throw new Error(`train: the optimizer factory returned the same instance for two parameter groups; return a new optimizer per group`);
  } else {
    optimizer = builtIn(spec, lr, momentum, name);
    owned = true;
  }
  return { index, name, lr, weightDecay, weightDecayMode, momentum, optimizerName: typeof spec === 'string' ? (spec === 'sgd' && momentum ? 'momentum' : spec) : optimizer.getClassName(), slots, frozen, optimizer, owned };
}

/** Disposes an optimizer the loop made. TF.js 4.22's Momentum.dispose() skips SGD's, leaking its learning-rate scalar (`c`): freed here too. */
export function disposeOptimizer(optimizer: tf.Optimizer): void {
  optimizer.dispose();
  const c = (optimizer as unknown as { c?: unknown }).c;
  if (c instanceof tf.Tensor && !c.isDisposed) c.dispose();
}

/** Sets a group's learning rate in its optimizer (TF.js 4.x: SGD and Momentum through setLearningRate, the others read their learningRate field each step). */
export function setGroupLr(group: ResolvedGroup, lr: number): void {
  check(group.name, lr, group.weightDecay, group.weightDecayMode, group.momentum);
  const opt = group.optimizer as unknown as { setLearningRate?: (lr: number) => void; learningRate?: unknown };
  if (typeof opt.setLearningRate === 'function') opt.setLearningRate(lr);
  else if (typeof opt.learningRate === 'number') opt.learningRate = lr;
  else throw new Error(`train: cannot set the learning rate of ${group.name}'s ${group.optimizer.getClassName()} optimizer: it has no learningRate field`);
  group.lr = lr;
}

function check(name: string, lr: number, wd: number, mode: string, momentum: number | undefined): void {
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new Error(`train: ${name}: lr must be a finite number ≥ 0, got ${lr}`);
  if (typeof wd !== 'number' || !Number.isFinite(wd) || wd < 0) throw new Error(`train: ${name}: weightDecay must be a finite number ≥ 0, got ${wd}`);
  if (mode !== 'l2' && mode !== 'decoupled') throw new Error(`train: ${name}: weightDecayMode must be 'l2' or 'decoupled', got ${JSON.stringify(mode)}`);
  if (momentum !== undefined && (typeof momentum !== 'number' || !Number.isFinite(momentum) || momentum < 0)) throw new Error(`train: ${name}: momentum must be a finite number ≥ 0, got ${momentum}`);
}

/** TF.js's optimizer for a built-in name. 'sgd' with momentum > 0 is SGD with momentum, as torch.optim.SGD (dampening 0). */
function builtIn(spec: string, lr: number, momentum: number | undefined, name: string): tf.Optimizer {
  switch (spec) {
    case 'sgd':
      return momentum ? tf.train.momentum(lr, momentum) : tf.train.sgd(lr);
    case 'momentum':
      return tf.train.momentum(lr, momentum ?? 0.9);
    case 'adam':
      return tf.train.adam(lr);
    case 'rmsprop':
      return tf.train.rmsprop(lr, 0.9, momentum ?? 0);
    default:
      throw new Error(`train: ${name}: unknown optimizer ${JSON.stringify(spec)} (use 'sgd', 'momentum', 'adam', 'rmsprop', a factory, or a tf.Optimizer)`);
  }
}

function describe(s: Selector): string {
  if (typeof s === 'string') return JSON.stringify(s);
  if (s instanceof RegExp) return String(s);
  if (typeof s === 'function') return 'a predicate';
  if (s instanceof Map) return `a state dict of ${s.size} keys`;
  return `[${[...s].slice(0, 4).map((k) => JSON.stringify(k)).join(', ')}${s.length > 4 ? ', …' : ''}]`;
}

/**
 * Layer keys whose layer, or a model it sits in, has TF.js's `trainable` set to false. model.fit
 * skips the weights of such a layer (its own flag survives a Sequential's build even though the
 * weights' flags are reset), so the loop does too, unless the user unfreezes it.
 */
function layersOffByFlag(model: ModelLike): Set<string> {
  const out = new Set<string>();
  const walkModel = (m: tf.LayersModel, prefix: string, off: boolean): void => {
    m.layers.filter((l) => l.getClassName() !== 'InputLayer').forEach((layer, i) => {
      const seg = prefix + layerSegment(layer, i);
      const layerOff = off || layer.trainable === false;
      if (isLayersModel(layer)) walkModel(layer, `${seg}.`, layerOff);
      else if (layerOff) out.add(seg);
    });
  };
  const walkObject = (obj: object, prefix: string): void => {
    for (const [name, v] of Object.entries(obj)) {
      if (isLayersModel(v)) walkModel(v, `${prefix}${name}.`, v.trainable === false);
      else if (typeof v === 'object' && v !== null && !(v instanceof tf.Variable)) walkObject(v, `${prefix}${name}.`);
    }
  };
  if (isLayersModel(model)) walkModel(model, '', model.trainable === false);
  else walkObject(model, '');
  return out;
}
