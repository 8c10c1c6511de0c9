/** What every reader returns, and how a sub-tree of a nested checkpoint becomes the state dict. */
import type { ModuleNode } from './pytorch/modules';
import { CheckpointError } from './errors';
import type { StateDict } from '../statedict/tensor';
import type { FORMATS } from './formats';

/** The container a checkpoint was read from, sniffed from its bytes (one per row of the FORMATS table). */
export type CheckpointFormat = (typeof FORMATS)[number]['name'];

/** A plain JSON value (NaN and ±Infinity may appear as numbers, as Python floats allow). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Everything in a checkpoint that is not a tensor of the state dict, and what the reader did. */
export interface CheckpointMetadata {
  /** Non-tensor values by dotted path from the file's top level: epoch, loss, hyper-parameters, optimizer param_groups, safetensors `__metadata__`, TF.js userDefinedMetadata. */
  values: Record<string, JsonValue>;
  /** The sub-tree used as the state dict, and who chose it: the caller's `root`, or the reader because it was the one obvious state dict. */
  root?: { path: string; chosenBy: 'caller' | 'reader' };
  /** Tensors of the file left outside the chosen root, counted by top-level key (an optimizer's state, say). */
  outsideRoot?: Record<string, number>;
  /** One sentence for each thing the reader noticed or did (a skipped global, a chosen root, a converted dtype). */
  notes: string[];
}

/** A checkpoint read into host memory. */
export interface Checkpoint {
  format: CheckpointFormat;
  stateDict: StateDict;
  metadata: CheckpointMetadata;
  /** For a whole pickled nn.Module (`torch.save(model)`): its module tree, classes and attributes (nothing imported or run). */
  modules?: ModuleNode;
}

/** Options every reader takes. */
export interface ReadOptions {
  /** Dotted path of the sub-tree to use as the state dict (`net`, `model_state_dict`); `''` keeps the whole file and disables the automatic choice. */
  root?: string;
  /** Bytes that copies (strided, expanded, unaligned or dequantized tensors) may allocate beyond the file's own (default: 4 × file size + 64 MiB). */
  maxAllocation?: number;
  /** Bytes that the deflated records of a zip may inflate to, in all (default: 2 × file size; torch.save never deflates). */
  maxInflatedBytes?: number;
  /** Check the CRC-32 of every zip record, tensor data included (default true; false skips the data records' checks for speed). */
  verifyChecksums?: boolean;
  /** Throw on any pickled global outside PyTorch's `weights_only=True` allow-list (torch 2.x) instead of keeping an inert placeholder. */
  strictGlobals?: boolean;
  /**
   * Globals (`'module.Class'`) to accept beyond PyTorch's allow-list with `strictGlobals`, as
   * `torch.serialization.add_safe_globals` does; they still become inert placeholders (nothing is
   * ever called). Globals that run code (os, sys, subprocess, eval, ...) cannot be allowed.
   */
  allowGlobals?: string[];
}

/** What a budget is counted in: the file's bytes, or the opcodes of its pickle. */
export type BudgetUnit = 'file byte' | 'pickle opcode';

/** One limit on what reading may cost: `factor` per unit plus `plus`; `option` names the ReadOptions field that overrides it. */
export interface BudgetRule {
  factor: number;
  plus: number;
  per: BudgetUnit;
  what: string;
  option?: 'maxAllocation' | 'maxInflatedBytes';
}

/** The budgets a format's readers keep. */
export type BudgetName = 'copyBytes' | 'inflatedBytes' | 'pickleNodes' | 'headerBytes' | 'manifestBytes';

/** A format's budget rules turned into limits for one file. */
export class ReadLimits {
  constructor(private readonly rules: Partial<Record<BudgetName, BudgetRule>>, private readonly opts: ReadOptions) {}

  /** The limit `name` sets for `amount` units (file bytes or pickle opcodes); Infinity when the format keeps no such budget. */
  limit(name: BudgetName, amount: number): number {
    const rule = this.rules[name];
    if (!rule) return Infinity;
    const override = rule.option ? this.opts[rule.option] : undefined;
    return override ?? rule.factor * amount + rule.plus;
  }

  /** A phrase for error messages: how the limit was set. */
  describe(name: BudgetName): string {
    const rule = this.rules[name];
    if (!rule) return 'no limit';
    if (rule.option && this.opts[rule.option] !== undefined) return `the ${rule.option} you passed`;
    return `${rule.factor} × the ${rule.per}s${rule.plus ? ` + ${rule.plus}` : ''}${rule.option ? `; raise it with ReadOptions.${rule.option}` : ''}`;
  }
}

/** Top-level names under which checkpoints conventionally keep their one state dict, most specific first. */
export const STATE_DICT_NAMES = ['state_dict', 'model_state_dict', 'model', 'net'] as const;

/** What the reader knows of the top level, for the automatic choice of a root. */
export interface TopLevel {
  /** Top-level keys that hold at least one tensor. */
  withTensors: string[];
  /** Top-level keys that hold none. */
  withoutTensors: string[];
}

/** Restricts a flat state dict to `root` (stripping it from the keys), or picks the one obvious state dict. */
export function selectRoot<T>(
  file: string,
  tensors: Map<string, T>,
  metadata: CheckpointMetadata,
  root: string | undefined,
  top: TopLevel | undefined,
): Map<string, T> {
  let path = root;
  let chosenBy: 'caller' | 'reader' = 'caller';
  if (path === undefined && top) {
    const candidates = STATE_DICT_NAMES.filter((n) => top.withTensors.includes(n));
    if (candidates.length === 1 && top.withoutTensors.length > 0) {
      path = candidates[0];
      chosenBy = 'reader';
    }
  }
  if (!path) return tensors;
  const prefix = `${path}.`;
  const picked = new Map<string, T>();
  const outside: Record<string, number> = {};
  for (const [key, t] of tensors) {
    if (key.startsWith(prefix)) picked.set(key.slice(prefix.length), t);
    else if (key !== path) { const head = key.split('.')[0]; outside[head] = (outside[head] ?? 0) + 1; }
  }
  if (picked.size === 0) {
    const heads = Object.entries(outside).map(([k, n]) => `${k} (${n})`).join(', ') || 'none';
    throw new CheckpointError(file, `no tensors under root '${path}'`, `top-level entries holding tensors: ${heads}`);
  }
  metadata.root = { path, chosenBy };
  if (Object.keys(outside).length) metadata.outsideRoot = outside;
  if (chosenBy === 'reader') {
    const left = Object.entries(outside).map(([k, n]) => `${k} (${n} tensors)`).join(', ');
    metadata.notes.push(`used '${path}' as the state dict${left ? `; also in the file: ${left}` : ''}; pass root '' to read everything`);
  }
  return picked;
}
