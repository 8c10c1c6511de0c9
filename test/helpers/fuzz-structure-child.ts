/**
 * Child process of the structure-aware fuzz test: reads `count` generated inputs of one kind and
 * prints one JSON line per case (what happened, milliseconds, peak memory above the baseline
 * through VmHWM), so that the parent can bound each case and name the one that hangs.
 *   node --import tsx fuzz-structure-child.ts KIND SEED COUNT DIR
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../../lib/train/data';
import { readCheckpoint } from '../../lib/formats/read';
import { CheckpointError } from '../../lib/formats/errors';
import { FUZZ_DANGEROUS, manifestCase, pickleCase, safetensorsCase, zipCase } from './structured-inputs';

/** One case's outcome. */
export interface FuzzLine { i: number; res: 'ok' | 'refused' | 'crash'; msg?: string; ms: number; peak: number; bytes: number }

function vm(field: string): number {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
  if (!m) throw new Error('needs Linux /proc');
  return Number(m[1]) * 1024;
}

async function main(): Promise<void> {
  const [kind, seed, count, dir] = process.argv.slice(2);
  const r = mulberry32(Number(seed));
  const outside = join(dir, 'outside.bin');
  mkdirSync(dir, { recursive: true });
  writeFileSync(outside, new Uint8Array(16));
  for (let i = 0; i < Number(count); i++) {
    let input: Uint8Array | string;
    let bytes: number;
    switch (kind) {
      case 'pickle': input = pickleCase(r); bytes = input.length; break;
      case 'zip': input = zipCase(r); bytes = input.length; break;
      case 'safetensors': input = safetensorsCase(r); bytes = input.length; break;
      case 'tfjs': input = manifestCase(r, join(dir, String(i % 20)), outside); bytes = 4096; break;
      default: throw new Error(`unknown kind ${kind}`);
    }
    const base = vm('VmRSS');
    writeFileSync('/proc/self/clear_refs', '5');
    const t0 = performance.now();
    let line: Omit<FuzzLine, 'ms' | 'peak' | 'i' | 'bytes'>;
    try {
      const ck = await readCheckpoint(input);
      // A dangerous global must never be accepted, even inertly.
      const seen = JSON.stringify(ck.metadata, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
      const bad = FUZZ_DANGEROUS.find((g) => seen.includes(g));
      line = bad ? { res: 'crash', msg: `accepted the dangerous global ${bad}` } : { res: 'ok' };
    } catch (e) {
      if (e instanceof CheckpointError && !e.message.includes('\n')) line = { res: 'refused' };
      else line = { res: 'crash', msg: (e as Error)?.stack ?? String(e) };
    }
    const ms = performance.now() - t0;
    process.stdout.write(`${JSON.stringify({ i, ...line, ms: Math.round(ms * 10) / 10, peak: vm('VmHWM') - base, bytes })}\n`);
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
