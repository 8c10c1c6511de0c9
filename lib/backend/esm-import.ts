/**
 * Loading an ES-module-only package (the `webgpu` package) from tsfreeze's CommonJS build.
 */
import { pathToFileURL } from 'node:url';

/**
 * A dynamic import() that stays one. With `"module": "commonjs"` TypeScript compiles
 * `await import(x)` to `require(x)`, and Node 20's require() refuses an ES module
 * (ERR_REQUIRE_ESM). A function built at run time is not seen by the compiler, so its import()
 * reaches Node as written.
 */
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const realImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

/**
 * Imports an ES module package, found from tsfreeze's own location (not the process's working
 * directory, which is what a bare specifier in a run-time function would be resolved against).
 */
export async function importESM<T>(pkg: string): Promise<T> {
  let target = pkg;
  try {
    target = pathToFileURL(require.resolve(pkg)).href;
  } catch {
    // A package whose "exports" offers only an "import" condition cannot be require.resolve'd;
    // import() resolves it itself.
  }
  return (await realImport(target)) as T;
}
