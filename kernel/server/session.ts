/**
 * One kernel session: the executor (TypeScript → JavaScript in this process, variables kept
 * across cells) with what Jupyter needs on top: errors as data with cell line numbers, and
 * variables that a magic declares with a proper type.
 */
import { Executor, type CodeOrigin } from './executor';
import { PackageSource } from './module-fallback';
import { redirectTypeScriptPaths } from './tslab';
import { expandShorthands } from './shorthand';
import { compileErrorOf, errorOf, type CellError } from './errors';

/** What running one piece of TypeScript gave. */
export type RunResult =
  | { ok: true; hasValue: boolean; value?: unknown }
  | { ok: false; error: CellError };

const DEFINED = Symbol.for('tsfreeze.defined');

/** Type-checked (never run) by preloadTypes. */
const WARM_UP_SOURCE = "import type * as _tf from '@tensorflow/tfjs';\nimport type * as _tsfreeze from 'tsfreeze';\n";

export class Session {
  readonly executor: Executor;
  readonly packages: PackageSource;
  private defineCount = 0;
  /** Whether a cell has run (or the type preload): the preload is only worth it before the first cell. */
  private ran = false;

  /**
   * `rootDir` is where cells' imports resolve from (the notebook's folder; tsfreeze and TF.js
   * come from the kernel's installation when it has none). The TypeScript compiler is not
   * started here (it takes most of a second): the first cell starts it, or warmUp() before.
   */
  constructor(readonly rootDir: string) {
    this.packages = new PackageSource(rootDir);
    redirectTypeScriptPaths((p) => this.packages.typeScriptPath(p));
    this.executor = new Executor(this.packages);
    (globalThis as Record<symbol, unknown>)[DEFINED] = new Map<string, unknown>();
  }

  /** Starts the TypeScript compiler for Node cells now (synchronous), so that the first cell does not wait for it. */
  warmUp(): void {
    void this.executor.converter;
  }

  /**
   * While no cell has run yet: has the compiler read the type declarations of TF.js and tsfreeze,
   * which nearly every notebook imports (about half a second, synchronous), so that the first
   * cell does not wait for them. A module that does not resolve costs nothing.
   */
  preloadTypes(): void {
    if (this.ran) return;
    this.ran = true;
    this.executor.converter.convert('', WARM_UP_SOURCE);
  }

  /** The cells' variables by name. */
  get locals(): Record<string, unknown> {
    return this.executor.locals;
  }

  /** Runs TypeScript from a cell: `origin` names the cell (`In[3]`) and the line the code starts on, for errors. */
  async run(code: string, origin: Partial<CodeOrigin> = {}): Promise<RunResult> {
    this.ran = true;
    const from: CodeOrigin = { label: origin.label ?? '<cell>', lineOffset: origin.lineOffset ?? 0 };
    let r;
    try {
      r = await this.executor.execute(expandShorthands(code), from);
    } catch (thrown) {
      r = { ok: false as const, thrown };
    }
    if (r.ok) return r;
    if ('diagnostics' in r) {
      return { ok: false, error: compileErrorOf(r.diagnostics.map((d) => ({ file: d.fileName ?? '', line: d.start.line + 1, column: d.start.character + 1, text: d.messageText })), from.lineOffset) };
    }
    return { ok: false, error: errorOf(r.thrown, (file, line, column) => this.executor.cellPosition(file, line, column)) };
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
