/** The last step shared by both PyTorch readers: from the unpickled object to a Checkpoint. */
import { allocationBudget, selectRoot, type Checkpoint, type CheckpointFormat, type CheckpointMetadata, type ReadOptions } from '../checkpoint';
import type { PyValue } from '../pickle/values';
import type { StateDict } from '../../statedict/tensor';
import { materialize } from './storage';
import { flatten } from './tree';
import { moduleTreeAt } from './modules';

/** Flattens `root`, picks the state dict's sub-tree and materialises its tensors. */
export function assemble(format: CheckpointFormat, root: PyValue, file: string, fileSize: number, opts: ReadOptions, notes: string[]): Checkpoint {
  const flat = flatten(root, file);
  const metadata: CheckpointMetadata = { values: flat.values, notes: [...notes, ...flat.notes] };
  const refs = selectRoot(file, flat.tensors, metadata, opts.root, flat.top);
  const budget = { remaining: allocationBudget(opts, fileSize) };
  const stateDict: StateDict = new Map();
  for (const [key, ref] of refs) stateDict.set(key, materialize(ref, file, key, budget));
  const modules = moduleTreeAt(root, metadata.root?.path ?? '', file);
  return { format, stateDict, metadata, ...(modules ? { modules } : {}) };
}
