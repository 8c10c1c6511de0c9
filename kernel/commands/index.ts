/**
 * The `tsfreeze` commands, one table: name, summary, arguments, option table and what each does.
 * The CLI's parsing, `tsfreeze --help` and `tsfreeze COMMAND --help` derive from it. Commands load
 * their modules when they run (diffkeys brings in TF.js, which keys and convert do not need).
 */
import type { OptionTable, ParsedWords, PositionalCount } from '../options';
import { UsageError } from '../usage-error';
import { writableFormatsText } from '../../lib/formats/formats';
import { DIFFKEYS_ARGS, DIFFKEYS_OPTIONS, DIFFKEYS_SUMMARY, diffkeysLimit } from '../verbs/diffkeys';
import { RUN_OPTIONS } from './run-options';

/** One command of the CLI. */
export interface Command {
  name: string;
  /** One line for `tsfreeze --help`. */
  summary: string;
  /** What follows the name in the usage line: `A B [--json]`. */
  args: string;
  /** More help for `tsfreeze NAME --help`. */
  help?: string;
  options: OptionTable;
  positionals: PositionalCount;
  /** Parses the words itself (run: --kernel-cmd takes the rest of the line). */
  ownParser?: boolean;
  run(words: ParsedWords, argv: string[]): Promise<void>;
}

export const COMMANDS: Command[] = [
  {
    name: 'install',
    summary: 'register the Jupyter kernel "TypeScript (tsfreeze)", its logos and the plotly.js nbextension its plots load',
    args: '[--user | --sys-prefix | --prefix DIR] [--uninstall]',
    help: 'Default --user (your Jupyter data folder). The kernelspec runs this package\'s kernel with the Node that ran this command.',
    options: {
      user: { type: 'boolean', help: "into your Jupyter data folder (the default)" },
      'sys-prefix': { type: 'boolean', help: "into the active Python environment's share/jupyter" },
      prefix: { type: 'string', value: 'DIR', help: 'into DIR/share/jupyter (Jupyter finds it when DIR/share/jupyter is on JUPYTER_PATH)' },
      uninstall: { type: 'boolean', help: 'remove the kernelspec and the nbextension instead' },
    },
    positionals: 0,
    async run({ values }) {
      const { installKernelSpec, uninstallKernelSpec } = await import('./install');
      const chosen = [values.user, values['sys-prefix'], values.prefix !== undefined].filter(Boolean).length;
      if (chosen > 1) throw new UsageError('give at most one of --user, --sys-prefix, --prefix DIR');
      const target = values.prefix !== undefined ? { kind: 'prefix' as const, dir: values.prefix as string } : values['sys-prefix'] ? { kind: 'sys-prefix' as const } : { kind: 'user' as const };
      if (values.uninstall) {
        const dir = uninstallKernelSpec(target);
        console.log(dir ? `removed the tsfreeze kernelspec from ${dir}` : 'no tsfreeze kernelspec was installed there');
      } else {
        console.log(`installed the kernelspec "TypeScript (tsfreeze)" in ${await installKernelSpec(target)}`);
      }
    },
  },
  {
    name: 'kernel',
    summary: 'run the kernel (Jupyter starts it from the kernelspec)',
    args: '--connection-file FILE',
    options: { 'connection-file': { type: 'string', value: 'FILE', help: 'the connection file Jupyter wrote (ports and key)' } },
    positionals: 0,
    async run({ values }) {
      if (!values['connection-file']) throw new UsageError('kernel needs --connection-file FILE (Jupyter passes it)');
      const { startKernel } = await import('./kernel');
      await startKernel(values['connection-file'] as string);
      // The kernel runs until shutdown_request or its parent's death; main() must not set an exit code.
      await new Promise(() => undefined);
    },
  },
  {
    name: 'run',
    summary: 'execute a notebook headless (tsfreeze kernel by default), write the executed notebook and a self-contained HTML page; a failing cell exits 1, naming it',
    args: 'NOTEBOOK [-o OUT.ipynb] [--html OUT.html | --no-html] [--timeout S] [--kernel NAME | --kernel-cmd CMD...]',
    options: RUN_OPTIONS,
    positionals: 1,
    ownParser: true,
    async run(_words, argv) {
      const { parseRunArgs, runCommand } = await import('./run');
      await runCommand(parseRunArgs(argv));
    },
  },
  {
    name: 'keys',
    summary: "list a checkpoint's tensors (key, dtype, shape) and totals, and a whole pickled module's tree",
    args: 'FILE [--root PATH] [--json]',
    options: {
      root: { type: 'string', value: 'PATH', help: 'the sub-tree of the checkpoint to list (e.g. model_state_dict); default: found by itself' },
      json: { type: 'boolean', help: 'the listing as JSON' },
    },
    positionals: 1,
    async run({ positionals, values }) {
      const { formatKeysReport, keysReport } = await import('./keys');
      const report = await keysReport(positionals[0], { root: values.root as string | undefined });
      console.log(values.json ? JSON.stringify(report, null, 2) : formatKeysReport(report));
    },
  },
  {
    name: 'diffkeys',
    summary: DIFFKEYS_SUMMARY,
    args: DIFFKEYS_ARGS,
    help: 'The same comparison and renderer as the kernel\'s %diffkeys A B.',
    options: DIFFKEYS_OPTIONS,
    positionals: 2,
    async run({ positionals, values }) {
      const limit = diffkeysLimit(values.limit);
      if (typeof limit === 'string') throw new UsageError(limit);
      const [a, b] = positionals;
      const { diffKeys } = await import('../../lib/model/diff-keys');
      const { formatKeyDiff } = await import('../../lib/model/diff-view');
      const diff = await diffKeys(a, b);
      console.log(values.json ? JSON.stringify(diff, null, 2) : formatKeyDiff(diff, { a, b, limit }));
    },
  },
  {
    name: 'convert',
    summary: `rewrite a checkpoint; OUT's extension picks the format (${writableFormatsText()})`,
    args: 'IN OUT [--root PATH]',
    options: { root: { type: 'string', value: 'PATH', help: 'the sub-tree of the checkpoint to write (e.g. model_state_dict); default: found by itself' } },
    positionals: 2,
    async run({ positionals, values }) {
      const { convertCheckpoint } = await import('./convert');
      const { formatBytes } = await import('./keys');
      const r = await convertCheckpoint(positionals[0], positionals[1], { root: values.root as string | undefined });
      console.log(`wrote ${r.to}: ${r.totals.tensors} tensors, ${formatBytes(r.totals.bytes)} (from ${r.format})`);
      for (const n of r.notes) console.log(`note: ${n}`);
    },
  },
];

/** The command named `name`, or undefined. */
export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
