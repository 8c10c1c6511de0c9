/** Where a reader takes bytes from: a file read piece by piece, or bytes already in memory. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Random access to the bytes of one checkpoint file. */
export interface ByteSource {
  /** The file's name, for error messages. */
  readonly name: string;
  readonly size: number;
  /** `length` bytes from `offset` (the caller has checked the range): a fresh buffer for files, a view for memory. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

/** A source over bytes in memory; reads are views, never copies. */
export function memorySource(bytes: Uint8Array, name = '<bytes>'): ByteSource {
  return { name, size: bytes.length, read: (o, n) => bytes.subarray(o, o + n), close: () => undefined };
}

/** A source over an open file; each read allocates exactly the bytes asked for. */
export function fileSource(path: string): ByteSource {
  const fd = openSync(path, 'r');
  let size: number;
  try {
    size = fstatSync(fd).size;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return {
    name: path,
    size,
    read(offset, length) {
      const buf = Buffer.allocUnsafeSlow(length);
      for (let done = 0; done < length;) {
        const n = readSync(fd, buf, done, length - done, offset + done);
        if (n === 0) throw new Error(`${path} shrank while being read (${offset + done} of ${size} bytes)`);
        done += n;
      }
      return buf;
    },
    close: () => closeSync(fd),
  };
}
