/**
 * A model's weights as PyTorch sees them: one entry per PyTorch key. Mostly one weight per key;
 * where PyTorch packs several weights into one tensor (MultiheadAttention's `in_proj_weight` =
 * query, key and value), one entry holds the parts, concatenated on axis 0.
 */
import { allocate, numel, type HostTensor } from '../statedict/tensor';
import type { WeightSlot } from './weights';

/** One PyTorch key of a model and the weights behind it. */
export interface TorchEntry {
  key: string;
  /** PyTorch's shape of the whole tensor. */
  shape: number[];
  /** The weights, in packing order (one unless packed). */
  parts: WeightSlot[];
}

/** The model's PyTorch keys in weightSlots order (a packed key where its first part is). */
export function torchEntries(slots: readonly WeightSlot[]): TorchEntry[] {
  const byKey = new Map<string, TorchEntry>();
  const out: TorchEntry[] = [];
  for (const s of slots) {
    let e = byKey.get(s.torchKey);
    if (!e) {
      e = { key: s.torchKey, shape: [], parts: [] };
      byKey.set(s.torchKey, e);
      out.push(e);
    } else if (!s.pack || !e.parts[0].pack) {
      throw new Error(`two weights of the model map to one PyTorch key '${s.torchKey}' (${e.parts[0].key} and ${s.key}): give their layers distinct names`);
    }
    e.parts.push(s);
  }
  for (const e of out) {
    e.parts.sort((a, b) => (a.pack?.index ?? 0) - (b.pack?.index ?? 0));
    const first = e.parts[0];
    if (first.pack && e.parts.length !== first.pack.count) {
      throw new Error(`PyTorch key '${e.key}' packs ${first.pack.count} weights but the model has ${e.parts.length} (${e.parts.map((p) => p.key).join(', ')})`);
    }
    const rows = e.parts.reduce((n, p) => n + (p.torchShape[0] ?? 1), 0);
    e.shape = first.pack ? [rows, ...first.torchShape.slice(1)] : [...first.torchShape];
  }
  return out;
}

/** The parts' PyTorch values concatenated on axis 0: the tensor PyTorch stores under the entry's key. */
export function packParts(entry: TorchEntry, values: readonly HostTensor[]): HostTensor {
  if (values.length === 1) return values[0];
  const data = allocate(values[0].dtype, numel(entry.shape)) as unknown as { set(a: ArrayLike<unknown>, o: number): void };
  let at = 0;
  for (const v of values) { data.set(v.data as unknown as ArrayLike<unknown>, at); at += v.data.length; }
  return { dtype: values[0].dtype, shape: [...entry.shape], data: data as unknown as HostTensor['data'] };
}

/** Part `i` of a packed PyTorch tensor (a view: rows of axis 0). */
export function unpackPart(entry: TorchEntry, t: HostTensor, i: number): HostTensor {
  if (entry.parts.length === 1) return t;
  const rowSize = numel(t.shape.slice(1));
  let start = 0;
  for (let j = 0; j < i; j++) start += entry.parts[j].torchShape[0];
  const rows = entry.parts[i].torchShape[0];
  const data = (t.data as unknown as { subarray(a: number, b: number): HostTensor['data'] }).subarray(start * rowSize, (start + rows) * rowSize);
  return { dtype: t.dtype, shape: [rows, ...t.shape.slice(1)], data };
}
