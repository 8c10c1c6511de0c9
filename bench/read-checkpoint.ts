/**
 * Benchmark: read torchvision resnet18's state dict (.pth, about 47 MB) into memory, next to
 * torch.load measured in the same run. torch.load runs in one Python process that stays up, and
 * the runs alternate (tsfreeze, torch.load, tsfreeze without CRC, torch.load(weights_only=True))
 * so that both see the same machine load. Prints medians, the ratio, and tsfreeze's peak memory
 * above the process baseline (VmHWM after resetting it through /proc/self/clear_refs).
 * tsfreeze checks every record's CRC-32 by default; torch.load does not, so both are shown.
 *   npm run bench:read
 */
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '../lib/formats/read';

const PYTHON = '/usr/bin/python3';
const CACHE = join(__dirname, '.cache');
const FILE = join(CACHE, 'resnet18.pth');
const RUNS = 21;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function vm(field: 'VmHWM' | 'VmRSS'): number {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** A Python process that answers each line ("full" or "weights_only") with the milliseconds one torch.load took. */
function torchServer(): { load(mode: 'full' | 'weights_only'): Promise<number>; close(): void } {
  const code = `
import sys, time, gc, torch
torch.set_num_threads(2)
for line in sys.stdin:
    gc.collect(); time.sleep(0.05)
    a = time.perf_counter(); sd = torch.load(sys.argv[1], weights_only=line.strip() == 'weights_only'); ms = (time.perf_counter() - a) * 1000
    del sd
    print(ms, flush=True)`;
  const py = spawn(PYTHON, ['-c', code, FILE], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
  return {
    async load(mode) {
      py.stdin.write(`${mode}\n`);
      const { value, done } = await lines.next();
      if (done) throw new Error('the torch.load process stopped');
      return Number(value);
    },
    close: () => py.stdin.end(),
  };
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

  const ours = async (verifyChecksums: boolean): Promise<number> => {
    ck = undefined as never;
    gc?.();
    // V8 frees the previous result's buffers on background threads: let that finish, as the Python side's frees have.
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    ck = await readCheckpoint(FILE, { verifyChecksums });
    return performance.now() - t0;
  };
  const torch = torchServer();
  await torch.load('full'); // warm both sides up
  await ours(true);
  const times = { ours: [] as number[], oursNoCrc: [] as number[], torch: [] as number[], weightsOnly: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    times.ours.push(await ours(true));
    times.torch.push(await torch.load('full'));
    times.oursNoCrc.push(await ours(false));
    times.weightsOnly.push(await torch.load('weights_only'));
  }
  torch.close();
  const [o, n, t, w] = [times.ours, times.oursNoCrc, times.torch, times.weightsOnly].map(median);
  // The ratio of medians, and the median of each round's ratio (less sensitive to load that drifts during the run).
  const paired = median(times.ours.map((x, i) => x / times.torch[i]));
  const mb = (x: number) => (x / 2 ** 20).toFixed(1);
  console.log(`resnet18 state dict: ${mb(size)} MiB, ${tensors} tensors; ${RUNS} alternating rounds`);
  console.log(`torch.load                              median ${t.toFixed(1)} ms`);
  console.log(`torch.load(weights_only=True)           median ${w.toFixed(1)} ms`);
  console.log(`tsfreeze readCheckpoint (CRC-32 checked) median ${o.toFixed(1)} ms   ratio to torch.load ${(o / t).toFixed(2)} (per round: ${paired.toFixed(2)}; goal <= 1.0)`);
  console.log(`tsfreeze verifyChecksums: false          median ${n.toFixed(1)} ms   ratio to torch.load ${(n / t).toFixed(2)} (torch.load does not check data CRCs either)`);
  console.log(`peak memory above baseline: ${mb(peak)} MiB = ${(peak / size).toFixed(2)} x file size (goal <= 1.2)`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
