/**
 * Benchmark: the kernel at start-up and under load, with Debian's ipykernel measured in the same
 * run by the same code (and, with --baseline, another build of tsfreeze's kernel).
 *
 *   start-up answers   right after the first kernel_info_reply, a history_request (tail 1000, as
 *                      jupyter console sends it) and then an is_complete_request: time to each
 *                      reply (jupyter console gives up after 1 s and then misnumbers its prompts)
 *   heartbeat busy     heartbeat round trips while a cell computes for 3 s (jupyter_client calls
 *                      a kernel dead after missed beats)
 *   SVG renderer       (tsfreeze only) memory (PSS) of the kernel and of its Chromium processes
 *                      after a figure was shown, and again once the renderer's idle time (10 s)
 *                      has passed
 *
 *   npm run build && npm run bench:kernel-runtime
 *   npm run bench:kernel-runtime -- --starts 5 --baseline scratch/old-dist/kernel/cli.js
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Dealer, Request } from 'zeromq';
import { kernelSpec } from '../kernel/commands/install';
import { KernelClient } from '../kernel/protocol/client';
import { launchKernel, type KernelProcess } from '../kernel/protocol/launch';
import { channelUrl, decodeMessage, encodeMessage, newMessage, writeConnectionFile, type ConnectionInfo, type Message } from '../kernel/protocol/wire';

const ROOT = resolve(__dirname, '..');
const PYTHON = '/usr/bin/python3';
const TIMEOUT_MS = 60_000;

interface Kind { name: string; argv: string[]; busy: string; plot?: string }

const TS_BUSY = 'const until = Date.now() + 3000; while (Date.now() < until) {}';
const PLOT = 'import { show } from "tsfreeze";\nawait show({ data: [{ type: "scatter", y: [1, 3, 2] }], layout: {} });';

function kinds(baseline?: string): Kind[] {
  const cli = join(ROOT, 'dist', 'kernel', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} does not exist: run npm run build first`);
  const out: Kind[] = [{ name: 'tsfreeze', argv: kernelSpec(cli).argv as string[], busy: TS_BUSY, plot: PLOT }];
  if (baseline) {
    if (!existsSync(baseline)) throw new Error(`--baseline ${baseline} does not exist: give the cli.js of another build`);
    out.push({ name: 'baseline', argv: kernelSpec(resolve(baseline)).argv as string[], busy: TS_BUSY, plot: PLOT });
  }
  out.push({ name: 'ipykernel', argv: [PYTHON, '-m', 'ipykernel_launcher', '-f', '{connection_file}'], busy: 'import time\nt = time.time() + 3\nwhile time.time() < t: pass' });
  return out;
}

interface Started { proc: KernelProcess; info: ConnectionInfo; dir: string }

async function launch(kind: Kind): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-bench-runtime-'));
  const file = join(dir, 'connection.json');
  const info = await writeConnectionFile(file);
  const proc = launchKernel({ argv: kind.argv, fields: { connection_file: file }, cwd: ROOT });
  return { proc, info, dir };
}

async function stop(k: Started): Promise<void> {
  await k.proc.kill(2000);
  rmSync(k.dir, { recursive: true, force: true });
}

/** Sends `type` on `shell` and resolves with the ms to its reply. */
async function timed(shell: Dealer, info: ConnectionInfo, session: string, type: string, content: Record<string, unknown>): Promise<number> {
  const req = newMessage(type, content, session) as Message;
  const t0 = performance.now();
  await shell.send(encodeMessage(req, info.key));
  for (;;) {
    const m = decodeMessage(await shell.receive(), info.key);
    if ((m.parent_header as { msg_id?: string }).msg_id === req.header.msg_id) return performance.now() - t0;
  }
}

/** One start: the first kernel_info_reply, then history and is_complete right after it. */
async function startupAnswers(kind: Kind): Promise<{ history: number; isComplete: number }> {
  const k = await launch(kind);
  const shell = new Dealer({ linger: 0, reconnectInterval: 2, receiveTimeout: TIMEOUT_MS });
  try {
    shell.connect(channelUrl(k.info, 'shell'));
    const session = randomUUID();
    await timed(shell, k.info, session, 'kernel_info_request', {});
    const history = await timed(shell, k.info, session, 'history_request', { output: false, raw: true, hist_access_type: 'tail', n: 1000 });
    const isComplete = await timed(shell, k.info, session, 'is_complete_request', { code: '1 + 1' });
    return { history, isComplete };
  } finally {
    shell.close();
    await stop(k);
  }
}

/** Heartbeat round trips while a cell computes for 3 s. */
async function heartbeatBusy(kind: Kind): Promise<number[]> {
  const k = await launch(kind);
  const client = await KernelClient.connect(k.info, { timeout: TIMEOUT_MS });
  const hb = new Request({ linger: 0, receiveTimeout: 10_000 });
  try {
    await client.execute('1', { timeout: TIMEOUT_MS });
    hb.connect(channelUrl(k.info, 'hb'));
    const busy = client.execute(kind.busy, { timeout: TIMEOUT_MS });
    await new Promise((r) => setTimeout(r, 500));
    const rtts: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      await hb.send('ping');
      await hb.receive();
      rtts.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 100));
    }
    await busy;
    return rtts;
  } finally {
    hb.close();
    await client.close().catch(() => undefined);
    await stop(k);
  }
}

/** Proportional resident memory of a process (pages shared with others counted by share), in MB. */
function pssMb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Every process below `pid`. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const [c, pp] of parent) if (pp === p) { out.push(c); walk(c); } };
  walk(pid);
  return out;
}

/** Kernel and Chromium memory after a figure, and after the renderer's idle close. */
async function svgMemory(kind: Kind): Promise<{ kernel: number; chromium: number; processes: number; afterIdle: { chromium: number; processes: number } }> {
  const k = await launch(kind);
  const client = await KernelClient.connect(k.info, { timeout: TIMEOUT_MS });
  try {
    const r = await client.execute(kind.plot!, { timeout: TIMEOUT_MS });
    if (r.reply.content.status !== 'ok') throw new Error(`${kind.name}: the plot cell failed: ${r.reply.content.evalue}`);
    const pid = k.proc.pid;
    const kids = descendants(pid);
    const at = { kernel: pssMb(pid), chromium: kids.reduce((s, p) => s + pssMb(p), 0), processes: kids.length };
    await new Promise((r) => setTimeout(r, 12_000));
    const later = descendants(pid);
    return { ...at, afterIdle: { chromium: later.reduce((s, p) => s + pssMb(p), 0), processes: later.length } };
  } finally {
    await client.close().catch(() => undefined);
    await stop(k);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const max = (xs: number[]) => Math.max(...xs);
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { starts: { type: 'string', default: '5' }, baseline: { type: 'string' } } });
  const n = Number(values.starts);
  if (!(n >= 1)) throw new Error('--starts must be a positive integer');
  const all = kinds(values.baseline);
  const answers = new Map(all.map((k) => [k.name, { history: [] as number[], isComplete: [] as number[] }]));
  // Interleaved, so that the machine's noise falls on every kernel alike.
  for (let i = 0; i < n; i++) {
    for (const k of all) {
      const a = await startupAnswers(k);
      answers.get(k.name)!.history.push(a.history);
      answers.get(k.name)!.isComplete.push(a.isComplete);
    }
  }
  console.log(`start-up answers: right after the first kernel_info_reply (${n} starts each; jupyter console waits 1 s)`);
  for (const k of all) {
    const a = answers.get(k.name)!;
    console.log(`  ${k.name.padEnd(10)} history_reply median ${ms(median(a.history)).padStart(10)}  max ${ms(max(a.history)).padStart(10)}   is_complete_reply median ${ms(median(a.isComplete)).padStart(10)}  max ${ms(max(a.isComplete)).padStart(10)}`);
  }
  console.log('heartbeat round trips while a cell computes for 3 s (10 beats)');
  for (const k of all) {
    const rtts = await heartbeatBusy(k);
    console.log(`  ${k.name.padEnd(10)} median ${ms(median(rtts)).padStart(10)}  max ${ms(max(rtts)).padStart(10)}`);
  }
  const ts = all.find((k) => k.name === 'tsfreeze')!;
  const m = await svgMemory(ts);
  console.log('SVG renderer (headless Chromium) after one figure, and 12 s later (it closes after 10 s idle)');
  console.log(`  kernel PSS ${m.kernel.toFixed(0)} MB; Chromium: ${m.processes} processes, PSS ${m.chromium.toFixed(0)} MB; after idle: ${m.afterIdle.processes} processes, ${m.afterIdle.chromium.toFixed(0)} MB`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
