/** Writing a state dict as PyTorch's zip checkpoint, readable by `torch.load(path, weights_only=True)`. */
import { Pickler } from '../pickle/pickler';
import { zipStored } from '../zip/write';
import type { JsonValue } from '../checkpoint';
import { bytesOf, type DType, type StateDict } from '../../statedict/tensor';
import { STORAGE_DTYPES } from './storage';

const STORAGE_OF: Record<DType, string> = Object.fromEntries(Object.entries(STORAGE_DTYPES).map(([s, d]) => [d, s])) as Record<DType, string>;

/** Options of the PyTorch writer. */
export interface TorchWriteOptions {
  /** Non-tensor values; when given, the file holds `{...metadata, [stateDictKey]: state_dict}` instead of the bare state dict. */
  metadata?: Record<string, JsonValue>;
  /** Key of the state dict beside metadata (default `state_dict`). */
  stateDictKey?: string;
  /** Name of the archive's root folder (default `archive`, as torch.save writes it). */
  rootName?: string;
  forceZip64?: boolean;
}

/** The bytes of a PyTorch zip checkpoint holding `sd` (as an OrderedDict of tensors), as chunks to write in order. */
export function encodeTorchZip(sd: StateDict, opts: TorchWriteOptions = {}): Uint8Array[] {
  const root = opts.rootName ?? 'archive';
  const p = new Pickler();
  const withMeta = opts.metadata && Object.keys(opts.metadata).length > 0;
  if (withMeta) {
    p.emptyDict().mark();
    for (const [k, v] of Object.entries(opts.metadata!)) { p.str(k); p.json(v); }
    p.str(opts.stateDictKey ?? 'state_dict');
  }
  p.global('collections', 'OrderedDict').emptyTuple().reduce();
  const storages: Uint8Array[] = [];
  if (sd.size) {
    p.mark();
    for (const [key, t] of sd) {
      const id = storages.length;
      storages.push(bytesOf(t));
      p.str(key);
      // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks)
      p.global('torch._utils', '_rebuild_tensor_v2').mark();
      p.mark().str('storage').global('torch', STORAGE_OF[t.dtype]).str(String(id)).str('cpu').int(t.data.length).tuple().binPersId();
      p.int(0);
      p.mark(); for (const d of t.shape) p.int(d); p.tuple();
      p.mark(); for (const s of contiguousStrides(t.shape)) p.int(s); p.tuple();
      p.bool(false);
      p.global('collections', 'OrderedDict').emptyTuple().reduce();
      p.tuple().reduce();
    }
    p.setItems();
  }
  if (withMeta) p.setItems();
  p.stop();
  return zipStored([
    { name: `${root}/data.pkl`, data: p.bytes() },
    { name: `${root}/byteorder`, data: Buffer.from('little') },
    ...storages.map((data, i) => ({ name: `${root}/data/${i}`, data })),
    { name: `${root}/version`, data: Buffer.from('3\n') },
  ], { forceZip64: opts.forceZip64 });
}

/** Row-major strides of a shape, in elements. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) { out[i] = s; s *= Math.max(shape[i], 1); }
  return out;
}
