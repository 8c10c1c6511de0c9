/**
 * Bit-exact comparison of a weight's values with a fingerprint's copy: an element differs when
 * its bits differ, so a NaN equals the same NaN, and -0 differs from 0.
 */

/** How two arrays of values differ. */
export interface BitwiseDiff {
  /** Number of elements whose bits differ. */
  changedElements: number;
  /** Largest |now - then| over those elements (NaN when one involves a NaN; 0 when only the sign of a zero changed). */
  maxAbsChange: number;
}

type Typed = Float32Array | Float64Array | Int32Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Uint32Array;

const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;

function isTyped(x: ArrayLike<number>): x is Typed {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

function bytesOf(x: Typed): Uint8Array {
  return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

/** Whether two typed arrays of the same element size hold the same bytes (memcmp where Node's Buffer exists). */
function sameBytes(a: Typed, b: Typed): boolean {
  if (a.byteLength !== b.byteLength) return false;
  if (NodeBuffer) return NodeBuffer.from(a.buffer, a.byteOffset, a.byteLength).equals(NodeBuffer.from(b.buffer, b.byteOffset, b.byteLength));
  const x = bytesOf(a);
  const y = bytesOf(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Each element's bits as one number, for typed arrays of 1 or 4 bytes an element (what TF.js weights are). */
function bitsOf(x: Typed): ArrayLike<number> {
  return x.BYTES_PER_ELEMENT === 1 ? bytesOf(x) : new Int32Array(x.buffer, x.byteOffset, x.length);
}

/** How `now` differs from `then` (same length), element by element, by their bits. */
export function bitwiseDiff(then: ArrayLike<number>, now: ArrayLike<number>): BitwiseDiff {
  let same: (i: number) => boolean;
  if (isTyped(then) && isTyped(now) && then.constructor === now.constructor && (now.BYTES_PER_ELEMENT === 1 || now.BYTES_PER_ELEMENT === 4)) {
    if (sameBytes(then, now)) return { changedElements: 0, maxAbsChange: 0 };
    const a = bitsOf(then);
    const b = bitsOf(now);
    same = (i) => a[i] === b[i];
  } else {
    // A fingerprint built by hand (numbers, or another array type): the same number, NaN equal to NaN, -0 not equal to 0.
    same = (i) => Object.is(then[i], now[i]);
  }
  let changedElements = 0;
  let maxAbsChange = 0;
  for (let i = 0; i < now.length; i++) {
    if (same(i)) continue;
    changedElements++;
    const d = Math.abs(now[i] - then[i]);
    maxAbsChange = d !== d || maxAbsChange !== maxAbsChange ? NaN : Math.max(maxAbsChange, d);
  }
  return { changedElements, maxAbsChange };
}
