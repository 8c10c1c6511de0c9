/** Tensors of a state dict that share memory (tied weights, views of one storage), found for the writers. */
import { itemSize, type HostTensor, type StateDict } from '../statedict/tensor';
import { CheckpointError } from './errors';

/** Tensors whose bytes overlap, as one run of memory: its bounds, and each member's place in it. */
export interface SharedRun {
  buffer: ArrayBufferLike;
  /** Byte offset of the run's start in `buffer`, and its length. */
  start: number;
  byteLength: number;
  members: Array<{ key: string; tensor: HostTensor }>;
}

/**
 * Every tensor of `sd` grouped into runs of overlapping memory, in the state dict's order of
 * first appearance: a tensor that shares no byte with another is a run of its own. Linear after
 * one sort per buffer.
 */
export function sharedRuns(sd: StateDict): SharedRun[] {
  const byBuffer = new Map<ArrayBufferLike, Array<{ key: string; tensor: HostTensor; order: number }>>();
  let order = 0;
  const runs: Array<SharedRun & { order: number }> = [];
  for (const [key, tensor] of sd) {
    const d = tensor.data;
    if (d.byteLength === 0) { runs.push({ buffer: d.buffer, start: d.byteOffset, byteLength: 0, members: [{ key, tensor }], order: order++ }); continue; }
    const list = byBuffer.get(d.buffer) ?? [];
    list.push({ key, tensor, order: order++ });
    byBuffer.set(d.buffer, list);
  }
  for (const [buffer, list] of byBuffer) {
    list.sort((a, b) => a.tensor.data.byteOffset - b.tensor.data.byteOffset);
    let run: (SharedRun & { order: number }) | undefined;
    for (const m of list) {
      const s = m.tensor.data.byteOffset, e = s + m.tensor.data.byteLength;
      if (run && s < run.start + run.byteLength) {
        run.byteLength = Math.max(run.byteLength, e - run.start);
        run.members.push({ key: m.key, tensor: m.tensor });
        run.order = Math.min(run.order, m.order);
      } else {
        run = { buffer, start: s, byteLength: e - s, members: [{ key: m.key, tensor: m.tensor }], order: m.order };
        runs.push(run);
      }
    }
  }
  return runs.sort((a, b) => a.order - b.order);
}

/** Refuses a state dict whose tensors share memory, for formats that can only store each tensor's own bytes. */
export function refuseShared(path: string, sd: StateDict, format: string): void {
  const shared = sharedRuns(sd).filter((r) => r.members.length > 1);
  if (!shared.length) return;
  const names = shared[0].members.map((m) => `'${m.key}'`);
  const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ');
  const more = shared.length > 1 ? ` (and ${shared.length - 1} more group(s) of shared tensors)` : '';
  throw new CheckpointError(path, `tensors ${shown} share memory${more}; ${format} stores each tensor's own bytes, so they would be written as copies`,
    `keep one key of each group (as safetensors' save_model does) or clone them on purpose; a .pth keeps them shared`);
}

/** Whether a shared run can be one typed storage: every member of one dtype, at whole-element offsets. */
export function isOneStorage(run: SharedRun): boolean {
  const dtype = run.members[0].tensor.dtype;
  const size = itemSize(dtype);
  return run.byteLength % size === 0 && run.members.every((m) => m.tensor.dtype === dtype && (m.tensor.data.byteOffset - run.start) % size === 0);
}
