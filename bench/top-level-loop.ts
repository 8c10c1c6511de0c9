/**
 * Benchmark: a loop at a cell's top level against the same loop inside a function, in the
 * tsfreeze kernel, with Debian's ipykernel (Python, the reference) measured in the same run by
 * the same client. Each cell times itself (the kernel's own clock), so only the loop is counted.
 *
 *   top-level    `let s = 0; for (let i = 0; i < N; i++) { s += i; }` as a cell
 *   in function  the same loop in a function the cell calls
 *
 * Goal: top-level within 5 × the function (tslab's executor: 807 ms against 3.2 ms). Prints the
 * median of each and the ratio, per kernel.
 *   npm run build && npm run bench:loop
 *   npm run bench:loop -- --runs 9 --n 1000000 --baseline /path/to/old/dist/kernel/cli.js
 */
import { resolve, join } from 'node:path';
import { parseArgs } from 'node:util';
import { kernelSpec } from '../kernel/commands/install';
import { KernelClient } from '../kernel/protocol/client';

const ROOT = resolve(__dirname, '..');
const PYTHON = '/usr/bin/python3';

interface Kind {
  name: string;
  argv: string[];
  /** Cells that print the milliseconds of the top-level loop and of the loop in a function. */
  cells(n: number): { top: string; fn: string };
}

const ts = (n: number) => ({
  top: `const t0 = performance.now();\nlet s = 0;\nfor (let i = 0; i < ${n}; i++) { s += i; }\nconsole.log(performance.now() - t0, s);`,
  fn: `function loop() { let s = 0; for (let i = 0; i < ${n}; i++) { s += i; } return s; }\nconst t1 = performance.now();\nconst r = loop();\nconsole.log(performance.now() - t1, r);`,
});
const py = (n: number) => ({
  top: `import time\nt0 = time.perf_counter()\ns = 0\nfor i in range(${n}):\n    s += i\nprint((time.perf_counter() - t0) * 1000, s)`,
  fn: `import time\ndef loop():\n    s = 0\n    for i in range(${n}):\n        s += i\n    return s\nt1 = time.perf_counter()\nr = loop()\nprint((time.perf_counter() - t1) * 1000, r)`,
});

async function time(client: KernelClient, code: string, what: string): Promise<number> {
  const r = await client.execute(code, { timeout: 120_000 });
  if (r.reply.content.status !== 'ok') throw new Error(`${what} failed: ${r.reply.content.ename}: ${r.reply.content.evalue}`);
  const text = r.outputs.map((o) => String((o.content as { text?: string }).text ?? '')).join('');
  const ms = Number(text.trim().split(/\s+/)[0]);
  if (!Number.isFinite(ms)) throw new Error(`${what} printed ${JSON.stringify(text)}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' }, n: { type: 'string', default: '1000000' }, baseline: { type: 'string' } } });
  const runs = Number(values.runs);
  const n = Number(values.n);
  const kinds: Kind[] = [
    { name: 'tsfreeze', argv: kernelSpec(join(ROOT, 'dist', 'kernel', 'cli.js')).argv as string[], cells: ts },
    ...(values.baseline ? [{ name: 'baseline', argv: kernelSpec(resolve(values.baseline)).argv as string[], cells: ts }] : []),
    { name: 'ipykernel', argv: [PYTHON, '-m', 'ipykernel_launcher', '-f', '{connection_file}'], cells: py },
  ];
  console.log(`loop of ${n} iterations (s += i); ${runs} runs each, medians; node ${process.version}`);
  for (const kind of kinds) {
    const client = await KernelClient.start({ argv: kind.argv, cwd: ROOT });
    try {
      const cells = kind.cells(n);
      const top: number[] = [];
      const fn: number[] = [];
      for (let i = 0; i < runs; i++) {
        top.push(await time(client, cells.top, `${kind.name} top-level`));
        fn.push(await time(client, cells.fn, `${kind.name} in a function`));
      }
      const t = median(top);
      const f = median(fn);
      console.log(`${kind.name.padEnd(10)} top-level ${t.toFixed(1).padStart(8)} ms   in a function ${f.toFixed(1).padStart(8)} ms   ratio ${(t / f).toFixed(2)} ×`);
    } finally {
      await client.shutdown(5000).catch(() => client.close(500));
    }
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
