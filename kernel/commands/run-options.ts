/** `tsfreeze run`'s option table (its own module: the CLI's help reads it without loading the runner). */
import type { OptionTable } from '../options';

/** `tsfreeze run`'s options (`--kernel-cmd` takes the rest of the line, so it is read apart). */
export const RUN_OPTIONS: OptionTable = {
  output: { type: 'string', short: 'o', value: 'OUT.ipynb', help: 'the executed notebook (default NOTEBOOK.executed.ipynb beside it)' },
  html: { type: 'string', value: 'OUT.html', help: 'the self-contained HTML page (default NOTEBOOK.html beside it)' },
  'no-html': { type: 'boolean', help: 'write no HTML page' },
  timeout: { type: 'string', value: 'S', help: 'seconds each cell may run (default: no limit)' },
  kernel: { type: 'string', value: 'NAME', help: 'run on this installed kernelspec instead of the tsfreeze kernel' },
  'kernel-cmd': { type: 'string', value: 'CMD...', help: 'run on the kernel this command line starts (the rest of the line; it must contain {connection_file})' },
};
