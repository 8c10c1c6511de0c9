/**
 * Child process for tests that bound a reader's time and memory: reads each case given as JSON
 * in argv[2] and prints one JSON line per case with what happened, the time taken and the peak
 * memory above the baseline (VmHWM after resetting it through /proc/self/clear_refs). Run with
 * --expose-gc so that one case's garbage does not count against the next.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readCheckpoint } from '../../lib/formats/read';
import type { ReadOptions } from '../../lib/formats/checkpoint';

/** One file to read. */
export interface MeasuredCase { name: string; file: string; opts?: ReadOptions }
/** What reading it did. */
export interface Measured { name: string; ok: boolean; error?: string; errorName?: string; tensors?: number; keys?: string[]; notes?: string[]; values?: unknown; ms: number; peak: number }

function vm(field: 'VmHWM' | 'VmRSS'): number {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
  if (!m) throw new Error(`no ${field} in /proc/self/status: this measurement needs Linux`);
  return Number(m[1]) * 1024;
}

async function main(): Promise<void> {
  const cases = JSON.parse(process.argv[2]) as MeasuredCase[];
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  for (const c of cases) {
    gc();
    const base = vm('VmRSS');
    writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
    const t0 = performance.now();
    let out: Omit<Measured, 'ms' | 'peak' | 'name'>;
    try {
      const ck = await readCheckpoint(c.file, c.opts);
      out = { ok: true, tensors: ck.stateDict.size, keys: [...ck.stateDict.keys()].slice(0, 20), notes: ck.metadata.notes, values: ck.metadata.values };
    } catch (e) {
      out = { ok: false, error: (e as Error).message, errorName: (e as Error).name };
    }
    const ms = performance.now() - t0;
    const peak = vm('VmHWM') - base;
    process.stdout.write(`${JSON.stringify({ name: c.name, ...out, ms, peak } satisfies Measured, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}\n`);
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
