/** Executing a notebook's code cells in order through a kernel, keeping every output. */
import { KernelDiedError, KernelTimeoutError, type KernelClient } from '../protocol/client';
import { CellOutputs, type DisplayRegistry } from './outputs';
import { text, type CodeCell, type Notebook } from './notebook';

export interface RunOptions {
  /** Milliseconds each cell may take; no limit when absent or 0. */
  cellTimeout?: number;
  /** Stops the run (the notebook keeps what ran so far). */
  signal?: AbortSignal;
  /** Called before each code cell runs. */
  onCell?: (index: number, cell: CodeCell) => void;
}

/** Why a run stopped early. */
export interface RunFailure {
  /** 0-based index of the cell among all the notebook's cells. */
  index: number;
  /** Its first non-empty line. */
  firstLine: string;
  kind: 'error' | 'timeout' | 'kernel-died' | 'aborted';
  ename: string;
  evalue: string;
  traceback: string[];
}

export interface RunResult {
  notebook: Notebook;
  /** How many code cells ran. */
  executed: number;
  failure: RunFailure | null;
  ms: number;
}

/** A cell tagged raises-exception may fail without stopping the run (nbclient's convention). */
const ALLOW_ERROR_TAG = 'raises-exception';

/**
 * Runs every non-empty code cell of `nb` in order, replacing its outputs and execution count;
 * stops at the first error, timeout, abort or kernel death. `nb` is changed in place: after a
 * failure it holds the outputs so far (later cells have none).
 */
export async function runNotebook(nb: Notebook, client: KernelClient, opts: RunOptions = {}): Promise<RunResult> {
  const t0 = Date.now();
  for (const c of nb.cells) if (c.cell_type === 'code') { c.outputs = []; c.execution_count = null; }
  try {
    const info = await client.kernelInfo();
    const lang = (info.content as { language_info?: unknown }).language_info;
    if (lang && typeof lang === 'object') nb.metadata.language_info = lang;
  } catch (e) {
    if (e instanceof KernelDiedError) return { notebook: nb, executed: 0, failure: failureOf(nb, 0, 'kernel-died', 'KernelDied', e.message), ms: Date.now() - t0 };
    throw e;
  }
  const displays: DisplayRegistry = new Map();
  let executed = 0;
  for (let i = 0; i < nb.cells.length; i++) {
    const cell = nb.cells[i];
    if (cell.cell_type !== 'code') continue;
    const code = text(cell.source);
    if (code.trim() === '') continue;
    opts.onCell?.(i, cell);
    const collected = new CellOutputs(displays);
    // The cell shows its outputs as they come, so a failure or abort saves what it printed.
    cell.outputs = collected.outputs;
    const allowError = Array.isArray(cell.metadata.tags) && cell.metadata.tags.includes(ALLOW_ERROR_TAG);
    try {
      const { reply } = await client.execute(code, { timeout: opts.cellTimeout, stopOnError: !allowError, signal: opts.signal, onIopub: (m) => collected.handle(m) });
      executed++;
      collected.handlePayloads(reply.content.payload);
      cell.execution_count = reply.content.execution_count ?? null;
      if (reply.content.status === 'error' && !allowError) {
        return { notebook: nb, executed, failure: failureOf(nb, i, 'error', reply.content.ename ?? 'Error', reply.content.evalue ?? '', reply.content.traceback), ms: Date.now() - t0 };
      }
      if (reply.content.status === 'aborted') {
        return { notebook: nb, executed, failure: failureOf(nb, i, 'error', 'Aborted', 'the kernel aborted the request'), ms: Date.now() - t0 };
      }
    } catch (e) {
      const err = e as Error;
      const kind = e instanceof KernelTimeoutError ? 'timeout' : e instanceof KernelDiedError ? 'kernel-died' : opts.signal?.aborted ? 'aborted' : null;
      if (!kind) throw e;
      const evalue = kind === 'timeout' ? `the cell ran longer than ${(opts.cellTimeout ?? 0) / 1000} s (--timeout)` : err.message;
      const failure = failureOf(nb, i, kind, kind === 'timeout' ? 'CellTimeout' : kind === 'aborted' ? 'Aborted' : 'KernelDied', evalue);
      cell.outputs.push({ output_type: 'error', ename: failure.ename, evalue: failure.evalue, traceback: [] });
      return { notebook: nb, executed, failure, ms: Date.now() - t0 };
    }
  }
  return { notebook: nb, executed, failure: null, ms: Date.now() - t0 };
}

function failureOf(nb: Notebook, index: number, kind: RunFailure['kind'], ename: string, evalue: string, traceback: string[] = []): RunFailure {
  const cell = nb.cells[index];
  const firstLine = cell ? text(cell.source).split('\n').find((l) => l.trim() !== '')?.trim() ?? '' : '';
  return { index, firstLine, kind, ename, evalue, traceback };
}

/** One line naming the cell and the error, for people. */
export function describeFailure(f: RunFailure, cellCount: number): string {
  const line = f.firstLine.length > 60 ? `${f.firstLine.slice(0, 57)}...` : f.firstLine;
  const cell = `cell ${f.index + 1} of ${cellCount} (${JSON.stringify(line)})`;
  const what = f.kind === 'kernel-died' ? `the kernel died during ${cell}` : f.kind === 'timeout' ? `${cell} timed out` : f.kind === 'aborted' ? `stopped during ${cell}` : `${cell} failed`;
  return `${what}: ${f.ename}: ${f.evalue.split('\n')[0]}`;
}
