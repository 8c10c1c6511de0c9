/** Element conversions between dtypes, for handing checkpoint tensors to TF.js (float32, int32, bool). */
import type { HostTensor } from './tensor';

/** The value of an IEEE half-precision number given as its 16 bits. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The tensor's elements as float32 (a view when they already are). */
export function asFloat32(t: HostTensor): Float32Array {
  switch (t.dtype) {
    case 'float32': return t.data as Float32Array;
    case 'float16': return Float32Array.from(t.data as Uint16Array, halfToFloat);
    case 'bfloat16': {
      const bits = new Uint32Array(t.data.length);
      (t.data as Uint16Array).forEach((b, i) => { bits[i] = b << 16; });
      return new Float32Array(bits.buffer);
    }
    case 'int64': return Float32Array.from(t.data as BigInt64Array, Number);
    default: return Float32Array.from(t.data as ArrayLike<number>);
  }
}

/** The tensor's elements as int32 (a view when they already are); int64 values must fit. */
export function asInt32(t: HostTensor, key: string): Int32Array {
  if (t.dtype === 'int32') return t.data as Int32Array;
  if (t.dtype === 'int64') {
    return Int32Array.from(t.data as BigInt64Array, (v) => {
      if (v > 2147483647n || v < -2147483648n) throw new RangeError(`${key}: int64 value ${v} does not fit in int32`);
      return Number(v);
    });
  }
  return Int32Array.from(asFloat32(t), Math.trunc);
}
