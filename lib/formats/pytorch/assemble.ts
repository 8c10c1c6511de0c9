/** The last step shared by both PyTorch readers: from the unpickled object to a Checkpoint. */
import { selectRoot, type Checkpoint, type CheckpointFormat, type CheckpointMetadata, type ReadLimits, type ReadOptions } from '../checkpoint';
import type { PyValue } from '../pickle/values';
import type { StateDict } from '../../statedict/tensor';
import { materialize } from './storage';
import { flatten } from './tree';
import { moduleTreeAt } from './modules';

/** Flattens `root` (within the pickle's node budget), picks the state dict's sub-tree and materialises its tensors (within the copy budget). */
export async function assemble(format: CheckpointFormat, root: PyValue, file: string, fileSize: number, opts: ReadOptions, notes: string[], limits: ReadLimits, opcodes: number): Promise<Checkpoint> {
  const nodes = limits.limit('pickleNodes', opcodes);
  const budget = { remaining: nodes, limit: nodes, file };
  const flat = flatten(root, file, budget);
  const metadata: CheckpointMetadata = { values: flat.values, notes: [...notes, ...flat.notes] };
  const refs = selectRoot(file, flat.tensors, metadata, opts.root, flat.top);
  const copies = { remaining: limits.limit('copyBytes', fileSize) };
  // The storages the chosen tensors need, read all at once in the background: each read overlaps the CRC check of another.
  // Every read settles before the first failure is thrown, so none is left running when the file is closed.
  const reads = await Promise.allSettled([...new Set([...refs.values()].map((r) => r.storage))].map((s) => s.prefetch()));
  const failed = reads.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const stateDict: StateDict = new Map();
  for (const [key, ref] of refs) stateDict.set(key, materialize(ref, file, key, copies));
  // The module tree's attributes count against the same node budget as the metadata.
  const modules = moduleTreeAt(root, metadata.root?.path ?? '', file, budget);
  return { format, stateDict, metadata, ...(modules ? { modules } : {}) };
}
