/**
 * Where a notebook's packages come from. A cell's `import` resolves from the notebook's folder,
 * as Node resolves it (node_modules there and in every folder above). When none of them has
 * `tsfreeze` or a TF.js package (`@tensorflow/*`), the kernel's own installation provides it:
 * the same copy the kernel itself uses, so TF.js is loaded once. A folder that has its own
 * copy of such a package gets its own. The type checker sees the same packages as the code
 * (redirectTypeScriptPaths in tslab.ts), so types come from the copy that runs.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';

/** Whether the kernel provides `name` to notebooks whose folder lacks it. */
export function isKernelPackage(name: string): boolean {
  return name === 'tsfreeze' || /^@tensorflow\/[\w.-]+$/.test(name);
}

/** The package a bare specifier names: `@scope/name` or `name` (undefined for relative, absolute and `node:` ones). */
export function packageName(specifier: string): string | undefined {
  if (/^(\.|\/|node:|[A-Za-z]:[\\/])/.test(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? (parts.length >= 2 ? `${parts[0]}/${parts[1]}` : undefined) : parts[0];
}

/** The root folder of the running tsfreeze package (the one with its package.json). */
export function kernelRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tsfreeze') return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the tsfreeze package around ${from}`);
  }
}

/** Where packages come from for the notebooks of one folder. */
export class PackageSource {
  private readonly kernelRequire: NodeJS.Require;
  private readonly folderRequire: NodeJS.Require;
  private readonly kernelDirs = new Map<string, string | null>();
  private readonly folderHas = new Map<string, boolean>();

  constructor(readonly folder: string, readonly root: string = kernelRoot()) {
    this.kernelRequire = createRequire(join(root, 'package.json'));
    this.folderRequire = createRequire(join(folder, '__notebook__.js'));
  }

  /** Whether `folder` or a folder above it has node_modules/NAME. */
  folderHasPackage(name: string): boolean {
    let has = this.folderHas.get(name);
    if (has === undefined) {
      has = false;
      for (let dir = this.folder; ; dir = dirname(dir)) {
        if (existsSync(join(dir, 'node_modules', name, 'package.json'))) { has = true; break; }
        if (dirname(dir) === dir) break;
      }
      this.folderHas.set(name, has);
    }
    return has;
  }

  /** The folder of the kernel's own copy of `name` (the kernel itself for tsfreeze), or undefined when it has none. */
  kernelPackageDir(name: string): string | undefined {
    let dir = this.kernelDirs.get(name);
    if (dir === undefined) {
      if (name === 'tsfreeze') dir = this.root;
      else {
        try {
          dir = dirname(this.kernelRequire.resolve(`${name}/package.json`));
        } catch {
          dir = null;
        }
      }
      this.kernelDirs.set(name, dir);
    }
    return dir ?? undefined;
  }

  /** Whether `specifier` is taken from the kernel's installation (a kernel package the folder lacks, which the kernel has). */
  fromKernel(specifier: string): boolean {
    const name = packageName(specifier);
    return !!name && isKernelPackage(name) && !this.folderHasPackage(name) && this.kernelPackageDir(name) !== undefined;
  }

  /** The file `specifier` loads for a cell: resolved from the folder, else from the kernel's installation. */
  resolve(specifier: string): string {
    if (this.fromKernel(specifier)) {
      const name = packageName(specifier)!;
      // tsfreeze resolves itself through its own "exports" (a package may import itself by name).
      return this.kernelRequire.resolve(specifier, name === 'tsfreeze' ? undefined : { paths: [this.root] });
    }
    return this.folderRequire.resolve(specifier);
  }

  /**
   * The type checker's view: `FOLDER/node_modules/NAME/rest` of a package the kernel provides
   * is read from the kernel's copy (see redirectTypeScriptPaths); other paths are left alone.
   */
  typeScriptPath(path: string): string | undefined {
    const base = join(this.folder, 'node_modules') + sep;
    if (!path.startsWith(base)) return undefined;
    const rest = path.slice(base.length).split(/[\\/]/);
    const name = rest[0]?.startsWith('@') ? (rest.length > 1 ? `${rest[0]}/${rest[1]}` : undefined) : rest[0];
    if (!name || !isKernelPackage(name) || this.folderHasPackage(name)) return undefined;
    const dir = this.kernelPackageDir(name);
    if (!dir) return undefined;
    const inside = rest.slice(name.split('/').length);
    return inside.length ? join(dir, ...inside) : dir;
  }

  /**
   * A warning when the folder's own TF.js is not the one the kernel's tsfreeze uses (two copies
   * of TF.js in one process: every kernel registered twice, tensors of one unusable by the other).
   */
  mixedCopies(): string | undefined {
    if (!this.fromKernel('tsfreeze') || !this.folderHasPackage('@tensorflow/tfjs')) return undefined;
    const own = realpathSync(dirname(this.folderRequire.resolve('@tensorflow/tfjs/package.json')));
    const kernels = this.kernelPackageDir('@tensorflow/tfjs');
    if (!kernels || own === realpathSync(kernels)) return undefined;
    return `this notebook's folder has its own @tensorflow/tfjs (${own}), but tsfreeze comes from the kernel's installation (${this.root}), which loads its own copy of TF.js: two copies in one process. Install tsfreeze in this folder too (npm install tsfreeze), or remove its @tensorflow/tfjs.`;
  }
}
