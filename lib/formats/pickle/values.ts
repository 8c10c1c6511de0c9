/**
 * Python values as the restricted unpickler rebuilds them. Nothing here is ever called:
 * a global is a name, an object of a class is its name plus the arguments and state the
 * pickle gave it.
 */

/** A reference to a Python global (`module.name`), never resolved to code. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string { return `${this.module}.${this.name}`; }
}

/** A tuple (kept apart from lists so that metadata can tell them apart). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A dict or OrderedDict; keys keep Python's insertion order. */
export class PyDict {
  readonly map = new Map<PyValue, PyValue>();
  constructor(readonly ordered = false) {}
}

/** A set or frozenset. */
export class PySet {
  readonly items: PyValue[] = [];
  constructor(readonly frozen = false) {}
}

/** An instance of a class outside the allow-list: its class name, constructor args and state, inert. */
export class PyObject {
  state: PyValue = null;
  /** Items a pickle set on the object with SETITEMS (a dict subclass's contents). */
  items?: PyDict;
  constructor(
    readonly cls: PyGlobal,
    readonly args: PyValue[],
    /** True when the pickle asked to call `cls(*args)` (REDUCE), which was not done. */
    readonly reduced: boolean,
  ) {}
}

/** A value made by the host (a tensor, a storage): opaque to the unpickler. */
export abstract class PyExternal {
  readonly external = true;
}

/** Any value the unpickler can produce. */
export type PyValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PyValue[] | PyTuple | PyDict | PySet | PyGlobal | PyObject | PyExternal;
