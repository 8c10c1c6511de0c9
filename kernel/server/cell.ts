/**
 * Splitting a cell into TypeScript and magics, on IPython's conventions: `%%name args` on the
 * first line makes the whole cell a cell magic; `%name args` on a line of its own is a line
 * magic wherever the TypeScript before it is complete (so `%` inside an open template literal
 * or expression stays TypeScript); `%name?` asks for help.
 */
import * as ts from '@tslab/typescript-for-tslab';

/** One piece of a cell, with the 0-based line it starts on. */
export type Segment =
  | { kind: 'code'; code: string; line: number }
  | { kind: 'magic'; name: string; args: string; line: number }
  | { kind: 'help'; name: string; line: number };

/** A cell, split. */
export type SplitCell =
  | { kind: 'segments'; segments: Segment[] }
  | { kind: 'cell-magic'; name: string; args: string; body: string }
  | { kind: 'help'; name: string };

const MAGIC_LINE = /^\s*%([A-Za-z_][\w-]*)(\?{1,2})?(?:\s+(.*?))?\s*$/;
const CELL_MAGIC = /^\s*%%([A-Za-z_][\w-]*)(\?{1,2})?(?:[ \t]+([^\n]*?))?[ \t]*(?:\n|$)/;

/** Whether `code` ends inside an unfinished construct (open brace, string, template, comment, expression). */
export function endsOpen(code: string): boolean {
  if (!code.trim()) return false;
  const src = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const diags = (src as unknown as { parseDiagnostics?: ts.DiagnosticWithLocation[] }).parseDiagnostics ?? [];
  return diags.some((d) => atEnd(d, code));
}

/** A parse error of zero length at the end of the code: something is still expected there. */
function atEnd(d: ts.DiagnosticWithLocation, code: string): boolean {
  return d.length === 0 && d.start >= code.trimEnd().length;
}

/** Splits a cell into code and magic segments. */
export function splitCell(cell: string): SplitCell {
  const head = CELL_MAGIC.exec(cell);
  if (head && cell.slice(0, head.index).trim() === '') {
    if (head[2]) return { kind: 'help', name: head[1] };
    return { kind: 'cell-magic', name: head[1], args: head[3] ?? '', body: cell.slice(head[0].length) };
  }
  const lines = cell.split('\n');
  const segments: Segment[] = [];
  let chunk: string[] = [];
  let chunkStart = 0;
  const flush = () => {
    const code = chunk.join('\n');
    if (code.trim()) segments.push({ kind: 'code', code, line: chunkStart });
    chunk = [];
  };
  lines.forEach((text, i) => {
    const m = MAGIC_LINE.exec(text);
    if (m && !endsOpen(chunk.join('\n'))) {
      flush();
      segments.push(m[2] ? { kind: 'help', name: m[1], line: i } : { kind: 'magic', name: m[1], args: m[3] ?? '', line: i });
      chunkStart = i + 1;
      return;
    }
    if (!chunk.length) chunkStart = i;
    chunk.push(text);
  });
  flush();
  if (segments.length === 1 && segments[0].kind === 'help') return { kind: 'help', name: segments[0].name };
  return { kind: 'segments', segments };
}

/** Whether a cell is complete, incomplete (with the indent for the next line) or can never be valid. */
export function isComplete(cell: string): { status: 'complete' | 'invalid' } | { status: 'incomplete'; indent: string } {
  const split = splitCell(cell);
  if (split.kind !== 'segments') return { status: 'complete' };
  const last = split.segments[split.segments.length - 1];
  const codes = split.segments.filter((s): s is Extract<Segment, { kind: 'code' }> => s.kind === 'code');
  for (const seg of codes) {
    const src = ts.createSourceFile('cell.ts', seg.code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const diags = (src as unknown as { parseDiagnostics?: ts.DiagnosticWithLocation[] }).parseDiagnostics ?? [];
    const open = diags.some((d) => atEnd(d, seg.code));
    if (open && seg === last && !/\n\s*\n\s*$/.test(cell)) return { status: 'incomplete', indent: indentAfter(seg.code) };
    if (diags.length) return { status: 'invalid' };
  }
  return { status: 'complete' };
}

/** The indent for the line after `code`: one level deeper after an opening bracket. */
function indentAfter(code: string): string {
  const line = /[^\n]*$/.exec(code)![0];
  const current = /^\s*/.exec(line)![0];
  return /[{([]\s*$/.test(line) ? current + '  ' : current;
}
