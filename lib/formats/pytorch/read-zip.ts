/** PyTorch's zip checkpoint (torch.save since 1.6): `<root>/data.pkl` plus one record per storage. */
import { CheckpointError } from '../errors';
import type { Checkpoint, ReadLimits, ReadOptions } from '../checkpoint';
import { unpickle } from '../pickle/unpickle';
import { openZip } from '../zip/read';
import type { ByteSource } from '../source';
import { itemSize } from '../../statedict/tensor';
import { assemble } from './assemble';
import { checkAllowGlobals, torchHooks } from './globals';
import { StorageRef } from './storage';

/** Reads a PyTorch zip checkpoint; storages are read only when a tensor of the chosen root needs them. */
export function readTorchZip(src: ByteSource, opts: ReadOptions, limits: ReadLimits): Promise<Checkpoint> {
  const file = src.name;
  const allowGlobals = checkAllowGlobals(file, opts.allowGlobals);
  const zip = openZip(src, { inflatedBytes: limits.limit('inflatedBytes', src.size), inflatedHow: limits.describe('inflatedBytes') });
  const pickles = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length === 0) {
    const names = [...zip.entries.keys()].slice(0, 5).join(', ');
    const ignored = zip.notes.length ? `; ${zip.notes.join('; ')}` : '';
    throw new CheckpointError(file, `zip archive has no <root>/data.pkl, so it is not a PyTorch checkpoint (it holds ${names || 'nothing'}${ignored})`);
  }
  if (pickles.length > 1) throw new CheckpointError(file, `zip archive holds several checkpoints (${pickles.join(', ')})`, 'extract the one you want');
  const rootDir = pickles[0].slice(0, -'data.pkl'.length);
  const notes: string[] = [...zip.notes];
  const order = zip.entries.get(`${rootDir}byteorder`);
  const bigEndian = order ? new TextDecoder().decode(zip.read(order)).trim() === 'big' : false;
  if (bigEndian) notes.push('storages were written big-endian and were byte-swapped');
  if (zip.entries.has(`${rootDir}constants.pkl`)) notes.push('this is a TorchScript archive; only its tensors were read');

  const pkl = zip.entries.get(pickles[0])!;
  const storages = new Map<string, StorageRef>();
  const within = pkl.method === 0 ? undefined : ` of the inflated '${pkl.name}'`;
  const hooks = torchHooks({
    file, notes, within, strictGlobals: opts.strictGlobals ?? false, allowGlobals,
    loadStorage(dtype, key, numel, at) {
      const known = storages.get(key);
      if (known) {
        // torch.save refuses to save one storage under two dtypes, and torch.load would read the second as the first.
        if (known.dtype !== dtype) throw new CheckpointError(file, `storage '${key}' is named as ${known.dtype} and as ${dtype} at byte ${at}${within ?? ''}`, 'the file is damaged or hand-made; torch.save never writes this');
        return known;
      }
      const entry = zip.entries.get(`${rootDir}data/${key}`);
      if (!entry) throw new CheckpointError(file, `storage record '${rootDir}data/${key}' named at byte ${at} is missing`, 'the file is damaged or incomplete');
      const need = numel * itemSize(dtype);
      if (entry.size < need) {
        throw new CheckpointError(file, `storage record '${entry.name}' holds ${entry.size} bytes but ${numel} ${dtype} elements need ${need}`, 'the file is damaged');
      }
      const finish = (data: Uint8Array) => (bigEndian ? byteSwapped(data.subarray(0, need), itemSize(dtype)) : data.subarray(0, need));
      const verify = opts.verifyChecksums ?? true;
      const s = new StorageRef(key, dtype, numel, undefined, () => finish(zip.read(entry, verify)), async () => finish(await zip.readAsync(entry, verify)));
      storages.set(key, s);
      return s;
    },
  });
  const pklBytes = zip.read(pkl);
  const { value, opcodes } = unpickle({ bytes: pklBytes, file, base: pkl.method === 0 ? zip.dataOffset(pkl) : 0, within }, hooks);
  return assemble('pytorch-zip', value, file, src.size, opts, notes, limits, opcodes);
}

/** A copy of `data` with each `size`-byte element's bytes reversed. */
export function byteSwapped(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i += size) for (let j = 0; j < size; j++) out[i + j] = data[i + size - 1 - j];
  return out;
}
