/** Writing files so that an interrupted write never leaves a half-written one in place. */
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes `chunks` to a temporary file beside `path`, flushes it to disk, then renames it over `path`. */
export async function atomicWrite(path: string, chunks: Iterable<Uint8Array>): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  const fh = await open(tmp, 'w');
  try {
    for (const c of chunks) {
      for (let done = 0; done < c.byteLength;) {
        const { bytesWritten } = await fh.write(c, done, c.byteLength - done);
        done += bytesWritten;
      }
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}
