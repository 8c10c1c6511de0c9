/** `tsfreeze keys FILE`: what a checkpoint holds, one tensor a line, then totals. */
import { readCheckpoint } from '../../lib/formats/read';
import { summarizeStateDict, type StateDictSummary } from '../../lib/formats/summary';
import type { Checkpoint } from '../../lib/formats/checkpoint';
import type { DType } from '../../lib/statedict/tensor';
import type { ModuleNode } from '../../lib/formats/pytorch/modules';
import { formatModuleTree } from '../../lib/formats/pytorch/module-tree-text';

/** The listing of one checkpoint, as `--json` prints it. */
export interface KeysReport {
  file: string;
  format: Checkpoint['format'];
  tensors: Array<{ key: string; dtype: DType; shape: number[] }>;
  totals: StateDictSummary;
  metadata: Checkpoint['metadata'];
  /** A whole pickled nn.Module's tree (torch.save(model)): classes, attributes, children. */
  modules?: ModuleNode;
}

/** Reads `file` and lists its tensors and totals. */
export async function keysReport(file: string, opts: { root?: string } = {}): Promise<KeysReport> {
  const ck = await readCheckpoint(file, { root: opts.root });
  return {
    file,
    format: ck.format,
    tensors: [...ck.stateDict].map(([key, t]) => ({ key, dtype: t.dtype, shape: t.shape })),
    totals: summarizeStateDict(ck.stateDict),
    metadata: ck.metadata,
    ...(ck.modules ? { modules: ck.modules } : {}),
  };
}

/** The report as aligned text columns, totals and notes last. */
export function formatKeysReport(r: KeysReport): string {
  const rows = r.tensors.map((t) => [t.key, t.dtype, `[${t.shape.join(', ')}]`]);
  // A loop, not Math.max(...rows): a spread of 200,000 rows overflows the call stack.
  const widths = [0, 1].map((i) => rows.reduce((w, row) => Math.max(w, row[i].length), i === 0 ? 3 : 5));
  const line = (cells: string[]) => `${cells[0].padEnd(widths[0])}  ${cells[1].padEnd(widths[1])}  ${cells[2]}`.trimEnd();
  const out = [line(['key', 'dtype', 'shape']), ...rows.map(line)];
  const { tensors, parameters, bytes } = r.totals;
  const root = r.metadata.root ? `, root '${r.metadata.root.path}'${r.metadata.root.chosenBy === 'reader' ? ' (chosen by the reader)' : ''}` : '';
  out.push(`${tensors} tensors, ${parameters.toLocaleString('en-US')} parameters, ${formatBytes(bytes)} (${r.format}${root})`);
  for (const note of r.metadata.notes) out.push(`note: ${note}`);
  if (r.modules) {
    out.push('', 'a whole pickled module (torch.save(model)): modelFromCheckpoint(file) or %load NAME FILE rebuild it in TF.js. Its tree (read, not run):');
    out.push(formatModuleTree(r.modules));
  }
  return out.join('\n');
}

/** A byte count with a binary unit. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}
