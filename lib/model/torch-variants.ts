/**
 * What the PyTorch checkpoints of one architecture may spell or carry differently from the model's
 * own keys: older key spellings (torchvision ≤ 0.12's `mlp.linear_1`, old BERT's `LayerNorm.gamma`)
 * and buffers with no TF.js twin (Hugging Face's `embeddings.position_ids`). A zoo builder attaches
 * them to its model; loadStateDict applies the renames only to keys the model lacks and lists
 * every rename it applied, and every entry it ignored, in its report.
 */
import type * as tf from '@tensorflow/tfjs';
import { renameKey, type RenameRule } from '../statedict/rename';
import type { StateDict } from '../statedict/tensor';

/** An architecture's known checkpoint variants. */
export interface TorchVariants {
  /** Rules from other spellings of a key to the model's (applied to a key only when the model lacks it and has the result). */
  renames?: RenameRule[];
  /** Exact PyTorch keys with no TF.js twin, reported as ignored and never loaded. */
  ignored?: string[];
}

const VARIANTS = new WeakMap<object, TorchVariants>();

/** Attaches an architecture's checkpoint variants to `model` (kept by the model object, not by model.save). */
export function withTorchVariants<M extends tf.LayersModel>(model: M, variants: TorchVariants): M {
  VARIANTS.set(model, variants);
  return model;
}

/** The checkpoint variants attached to `model`, if any. */
export function torchVariantsOf(model: object): TorchVariants | undefined {
  return VARIANTS.get(model);
}

/**
 * `sd` with each key the target lacks renamed by the variant rules, applied in order until the key
 * becomes one the target has (and `sd` lacks); a key that never does stays as it was. Also returns
 * the rules that renamed some key.
 */
export function applyVariantRenames(sd: StateDict, has: (key: string) => boolean, rules: readonly RenameRule[]): { stateDict: StateDict; applied: RenameRule[] } {
  const applied = new Set<RenameRule>();
  const out: StateDict = new Map();
  for (const [key, t] of sd) {
    let to = key;
    if (!has(key)) {
      let cur = key;
      const used: RenameRule[] = [];
      for (const rule of rules) {
        const r = renameKey(cur, rule);
        if (r === cur) continue;
        cur = r;
        used.push(rule);
        if (has(cur) && !sd.has(cur)) { to = cur; for (const u of used) applied.add(u); break; }
      }
    }
    if (out.has(to)) throw new Error(`checkpoint keys '${key}' and '${to}' are two spellings of one model key; keep one`);
    out.set(to, t);
  }
  return { stateDict: applied.size ? out : sd, applied: rules.filter((r) => applied.has(r)) };
}
