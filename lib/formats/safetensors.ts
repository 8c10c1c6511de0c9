/**
 * safetensors: an 8-byte little-endian header length, a JSON header of dtype, shape and
 * data_offsets per tensor (plus `__metadata__`), then the tensors' bytes. Validated as the
 * reference implementation validates: bounded header, offsets contiguous from 0 to the end.
 */
import { CheckpointError } from './errors';
import { selectRoot, type Checkpoint, type CheckpointMetadata, type JsonValue, type ReadLimits, type ReadOptions } from './checkpoint';
import { refuseShared } from './aliases';
import { JsonEntriesError, objectEntries } from './json-entries';
import { bytesOf, itemSize, viewAs, type DType, type HostTensor, type StateDict } from '../statedict/tensor';

/** The reference implementation's bound on the header's length. */
export const MAX_HEADER_BYTES = 100_000_000;

const CODES: Record<DType, string> = {
  bool: 'BOOL', uint8: 'U8', int8: 'I8', int16: 'I16', float16: 'F16', bfloat16: 'BF16',
  int32: 'I32', float32: 'F32', float64: 'F64', int64: 'I64',
};
const DTYPE_OF_CODE = Object.fromEntries(Object.entries(CODES).map(([d, c]) => [c, d as DType])) as Record<string, DType>;
/** The reference's dtype order (its enum), used to sort tensors by alignment when writing. */
const RANK = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64'];

/** Whether `bytes` starts like a safetensors file. */
export function looksLikeSafetensors(head: Uint8Array, size = head.length): boolean {
  if (head.length < 10) return false;
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(size - 8) && head[8] === 0x7b;
}

/** Reads a safetensors file held in memory; tensors are views of its bytes where aligned. */
export function readSafetensors(bytes: Uint8Array, file: string, opts: ReadOptions, limits: ReadLimits): Checkpoint {
  function fail(problem: string, hint = 'the file is truncated or damaged'): never { throw new CheckpointError(file, problem, hint); }
  if (bytes.length < 8) fail(`safetensors file of ${bytes.length} bytes is shorter than its 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  const maxHeader = limits.limit('headerBytes', bytes.length);
  if (n64 > BigInt(maxHeader)) fail(`safetensors header length ${n64} exceeds the ${maxHeader}-byte limit`, 'the file is damaged or not safetensors');
  const n = Number(n64);
  if (8 + n > bytes.length) fail(`safetensors header of ${n} bytes runs past the end of the ${bytes.length}-byte file`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail(`safetensors header (bytes 8..${8 + n}) is not valid UTF-8`);
  }
  // Parsed entry by entry: linear for any number of tensors, and duplicate keys stay visible.
  let header: Array<[string, unknown, number]>;
  try {
    header = objectEntries(text);
  } catch (e) {
    const at = e instanceof JsonEntriesError ? ` at byte ${8 + Buffer.byteLength(text.slice(0, e.at))}` : '';
    fail(`safetensors header (bytes 8..${8 + n}) is not a valid JSON object${at}: ${(e as Error).message}`);
  }
  // The reference refuses a header that names a tensor twice (JSON.parse would keep the last silently).
  const seen = new Set<string>();
  for (const [key, , at] of header) {
    if (seen.has(key)) fail(`safetensors header holds the key ${JSON.stringify(key)} twice (the second at byte ${8 + Buffer.byteLength(text.slice(0, at))})`, 'the file is damaged or hand-made; tensor names must be unique');
    seen.add(key);
  }
  const data = bytes.subarray(8 + n);
  const metadata: CheckpointMetadata = { values: {}, notes: [] };
  const entries: Array<{ key: string; dtype: DType; shape: number[]; begin: number; end: number }> = [];

  for (const [key, info] of header) {
    if (key === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail('safetensors __metadata__ is not an object');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`safetensors __metadata__ value '${k}' is not a string`);
        metadata.values[k] = v as JsonValue;
      }
      continue;
    }
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t !== 'object' || t === null) fail(`safetensors entry '${key}' is not an object`);
    const dtype = typeof t.dtype === 'string' ? DTYPE_OF_CODE[t.dtype] : undefined;
    if (!dtype) fail(`safetensors tensor '${key}' has dtype ${JSON.stringify(t.dtype)}, which is not supported`, `supported: ${Object.keys(DTYPE_OF_CODE).join(', ')}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`safetensors tensor '${key}' has an invalid shape ${JSON.stringify(t.shape)}`);
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[0] > off[1]) {
      fail(`safetensors tensor '${key}' has invalid data_offsets ${JSON.stringify(off)}`);
    }
    entries.push({ key, dtype, shape: t.shape as number[], begin: off[0], end: off[1] });
  }

  // Every byte after the header belongs to exactly one tensor, in offset order from 0.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.begin !== at) fail(`safetensors tensor '${e.key}' starts at data offset ${e.begin}, expected ${at} (offsets must be contiguous from 0)`);
    let elements = 1;
    for (const d of e.shape) elements *= d;
    const need = elements * itemSize(e.dtype);
    if (!Number.isSafeInteger(need) || need !== e.end - e.begin) {
      fail(`safetensors tensor '${e.key}' of shape [${e.shape}] ${e.dtype} needs ${need} bytes but its offsets span ${e.end - e.begin}`);
    }
    at = e.end;
  }
  if (at !== data.length) fail(`safetensors tensors cover ${at} bytes but ${data.length} follow the header`, 'the file is truncated, or has trailing bytes');

  const tensors = new Map<string, HostTensor>();
  for (const e of entries) tensors.set(e.key, { dtype: e.dtype, shape: e.shape, data: viewAs(e.dtype, data.subarray(e.begin, e.end)) });
  return { format: 'safetensors', stateDict: selectRoot(file, tensors, metadata, opts.root, undefined), metadata };
}

/**
 * The bytes of a safetensors file for `sd`, laid out as the reference writer lays them out.
 * Tensors that share memory are refused, as the reference's `save_file` refuses them: the
 * format stores each tensor's own bytes, so the file stays bounded by the tensors' bytes.
 */
export function encodeSafetensors(sd: StateDict, metadata?: Record<string, JsonValue>, path = '<safetensors>'): Uint8Array[] {
  refuseShared(path, sd, 'safetensors');
  // The reference sorts by dtype (widest first, which keeps every tensor aligned), then by name.
  const order = [...sd.entries()].sort(([ka, a], [kb, b]) =>
    RANK.indexOf(CODES[b.dtype]) - RANK.indexOf(CODES[a.dtype]) || (ka < kb ? -1 : ka > kb ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    header.__metadata__ = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  }
  let at = 0;
  for (const [key, t] of order) {
    header[key] = { dtype: CODES[t.dtype], shape: t.shape, data_offsets: [at, at + t.data.byteLength] };
    at += t.data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return [prefix, json, ...order.map(([, t]) => bytesOf(t))];
}
