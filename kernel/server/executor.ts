/**
 * Runs cells: TypeScript converted by tslab's converter (type-checked against the declarations
 * of earlier cells), then run in this process. The cells' top-level variables live in one plain
 * object (`locals`), so code at a cell's top level runs at the speed of code in a function
 * (tslab's own executor keeps them behind a Proxy, which made a top-level loop 250 times
 * slower). Each cell's code gets a file name, and marks of its source lines, so stack frames
 * say which cell and which line of it.
 */
import Module from 'node:module';
import { dirname, extname, join } from 'node:path';
import * as vm from 'node:vm';
import * as ts from '@tslab/typescript-for-tslab';
import { codeMetadata, createConverter, type Converter, type Diagnostic, type CompletionInfo } from './tslab';
import type { PackageSource } from './module-fallback';
import { fastTopLevelLoops } from './top-level-loops';

/** What running one piece of a cell gave. */
export type Execution =
  | { ok: true; hasValue: boolean; value?: unknown }
  | { ok: false; diagnostics: Diagnostic[] }
  | { ok: false; thrown: unknown };

/** Where a piece of code comes from: its cell's label (`In[3]`) and the cell line it starts on (0-based). */
export interface CodeOrigin {
  label: string;
  lineOffset: number;
}

/** A cell line for a position in a cell's compiled code. */
export interface CellPosition {
  label: string;
  /** 1-based line in the cell. */
  line: number;
}

/** Where each mark of a cell's source line is in the code that ran. */
interface LineMap {
  label: string;
  /** [line, column, cell line] of each mark, in order (line and column 1-based, as V8 counts them). */
  marks: Array<[number, number, number]>;
}

const INTERRUPTED = 'Interrupted asynchronously';
/** The global slot through which a cell's code reaches the executor's objects (vm code sees only globals). */
const SLOT = Symbol.for('tsfreeze.cell');
/** At most this many cells' line maps are kept (a traceback names a cell that ran before). */
const MAX_MAPS = 2000;

export class Executor {
  /** The cells' top-level variables, by name. */
  readonly locals: Record<string, unknown> = {};
  private prevDecl = '';
  private conv: Converter | undefined;
  private readonly sideOutputs = new Map<string, string>();
  private readonly sideModules = new Map<string, NodeJS.Module>();
  private readonly maps = new Map<string, LineMap>();
  private readonly lastLines = new Map<string, number>();
  private fileCount = 0;
  private rejectInterrupt: (e: Error) => void = () => undefined;
  private interrupted!: Promise<never>;
  private readonly hidden = new Set<string>();
  private warned = false;

  constructor(readonly packages: PackageSource, private readonly warn: (message: string) => void = (m) => process.stderr.write(`${m}\n`)) {
    this.resetInterrupt();
    (globalThis as Record<symbol, unknown>)[SLOT] = { exports: this.locals, require: this.requireFor(packages.folder), define: defineExport };
  }

  /** The converter (its TypeScript compiler starts on first use: most of a second). */
  get converter(): Converter {
    return (this.conv ??= createConverter());
  }

  /** Whether the converter has started. */
  get started(): boolean {
    return this.conv !== undefined;
  }

  /** Converts and runs `src`; the last expression's value is the result. */
  async execute(src: string, origin: CodeOrigin): Promise<Execution> {
    const meta = codeMetadata(src);
    if (meta.module) {
      const diagnostics = this.converter.addModule(meta.module, src, meta);
      return diagnostics.length ? { ok: false, diagnostics } : { ok: true, hasValue: false };
    }
    // tslab's browser cells (//%browser) are not run in Node.
    if (meta.mode === 'browser') return { ok: true, hasValue: false };
    const marked = markLines(src);
    const converted = this.converter.convert(this.prevDecl, marked.text);
    for (const out of converted.sideOutputs ?? []) {
      this.sideModules.delete(out.path);
      this.sideOutputs.set(out.path, out.data);
    }
    if (converted.diagnostics.length) return { ok: false, diagnostics: converted.diagnostics.map((d) => marked.unshift(d)) };
    if (!converted.output) {
      this.prevDecl = converted.declOutput ?? '';
      return { ok: true, hasValue: false };
    }
    const file = `tsfreeze-cell-${++this.fileCount}`;
    const slot = `globalThis[Symbol.for(${JSON.stringify(SLOT.description)})]`;
    const head = `(${converted.hasToplevelAwait ? 'async ' : ''}function (exports, require, __tsfreeze_define) { `;
    const code = `${head}${routeDefines(fastTopLevelLoops(converted.output))}\n})(${slot}.exports, ${slot}.require, ${slot}.define)`;
    this.remember(file, { label: origin.label, marks: marksIn(code, origin.lineOffset) });
    this.warnMixedCopies();
    try {
      const ret: unknown = vm.runInThisContext(code, { filename: file, breakOnSigint: true });
      if (converted.hasToplevelAwait) await Promise.race([ret, this.interrupted]);
    } catch (thrown) {
      // What the cell defined before it threw stays defined (as in IPython), so later cells may use it.
      this.prevDecl = converted.declOutput ?? this.prevDecl;
      return { ok: false, thrown };
    } finally {
      this.lastLines.set(file, code.split('\n').length);
    }
    this.prevDecl = converted.declOutput ?? '';
    const last = converted.lastExpressionVar;
    if (!last) return { ok: true, hasValue: false };
    const value = this.locals[last];
    this.clearLast(last);
    // As tslab and IPython do: null and undefined show nothing.
    return value == null ? { ok: true, hasValue: false } : { ok: true, hasValue: true, value };
  }

  /** Quick info at `position` of `src`, checked against the earlier cells. */
  inspect(src: string, position: number): ts.QuickInfo | undefined {
    return this.converter.inspect(this.prevDecl, src, position);
  }

  /** Completions at `position` of `src`. */
  complete(src: string, position: number): CompletionInfo {
    return this.converter.complete(this.prevDecl, src, position);
  }

  /** Ends the await a cell is in (a synchronous cell is ended by SIGINT through vm's breakOnSigint). */
  interrupt(): void {
    this.rejectInterrupt(new Error(INTERRUPTED));
    this.resetInterrupt();
  }

  /** The cell and cell line of a position in code this executor ran, or undefined when `file` is not a cell's. */
  cellPosition(file: string, line: number, column: number): CellPosition | 'wrapper' | undefined {
    const map = this.maps.get(file);
    if (!map) return undefined;
    // The last line calls the function that holds the cell: not a line of the cell.
    if (line === this.lastLines.get(file)) return 'wrapper';
    let at = map.marks[0]?.[2] ?? 1;
    for (const [l, c, cellLine] of map.marks) {
      if (l > line || (l === line && c > column)) break;
      at = cellLine;
    }
    return { label: map.label, line: at };
  }

  close(): void {
    this.conv?.close();
  }

  private resetInterrupt(): void {
    this.interrupted = new Promise<never>((_, reject) => { this.rejectInterrupt = reject; });
    this.interrupted.catch(() => undefined);
  }

  private remember(file: string, map: LineMap): void {
    this.maps.set(file, map);
    if (this.maps.size > MAX_MAPS) {
      const oldest = this.maps.keys().next().value as string;
      this.maps.delete(oldest);
      this.lastLines.delete(oldest);
    }
  }

  /** The slot of the last value stays, hidden, so `locals` keeps its shape (a deleted property makes every later access slower). */
  private clearLast(name: string): void {
    if (!this.hidden.has(name)) {
      Object.defineProperty(this.locals, name, { value: undefined, writable: true, enumerable: false, configurable: true });
      this.hidden.add(name);
    } else this.locals[name] = undefined;
  }

  private warnMixedCopies(): void {
    if (this.warned) return;
    this.warned = true;
    const w = this.packages.mixedCopies();
    if (w) this.warn(`tsfreeze: ${w}`);
  }

  /** `require` for code in `dir`: `tslab`, the cells' own .ts modules, then packages as PackageSource resolves them. */
  private requireFor(dir: string): NodeJS.Require {
    const local = Module.createRequire(join(dir, '__cell__.js'));
    const resolve = ((id: string, opts?: { paths?: string[] }) => (this.packages.fromKernel(id) ? this.packages.resolve(id) : local.resolve(id, opts))) as NodeJS.RequireResolve;
    resolve.paths = local.resolve.paths;
    const req = ((id: string) => {
      if (id === 'tslab') return require('tslab');
      const side = this.sideModule(dir, id);
      if (side) return side.exports;
      return this.packages.fromKernel(id) ? require(this.packages.resolve(id)) : local(id);
    }) as NodeJS.Require;
    return Object.assign(req, { resolve, cache: local.cache, main: local.main, extensions: local.extensions });
  }

  /** A module the converter compiled from a .ts file beside the notebook, loaded from memory. */
  private sideModule(dir: string, id: string): NodeJS.Module | undefined {
    if (!id.startsWith('.')) return undefined;
    let file = join(dir, id);
    if (extname(file) === '') file += '.js';
    const cached = this.sideModules.get(file);
    if (cached) return cached;
    const code = this.sideOutputs.get(file);
    if (code === undefined) return undefined;
    const mod = new Module(file, module) as NodeJS.Module & { _compile(code: string, file: string): void };
    mod.filename = file;
    mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(file));
    mod.require = this.requireFor(dirname(file));
    this.sideModules.set(file, mod);
    mod._compile(code, file);
    return mod;
  }
}

/**
 * What `Object.defineProperty(exports, name, ...)` in a cell does: the value becomes a plain,
 * writable variable (TypeScript emits this for a named import, which a later cell may import again).
 */
function defineExport(target: Record<string, unknown>, name: string, attrs: PropertyDescriptor): Record<string, unknown> {
  if (name !== '__esModule') target[name] = attrs.get ? attrs.get() : attrs.value;
  return target;
}

/** The converted code with its top-level `Object.defineProperty(exports, ...)` statements going through defineExport. */
function routeDefines(js: string): string {
  return js.replace(/^Object\.defineProperty\(exports, /gm, '__tsfreeze_define(exports, ');
}

/**
 * A cell's source with a mark comment before each statement (the first on its line), and how to
 * undo it for diagnostics. Only statements: TypeScript may print a comment it keeps on a line
 * of its own, which before an expression it moved behind a `return` (a named import's getter)
 * would end that return.
 */
export function markLines(src: string): { text: string; unshift(d: Diagnostic): Diagnostic } {
  const sf = ts.createSourceFile('cell.ts', src, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const firstOnLine = new Map<number, number>();
  const visit = (node: ts.Node): void => {
    const p = node.parent;
    if (p && (ts.isSourceFile(p) || ts.isBlock(p) || ts.isModuleBlock(p) || ts.isCaseClause(p) || ts.isDefaultClause(p)) && !ts.isImportDeclaration(node)) {
      const start = node.getStart(sf, true);
      const line = sf.getLineAndCharacterOfPosition(start).line;
      const seen = firstOnLine.get(line);
      if (seen === undefined || start < seen) firstOnLine.set(line, start);
    }
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(sf, visit);
  const lineStarts = sf.getLineStarts();
  /** Per line: the mark and the column it goes before. */
  const marks = new Map([...firstOnLine].map(([line, pos]) => [line, { column: pos - lineStarts[line], mark: `/*@${line}*/` }]));
  let text = '';
  let at = 0;
  for (const [line, pos] of [...firstOnLine].sort((a, b) => a[1] - b[1])) {
    text += src.slice(at, pos) + marks.get(line)!.mark;
    at = pos;
  }
  text += src.slice(at);
  // Marks add no lines: a position moves back by its line's mark when it is past it, and by the marks of the lines above.
  const unmark = (p: Diagnostic['start']): Diagnostic['start'] => {
    const m = marks.get(p.line);
    const past = m && p.character >= m.column + m.mark.length ? m.mark.length : m && p.character > m.column ? p.character - m.column : 0;
    let above = 0;
    for (const [line, x] of marks) if (line < p.line) above += x.mark.length;
    return { line: p.line, character: p.character - past, offset: p.offset - above - past };
  };
  return { text, unshift: (d) => (d.fileName ? d : { ...d, start: unmark(d.start), end: unmark(d.end) }) };
}

/** The marks in code that ran: their 1-based line and column, and the 1-based cell line each stands for. */
function marksIn(code: string, lineOffset: number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  let line = 1;
  let lineStart = 0;
  const re = /\/\*@(\d+)\*\/|\n/g;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    if (m[0] === '\n') { line++; lineStart = m.index + 1; continue; }
    out.push([line, m.index - lineStart + 1, Number(m[1]) + lineOffset + 1]);
  }
  return out;
}
