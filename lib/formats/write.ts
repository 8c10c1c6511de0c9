/** writeCheckpoint: one entry point for every format, chosen by the file's extension (see the FORMATS table). */
import { extname } from 'node:path';
import { CheckpointError } from './errors';
import type { JsonValue } from './checkpoint';
import { formatForExtension, writableFormatsText } from './formats';
import type { StateDict } from '../statedict/tensor';

/** Options of writeCheckpoint. */
export interface WriteOptions {
  /** Non-tensor values to keep beside the tensors: safetensors `__metadata__`, TF.js userDefinedMetadata, or entries beside `state_dict` in a .pth. */
  metadata?: Record<string, JsonValue>;
  /** For a .pth: top-level groups written as nested dicts (`model_state_dict.x` → `{model_state_dict: {x}}`); other formats keep the dotted keys. */
  nest?: string[];
}

/**
 * Writes `sd` as `.safetensors`, `.pth`/`.pt` (PyTorch zip) or `.json` (TF.js model.json + shards).
 * Atomic: a reader sees the old file or the new one, never a mix, even if the writer is killed;
 * temporary files a killed write left behind are removed by the next write to the same path.
 */
export async function writeCheckpoint(path: string, sd: StateDict, opts: WriteOptions = {}): Promise<void> {
  const ext = extname(path).toLowerCase();
  const format = formatForExtension(ext);
  if (!format?.write) {
    throw new CheckpointError(path, `has extension '${ext || '(none)'}', which names no checkpoint format`, `use ${writableFormatsText()}`);
  }
  return format.write(path, sd, opts);
}
