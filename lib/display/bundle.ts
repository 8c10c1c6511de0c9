/**
 * MIME bundles: what a notebook front end displays (text/plain, text/html, image/svg+xml,
 * application/vnd.plotly.v1+json, ...). The library returns them; a kernel shows them.
 */

/** A MIME bundle as Jupyter's display_data carries it. */
export interface MimeBundle {
  data: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

/**
 * The symbol under which an object has its display method: Deno's Jupyter convention,
 * `Symbol.for("Jupyter.display")`. The method returns a MIME bundle's data, `{ "text/plain":
 * ..., "text/html": ... }` (or a promise of it); the kernel shows that instead of inspecting the
 * object, wherever the object comes from (tsfreeze's results, another library's, the user's).
 */
export const displaySymbol: unique symbol = Symbol.for('Jupyter.display');

/** What a display method returns: data by MIME type. */
export type MimeData = Record<string, unknown>;

/** An object that knows how to show itself. */
export interface Displayable {
  [displaySymbol](): MimeData | Promise<MimeData>;
}

/** `value`, which from now on displays as `bundle()` (its data; metadata is not part of the convention). */
export function displayable<T extends object>(value: T, bundle: () => MimeBundle | Promise<MimeBundle>): T & Displayable {
  const show = () => {
    const b = bundle();
    return b instanceof Promise ? b.then((x) => x.data) : b.data;
  };
  Object.defineProperty(value, displaySymbol, { value: show, enumerable: false, configurable: true, writable: true });
  return value as T & Displayable;
}

/** The bundle `value` displays as (awaited when its display method is async), or null when it has none. */
export async function bundleOf(value: unknown): Promise<MimeBundle | null> {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return null;
  const f = (value as Partial<Displayable>)[displaySymbol];
  if (typeof f !== 'function') return null;
  const data = await f.call(value);
  return data && typeof data === 'object' ? { data: data as MimeData, metadata: {} } : null;
}

/** Where bundles go when a kernel runs this process: set by the kernel, null otherwise. */
export interface DisplayHost {
  /** Shows a bundle; with an id, `update: true` replaces the earlier display of that id. */
  display(bundle: MimeBundle, opts?: { id?: string; update?: boolean }): void;
}

const HOST = Symbol.for('tsfreeze.displayhost');

/** Installs (or removes, with null) the display host; a process-wide slot, so two copies of the library share it. */
export function setDisplayHost(host: DisplayHost | null): void {
  (globalThis as Record<symbol, unknown>)[HOST] = host ?? undefined;
}

/** The display host, when a kernel installed one. */
export function displayHost(): DisplayHost | null {
  return ((globalThis as Record<symbol, unknown>)[HOST] as DisplayHost | undefined) ?? null;
}
