/** readCheckpoint: one entry point for every format, chosen from the file's bytes, never its extension. */
import { statSync } from 'node:fs';
import { fileSource, memorySource, type ByteSource } from './source';
import { CheckpointError } from './errors';
import type { Checkpoint, CheckpointFormat, ReadOptions } from './checkpoint';
import { looksLikeZip } from './zip/read';
import { readTorchZip } from './pytorch/read-zip';
import { looksLikeTorchLegacy, readTorchLegacy } from './pytorch/read-legacy';
import { looksLikeSafetensors, readSafetensors } from './safetensors';
import { looksLikeTfjsModelJson, readTfjs } from './tfjs';

/** The format a file is in, from its first bytes and its size; undefined when it is none of the supported ones. */
export function sniffFormat(head: Uint8Array, size = head.length): CheckpointFormat | undefined {
  if (looksLikeZip(head)) return 'pytorch-zip';
  if (looksLikeSafetensors(head, size)) return 'safetensors';
  if (looksLikeTorchLegacy(head)) return 'pytorch-legacy';
  if (looksLikeTfjsModelJson(head)) return 'tfjs';
  return undefined;
}

const HEAD_BYTES = 4096;

/** Reads a checkpoint (PyTorch zip or legacy, safetensors, TF.js model.json) from a path or from bytes. */
export async function readCheckpoint(source: string | Uint8Array, opts: ReadOptions = {}): Promise<Checkpoint> {
  const file = typeof source === 'string' ? source : '<bytes>';
  let src: ByteSource;
  if (typeof source === 'string') {
    try {
      if (statSync(source).isDirectory()) throw new CheckpointError(file, 'is a directory', 'name the checkpoint file inside it (model.json for TF.js)');
      src = fileSource(source);
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(file, `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else {
    src = memorySource(source);
  }
  try {
    let head = src.read(0, Math.min(src.size, HEAD_BYTES));
    // TF.js writes the topology before the manifest: a JSON file is sniffed whole.
    if (src.size > head.length && startsLikeJson(head)) head = src.read(0, src.size);
    switch (sniffFormat(head, src.size)) {
      case 'pytorch-zip': return readTorchZip(src, opts);
      case 'pytorch-legacy': return readTorchLegacy(src.read(0, src.size), file, opts);
      case 'safetensors': return readSafetensors(src.read(0, src.size), file, opts);
      case 'tfjs':
        if (typeof source !== 'string') throw new CheckpointError(file, 'is a TF.js model.json, whose weight shards can only be found from its path', 'pass the path of model.json');
        return await readTfjs(src.read(0, src.size), file, opts);
    }
    throw new CheckpointError(file, notACheckpoint(head), 'expected a PyTorch .pth/.pt (zip or legacy), a .safetensors file or a TF.js model.json');
  } finally {
    src.close();
  }
}

function startsLikeJson(head: Uint8Array): boolean {
  const text = Buffer.from(head.buffer, head.byteOffset, Math.min(head.length, 64)).toString('utf8').replace(/^\uFEFF/, '');
  return text.trimStart().startsWith('{');
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
