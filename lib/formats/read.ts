/** readCheckpoint: one entry point for every format, chosen from the file's bytes, never its extension. */
import { readFile, stat } from 'node:fs/promises';
import { CheckpointError } from './errors';
import type { Checkpoint, CheckpointFormat, ReadOptions } from './checkpoint';
import { looksLikeZip } from './zip/read';
import { readTorchZip } from './pytorch/read-zip';
import { looksLikeTorchLegacy, readTorchLegacy } from './pytorch/read-legacy';
import { looksLikeSafetensors, readSafetensors } from './safetensors';
import { looksLikeTfjsModelJson, readTfjs } from './tfjs';

/** The format `bytes` are in, or undefined when they are none of the supported ones. */
export function sniffFormat(bytes: Uint8Array): CheckpointFormat | undefined {
  if (looksLikeZip(bytes)) return 'pytorch-zip';
  if (looksLikeSafetensors(bytes)) return 'safetensors';
  if (looksLikeTorchLegacy(bytes)) return 'pytorch-legacy';
  if (looksLikeTfjsModelJson(bytes)) return 'tfjs';
  return undefined;
}

/** Reads a checkpoint (PyTorch zip or legacy, safetensors, TF.js model.json) from a path or from bytes. */
export async function readCheckpoint(source: string | Uint8Array, opts: ReadOptions = {}): Promise<Checkpoint> {
  const file = typeof source === 'string' ? source : '<bytes>';
  let bytes: Uint8Array;
  if (typeof source === 'string') {
    try {
      const st = await stat(source);
      if (st.isDirectory()) throw new CheckpointError(file, 'is a directory', 'name the checkpoint file inside it (model.json for TF.js)');
      bytes = await readFile(source);
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(file, `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else {
    bytes = source;
  }
  const format = sniffFormat(bytes);
  switch (format) {
    case 'pytorch-zip': return readTorchZip(bytes, file, opts);
    case 'pytorch-legacy': return readTorchLegacy(bytes, file, opts);
    case 'safetensors': return readSafetensors(bytes, file, opts);
    case 'tfjs':
      if (typeof source !== 'string') throw new CheckpointError(file, 'is a TF.js model.json, whose weight shards can only be found from its path', 'pass the path of model.json');
      return readTfjs(bytes, file, opts);
  }
  throw new CheckpointError(file, notACheckpoint(bytes), 'expected a PyTorch .pth/.pt (zip or legacy), a .safetensors file or a TF.js model.json');
}

function notACheckpoint(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'is empty';
  if (bytes.length > 262 && Buffer.from(bytes.subarray(257, 262)).toString('latin1') === 'ustar') {
    return 'is a tar archive (PyTorch before 0.4 saved this way), which is not supported';
  }
  if (bytes[0] === 0x80 && bytes[1] <= 5) return 'is a Python pickle but not a PyTorch checkpoint';
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `is not a checkpoint in any supported format (it starts with bytes ${head})`;
}
