/** %time CODE and %%time: run TypeScript and print how long it took (wall clock, and CPU time of this process). */
import { registerMagic, UsageError } from '../registry';

/** Milliseconds, or seconds from one second on. */
function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 2 : 1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

registerMagic({
  name: 'time',
  kind: 'both',
  summary: 'run TypeScript (the rest of the line, or of the cell with %%time) and print the time it took',
  usage: '%time EXPRESSION_OR_STATEMENTS   or   %%time on a cell\'s first line',
  help: 'Wall time counts awaited work too; CPU time is this process\'s user + system time over the same span.\nThe value of the code is the value of the magic, so `%time model.predict(x)` still shows the prediction.',
  raw: true,
  async run(call, ctx) {
    const code = call.body ?? call.line;
    if (!code.trim()) throw new UsageError('%time needs code to run: %time EXPRESSION, or %%time with the code below it');
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let value: unknown;
    try {
      value = await ctx.run(code);
    } finally {
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      const cpu = process.cpuUsage(cpu0);
      ctx.print(`CPU time: user ${formatDuration(cpu.user / 1000)}, sys ${formatDuration(cpu.system / 1000)}\nWall time: ${formatDuration(wall)}\n`);
    }
    return value;
  },
});
