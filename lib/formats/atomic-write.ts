/** Writing files so that an interrupted write never leaves a half-written one in place. */
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes `chunks` to a temporary file beside `path`, flushes it to disk, then renames it over `path`; `mode` sets the new file's permissions (0o600 for secrets). */
export async function atomicWrite(path: string, chunks: Iterable<Uint8Array>, opts: { mode?: number } = {}): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  const fh = await open(tmp, 'wx', opts.mode ?? 0o666);
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
