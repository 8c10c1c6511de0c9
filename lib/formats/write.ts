/** writeCheckpoint: one entry point for every format, chosen by the file's extension. */
import { extname } from 'node:path';
import { atomicWrite } from './atomic-write';
import { CheckpointError } from './errors';
import type { JsonValue } from './checkpoint';
import { encodeTorchZip } from './pytorch/write';
import { encodeSafetensors } from './safetensors';
import { writeTfjs } from './tfjs';
import type { StateDict } from '../statedict/tensor';

/** Options of writeCheckpoint. */
export interface WriteOptions {
  /** Non-tensor values to keep beside the tensors: safetensors `__metadata__`, TF.js userDefinedMetadata, or entries beside `state_dict` in a .pth. */
  metadata?: Record<string, JsonValue>;
  /** For a .pth: top-level groups written as nested dicts (`model_state_dict.x` → `{model_state_dict: {x}}`); other formats keep the dotted keys. */
  nest?: string[];
}

/** Writes `sd` as `.safetensors`, `.pth`/`.pt` (PyTorch zip) or `.json` (TF.js model.json + shards), via a temporary file renamed into place. */
export async function writeCheckpoint(path: string, sd: StateDict, opts: WriteOptions = {}): Promise<void> {
  const ext = extname(path).toLowerCase();
  switch (ext) {
    case '.safetensors': return atomicWrite(path, encodeSafetensors(sd, opts.metadata));
    case '.pth': case '.pt': case '.bin': case '.ckpt': return atomicWrite(path, encodeTorchZip(sd, { metadata: opts.metadata, nest: opts.nest }));
    case '.json': return writeTfjs(path, sd, { metadata: opts.metadata });
  }
  throw new CheckpointError(path, `has extension '${ext || '(none)'}', which names no checkpoint format`, 'use .safetensors, .pth, .pt or .json (TF.js)');
}
