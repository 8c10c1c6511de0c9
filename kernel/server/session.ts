/**
 * One kernel session: tslab's executor (TypeScript → JavaScript in this process, variables kept
 * across cells) with what Jupyter needs on top: the last expression's value instead of a
 * console.log, errors as data, and variables that a magic declares with a proper type.
 */
import { createExecutor, type ConverterSet, type Executor } from 'tslab/dist/executor';
import { createConverter } from 'tslab/dist/converter';
import { expandShorthands } from './shorthand';
import { compileErrorOf, errorOf, type CellError, type CompileDiagnostic } from './errors';

/** What running one piece of TypeScript gave. */
export type RunResult =
  | { ok: true; hasValue: boolean; value?: unknown }
  | { ok: false; error: CellError };

/** The executor's console is how tslab reports; this one records instead of printing. */
interface Capture {
  value?: { v: unknown };
  diagnostics: CompileDiagnostic[];
  thrown?: { e: unknown };
}

const DEFINED = Symbol.for('tsfreeze.defined');

/** Type-checked (never run) by preloadTypes. */
const WARM_UP_SOURCE = "import type * as _tf from '@tensorflow/tfjs';\nimport type * as _tsfreeze from 'tsfreeze';\n";

/** Lazily created converters, as tslab's own kernel does (the browser one is rarely needed). */
function converterSet(): ConverterSet {
  let node: ReturnType<typeof createConverter> | undefined;
  let browser: ReturnType<typeof createConverter> | undefined;
  return {
    get node() { return (node ??= createConverter({ isJS: false, isBrowser: false })); },
    get browser() { return (browser ??= createConverter({ isJS: false, isBrowser: true })); },
    close() { node?.close(); browser?.close(); },
  };
}

export class Session {
  readonly executor: Executor;
  private capture: Capture | null = null;
  private defineCount = 0;

  private readonly convs: ConverterSet;
  /** Whether a cell has run (or the type preload): the preload is only worth it before the first cell. */
  private ran = false;

  /**
   * `rootDir` is where cells' imports resolve from (the notebook's folder). The TypeScript
   * compiler is not started here (it takes most of a second): the first cell starts it, or
   * warmUp() before.
   */
  constructor(readonly rootDir: string) {
    const convs = (this.convs = converterSet());
    this.executor = createExecutor(rootDir, convs, {
      log: (...args: unknown[]) => {
        if (this.capture) this.capture.value = { v: args[0] };
        else console.log(...args);
      },
      error: (...args: unknown[]) => {
        if (!this.capture) return console.error(...args);
        // printDiagnostics calls error('%s%d:%d - %s', file, line, col, text); runtime errors call error(e).
        if (args.length === 5 && args[0] === '%s%d:%d - %s') {
          const [, file, line, column, text] = args as [string, string, number, number, string];
          this.capture.diagnostics.push({ file: file.trim(), line, column, text });
          return;
        }
        this.capture.thrown = { e: args[0] };
      },
    });
    (globalThis as Record<symbol, unknown>)[DEFINED] = new Map<string, unknown>();
  }

  /** Starts the TypeScript compiler for Node cells now (synchronous), so that the first cell does not wait for it. */
  warmUp(): void {
    void this.convs.node;
  }

  /**
   * While no cell has run yet: has the compiler read the type declarations of TF.js and tsfreeze,
   * which nearly every notebook imports (about half a second, synchronous), so that the first
   * cell does not wait for them. A module that does not resolve costs nothing.
   */
  preloadTypes(): void {
    if (this.ran) return;
    this.ran = true;
    this.convs.node.convert('', WARM_UP_SOURCE);
  }

  /** The cells' variables by name. */
  get locals(): Record<string, unknown> {
    return this.executor.locals;
  }

  /** Runs TypeScript; `lineOffset` is where it starts in its cell, for error positions. */
  async run(code: string, lineOffset = 0): Promise<RunResult> {
    this.ran = true;
    const capture: Capture = { diagnostics: [] };
    this.capture = capture;
    let ok: boolean;
    try {
      ok = await this.executor.execute(expandShorthands(code));
    } catch (e) {
      ok = false;
      capture.thrown = { e };
    } finally {
      this.capture = null;
    }
    if (!ok && capture.diagnostics.length) return { ok: false, error: compileErrorOf(capture.diagnostics, lineOffset) };
    if (!ok) return { ok: false, error: capture.thrown ? errorOf(capture.thrown.e) : { ename: 'Error', evalue: 'the cell failed', traceback: [] } };
    return capture.value ? { ok: true, hasValue: true, value: capture.value.v } : { ok: true, hasValue: false };
  }

  /** Declares `name: type` in the session and sets it to `value` (what a magic's result becomes). */
  async define(name: string, value: unknown, type: string): Promise<void> {
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new Error(`'${name}' is not a valid variable name`);
    const slot = `v${++this.defineCount}`;
    const store = (globalThis as Record<symbol, Map<string, unknown>>)[DEFINED];
    store.set(slot, value);
    const r = await this.run(`const ${name}: ${type} = (globalThis as any)[Symbol.for("tsfreeze.defined")].get(${JSON.stringify(slot)});`);
    store.delete(slot);
    if (!r.ok) throw new Error(`could not define ${name}: ${r.error.evalue}`);
  }

  close(): void {
    this.executor.close();
  }
}
