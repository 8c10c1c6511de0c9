/** Where a reader takes bytes from: a file read piece by piece, or bytes already in memory. */
import { closeSync, constants, fstatSync, openSync, read, readSync, statSync, type Stats } from 'node:fs';
import { CheckpointError } from './errors';

/** Random access to the bytes of one checkpoint file. */
export interface ByteSource {
  /** The file's name, for error messages. */
  readonly name: string;
  readonly size: number;
  /** `length` bytes from `offset` (the caller has checked the range): a fresh buffer for files, a view for memory. */
  read(offset: number, length: number): Uint8Array;
  /** The same bytes, read in the background (files only; the caller awaits them before close); `onChunk` sees them in order as they arrive. */
  readAsync?(offset: number, length: number, onChunk?: (chunk: Uint8Array) => void): Promise<Uint8Array>;
  close(): void;
}

/** A source over bytes in memory; reads are views, never copies. */
export function memorySource(bytes: Uint8Array, name = '<bytes>'): ByteSource {
  return { name, size: bytes.length, read: (o, n) => bytes.subarray(o, o + n), close: () => undefined };
}

/** What a file that is not a regular file is, in words. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * Opens a regular file for reading, refusing FIFOs, devices, sockets and directories at once:
 * the open does not block (O_NONBLOCK), and fstat of the open descriptor decides, so a file
 * swapped for a FIFO between a check and the open cannot hang the reader.
 */
export function openRegularFile(path: string, file = path, hint?: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw new CheckpointError(file, 'is a directory', hint ?? 'name the checkpoint file inside it (model.json for TF.js)');
    // A socket cannot be opened at all (ENXIO): say what it is.
    let st: Stats | undefined;
    try { st = statSync(path); } catch { /* the open's own error says it */ }
    if (st && !st.isFile()) throw new CheckpointError(file, `is ${kindOf(st)}, not a regular file`, hint ?? 'checkpoints are read from regular files only');
    throw new CheckpointError(file, `cannot be read: ${code ?? (e as Error).message}`);
  }
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (e) {
    closeSync(fd);
    throw new CheckpointError(file, `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isFile()) {
    closeSync(fd);
    throw new CheckpointError(file, `is ${kindOf(st)}, not a regular file`, hint ?? (st.isDirectory() ? 'name the checkpoint file inside it (model.json for TF.js)' : 'checkpoints are read from regular files only'));
  }
  return { fd, size: st.size };
}

/** Reads `length` bytes at `offset` of an open file into a fresh buffer, or throws if the file shrank. */
export function readAt(fd: number, offset: number, length: number, name: string): Buffer {
  const buf = Buffer.allocUnsafeSlow(length);
  for (let done = 0; done < length;) {
    const n = readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) throw new CheckpointError(name, `shrank while being read (${offset + done} of ${offset + length} bytes)`, 'another program is writing the file; read it again when it is done');
    done += n;
  }
  return buf;
}

/** A source over a regular file; each read allocates exactly the bytes asked for. */
export function fileSource(path: string): ByteSource {
  const { fd, size } = openRegularFile(path);
  const slots = new Slots(2);
  return {
    name: path,
    size,
    read: (offset, length) => readAt(fd, offset, length, path),
    readAsync: (offset, length, onChunk) => readAtAsync(fd, offset, length, path, slots, onChunk),
    close: () => closeSync(fd),
  };
}

/** Bytes per background read: small enough that checking one chunk overlaps reading the next. */
const CHUNK = 1 << 20;

/**
 * readAt, in libuv's thread pool, in 1 MiB chunks read concurrently; `onChunk` sees the chunks
 * in order as soon as each and all before it have arrived (so a CRC check keeps pace with the
 * reads instead of waiting for the whole record).
 */
function readAtAsync(fd: number, offset: number, length: number, name: string, slots: Slots, onChunk?: (chunk: Uint8Array) => void): Promise<Buffer> {
  const buf = Buffer.allocUnsafeSlow(length);
  const count = Math.ceil(length / CHUNK);
  if (count === 0) { onChunk?.(buf); return Promise.resolve(buf); }
  return new Promise((resolve, reject) => {
    const arrived = new Array<boolean>(count).fill(false);
    let next = 0;
    let failed = false;
    const fetch = (k: number, from: number): void => slots.run((release) => {
      const end = Math.min(length, (k + 1) * CHUNK);
      read(fd, buf, from, end - from, offset + from, (err, n) => {
        release();
        if (failed) return;
        if (err || n === 0) {
          failed = true;
          reject(err ? new CheckpointError(name, `cannot be read: ${err.code ?? err.message}`)
            : new CheckpointError(name, `shrank while being read (${offset + from} of ${offset + length} bytes)`, 'another program is writing the file; read it again when it is done'));
          return;
        }
        if (from + n < end) { fetch(k, from + n); return; }
        arrived[k] = true;
        try {
          for (; next < count && arrived[next]; next++) onChunk?.(buf.subarray(next * CHUNK, Math.min(length, (next + 1) * CHUNK)));
        } catch (e) {
          failed = true;
          reject(e);
          return;
        }
        if (next === count) resolve(buf);
      });
    });
    for (let k = 0; k < count; k++) fetch(k, k * CHUNK);
  });
}

/** At most `n` background reads at a time: one being read while the last one is checked keeps two cores busy without the reads contending. */
class Slots {
  private free: number;
  private readonly waiting: Array<(release: () => void) => void> = [];
  constructor(n: number) { this.free = n; }
  run(task: (release: () => void) => void): void {
    if (this.free > 0) { this.free--; task(() => this.release()); } else this.waiting.push(task);
  }
  private release(): void {
    const next = this.waiting.shift();
    if (next) next(() => this.release()); else this.free++;
  }
}
