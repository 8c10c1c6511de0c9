/** Writing a state dict as PyTorch's zip checkpoint, readable by `torch.load(path, weights_only=True)`. */
import { Pickler } from '../pickle/pickler';
import { zipStored } from '../zip/write';
import type { JsonValue } from '../checkpoint';
import { bytesOf, itemSize, type DType, type HostTensor, type StateDict } from '../../statedict/tensor';
import { STORAGE_DTYPES } from './storage';
import { isOneStorage, sharedRuns } from '../aliases';

const STORAGE_OF: Record<DType, string> = Object.fromEntries(Object.entries(STORAGE_DTYPES).map(([s, d]) => [d, s])) as Record<DType, string>;

/** Options of the PyTorch writer. */
export interface TorchWriteOptions {
  /** Non-tensor values; when given (or with `nest`), the file holds a dict `{...metadata, state_dict}` instead of the bare state dict. */
  metadata?: Record<string, JsonValue>;
  /** Top-level groups: keys `group.rest` are written as `{group: OrderedDict(rest: tensor)}`, as a resume checkpoint nests model and optimizer state. */
  nest?: string[];
  /** Key of the state dict of the remaining tensors beside metadata (default `state_dict`). */
  stateDictKey?: string;
  /** Name of the archive's root folder (default `archive`, as torch.save writes it to memory). */
  rootName?: string;
  forceZip64?: boolean;
}

/** Where a tensor lives in the archive: its storage record, that storage's element count, and the tensor's offset in it. */
interface Placement { id: number; numel: number; offset: number }

/** The storages to write: tensors that share memory (tied weights, views of one storage) share one storage, as torch.save writes them. */
function placeStorages(sd: StateDict): { storages: Uint8Array[]; placements: Map<HostTensor, Placement> } {
  const storages: Uint8Array[] = [];
  const placements = new Map<HostTensor, Placement>();
  for (const run of sharedRuns(sd)) {
    if (isOneStorage(run)) {
      const size = itemSize(run.members[0].tensor.dtype);
      const id = storages.push(new Uint8Array(run.buffer, run.start, run.byteLength)) - 1;
      for (const { tensor } of run.members) placements.set(tensor, { id, numel: run.byteLength / size, offset: (tensor.data.byteOffset - run.start) / size });
    } else {
      // Overlapping tensors of different dtypes cannot share a typed storage: each gets its own bytes.
      for (const { tensor } of run.members) placements.set(tensor, { id: storages.push(bytesOf(tensor)) - 1, numel: tensor.data.length, offset: 0 });
    }
  }
  return { storages, placements };
}

/** The bytes of a PyTorch zip checkpoint holding `sd` (as OrderedDicts of tensors), as chunks to write in order. */
export function encodeTorchZip(sd: StateDict, opts: TorchWriteOptions = {}): Uint8Array[] {
  const root = opts.rootName ?? 'archive';
  const p = new Pickler();
  const { storages, placements } = placeStorages(sd);
  const groups = splitGroups(sd, opts.nest ?? []);
  const wrapped = groups.size > 1 || (opts.metadata && Object.keys(opts.metadata).length > 0) || (opts.nest?.length ?? 0) > 0;
  if (!wrapped) {
    orderedDict(p, sd, placements);
  } else {
    p.emptyDict().mark();
    for (const [k, v] of Object.entries(opts.metadata ?? {})) { p.str(k); p.json(v); }
    for (const [name, group] of groups) { p.str(name ?? opts.stateDictKey ?? 'state_dict'); orderedDict(p, group, placements); }
    p.setItems();
  }
  p.stop();
  return zipStored([
    { name: `${root}/data.pkl`, data: p.bytes() },
    { name: `${root}/byteorder`, data: Buffer.from('little') },
    ...storages.map((data, i) => ({ name: `${root}/data/${i}`, data })),
    { name: `${root}/version`, data: Buffer.from('3\n') },
  ], { forceZip64: opts.forceZip64 });
}

/** The tensors by group (undefined: not in any group), each group's keys without the group prefix. */
function splitGroups(sd: StateDict, nest: string[]): Map<string | undefined, StateDict> {
  const out = new Map<string | undefined, StateDict>();
  for (const [key, t] of sd) {
    const g = nest.find((n) => key.startsWith(`${n}.`));
    const group = out.get(g) ?? new Map();
    group.set(g ? key.slice(g.length + 1) : key, t);
    out.set(g, group);
  }
  if (out.size === 0) out.set(undefined, new Map());
  return out;
}

/** Pickles `OrderedDict((key, tensor), ...)`, each tensor on the storage `placements` gives it. */
function orderedDict(p: Pickler, sd: StateDict, placements: Map<HostTensor, Placement>): void {
  p.global('collections', 'OrderedDict').emptyTuple().reduce();
  if (!sd.size) return;
  p.mark();
  for (const [key, t] of sd) {
    const { id, numel, offset } = placements.get(t)!;
    p.str(key);
    // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks)
    p.global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', STORAGE_OF[t.dtype]).str(String(id)).str('cpu').int(numel).tuple().binPersId();
    p.int(offset);
    p.mark(); for (const d of t.shape) p.int(d); p.tuple();
    p.mark(); for (const s of contiguousStrides(t.shape)) p.int(s); p.tuple();
    p.bool(false);
    p.global('collections', 'OrderedDict').emptyTuple().reduce();
    p.tuple().reduce();
  }
  p.setItems();
}

/** Row-major strides of a shape, in elements. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) { out[i] = s; s *= Math.max(shape[i], 1); }
  return out;
}
