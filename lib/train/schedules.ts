/**
 * Unfreezing schedules as callbacks:
 *
 * - backboneFinetuning: PyTorch Lightning's BackboneFinetuning: the backbone unfreezes at the
 *   start of one epoch with its own parameter group at a fraction of the head's learning rate,
 *   which then grows by a factor each epoch until it reaches the head's;
 * - unfreezeAt / gradualUnfreezing: unfreeze given layer groups at given epochs, each into its
 *   own parameter group (fastai's gradual unfreezing, ULMFiT's freeze_to(-2), freeze_to(-3), …).
 *
 * Each unfreeze goes through ctx.unfreeze: the feature cache moves, the guard stops guarding the
 * unfrozen weights, and history.events, the progress display and the live view say so.
 */
import { frozenKeys, isStatistic } from '../freeze/registry';
import { matcher, describeSelector, type Selector } from '../freeze/selector';
import { weightSlots } from '../model/weights';
import type { Callback, TrainContext } from './callbacks';
import type { OptimizerSpec } from './groups';

/** Options of backboneFinetuning (defaults as Lightning's). */
export interface BackboneFinetuningOptions {
  /** The backbone's weights; frozen when training begins. */
  backbone: Selector;
  /** The epoch (1-based) at whose start the backbone unfreezes: Lightning's `unfreeze_backbone_at_epoch=k` (0-based) is `atEpoch: k + 1`. Default 11. */
  atEpoch?: number;
  /** Factor of the backbone's learning rate each later epoch, given the epoch (1-based); Lightning's lambda_func (default: 1.5). */
  lambda?: (epoch: number) => number;
  /** Backbone lr at unfreezing as a fraction of the head's (default 0.1). */
  initialRatioLr?: number;
  /** Backbone lr at unfreezing, instead of the ratio. */
  initialLr?: number;
  /** Never let the backbone's lr pass the head's (default true). */
  shouldAlign?: boolean;
  /** Unfrozen BatchNorm layers use batch statistics (default true, as Lightning's train_bn); false keeps their moving statistics frozen. */
  trainBn?: boolean;
  /** The group whose lr is "the head's" (default: the run's first group, as Lightning's param_groups[0]). */
  relativeTo?: string;
  /** Name of the backbone's parameter group (default 'backbone'). */
  name?: string;
  /** Optimizer of the backbone's group (default: the run's). */
  optimizer?: OptimizerSpec;
}

/** Lightning's BackboneFinetuning: unfreeze the backbone at `atEpoch` with lr = ratio × head lr, then lr ← min(head lr, λ(epoch) × lr) each epoch. */
export function backboneFinetuning(opts: BackboneFinetuningOptions): Callback {
  const atEpoch = opts.atEpoch ?? 11;
  if (!Number.isInteger(atEpoch) || atEpoch < 1) throw new Error(`backboneFinetuning: atEpoch must be an integer ≥ 1, got ${atEpoch}`);
  const lambda = opts.lambda ?? (() => 1.5);
  const ratio = opts.initialRatioLr ?? 0.1;
  const name = opts.name ?? 'backbone';
  let previous: number | undefined;
  const head = (ctx: TrainContext) => opts.relativeTo ?? ctx.history.groups[0].name;
  return {
    name: 'backboneFinetuning',
    onTrainBegin(ctx) {
      const trainable = selected(ctx, opts.backbone).filter((k) => !frozenKeys(ctx.model).has(k));
      if (trainable.length > 0) throw new Error(`backboneFinetuning: the backbone (${describeSelector(opts.backbone)}) must be frozen when training begins (freeze(model, backbone) first); trainable now: ${trainable.slice(0, 3).join(', ')}${trainable.length > 3 ? ', …' : ''}`);
    },
    onEpochBegin(epoch, ctx) {
      if (epoch === atEpoch) {
        const lr = opts.initialLr ?? ctx.lr(head(ctx)) * ratio;
        ctx.unfreeze(opts.backbone, { lr, name, bn: opts.trainBn === false ? 'freeze' : 'train', ...(opts.optimizer !== undefined ? { optimizer: opts.optimizer } : {}) });
        previous = lr;
      } else if (epoch > atEpoch && previous !== undefined) {
        const current = ctx.lr(head(ctx));
        let next = lambda(epoch) * previous;
        if (opts.shouldAlign !== false && next > current) next = current;
        ctx.setLr(name, next);
        previous = next;
      }
    },
  };
}

/** One unfreeze at the start of an epoch. */
export interface UnfreezeStep {
  /** Epoch (1-based) at whose start the weights unfreeze. */
  epoch: number;
  params: Selector;
  /** Learning rate of their group (default: the run's lr)… */
  lr?: number;
  /** …or as a fraction of the first group's lr at that moment. */
  lrRatio?: number;
  /** Group name (default `unfrozen<i>`). */
  name?: string;
  /** 'train' (default): unfrozen BatchNorm layers use batch statistics; 'freeze': they keep their moving statistics. */
  bn?: 'train' | 'freeze';
}

/** Unfreezes each step's weights at the start of its epoch, into its own parameter group. */
export function unfreezeAt(steps: readonly UnfreezeStep[]): Callback {
  for (const s of steps) if (!Number.isInteger(s.epoch) || s.epoch < 1) throw new Error(`unfreezeAt: epoch must be an integer ≥ 1, got ${s.epoch}`);
  return {
    name: 'unfreezeAt',
    onEpochBegin(epoch, ctx) {
      for (const s of steps) {
        if (s.epoch !== epoch) continue;
        const lr = s.lr ?? (s.lrRatio !== undefined ? ctx.lr(ctx.history.groups[0].name) * s.lrRatio : undefined);
        ctx.unfreeze(s.params, { ...(lr !== undefined ? { lr } : {}), ...(s.name ? { name: s.name } : {}), ...(s.bn ? { bn: s.bn } : {}) });
      }
    },
  };
}

/** Options of gradualUnfreezing. */
export interface GradualUnfreezingOptions {
  /** Layer groups in model order, the head last; the last is trained from the start, the others unfreeze one by one from the end. */
  groups: readonly Selector[];
  /** Epochs between two unfreezes (default 1: one more group each epoch). */
  every?: number;
  /** Learning rate of the k-th unfrozen group (k = 1 for the group before the head), or one rate for all (default: the run's lr). */
  lr?: number | ((k: number) => number);
  bn?: 'train' | 'freeze';
}

/** fastai's gradual unfreezing: epoch 1 trains the last group, then every `every` epochs the next group from the end unfreezes. */
export function gradualUnfreezing(opts: GradualUnfreezingOptions): Callback {
  const every = opts.every ?? 1;
  if (!Number.isInteger(every) || every < 1) throw new Error(`gradualUnfreezing: every must be an integer ≥ 1, got ${every}`);
  const n = opts.groups.length;
  const steps: UnfreezeStep[] = [];
  for (let k = 1; k < n; k++) {
    const lr = typeof opts.lr === 'function' ? opts.lr(k) : opts.lr;
    steps.push({ epoch: 1 + k * every, params: opts.groups[n - 1 - k], name: `stage${k}`, ...(lr !== undefined ? { lr } : {}), ...(opts.bn ? { bn: opts.bn } : {}) });
  }
  return { ...unfreezeAt(steps), name: 'gradualUnfreezing' };
}

function selected(ctx: TrainContext, selector: Selector): string[] {
  const m = matcher(selector);
  return weightSlots(ctx.model).filter((s) => !isStatistic(s) && m(s.key, s.torchKey)).map((s) => s.key);
}
