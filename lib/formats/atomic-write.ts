/**
 * Writing files so that an interrupted write never leaves a half-written one in place: bytes go
 * to a temporary file beside the target, are flushed, then renamed over it. Temporary files a
 * killed writer left behind are removed by the next write to the same path.
 */
import { open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Temporary files this process is writing now (a stale-file sweep must leave them alone). */
const inFlight = new Set<string>();

/** Whether process `pid` is alive (a process of another user counts as alive). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a file written by process `pid` (and named `full`) is left over from a dead writer. */
export function isStale(pid: number, full: string): boolean {
  // Our own pid: stale unless we are writing it now (a killed writer's pid may have been reused by us).
  return pid === process.pid ? !inFlight.has(full) : !processAlive(pid);
}

const TEMP = /\.tmp-(\d+)-[0-9a-z]+$/;

/** The temporary name `atomicWrite` uses for `path`. */
function tempFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`);
}

/** Removes the temporary files of dead writers in `dir` whose target names satisfy `owns` (default: every target). */
export async function removeStaleTemps(dir: string, owns: (target: string) => boolean = () => true): Promise<void> {
  let names: string[];
  try { names = await readdir(dir); } catch { return; }
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m || !name.startsWith('.')) continue;
    const target = name.slice(1, m.index);
    const full = join(dir, name);
    if (owns(target) && isStale(Number(m[1]), full)) await rm(full, { force: true });
  }
}

/** Writes `chunks` to a temporary file beside `path`, flushes it to disk, then renames it over `path`; `mode` sets the new file's permissions (0o600 for secrets). */
export async function atomicWrite(path: string, chunks: Iterable<Uint8Array>, opts: { mode?: number } = {}): Promise<void> {
  const target = basename(path);
  await removeStaleTemps(dirname(path), (t) => t === target);
  const tmp = tempFor(path);
  inFlight.add(tmp);
  try {
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
  } finally {
    inFlight.delete(tmp);
  }
}

/** Flushes a folder's entries (a rename in it) to disk, where the platform allows. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
  } catch {
    // Some platforms and file systems cannot open or sync a folder; the rename itself is still atomic.
  }
}
