/** Turning what went wrong in a cell into Jupyter's error content: ename, evalue, traceback. */
import { inspect } from 'node:util';

/** The `error` message content (and the error part of an execute_reply). */
export interface CellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

const INTERRUPTED = [/Script execution was interrupted by `SIGINT`/, /^Interrupted asynchronously$/];

/** Stack frames that belong to the kernel or tslab, not to the user's code. */
function internalFrame(line: string): boolean {
  return /node_modules[\\/]tslab[\\/]|[\\/]kernel[\\/]server[\\/]|node:internal|node:vm/.test(line);
}

/** The cell (`In[3]`) and 1-based cell line of a position in a cell's compiled code, or undefined for other files. */
export type CellPositionOf = (file: string, line: number, column: number) => { label: string; line: number } | 'wrapper' | undefined;

/** A frame as the user wrote it: `at f (tsfreeze-cell-7:12:5)` becomes `at f (In[3]:2)`; null for the kernel's call of a cell. */
function cellFrame(frame: string, position: CellPositionOf | undefined): string | null {
  if (!position) return frame;
  const m = /([^\s()]+):(\d+):(\d+)(\)?)$/.exec(frame);
  const at = m ? position(m[1], Number(m[2]), Number(m[3])) : undefined;
  if (at === 'wrapper') return null;
  return at ? frame.slice(0, m!.index) + `${at.label}:${at.line}${m![4]}` : frame;
}

/** Errors for people, whose stack says nothing to the user (a magic called wrongly): shown as their message only. */
function messageOnly(e: Error): boolean {
  return e.name === 'UsageError';
}

/** The error content for a value thrown by a cell (an Error or anything else); `position` maps frames to cell lines. */
export function errorOf(thrown: unknown, position?: CellPositionOf): CellError {
  if (thrown instanceof Error || (thrown && typeof thrown === 'object' && 'message' in thrown && 'stack' in thrown)) {
    const e = thrown as Error;
    const message = String(e.message ?? '');
    if (INTERRUPTED.some((r) => r.test(message))) {
      return { ename: 'KeyboardInterrupt', evalue: 'interrupted', traceback: ['KeyboardInterrupt: the cell was interrupted'] };
    }
    const ename = e.name || e.constructor?.name || 'Error';
    if (messageOnly(e)) return { ename, evalue: message, traceback: [`${ename}: ${message}`] };
    const frames = String(e.stack ?? '').split('\n').slice(1).filter((l) => /^\s+at /.test(l) && !internalFrame(l)).map((l) => cellFrame(l, position)).filter((l): l is string => l !== null);
    return { ename, evalue: message, traceback: [`${ename}: ${message}`, ...frames] };
  }
  const text = typeof thrown === 'string' ? thrown : inspect(thrown);
  return { ename: 'Error', evalue: text, traceback: [`thrown: ${text}`] };
}

/** A TypeScript compile error as tslab reports it: 1-based line and column; file empty for the cell itself. */
export interface CompileDiagnostic {
  file: string;
  line: number;
  column: number;
  text: string;
}

/** The error content for TypeScript compile errors, with line numbers counted in the whole cell. */
export function compileErrorOf(diags: CompileDiagnostic[], lineOffset: number): CellError {
  const lines = diags.map((d) => `${d.file ? `${d.file} ` : ''}${d.line + (d.file ? 0 : lineOffset)}:${d.column} - ${d.text}`);
  return { ename: 'CompileError', evalue: lines[0] ?? 'TypeScript could not compile the cell', traceback: lines };
}
