/**
 * Writers killed with SIGKILL at random points: every reload finds the old checkpoint or the new
 * one, whole, never a mix; the next write to the same path removes what the killed one left.
 * The writer is a child process running the compiled library (npm test builds dist/ first).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../../lib/train/data';
import { readCheckpoint, writeCheckpoint, type StateDict } from '../../lib';
import { writeTfjs } from '../../lib/formats/tfjs';

const DIST = join(__dirname, '..', '..', 'dist', 'lib', 'formats');
const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-kill-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Three tensors whose every element is `v`, so that a reload shows at a glance which save it holds. */
function model(v: number): StateDict {
  return new Map([[80_000, 'a'], [30_000, 'b'], [50_000, 'c']].map(([n, k]) => [k as string, { dtype: 'float32' as const, shape: [n as number], data: new Float32Array(n as number).fill(v) }]));
}

/** The child: writes saves 1, 2, 1, 2, ... to `path` until it is killed. */
const CHILD = `
const [path, kind] = process.argv.slice(1);
const { writeCheckpoint } = require(${JSON.stringify(join(DIST, 'write.js'))});
const { writeTfjs } = require(${JSON.stringify(join(DIST, 'tfjs.js'))});
const model = (v) => new Map([[80000, 'a'], [30000, 'b'], [50000, 'c']].map(([n, k]) => [k, { dtype: 'float32', shape: [n], data: new Float32Array(n).fill(v) }]));
const saves = [model(1), model(2)];
(async () => {
  process.stdout.write('ready\\n');
  for (let i = 0; ; i++) {
    if (kind === 'tfjs') await writeTfjs(path, saves[i % 2], { shardBytes: 65536 });
    else await writeCheckpoint(path, saves[i % 2]);
  }
})();`;

/** Starts a writer, kills it with SIGKILL `delayMs` after it is ready, and waits for it to die. */
async function killWriterAfter(path: string, kind: string, delayMs: number): Promise<void> {
  const child = spawn(process.execPath, ['-e', CHILD, path, kind], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
  });
  await new Promise((r) => setTimeout(r, delayMs));
  const dead = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await dead;
}

/** Which save a reload holds: 1 or 2, asserting that every element of every tensor agrees. */
async function whichSave(path: string): Promise<number> {
  const { stateDict } = await readCheckpoint(path);
  assert.deepEqual([...stateDict.keys()].sort(), ['a', 'b', 'c']);
  const values = new Set<number>();
  for (const t of stateDict.values()) for (const x of t.data as Float32Array) values.add(x);
  assert.equal(values.size, 1, `a mix of saves: ${[...values]}`);
  return [...values][0];
}

/** Files of `folder` that a finished save does not account for: temporary files, and shards model.json does not list. */
function leftovers(folder: string, keep: Set<string>): string[] {
  return readdirSync(folder).filter((f) => !keep.has(f));
}

for (const [kind, file, trials] of [['tfjs', 'model.json', 40], ['pth', 'model.pth', 10], ['safetensors', 'model.safetensors', 10]] as const) {
  test(`${kind}: ${trials} writers killed at random points; each reload is wholly one save; the next write cleans up`, { timeout: 10 * 60_000 }, async () => {
    assert.ok(existsSync(join(DIST, 'write.js')), 'dist/ is built (npm test builds it)');
    const folder = join(dir, kind);
    mkdirSync(folder);
    const path = join(folder, file);
    const write = (v: number) => (kind === 'tfjs' ? writeTfjs(path, model(v), { shardBytes: 65536 }) : writeCheckpoint(path, model(v)));
    await write(1);
    const r = mulberry32(kind.length);
    const seen = new Map<number, number>();
    let interrupted = 0;
    for (let i = 0; i < trials; i++) {
      await killWriterAfter(path, kind, Math.floor(r() * 150));
      const v = await whichSave(path);
      seen.set(v, (seen.get(v) ?? 0) + 1);
      const listed = kind === 'tfjs' ? shardsListed(path) : [];
      if (leftovers(folder, new Set([file, ...listed])).length) interrupted++;
    }
    console.log(`# ${kind}: reloads found save 1 ${seen.get(1) ?? 0} times, save 2 ${seen.get(2) ?? 0} times; ${interrupted} of ${trials} kills left files behind`);
    assert.ok(interrupted > 0, 'some kill landed in the middle of a write');
    await write(2);
    assert.equal(await whichSave(path), 2);
    const listed = kind === 'tfjs' ? shardsListed(path) : [];
    assert.deepEqual(leftovers(folder, new Set([file, ...listed])), [], 'the write after the kills removed what they left');
    if (kind === 'tfjs') assert.ok(listed.length > 5, 'several shards');
  });
}

/** The shard files model.json lists. */
function shardsListed(path: string): string[] {
  const json = JSON.parse(readFileSync(path, 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
  return json.weightsManifest.flatMap((g) => g.paths);
}
