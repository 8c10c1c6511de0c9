/**
 * Saving a TF.js model.json and its weight shards so that a reader sees the old save or the new
 * one, never a mix, whenever the writer is killed: the new shards are written under names no
 * save has used (`<stem>.<writer>.weights.bin`), each atomically; then model.json is renamed
 * into place, which is the moment the new save becomes visible; then the old save's shards are
 * removed. Shards and temporary files that killed writers left behind are removed by the next
 * save to the same model.json.
 */
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { atomicWrite, isStale, removeStaleTemps, syncDir } from './atomic-write';

/** What a save writes: model.json's fields (its weightsManifest is filled in here) and the shards' bytes. */
export interface ModelFiles {
  /** model.json's fields other than `weightsManifest`, in the order they are written. */
  json: Record<string, unknown>;
  /** The manifest's weight entries, in the order their bytes lie in the shards. */
  weights: unknown[];
  /** Each shard's bytes, as chunks written in order. */
  shards: Uint8Array[][];
}

/** Saves this process is writing now, by token (a sweep must not remove their shards). */
const inFlight = new Set<string>();

/** model.json's stem: `model` for `model.json`. */
function stemOf(path: string): string {
  const file = basename(path);
  return file.slice(0, file.length - extname(file).length) || 'model';
}

/** Shard file names for `count` shards of the model at `path` written by save `token`: `<stem>.<token>.weights.bin`, or `<stem>.<token>.group1-shardKofN.bin` when split. */
export function shardNames(path: string, count: number, token: string): string[] {
  const stem = stemOf(path);
  if (count === 1) return [`${stem}.${token}.weights.bin`];
  return Array.from({ length: count }, (_, i) => `${stem}.${token}.group1-shard${i + 1}of${count}.bin`);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Matches the shards tsfreeze writes for `stem`: with a save token (pid in base 36, then random hex), or without (earlier versions). */
function shardPattern(stem: string): RegExp {
  return new RegExp(`^${escape(stem)}\\.(?:([0-9a-z]+)-([0-9a-f]+)\\.)?(?:weights|group1-shard\\d+of\\d+)\\.bin$`);
}

/** The shard files a model.json lists that lie in its own folder, or undefined when there is no readable model.json. */
async function listedShards(path: string): Promise<Set<string> | undefined> {
  try {
    const st = await stat(path);
    if (!st.isFile() || st.size > 256 * 2 ** 20) return undefined;
    const json = JSON.parse(await readFile(path, 'utf8')) as { weightsManifest?: Array<{ paths?: unknown }> };
    const out = new Set<string>();
    for (const g of Array.isArray(json.weightsManifest) ? json.weightsManifest : []) {
      for (const p of Array.isArray(g?.paths) ? g.paths : []) if (typeof p === 'string') out.add(p.replace(/^\.\//, ''));
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Removes what killed saves of this model left: temporary files, and token shards no model.json lists whose writer is gone. */
async function sweep(path: string, listed: Set<string> | undefined): Promise<void> {
  const dir = dirname(path);
  const stem = stemOf(path);
  const pattern = shardPattern(stem);
  await removeStaleTemps(dir, (target) => target === basename(path) || pattern.test(target));
  if (!listed) return; // without a readable model.json nothing proves a shard unused
  let names: string[];
  try { names = await readdir(dir); } catch { return; }
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m || !m[1] || listed.has(name)) continue;
    const pid = parseInt(m[1], 36);
    const full = join(dir, name);
    if (pid === process.pid ? !inFlight.has(`${m[1]}-${m[2]}`) : isStale(pid, full)) await rm(full, { force: true });
  }
}

/** Writes model.json at `path` and its shards beside it, atomically as a whole (see the module comment); returns the shard names. */
export async function commitModelFiles(path: string, files: ModelFiles): Promise<string[]> {
  const dir = dirname(path);
  const token = `${process.pid.toString(36)}-${randomBytes(3).toString('hex')}`;
  inFlight.add(token);
  try {
    const before = await listedShards(path);
    await sweep(path, before);
    const names = shardNames(path, files.shards.length, token);
    for (const [i, chunks] of files.shards.entries()) await atomicWrite(join(dir, names[i]), chunks);
    const json = { ...files.json, weightsManifest: names.length ? [{ paths: names, weights: files.weights }] : [] };
    // The commit: until this rename, readers see the old model.json and its untouched shards.
    await atomicWrite(path, [Buffer.from(JSON.stringify(json), 'utf8')]);
    await syncDir(dir);
    // The old save's shards, now unlisted; only names tsfreeze writes for this model, never a file another model may list.
    const pattern = shardPattern(stemOf(path));
    const now = await listedShards(path);
    for (const name of before ?? []) {
      if (pattern.test(name) && !names.includes(name) && !now?.has(name)) await rm(join(dir, name), { force: true });
    }
    return names;
  } finally {
    inFlight.delete(token);
  }
}
