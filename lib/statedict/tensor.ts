/** The element types a checkpoint tensor may have, named as in DESIGN.md. */
export type DType =
  | 'float32' | 'float64' | 'float16' | 'bfloat16'
  | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'bool';

/** The typed array that holds each dtype's elements (16-bit floats keep their raw bits). */
export interface DTypeArrays {
  float32: Float32Array; float64: Float64Array; float16: Uint16Array; bfloat16: Uint16Array;
  int8: Int8Array; int16: Int16Array; int32: Int32Array; int64: BigInt64Array;
  uint8: Uint8Array; bool: Uint8Array;
}

export type TensorData = DTypeArrays[DType];

/** A tensor in host memory: contiguous, row-major elements of one dtype. */
export interface HostTensor<D extends DType = DType> {
  dtype: D;
  shape: number[];
  data: DTypeArrays[D];
}

/** An ordered map from dotted key (`features.0.weight`) to tensor. */
export type StateDict = Map<string, HostTensor>;

type ArrayCtor = { new(buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData; new(length: number): TensorData; BYTES_PER_ELEMENT: number };

const CTORS: Record<DType, ArrayCtor> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array,
  int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
  uint8: Uint8Array, bool: Uint8Array,
} as unknown as Record<DType, ArrayCtor>;

/** Every dtype name, in a stable order. */
export const DTYPES = Object.keys(CTORS) as DType[];

/** Whether `s` names a dtype. */
export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(CTORS, s);
}

/** Bytes per element of a dtype. */
export function itemSize(dtype: DType): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

/** Number of elements of a shape (1 for a 0-d tensor). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A typed array of `dtype` over `bytes`: a view when aligned, else a copy. */
export function viewAs<D extends DType>(dtype: D, bytes: Uint8Array): DTypeArrays[D] {
  const Ctor = CTORS[dtype];
  const size = Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % size !== 0) throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  const length = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer, bytes.byteOffset, length) as DTypeArrays[D];
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Ctor(copy.buffer, 0, length) as DTypeArrays[D];
}

/** A zero-filled typed array for `length` elements of `dtype`. */
export function allocate<D extends DType>(dtype: D, length: number): DTypeArrays[D] {
  return new CTORS[dtype](length) as DTypeArrays[D];
}

/** The bytes of a tensor's data (a view, no copy). */
export function bytesOf(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** A HostTensor from a dtype, a shape and data whose length must match the shape. */
export function hostTensor<D extends DType>(dtype: D, shape: number[], data: DTypeArrays[D]): HostTensor<D> {
  if (data.length !== numel(shape)) throw new RangeError(`shape [${shape}] needs ${numel(shape)} elements, data has ${data.length}`);
  return { dtype, shape, data };
}
