/** PyTorch storages and tensor views of them, as a checkpoint's pickle describes them. */
import { CheckpointError } from '../errors';
import { PyExternal } from '../pickle/values';
import { allocate, itemSize, numel, viewAs, type DType, type HostTensor } from '../../statedict/tensor';

/** PyTorch's typed storage class names and the dtype of their elements. */
export const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  CharStorage: 'int8', ShortStorage: 'int16', IntStorage: 'int32', LongStorage: 'int64',
  ByteStorage: 'uint8', BoolStorage: 'bool',
};

/** A storage: a flat run of elements in the file, shared by every tensor that views it. */
export class StorageRef extends PyExternal {
  /** Tensors already made from this storage, by view, so that aliases share one array (and one copy, when a copy is needed). */
  readonly made = new Map<string, HostTensor['data']>();

  constructor(
    readonly key: string,
    readonly dtype: DType,
    /** Element count the pickle declares. */
    readonly numel: number,
    /** The storage's bytes; legacy files supply them after the pickle. */
    public bytes?: Uint8Array,
    /** Reads the bytes on first use, so that storages outside the chosen root are never read. */
    private readonly load?: () => Uint8Array,
    /** The same, in the background (see `prefetch`). */
    private readonly loadAsync?: () => Promise<Uint8Array>,
  ) { super(); }

  /** The storage's bytes, read now if they were deferred. */
  data(): Uint8Array | undefined {
    if (!this.bytes && this.load) this.bytes = this.load();
    return this.bytes;
  }

  /** Reads deferred bytes in the background, so that `data()` then has them. */
  async prefetch(): Promise<void> {
    if (!this.bytes && this.loadAsync) this.bytes = await this.loadAsync();
  }
}

/** A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage. */
export class TensorRef extends PyExternal {
  requiresGrad = false;
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) { super(); }
}

/** Limits on what materialising tensors may allocate beyond the file's own bytes. */
export interface AllocationBudget {
  /** Bytes that copies (non-contiguous, expanded or unaligned tensors) may still allocate. */
  remaining: number;
}

/**
 * The HostTensor a TensorRef denotes: a view of the file's bytes when contiguous and aligned,
 * else a copy. Tensors that view the same elements of one storage share one array, so aliases
 * stay aliases (and are written once).
 */
export function materialize(t: TensorRef, file: string, key: string, budget: AllocationBudget): HostTensor {
  const { storage, offset, shape, stride } = t;
  const dtype = storage.dtype;
  const where = `tensor '${key}' (storage ${storage.key})`;
  const n = numel(shape);
  if (!Number.isSafeInteger(n)) throw new CheckpointError(file, `${where} has shape [${shape}], whose ${n} elements no machine can hold`, 'the file is damaged');
  if (n === 0) return { dtype, shape, data: allocate(dtype, 0) };
  // The highest element the view touches must lie inside the storage (sizes, strides and offset are non-negative integers).
  let last = offset;
  for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * stride[i];
  if (!Number.isSafeInteger(last) || last >= storage.numel) {
    throw new CheckpointError(file, `${where} reaches element ${last} but its storage holds ${storage.numel}`, 'the file is damaged');
  }
  const contiguous = isContiguous(shape, stride);
  const id = contiguous ? `${offset}+${n}` : `${offset}:${shape}:${stride}`;
  const known = storage.made.get(id);
  if (known) return { dtype, shape, data: known };
  const bytes = storage.data();
  if (!bytes) throw new CheckpointError(file, `${where}: the file holds no data for its storage`, 'the file is truncated or damaged');
  const size = itemSize(dtype);
  let data: HostTensor['data'];
  if (contiguous) {
    const range = bytes.subarray(offset * size, (offset + n) * size);
    if ((bytes.byteOffset + offset * size) % size !== 0) spend(budget, range.byteLength, file, where, 'is unaligned in the file and');
    data = viewAs(dtype, range);
  } else {
    spend(budget, n * size, file, where, `is a strided view of ${n} elements whose`);
    data = gather(bytes, size, offset, shape, stride, dtype);
  }
  storage.made.set(id, data);
  return { dtype, shape, data };
}

/** Takes `bytes` from the copy budget, or throws saying what needed them. */
function spend(budget: AllocationBudget, bytes: number, file: string, where: string, what: string): void {
  if (bytes > budget.remaining) {
    throw new CheckpointError(file, `${where} ${what} copy needs ${bytes} bytes, more than the file justifies (${Math.max(0, budget.remaining)} left of the copy budget)`,
      'pass a larger maxAllocation if the tensor is genuinely an expanded view');
  }
  budget.remaining -= bytes;
}

/** Whether a (shape, stride) pair lays elements out row-major with no gaps (size-1 dims may have any stride). */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

function gather(src: Uint8Array, size: number, offset: number, shape: number[], stride: number[], dtype: DType): HostTensor['data'] {
  const n = numel(shape);
  const out = new Uint8Array(n * size);
  const idx = new Array<number>(shape.length).fill(0);
  let at = offset;
  for (let k = 0; k < n; k++) {
    out.set(src.subarray(at * size, at * size + size), k * size);
    // Odometer increment over the dims, last dim fastest.
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) { at += stride[d]; break; }
      at -= (shape[d] - 1) * stride[d];
      idx[d] = 0;
    }
  }
  return viewAs(dtype, out);
}
