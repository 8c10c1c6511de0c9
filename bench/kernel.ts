/**
 * Benchmark: the tsfreeze kernel's start-up and cell round trips, with Debian's ipykernel (and
 * tslab's own kernel, for start-up and a trivial cell) measured in the same run by the same code.
 *
 *   start-up     process spawn → the first kernel_info_reply received on shell (a kernel_info_request
 *                is queued on a DEALER connected before the spawn, so it goes out the moment the
 *                kernel binds its shell socket; resent every second until one is answered, as
 *                jupyter_client does; a first request that never got its reply is counted as lost)
 *   first cell   process spawn → the first `1 + 1` finished (execute_reply and iopub idle), through
 *                the project's Jupyter client, which first waits for kernel_info and iopub as
 *                Jupyter's own clients do: what a user waits before the first result
 *   first TF.js cell after idle   a kernel started and left idle for 3 s (a person opening a notebook),
 *                then the round trip of a first cell that imports TF.js (tsfreeze, tslab, baseline only)
 *   round trip   execute_request sent → its execute_reply received and its iopub idle seen
 *                (kernel/protocol/client.ts), for a trivial cell (`1 + 1`) and a magic (`%lsmagic`),
 *                after a warm-up of 5 each
 *
 * Goals: start-up under 2 s, a magic cell under 20 ms. Prints medians, p90 and ratios to ipykernel.
 * tsfreeze is started as its kernelspec starts it (node dist/kernel/cli.js kernel): build first.
 *   npm run build && npm run bench:kernel
 *   npm run bench:kernel -- --startups 10 --roundtrips 50 --kernels tsfreeze,ipykernel,tslab
 *   npm run bench:kernel -- --baseline scratch/old-dist/kernel/cli.js   also time another build of
 *                the kernel (a copy of dist/ made before a change), interleaved with this one
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Dealer } from 'zeromq';
import { kernelSpec } from '../kernel/commands/install';
import { KernelClient } from '../kernel/protocol/client';
import { launchKernel, describeExit, type KernelProcess } from '../kernel/protocol/launch';
import { channelUrl, decodeMessage, encodeMessage, newMessage, writeConnectionFile, type ConnectionInfo, type Message } from '../kernel/protocol/wire';

const ROOT = resolve(__dirname, '..');
const PYTHON = '/usr/bin/python3';
const WARMUP = 5;
/** Longest a kernel may take to start or to answer, before the run is declared broken. */
const TIMEOUT_MS = 60_000;

type KernelName = 'tsfreeze' | 'ipykernel' | 'tslab' | 'baseline';

interface KernelKind {
  name: KernelName;
  argv: string[];
  /** The magic cell to time, if the kernel has magics. */
  magic?: string;
  /** What the magic's text/plain output must contain (a check that it really ran). */
  magicShows?: RegExp;
}

function kernels(baseline?: string): Partial<Record<KernelName, KernelKind>> {
  const cli = join(ROOT, 'dist', 'kernel', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} does not exist: run npm run build first (the benchmark starts the kernel as its kernelspec does)`);
  if (baseline && !existsSync(baseline)) throw new Error(`--baseline ${baseline} does not exist: give the cli.js of another build of the kernel`);
  return {
    tsfreeze: { name: 'tsfreeze', argv: kernelSpec(cli).argv as string[], magic: '%lsmagic', magicShows: /%lsmagic/ },
    ...(baseline ? { baseline: { name: 'baseline' as const, argv: kernelSpec(resolve(baseline)).argv as string[], magic: '%lsmagic', magicShows: /%lsmagic/ } } : {}),
    ipykernel: { name: 'ipykernel', argv: [PYTHON, '-m', 'ipykernel_launcher', '-f', '{connection_file}'], magic: '%lsmagic', magicShows: /%lsmagic/ },
    tslab: { name: 'tslab', argv: [process.execPath, join(ROOT, 'node_modules', 'tslab', 'bin', 'tslab'), 'kernel', '--config-path', '{connection_file}'] },
  };
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
const median = (xs: number[]) => quantile(xs, 0.5);

/** Rejects after `ms`, or when the kernel exits first. */
function bounded<T>(p: Promise<T>, proc: KernelProcess, what: string, ms = TIMEOUT_MS): Promise<T> {
  return new Promise<T>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms / 1000} s; kernel output:\n${proc.outputTail()}`)), ms);
    void proc.exited.then((s) => rej(new Error(`${what}: the kernel exited with ${describeExit(s)}; its output:\n${proc.outputTail()}`)));
    p.then((v) => { clearTimeout(timer); res(v); }, (e) => { clearTimeout(timer); rej(e); });
  });
}

/** A started kernel and the connection it listens on. */
interface Started { proc: KernelProcess; info: ConnectionInfo; dir: string; t0: number; startupMs: number; firstLost: boolean }

/** How often an unanswered kernel_info_request is sent again (jupyter_client waits 1 s too). */
const RESEND_MS = 1000;

/** Spawns a kernel and times spawn → first kernel_info_reply. */
async function start(kind: KernelKind): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-bench-kernel-'));
  const file = join(dir, 'connection.json');
  const info = await writeConnectionFile(file);
  // A short reconnect interval: the socket retries while the kernel has not bound yet, and
  // ZeroMQ's default 100 ms between tries would be measured as start-up.
  const shell = new Dealer({ linger: 0, reconnectInterval: 2 });
  shell.connect(channelUrl(info, 'shell'));
  const session = randomUUID();
  const sent: string[] = [];
  const send = () => {
    const req = newMessage('kernel_info_request', {}, session);
    sent.push(req.header.msg_id);
    return shell.send(encodeMessage(req as Message, info.key));
  };
  const t0 = performance.now();
  const proc = launchKernel({ argv: kind.argv, fields: { connection_file: file }, cwd: ROOT });
  const resend = setInterval(() => void send(), RESEND_MS);
  try {
    const reply = (async () => {
      await send();
      for (;;) {
        const m = decodeMessage(await shell.receive(), info.key);
        const i = sent.indexOf((m.parent_header as { msg_id?: string }).msg_id ?? '');
        // A kernel answers shell requests in order: a first reply to a later request means the first one was lost.
        if (i >= 0) return { t1: performance.now(), firstLost: i > 0 };
      }
    })();
    const { t1, firstLost } = await bounded(reply, proc, `${kind.name}: kernel_info_request`);
    return { proc, info, dir, t0, startupMs: t1 - t0, firstLost };
  } catch (e) {
    await stop({ proc, dir });
    throw e;
  } finally {
    clearInterval(resend);
    shell.close();
  }
}

/** Ends a kernel (shutdown_request through `client` when given), its process group and its files. */
async function stop(k: { proc: KernelProcess; dir: string }, client?: KernelClient): Promise<void> {
  if (client) {
    await client.shutdown(3000).catch(() => undefined);
    await Promise.race([k.proc.exited, new Promise((r) => setTimeout(r, 3000))]);
  }
  await k.proc.kill(1000);
  rmSync(k.dir, { recursive: true, force: true });
}

/** Jupyter's client connection to a started kernel; a failure names the kernel. */
async function connectTo(kind: KernelKind, k: { info: ConnectionInfo; proc: KernelProcess }): Promise<KernelClient> {
  try {
    return await bounded(KernelClient.connect(k.info, { timeout: TIMEOUT_MS }), k.proc, `${kind.name}: connecting`, TIMEOUT_MS + 5000);
  } catch (e) {
    throw new Error(`${kind.name}: connecting a client to the started kernel: ${(e as Error).message}; kernel output:\n${k.proc.outputTail()}`, { cause: e });
  }
}

/** Runs a cell and checks that it did what it should (a broken kernel must not look fast). */
async function run(client: KernelClient, proc: KernelProcess, kind: KernelKind, code: string, shows: RegExp): Promise<number> {
  const t0 = performance.now();
  const r = await bounded(client.execute(code, { timeout: TIMEOUT_MS }), proc, `${kind.name}: ${code}`);
  const ms = performance.now() - t0;
  if (r.reply.content.status !== 'ok') throw new Error(`${kind.name}: ${code} failed: ${r.reply.content.ename}: ${r.reply.content.evalue}`);
  // A result, or printed text (tslab's own kernel prints the last value on stdout).
  const text = r.outputs.map((o) => { const c = o.content as { data?: Record<string, unknown>; text?: string }; return String(c.data?.['text/plain'] ?? c.text ?? '').trim(); }).join('\n');
  if (!shows.test(text)) throw new Error(`${kind.name}: ${code} showed ${JSON.stringify(text.slice(0, 200))}, expected ${shows}`);
  return ms;
}

interface StartupTimes { startup: number[]; firstCell: number[]; lost: number }

/** One start: spawn → kernel_info_reply, then → first `1 + 1` done; the kernel is shut down after. */
async function startOnce(kind: KernelKind, into: StartupTimes): Promise<void> {
  const k = await start(kind);
  let client: KernelClient | undefined;
  try {
    client = await connectTo(kind, k);
    await run(client, k.proc, kind, '1 + 1', /^2$/m);
    into.firstCell.push(performance.now() - k.t0);
    into.startup.push(k.startupMs);
    if (k.firstLost) into.lost++;
  } finally {
    await stop(k, client);
  }
}

/** How long a kernel sits idle before its first TF.js cell (a person opening a notebook and reading it). */
const IDLE_MS = 3000;
const TFJS_CELL = "import * as tf from '@tensorflow/tfjs';\ntf.ones([2]).shape";

/** A kernel left idle for IDLE_MS, then its first cell, which imports TF.js: that cell's round trip. */
async function idleThenTfjs(kind: KernelKind): Promise<number> {
  const k = await start(kind);
  let client: KernelClient | undefined;
  try {
    client = await connectTo(kind, k);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return await run(client, k.proc, kind, TFJS_CELL, /\[ ?2 ?\]/);
  } finally {
    await stop(k, client);
  }
}

interface RoundTrips { trivial: number[]; magic: number[] }

/** One kernel, warmed up, then `n` trivial cells and `n` magic cells, alternating. */
async function roundTrips(kind: KernelKind, n: number): Promise<RoundTrips> {
  const k = await start(kind);
  let client: KernelClient | undefined;
  const out: RoundTrips = { trivial: [], magic: [] };
  try {
    client = await connectTo(kind, k);
    for (let i = 0; i < WARMUP + n; i++) {
      const t = await run(client, k.proc, kind, '1 + 1', /^2$/m);
      if (i >= WARMUP) out.trivial.push(t);
      if (!kind.magic) continue;
      const m = await run(client, k.proc, kind, kind.magic, kind.magicShows!);
      if (i >= WARMUP) out.magic.push(m);
    }
  } finally {
    await stop(k, client);
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      startups: { type: 'string', default: '10' },
      roundtrips: { type: 'string', default: '50' },
      kernels: { type: 'string', default: 'tsfreeze,ipykernel,tslab' },
      baseline: { type: 'string' },
      'idle-cells': { type: 'string', default: '3' },
    },
  });
  const all = kernels(values.baseline);
  const names = values.kernels.split(',').map((s) => s.trim()) as KernelName[];
  for (const n of names) if (!all[n] || n === 'baseline') throw new Error(`unknown kernel '${n}' in --kernels: use tsfreeze, ipykernel, tslab (and --baseline CLI)`);
  if (values.baseline) names.splice(1, 0, 'baseline');
  const chosen = names.map((n) => all[n]!);
  const nStart = Number(values.startups), nRound = Number(values.roundtrips);
  if (!(nStart >= 1 && nRound >= 1)) throw new Error('--startups and --roundtrips must be positive integers');

  // Start-ups interleaved kernel by kernel, so that the machine's noise falls on all of them alike.
  const starts = new Map<KernelName, StartupTimes>(chosen.map((k) => [k.name, { startup: [], firstCell: [], lost: 0 }]));
  await startOnce(chosen[0], { startup: [], firstCell: [], lost: 0 }); // warm the disk cache: not counted
  for (let i = 0; i < nStart; i++) for (const k of chosen) await startOnce(k, starts.get(k.name)!);
  const idle = new Map<KernelName, number[]>(chosen.map((k) => [k.name, []]));
  const typescript = chosen.filter((k) => k.name !== 'ipykernel');
  for (let i = 0; i < Number(values['idle-cells']); i++) for (const k of typescript) idle.get(k.name)!.push(await idleThenTfjs(k));
  const rounds = new Map<KernelName, RoundTrips>();
  for (const k of chosen) rounds.set(k.name, await roundTrips(k, nRound));

  const ms = (x: number) => (x >= 100 ? `${x.toFixed(0)} ms` : `${x.toFixed(2)} ms`);
  const rows: string[] = [];
  const row = (what: string, kernel: KernelName, xs: number[], goal: number | undefined, ref: number[] | undefined) => {
    if (!xs.length) return;
    const m = median(xs);
    const g = goal === undefined ? '' : `goal < ${goal} ms ${m < goal ? 'met' : 'MISSED'}`;
    const r = ref && ref.length && kernel !== 'ipykernel' ? `ratio to ipykernel ${(m / median(ref)).toFixed(2)}` : '';
    rows.push(`${`${what} ${kernel}`.padEnd(40)} median ${ms(m).padStart(9)}  p90 ${ms(quantile(xs, 0.9)).padStart(9)}  ${g.padEnd(24)} ${r}`.trimEnd());
  };
  const ipy = (f: (n: KernelName) => number[] | undefined) => (names.includes('ipykernel') ? f('ipykernel') : undefined);
  const tsGoal = (k: KernelKind, goal: number) => (k.name === 'tsfreeze' || k.name === 'baseline' ? goal : undefined);
  for (const k of chosen) row('start-up', k.name, starts.get(k.name)!.startup, tsGoal(k, 2000), ipy((n) => starts.get(n)!.startup));
  for (const k of chosen) row('first cell', k.name, starts.get(k.name)!.firstCell, undefined, ipy((n) => starts.get(n)!.firstCell));
  for (const k of typescript) row('first TF.js cell after idle', k.name, idle.get(k.name)!, undefined, undefined);
  for (const k of chosen) row('1 + 1', k.name, rounds.get(k.name)!.trivial, undefined, ipy((n) => rounds.get(n)!.trivial));
  for (const k of chosen) row(k.magic ?? 'magic', k.name, rounds.get(k.name)!.magic, tsGoal(k, 20), ipy((n) => rounds.get(n)!.magic));
  for (const k of chosen) {
    const lost = starts.get(k.name)!.lost;
    if (lost) rows.push(`${k.name}: the first kernel_info_request got no reply in ${lost} of ${nStart} start-ups (answered only when sent again)`);
  }

  console.log(`start-up: spawn → first kernel_info_reply; first cell: spawn → first \`1 + 1\` done (client waits for kernel_info and iopub first)`);
  console.log(`first TF.js cell after idle: a kernel idle for ${IDLE_MS / 1000} s, then a first cell importing TF.js (round trip); ${values['idle-cells']} each`);
  console.log(`round trip: execute_request sent → execute_reply and iopub idle; ${nStart} start-ups each (interleaved), ${nRound} round trips each after ${WARMUP} warm-up`);
  console.log(`node ${process.version}; ipykernel: ${PYTHON} -m ipykernel_launcher; tslab: node_modules/tslab/bin/tslab kernel${values.baseline ? `; baseline: ${values.baseline}` : ''}`);
  for (const r of rows) console.log(r);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
