/**
 * Structure-aware fuzz, beside the byte-mutation fuzz of fuzz.test.ts: pickle opcode streams,
 * zip central directories, TF.js manifests and safetensors headers built to be almost right.
 * Each case runs in a child process that measures it: every read succeeds or throws one
 * CheckpointError line, accepts no dangerous global, ends well within a time limit, and stays
 * within a memory limit. Seeded, so a failure names its case.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FuzzLine } from '../helpers/fuzz-structure-child';

const CASES = Number(process.env.FUZZ_CASES ?? 400);
const CHILD = join(__dirname, '..', 'helpers', 'fuzz-structure-child.ts');
/** A read of a few-KB input this slow can only be a hang. */
const CASE_MS = 2000;
/** Memory a case of a few KB may take above the baseline: the runtime's own growth, plus 4 × its input. */
const CASE_BYTES = (input: number) => 48 * 2 ** 20 + 4 * input;
const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-fuzz-structure-'));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const [kind, seed] of [['pickle', 11], ['zip', 12], ['tfjs', 13], ['safetensors', 14]] as const) {
  test(`structure-aware fuzz: ${kind}`, { timeout: 10 * 60_000 }, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, kind, String(seed), String(CASES), join(dir, kind)],
      { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, timeout: CASES * CASE_MS });
    const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as FuzzLine);
    assert.equal(lines.length, CASES, `the child stopped after case ${lines.length - 1} of seed ${seed} (case ${lines.length} hangs or crashed the process): ${r.error?.message ?? ''} ${r.stderr}`);
    for (const l of lines) {
      assert.notEqual(l.res, 'crash', `${kind} case ${l.i} (seed ${seed}): ${l.msg}`);
      assert.ok(l.ms < CASE_MS, `${kind} case ${l.i} (seed ${seed}) took ${l.ms} ms`);
      assert.ok(l.peak <= CASE_BYTES(l.bytes), `${kind} case ${l.i} (seed ${seed}) took ${l.peak} bytes of memory`);
    }
    const refused = lines.filter((l) => l.res === 'refused').length;
    const slowest = Math.max(...lines.map((l) => l.ms));
    const peak = Math.max(...lines.map((l) => l.peak));
    console.log(`# ${kind}: ${CASES} cases, ${CASES - refused} read, ${refused} refused; slowest ${slowest} ms, peak +${(peak / 2 ** 20).toFixed(1)} MiB`);
    assert.ok(refused > CASES / 10 && refused < CASES, `both outcomes occur: ${refused} refusals of ${CASES}`);
  });
}
