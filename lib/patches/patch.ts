/**
 * The machinery behind lib/patches/index.ts: what a patch of a dependency is, the version check
 * it makes when installed, and how it is undone. The table of patches is in index.ts.
 */

/** When a patch is installed: once per process, once per object (a backend, a layer), or for one call. */
export type PatchScope = 'process' | 'instance' | 'call';

/**
 * What to do when the installed package's version is outside the range the patch was checked
 * against: 'throw' an Error, 'skip' the patch (with a warning saying what is lost), or 'warn'
 * and install it anyway.
 */
export type MismatchPolicy = 'throw' | 'skip' | 'warn';

/**
 * One patch of a dependency's behaviour. `apply` changes `target` (with `args`, the caller's
 * callbacks) and returns the function that undoes exactly that change.
 */
export interface Patch<Target, Args extends unknown[] = []> {
  /** Stable name: `package:what is patched` ('@tensorflow/tfjs-core:Engine.runKernel'). */
  id: string;
  /** The package whose code or behaviour the patch relies on ('node' for Node.js itself). */
  package: string;
  /** The versions it was checked against: `4.22.x`, `>=20.19 <25`, alternatives with `||`. */
  checked: string;
  onMismatch: MismatchPolicy;
  scope: PatchScope;
  /** The tsfreeze module that installs it. */
  owner: string;
  /** What it changes and why, for people. */
  what: string;
  /** What is lost when it is skipped (shown in the warning). */
  ifSkipped?: string;
  apply(target: Target, ...args: Args): Undo;
}

/** Undoes one installed patch. */
export type Undo = () => void;

/** An installed patch. */
export interface PatchHandle {
  readonly id: string;
  /** Restores what the patch changed. Throws when someone changed the same property since. */
  undo(): void;
}

/** One installed patch, as activePatches() lists it. */
export interface ActivePatch {
  id: string;
  package: string;
  checked: string;
  /** The package version found. */
  found: string;
  scope: PatchScope;
  owner: string;
  /** How many targets it is installed on. */
  targets: number;
}

/** Set to 1 to install patches whose package version was not checked (a newer TF.js, say), with a warning. */
export const UNCHECKED_PATCHES_ENV = 'TSFREEZE_UNCHECKED_PATCHES';

/** A patch could not be installed or undone. */
export class PatchError extends Error {
  override readonly name = 'PatchError';
}

const versions = new Map<string, string>();

/** The installed version of a package ('node': Node.js itself), or 'not installed'. */
export function installedVersion(pkg: string): string {
  let v = versions.get(pkg);
  if (v === undefined) {
    if (pkg === 'node') v = process.versions.node;
    else {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        v = String((require(`${pkg}/package.json`) as { version: string }).version);
      } catch {
        v = 'not installed';
      }
    }
    versions.set(pkg, v);
  }
  return v;
}

function parse(v: string): number[] | null {
  const m = /^v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?/.exec(v.trim());
  if (!m) return null;
  return [m[1], m[2], m[3]].map((p) => (p === undefined || p === 'x' || p === '*' ? NaN : Number(p)));
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) {
    const x = Number.isNaN(a[i]) ? 0 : a[i];
    const y = Number.isNaN(b[i]) ? 0 : b[i];
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * Whether `version` is in `range`: alternatives joined by `||`, each a space-separated list of
 * comparators (`>=20.19`, `<25`, `=4.22.0`) or x-ranges (`4.22.x`, `4.22`, `4`), all of which
 * must hold. Pre-release tags are ignored.
 */
export function versionInRange(version: string, range: string): boolean {
  const v = parse(version);
  if (!v) return false;
  return range.split('||').some((alt) => alt.trim().split(/\s+/).every((part) => {
    const m = /^(>=|<=|>|<|=)?(.+)$/.exec(part);
    if (!m) return false;
    const bound = parse(m[2]);
    if (!bound) return false;
    const c = compare(v, bound);
    switch (m[1]) {
      case '>=': return c >= 0;
      case '<=': return c <= 0;
      case '>': return c > 0;
      case '<': return c < 0;
      default: return bound.every((b, i) => Number.isNaN(b) || b === v[i]);
    }
  }));
}

interface Installed { patch: Patch<unknown, unknown[]>; targets: Map<unknown, PatchHandle> }

const installed = new Map<string, Installed>();
const warned = new Set<string>();
const NO_TARGET = Symbol('process');

function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  process.emitWarning(message, { code: 'TSFREEZE_PATCH' });
}

/**
 * Installs `patch` on `target` (once per target: a second call returns the first handle), after
 * checking the package version. Returns null when the patch was skipped for a version it was
 * not checked against (policy 'skip'); throws a PatchError for policy 'throw'.
 */
export function installPatch<Target, Args extends unknown[]>(patch: Patch<Target, Args>, target: Target, ...args: Args): PatchHandle | null {
  let entry = installed.get(patch.id);
  const key = target === undefined ? NO_TARGET : target;
  const existing = entry?.targets.get(key);
  if (existing) return existing;

  const found = installedVersion(patch.package);
  if (!versionInRange(found, patch.checked)) {
    const forced = process.env[UNCHECKED_PATCHES_ENV] === '1';
    const head = `tsfreeze patch ${patch.id} was checked against ${patch.package} ${patch.checked}, but ${found} is installed`;
    if (!forced && patch.onMismatch === 'throw') {
      throw new PatchError(`${head}. Install a checked version, or set ${UNCHECKED_PATCHES_ENV}=1 to try it anyway.`);
    }
    if (!forced && patch.onMismatch === 'skip') {
      warnOnce(patch.id, `${head}: not installed${patch.ifSkipped ? ` (${patch.ifSkipped})` : ''}. Set ${UNCHECKED_PATCHES_ENV}=1 to install it anyway.`);
      return null;
    }
    warnOnce(patch.id, `${head}: installed anyway${forced ? ` (${UNCHECKED_PATCHES_ENV}=1)` : ''}; report problems with this version.`);
  }

  const undo = patch.apply(target, ...args);
  if (!entry) {
    entry = { patch: patch as unknown as Patch<unknown, unknown[]>, targets: new Map() };
    installed.set(patch.id, entry);
  }
  const own = entry;
  let done = false;
  const handle: PatchHandle = {
    id: patch.id,
    undo() {
      if (done) return;
      undo();
      done = true;
      own.targets.delete(key);
      if (own.targets.size === 0) installed.delete(patch.id);
    },
  };
  own.targets.set(key, handle);
  return handle;
}

/** Runs `fn` with a call-scoped patch installed, and undoes it afterwards (also when fn fails). */
export async function withPatch<Target, Args extends unknown[], R>(patch: Patch<Target, Args>, target: Target, args: Args, fn: () => Promise<R> | R): Promise<R> {
  const handle = installPatch(patch, target, ...args);
  try {
    return await fn();
  } finally {
    handle?.undo();
  }
}

/** The patches installed now, with the versions found. */
export function activePatches(): ActivePatch[] {
  return [...installed.values()].map(({ patch, targets }) => ({
    id: patch.id, package: patch.package, checked: patch.checked, found: installedVersion(patch.package),
    scope: patch.scope, owner: patch.owner, targets: targets.size,
  }));
}

/** Whether `patch` is installed on `target` (undefined: a process-wide patch). */
export function isPatched(patch: { id: string }, target?: unknown): boolean {
  return installed.get(patch.id)?.targets.has(target === undefined ? NO_TARGET : target) ?? false;
}

/**
 * Replaces `obj[key]` by `make(original)` and returns the undo: the property's own descriptor
 * (or its absence, when the original was inherited) is put back. Undo throws when the property
 * no longer holds the replacement (someone patched over it: undoing would drop their change).
 */
export function replaceProperty<O extends object, K extends keyof O>(obj: O, key: K, make: (original: O[K]) => O[K], id: string): Undo {
  const own = Object.getOwnPropertyDescriptor(obj, key);
  const original = obj[key];
  const replacement = make(original);
  Object.defineProperty(obj, key, { value: replacement, writable: true, configurable: true, enumerable: own?.enumerable ?? false });
  return () => {
    if (obj[key] !== replacement) {
      throw new PatchError(`cannot undo ${id}: ${String(key)} was replaced again after tsfreeze patched it; undo that change first`);
    }
    if (own) Object.defineProperty(obj, key, own);
    else delete (obj as Record<PropertyKey, unknown>)[key as PropertyKey];
  };
}
