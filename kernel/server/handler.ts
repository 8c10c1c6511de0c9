/**
 * What the kernel does with each request, apart from the wire: run cells (TypeScript and
 * magics), answer kernel_info, complete and inspect. It extends tslab's handler and keeps its
 * executor; the socket thread (socket-thread.ts, front-desk.ts) owns sockets, queues, status,
 * history and is_complete.
 */
import { JupyterHandlerImpl } from 'tslab/dist/jupyter';
import { printQuickInfo } from 'tslab/dist/inspect';
import type { MimeBundle } from '../../lib/display/bundle';
import { findMagic, allMagics, magicHelp, parseMagicCall, UsageError, type MagicContext, type Magic } from '../magics/registry';
import { completeMagicWords } from '../magics/complete';
import { lastWord } from '../magics/words';
import { splitCell, type Segment } from './cell';
import { errorOf, type CellError } from './errors';
import { valueBundle } from './display';
import { Session } from './session';

/** Where a cell's output goes. */
export interface CellOutput {
  display(bundle: MimeBundle, opts?: { id?: string; update?: boolean }): void;
  print(text: string): void;
}

export interface ExecuteRequest {
  code: string;
  silent?: boolean;
  store_history?: boolean;
  user_expressions?: Record<string, string>;
  allow_stdin?: boolean;
  stop_on_error?: boolean;
}

/** The outcome of a cell, for the execute_reply and the iopub messages. */
export type CellOutcome =
  | { status: 'ok'; result?: MimeBundle; payload: Record<string, unknown>[]; userExpressions: Record<string, unknown> }
  | ({ status: 'error' } & CellError);

/** A failure inside a magic's ctx.run(): carries the cell error as it is. */
export class CellFailure extends Error {
  constructor(readonly error: CellError) {
    super(error.evalue);
  }
}

import { kernelInfo } from './kernel-info';

export class TsfreezeHandler extends JupyterHandlerImpl {
  /** Per-magic state kept across cells. */
  readonly magicState = new Map<string, unknown>();

  constructor(readonly session: Session) {
    super(session.executor, false);
  }

  /** kernel_info_reply content (the socket thread answers kernel_info with the same, kernel-info.ts). */
  override handleKernel(): ReturnType<JupyterHandlerImpl['handleKernel']> {
    return kernelInfo() as unknown as ReturnType<JupyterHandlerImpl['handleKernel']>;
  }

  /** Runs a cell: TypeScript chunks and magics in order, stopping at the first error. */
  async execute(req: ExecuteRequest, out: CellOutput): Promise<CellOutcome> {
    const split = splitCell(req.code);
    const ctx = this.magicContext(out);
    let last: { hasValue: boolean; value?: unknown } = { hasValue: false };
    try {
      if (split.kind === 'help') {
        return { status: 'ok', payload: [{ source: 'page', data: { 'text/plain': this.helpOf(split.name) }, start: 0 }], userExpressions: {} };
      }
      if (split.kind === 'cell-magic') {
        last = await this.runMagic(split.name, split.args, ctx, 'cell', split.body);
      } else {
        last = await this.runSegments(split.segments, ctx);
      }
    } catch (e) {
      const error = e instanceof CellFailure ? e.error : errorOf(e);
      return { status: 'error', ...error };
    }
    const userExpressions = await this.userExpressions(req.user_expressions ?? {});
    return { status: 'ok', result: last.hasValue ? valueBundle(last.value) : undefined, payload: [], userExpressions };
  }

  /** Runs segments in order; the value of the last one is the cell's. */
  async runSegments(segments: Segment[], ctx: MagicContext): Promise<{ hasValue: boolean; value?: unknown }> {
    let last: { hasValue: boolean; value?: unknown } = { hasValue: false };
    for (const seg of segments) {
      if (seg.kind === 'code') {
        const r = await this.session.run(seg.code, seg.line);
        if (!r.ok) throw new CellFailure(r.error);
        last = r;
      } else if (seg.kind === 'magic') {
        last = await this.runMagic(seg.name, seg.args, ctx, 'line');
      } else {
        ctx.print(this.helpOf(seg.name) + '\n');
        last = { hasValue: false };
      }
    }
    return last;
  }

  /** Runs one magic call; its return value (unless undefined) is the value shown. */
  async runMagic(name: string, args: string, ctx: MagicContext, as: 'line' | 'cell', body?: string): Promise<{ hasValue: boolean; value?: unknown }> {
    const magic = this.magic(name);
    if (as === 'cell' && magic.kind === 'line') throw new UsageError(`%${name} is a line magic: write %${name} ${args}, not %%${name}`);
    if (as === 'line' && magic.kind === 'cell') throw new UsageError(`%%${name} is a cell magic: it goes on the first line of a cell`);
    const call = parseMagicCall(magic, args, body);
    const value = await magic.run(call, ctx);
    return value === undefined ? { hasValue: false } : { hasValue: true, value };
  }

  private magic(name: string): Magic {
    const magic = findMagic(name);
    if (!magic) throw new UsageError(`unknown magic %${name}; %lsmagic lists the magics`);
    return magic;
  }

  /** Help text of a magic, for %name? (an unknown name is a usage error). */
  helpOf(name: string): string {
    return magicHelp(this.magic(name));
  }

  /** What a magic can use of the session. */
  magicContext(out: CellOutput): MagicContext {
    const session = this.session;
    const ctx: MagicContext = {
      get locals() { return session.locals; },
      cwd: session.rootDir,
      state: this.magicState,
      run: async (code: string) => {
        const split = splitCell(code);
        if (split.kind !== 'segments') throw new UsageError('a cell magic or help cannot be run from inside a magic');
        return (await this.runSegments(split.segments, ctx)).value;
      },
      define: (name, value, type) => session.define(name, value, type),
      display: (bundle, opts) => out.display(bundle, opts),
      print: (text) => out.print(text),
    };
    return ctx;
  }

  /** user_expressions: each evaluated in the session, as a text/plain bundle or an error. */
  private async userExpressions(exprs: Record<string, string>): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [name, code] of Object.entries(exprs)) {
      const r = await this.session.run(`(${code})`);
      out[name] = r.ok ? { status: 'ok', ...valueBundle(r.value) } : { status: 'error', ...r.error };
    }
    return out;
  }

  /** complete_reply content: magic names after %, a magic's own completions for its words, else TypeScript's. */
  async complete(code: string, cursor: number) {
    const lineStart = code.lastIndexOf('\n', cursor - 1) + 1;
    const before = code.slice(lineStart, cursor);
    const name = /^\s*(%%?)([\w-]*)$/.exec(before);
    if (name) {
      const prefix = name[1];
      const matches = allMagics().filter((m) => m.name.startsWith(name[2]) && (prefix === '%' ? m.kind !== 'cell' : m.kind !== 'line')).map((m) => prefix + m.name);
      return { status: 'ok', matches, cursor_start: cursor - name[1].length - name[2].length, cursor_end: cursor, metadata: {} };
    }
    const call = /^\s*%%?([\w-]+)\s+(.*)$/.exec(before);
    if (call && findMagic(call[1])) {
      const partial = lastWord(call[2]);
      const words = call[2].slice(0, call[2].length - partial.length).trim().split(/\s+/).filter(Boolean);
      const matches = await completeMagicWords(findMagic(call[1])!, words, partial, this.magicContext({ display() {}, print() {} }));
      return { status: 'ok', matches, cursor_start: cursor - partial.length, cursor_end: cursor, metadata: {} };
    }
    const info = this.session.executor.complete(blankMagicLines(code), cursor);
    return { status: 'ok', matches: info.candidates, cursor_start: info.start, cursor_end: info.end, metadata: {} };
  }

  /** inspect_reply content: a magic's help on a magic line, else TypeScript's quick info. */
  inspect(code: string, cursor: number) {
    const lineStart = code.lastIndexOf('\n', cursor - 1) + 1;
    const lineEnd = code.indexOf('\n', cursor);
    const line = code.slice(lineStart, lineEnd < 0 ? undefined : lineEnd);
    const m = /^\s*%%?([\w-]+)/.exec(line);
    if (m && findMagic(m[1])) return { status: 'ok', found: true, data: { 'text/plain': this.helpOf(m[1]) }, metadata: {} };
    const info = this.session.executor.inspect(blankMagicLines(code), cursor);
    if (!info) return { status: 'ok', found: false, data: {}, metadata: {} };
    return { status: 'ok', found: true, data: { 'text/plain': printQuickInfo(info) }, metadata: {} };
  }
}

/** The cell with its magic lines turned into spaces, so TypeScript sees the same offsets and no `%`. */
function blankMagicLines(code: string): string {
  return code.replace(/^[ \t]*%[^\n]*/gm, (m) => ' '.repeat(m.length));
}
