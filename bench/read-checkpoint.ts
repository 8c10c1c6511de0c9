/**
 * Benchmark: read torchvision resnet18's state dict (.pth, about 47 MB) into memory, next to
 * torch.load measured in the same run. Prints medians, the ratio, and tsfreeze's peak memory
 * above the process baseline (VmHWM after resetting it through /proc/self/clear_refs).
 * tsfreeze checks every record's CRC-32 by default; torch.load does not, so both are shown.
 *   npm run bench:read
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '../lib/formats/read';

const PYTHON = '/usr/bin/python3';
const CACHE = join(__dirname, '.cache');
const FILE = join(CACHE, 'resnet18.pth');
const RUNS = 15;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function vm(field: 'VmHWM' | 'VmRSS'): number {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return m ? Number(m[1]) * 1024 : NaN;
}

function torchLoadMs(): { median: number; weightsOnly: number } {
  const code = `
import time, torch, statistics, sys, json, gc
torch.set_num_threads(2)
def t(**kw):
    xs = []
    for _ in range(${RUNS}):
        gc.collect()
        a = time.perf_counter(); sd = torch.load(sys.argv[1], **kw); xs.append((time.perf_counter() - a) * 1000); del sd
    return statistics.median(xs)
print(json.dumps({"median": t(), "weightsOnly": t(weights_only=True)}))`;
  return JSON.parse(execFileSync(PYTHON, ['-c', code, FILE], { encoding: 'utf8' })) as { median: number; weightsOnly: number };
}

async function main(): Promise<void> {
  if (!existsSync(FILE)) {
    mkdirSync(CACHE, { recursive: true });
    execFileSync(PYTHON, [join(__dirname, '..', 'test', 'fixtures', 'torch', 'make_fixtures.py'), '--bench', CACHE], { stdio: 'inherit' });
  }
  const size = statSync(FILE).size;
  // Peak memory of one cold read, before anything else has grown the heap.
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const base = vm('VmRSS');
  try { writeFileSync('/proc/self/clear_refs', '5'); } catch { /* older kernels: VmHWM then covers start-up too */ }
  let ck = await readCheckpoint(FILE);
  const peak = vm('VmHWM') - base;
  const tensors = ck.stateDict.size;

  const timed = async (opts: { verifyChecksums: boolean }): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      ck = undefined as never;
      gc?.();
      const t0 = performance.now();
      ck = await readCheckpoint(FILE, opts);
      times.push(performance.now() - t0);
    }
    return median(times);
  };
  const ours = await timed({ verifyChecksums: true });
  const oursNoCrc = await timed({ verifyChecksums: false });
  const torch = torchLoadMs();
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  console.log(`resnet18 state dict: ${mb(size)} MiB, ${tensors} tensors`);
  console.log(`torch.load                              median ${torch.median.toFixed(1)} ms of ${RUNS}`);
  console.log(`torch.load(weights_only=True)           median ${torch.weightsOnly.toFixed(1)} ms`);
  console.log(`tsfreeze readCheckpoint (CRC-32 checked) median ${ours.toFixed(1)} ms   ratio to torch.load ${(ours / torch.median).toFixed(2)}`);
  console.log(`tsfreeze verifyChecksums: false          median ${oursNoCrc.toFixed(1)} ms   ratio to torch.load ${(oursNoCrc / torch.median).toFixed(2)} (torch.load does not check data CRCs either)`);
  console.log(`peak memory above baseline: ${mb(peak)} MiB = ${(peak / size).toFixed(2)} x file size (goal <= 1.2)`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
