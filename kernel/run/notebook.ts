/** Jupyter notebooks (nbformat 4) as data: reading, checking, writing. */
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { atomicWrite } from '../../lib/formats/atomic-write';

export type MultilineString = string | string[];

export interface StreamOutput { output_type: 'stream'; name: 'stdout' | 'stderr'; text: MultilineString }
export interface DisplayDataOutput { output_type: 'display_data'; data: Record<string, unknown>; metadata: Record<string, unknown> }
export interface ExecuteResultOutput { output_type: 'execute_result'; execution_count: number | null; data: Record<string, unknown>; metadata: Record<string, unknown> }
export interface ErrorOutput { output_type: 'error'; ename: string; evalue: string; traceback: string[] }
export type Output = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

interface CellBase { id?: string; source: MultilineString; metadata: Record<string, unknown> }
export interface CodeCell extends CellBase { cell_type: 'code'; outputs: Output[]; execution_count: number | null }
export interface MarkdownCell extends CellBase { cell_type: 'markdown'; attachments?: Record<string, Record<string, string>> }
export interface RawCell extends CellBase { cell_type: 'raw'; attachments?: Record<string, Record<string, string>> }
export type Cell = CodeCell | MarkdownCell | RawCell;

export interface Notebook { nbformat: 4; nbformat_minor: number; metadata: Record<string, unknown>; cells: Cell[] }

/** Joins a multiline string (nbformat stores text either whole or as a list of lines). */
export function text(s: MultilineString | undefined): string {
  return Array.isArray(s) ? s.join('') : (s ?? '');
}

/** Reads an .ipynb file, checking it is an nbformat 4 notebook; cells get ids when the format asks for them. */
export async function readNotebook(path: string): Promise<Notebook> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read notebook ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let nb: unknown;
  try {
    nb = JSON.parse(raw);
  } catch (e) {
    throw new Error(`${path} is not a notebook: not JSON (${(e as Error).message})`);
  }
  return checkNotebook(nb, path);
}

/** Checks the shape the runner relies on, saying where the notebook is wrong. */
export function checkNotebook(nb: unknown, where = 'notebook'): Notebook {
  const o = nb as Partial<Notebook> | null;
  if (!o || typeof o !== 'object' || !Array.isArray(o.cells)) throw new Error(`${where} is not a notebook: no cells list`);
  if (o.nbformat !== 4) throw new Error(`${where} is nbformat ${String(o.nbformat)}; only nbformat 4 is supported (convert it: jupyter nbconvert --to notebook --nbformat 4)`);
  const minor = typeof o.nbformat_minor === 'number' ? o.nbformat_minor : 0;
  const seen = new Set<string>();
  o.cells.forEach((c, i) => {
    if (!c || typeof c !== 'object' || !['code', 'markdown', 'raw'].includes(c.cell_type)) throw new Error(`${where}: cell ${i + 1} has no valid cell_type (code, markdown or raw)`);
    if (typeof c.source !== 'string' && !(Array.isArray(c.source) && c.source.every((l) => typeof l === 'string'))) throw new Error(`${where}: cell ${i + 1} has no source text`);
    if (!c.metadata || typeof c.metadata !== 'object') c.metadata = {};
    if (c.cell_type === 'code') {
      if (!Array.isArray(c.outputs)) c.outputs = [];
      if (c.execution_count === undefined) c.execution_count = null;
    }
    // nbformat 4.5 and later require unique cell ids.
    if (minor >= 5 && (typeof c.id !== 'string' || c.id === '' || seen.has(c.id))) c.id = randomUUID().slice(0, 8);
    if (typeof c.id === 'string') seen.add(c.id);
  });
  return { ...o, nbformat: 4, nbformat_minor: minor, metadata: o.metadata && typeof o.metadata === 'object' ? o.metadata : {}, cells: o.cells } as Notebook;
}

/** The notebook as nbformat writes it: one-space indent, sorted keys, trailing newline. */
export function serializeNotebook(nb: Notebook): string {
  return JSON.stringify(nb, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v), 1) + '\n';
}

/** Writes the notebook atomically. */
export async function writeNotebook(path: string, nb: Notebook): Promise<void> {
  await atomicWrite(path, [Buffer.from(serializeNotebook(nb))]);
}
