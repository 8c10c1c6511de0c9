/**
 * The checkpoint formats tsfreeze reads and writes: one row per format, with its sniffer, its
 * reader, its writer (and the extensions that choose it) and the budgets its reader keeps.
 * `readCheckpoint`, `writeCheckpoint`, the `CheckpointFormat` type and the CLI's help all
 * derive from this table; adding a format is adding a row.
 */
import type { BudgetName, BudgetRule, Checkpoint, ReadOptions } from './checkpoint';
import { ReadLimits } from './checkpoint';
import { CheckpointError } from './errors';
import type { ByteSource } from './source';
import type { WriteOptions } from './write';
import type { StateDict } from '../statedict/tensor';
import { atomicWrite } from './atomic-write';
import { looksLikeZip } from './zip/read';
import { readTorchZip } from './pytorch/read-zip';
import { looksLikeTorchLegacy, readTorchLegacy } from './pytorch/read-legacy';
import { encodeTorchZip } from './pytorch/write';
import { encodeSafetensors, looksLikeSafetensors, MAX_HEADER_BYTES, readSafetensors } from './safetensors';
import { looksLikeTfjsModelJson, readTfjs, writeTfjs } from './tfjs';

/** One checkpoint format. */
export interface FormatSpec {
  name: string;
  /** What the format is, for help and errors. */
  title: string;
  /** Short name in the CLI's list of output formats. */
  short: string;
  /** Extensions that make `writeCheckpoint` write this format (none: read only). */
  extensions: readonly string[];
  /** Whether a file's first bytes (the whole file for JSON) and size are this format's. */
  sniff(head: Uint8Array, size: number): boolean;
  /** Reads the file; `path` is false for bytes in memory. */
  read(src: ByteSource, opts: ReadOptions, limits: ReadLimits, path: boolean): Promise<Checkpoint> | Checkpoint;
  write?(path: string, sd: StateDict, opts: WriteOptions): Promise<void>;
  /** What reading may cost, beyond the structural checks every reader makes. */
  budgets: Partial<Record<BudgetName, BudgetRule>>;
}

const MiB = 2 ** 20;

/** Copies of tensors that cannot be views of the file's bytes. */
const COPIES: BudgetRule = { factor: 4, plus: 64 * MiB, per: 'file byte', option: 'maxAllocation', what: 'bytes copied for strided, expanded, unaligned or dequantized tensors' };
/** Keys and values a pickle flattens to: shared objects are counted once per path. */
const PICKLE_NODES: BudgetRule = { factor: 2, plus: 100_000, per: 'pickle opcode', what: 'keys and values the pickle expands to through shared references' };

/** Every format, in sniffing order. */
export const FORMATS = [
  {
    name: 'pytorch-zip',
    title: 'PyTorch zip checkpoint (torch.save since 1.6)',
    short: 'PyTorch',
    extensions: ['.pth', '.pt', '.bin', '.ckpt'],
    sniff: (head) => looksLikeZip(head),
    read: (src, opts, limits) => readTorchZip(src, opts, limits),
    write: (path, sd, opts) => atomicWrite(path, encodeTorchZip(sd, { metadata: opts.metadata, nest: opts.nest })),
    budgets: {
      copyBytes: COPIES,
      inflatedBytes: { factor: 2, plus: 0, per: 'file byte', option: 'maxInflatedBytes', what: 'bytes the deflated zip records inflate to' },
      pickleNodes: PICKLE_NODES,
    },
  },
  {
    name: 'safetensors',
    title: 'safetensors',
    short: 'safetensors',
    extensions: ['.safetensors'],
    sniff: (head, size) => looksLikeSafetensors(head, size),
    read: (src, opts, limits) => readSafetensors(src.read(0, src.size), src.name, opts, limits),
    write: (path, sd, opts) => atomicWrite(path, encodeSafetensors(sd, opts.metadata, path)),
    budgets: { headerBytes: { factor: 0, plus: MAX_HEADER_BYTES, per: 'file byte', what: 'bytes of JSON header (the reference implementation\'s limit)' } },
  },
  {
    name: 'pytorch-legacy',
    title: 'PyTorch legacy checkpoint (torch < 1.6, or _use_new_zipfile_serialization=False)',
    short: 'PyTorch legacy',
    extensions: [],
    sniff: (head) => looksLikeTorchLegacy(head),
    read: (src, opts, limits) => readTorchLegacy(src.read(0, src.size), src.name, opts, limits),
    budgets: { copyBytes: COPIES, pickleNodes: PICKLE_NODES },
  },
  {
    name: 'tfjs',
    title: 'TF.js model.json with weight shards',
    short: 'TF.js',
    extensions: ['.json'],
    sniff: (head) => looksLikeTfjsModelJson(head),
    read: async (src, opts, limits, path) => {
      if (!path) throw new CheckpointError(src.name, 'is a TF.js model.json, whose weight shards can only be found from its path', 'pass the path of model.json');
      return readTfjs(src.read(0, src.size), src.name, opts, limits);
    },
    write: (path, sd, opts) => writeTfjs(path, sd, { metadata: opts.metadata }),
    budgets: {
      copyBytes: { ...COPIES, per: 'file byte', what: 'bytes copied for weights that straddle shards, are unaligned or dequantized (per byte of the shards)' },
      manifestBytes: { factor: 0, plus: 256 * MiB, per: 'file byte', what: 'bytes of model.json' },
    },
  },
] as const satisfies readonly FormatSpec[];

/** A row of the table. */
export type Format = (typeof FORMATS)[number];

/** The row of a format by name. */
export function formatNamed(name: Format['name']): FormatSpec {
  return FORMATS.find((f) => f.name === name)!;
}

/** The limits a format's reader keeps for these options (for calling a reader directly). */
export function limitsFor(name: Format['name'], opts: ReadOptions = {}): ReadLimits {
  return new ReadLimits(formatNamed(name).budgets, opts);
}

/** The row whose extensions include `ext` (lower case, with the dot), if any. */
export function formatForExtension(ext: string): FormatSpec | undefined {
  return (FORMATS as readonly FormatSpec[]).find((f) => f.extensions.includes(ext) && f.write);
}

/** `.pth/.pt/.bin/.ckpt PyTorch, .safetensors, .json TF.js`: the writable formats by extension, for help text. */
export function writableFormatsText(): string {
  return (FORMATS as readonly FormatSpec[]).filter((f) => f.write && f.extensions.length)
    .map((f) => `${f.extensions.join('/')}${f.short === 'safetensors' ? '' : ` ${f.short}`}`).join(', ');
}

/** `a PyTorch .pth/.pt (zip or legacy), ...`: the readable formats, for error hints. */
export function readableFormatsText(): string {
  return FORMATS.map((f) => f.title).join('; ');
}
