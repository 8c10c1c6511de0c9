/** The session's input history, answering history_request (tail, range, search) as IPython does. */

/** One entry: [session, line, input] or [session, line, [input, output]]. */
export type HistoryEntry = [number, number, string] | [number, number, [string, string | null]];

export interface HistoryRequest {
  output?: boolean;
  raw?: boolean;
  hist_access_type: 'tail' | 'range' | 'search';
  session?: number;
  start?: number;
  stop?: number;
  n?: number;
  pattern?: string;
  unique?: boolean;
}

/** IPython's glob for history search: `*` any run, `?` one character, whole input matched. */
function globRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[\\s\\S]*').replace(/\?/g, '[\\s\\S]');
  return new RegExp(`^${body}$`);
}

export class History {
  /** Sessions are numbered; this process is one session. */
  readonly session = 1;
  private entries: { line: number; input: string; output: string | null }[] = [];

  /** Records a cell's input under its execution count. */
  add(line: number, input: string): void {
    this.entries.push({ line, input, output: null });
  }

  /** Records the text/plain output of the cell with execution count `line`. */
  setOutput(line: number, output: string): void {
    const e = [...this.entries].reverse().find((x) => x.line === line);
    if (e) e.output = output;
  }

  /** The entries a history_request asks for. */
  query(req: HistoryRequest): HistoryEntry[] {
    let rows = this.entries;
    switch (req.hist_access_type) {
      case 'tail':
        rows = req.n === undefined ? rows : rows.slice(Math.max(0, rows.length - req.n));
        break;
      case 'range': {
        // As IPython: 0 (or none) is this session, negative ones count back to earlier sessions (there are none).
        const session = req.session ?? 0;
        if (session < 0 || (session > 0 && session !== this.session)) { rows = []; break; }
        const start = req.start ?? 0, stop = req.stop ?? Infinity;
        rows = rows.filter((r) => r.line >= start && r.line < stop);
        break;
      }
      case 'search': {
        const re = globRegExp(req.pattern ?? '*');
        rows = rows.filter((r) => re.test(r.input));
        if (req.unique) {
          const seen = new Set<string>();
          rows = rows.slice().reverse().filter((r) => !seen.has(r.input) && !!seen.add(r.input)).reverse();
        }
        if (req.n !== undefined) rows = rows.slice(Math.max(0, rows.length - req.n));
        break;
      }
      default:
        rows = [];
    }
    return rows.map((r) => (req.output ? [this.session, r.line, [r.input, r.output]] : [this.session, r.line, r.input]));
  }
}
