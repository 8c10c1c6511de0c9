/** readCheckpoint: one entry point for every format, chosen from the file's bytes, never its extension. */
import { fileSource, memorySource, type ByteSource } from './source';
import { CheckpointError } from './errors';
import { ReadLimits, type Checkpoint, type CheckpointFormat, type ReadOptions } from './checkpoint';
import { FORMATS, formatNamed, readableFormatsText } from './formats';

/** The format a file is in, from its first bytes and its size; undefined when it is none of the supported ones. */
export function sniffFormat(head: Uint8Array, size = head.length): CheckpointFormat | undefined {
  return FORMATS.find((f) => f.sniff(head, size))?.name;
}

const HEAD_BYTES = 4096;

/** Reads a checkpoint (PyTorch zip or legacy, safetensors, TF.js model.json) from a path or from bytes. */
export async function readCheckpoint(source: string | Uint8Array, opts: ReadOptions = {}): Promise<Checkpoint> {
  const src: ByteSource = typeof source === 'string' ? fileSource(source) : memorySource(source);
  try {
    let head = src.read(0, Math.min(src.size, HEAD_BYTES));
    // TF.js writes the topology before the manifest: a JSON file is sniffed whole (up to the manifest budget).
    if (src.size > head.length && startsLikeJson(head)) {
      head = src.read(0, Math.min(src.size, limitOfManifest(opts)));
    }
    const name = sniffFormat(head, src.size);
    if (!name) throw new CheckpointError(src.name, notACheckpoint(head), `expected one of: ${readableFormatsText()}`);
    const format = formatNamed(name);
    return await format.read(src, opts, new ReadLimits(format.budgets, opts), typeof source === 'string');
  } finally {
    src.close();
  }
}

/** The largest JSON file the TF.js row lets a reader take whole. */
function limitOfManifest(opts: ReadOptions): number {
  return new ReadLimits(formatNamed('tfjs').budgets, opts).limit('manifestBytes', 0);
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
