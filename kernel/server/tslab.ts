/**
 * Every use of tslab's internals (`tslab/dist/*`) and every patch of its TypeScript, in one
 * place. They are not tslab's public API, so this file was checked against one tslab version,
 * and the kernel refuses to start with another (checkTslab), naming both.
 *
 * What tsfreeze takes from tslab: its TypeScript-to-JavaScript converter (type checking across
 * cells, declarations carried from cell to cell, completion and quick info), the parser of a
 * cell's `//%` metadata, the text form of quick info, and tslab's display API slot
 * (`import * as tslab from "tslab"; tslab.display.html(...)`). The executor that runs the
 * converted code is tsfreeze's own (executor.ts).
 *
 * Patch (process-wide, in lib/patches' table as typescriptSysPaths): `ts.sys` of
 * @tslab/typescript-for-tslab (the TypeScript tslab bundles): fileExists, readFile,
 * directoryExists and realpath go through redirectTypeScriptPaths' mapping, so the type checker
 * finds packages that a notebook's folder lacks in the kernel's installation (module-fallback.ts).
 * tslab's converter reads every file through `ts.sys` (its own `sys` inherits from it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ts from '@tslab/typescript-for-tslab';
import { createConverter as tslabCreateConverter, type Converter, type ConvertResult, type Diagnostic, type CompletionInfo } from 'tslab/dist/converter';
import { getCodeMetadata as tslabCodeMetadata, type CodeMetadata } from 'tslab/dist/metadata';
import { printQuickInfo as tslabPrintQuickInfo } from 'tslab/dist/inspect';
import * as tslabJupyter from 'tslab/dist/jupyter';
import { installPatch, PATCHES, type PathSystem } from '../../lib/patches';

/** The tslab version whose internals this file was checked against. */
export const TSLAB_CHECKED_VERSION = '1.0.22';

export type { Converter, ConvertResult, Diagnostic, CompletionInfo, CodeMetadata };

/** The installed tslab's version (from its package.json). */
export function installedTslabVersion(): string {
  const pkg = join(require.resolve('tslab/dist/converter'), '..', '..', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version ?? 'unknown';
}

/** Throws, naming both versions, when the installed tslab is not the one this file was checked against. */
export function checkTslab(version: string = installedTslabVersion()): void {
  if (version !== TSLAB_CHECKED_VERSION) {
    throw new Error(
      `tsfreeze's kernel uses internals of tslab ${TSLAB_CHECKED_VERSION} (kernel/server/tslab.ts), but tslab ${version} is installed; ` +
      `reinstall tsfreeze's dependencies (npm ci, or npm install tslab@${TSLAB_CHECKED_VERSION}) so that the versions agree`,
    );
  }
}

/** tslab's TypeScript converter for Node cells (its compiler starts now: most of a second). */
export function createConverter(): Converter {
  return tslabCreateConverter({ isJS: false, isBrowser: false });
}

/** The `//%module: NAME` and `//%browser` metadata at the top of a cell. */
export function codeMetadata(src: string): CodeMetadata {
  return tslabCodeMetadata(src);
}

/** Quick info as text: signature, documentation, tags. */
export function quickInfoText(info: ts.QuickInfo): string {
  return tslabPrintQuickInfo(info);
}

/** A displayed bundle from tslab's own display API (tslab.display.html(...) in a cell). */
export interface TslabDisplay {
  data: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  transient?: { display_id?: string };
}

/** Routes tslab's display API (`import * as tslab from "tslab"`) to `show`. */
export function setTslabDisplay(show: (d: TslabDisplay, update: boolean) => void): void {
  (tslabJupyter as { lastWriteDisplayData: unknown }).lastWriteDisplayData = show;
}

/** Maps a path the type checker asks for to the path it reads instead; undefined leaves it as it is. */
export type PathRedirect = (path: string) => string | undefined;

let redirect: PathRedirect | null = null;

/**
 * Makes the type checker read redirected paths (the patch typescriptSysPaths of lib/patches): a
 * redirected file exists and reads as its target, a redirected folder exists when its target
 * does, and its real path is the target's, so the target's own imports resolve from where it
 * really is. A later call replaces the mapping.
 */
export function redirectTypeScriptPaths(map: PathRedirect): void {
  const first = redirect === null;
  redirect = map;
  if (first) installPatch(PATCHES.typescriptSysPaths, ts.sys as unknown as PathSystem, (p) => redirect?.(p));
}
