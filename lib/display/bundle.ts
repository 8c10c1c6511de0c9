/**
 * MIME bundles: what a notebook front end displays (text/plain, text/html, image/svg+xml,
 * application/vnd.plotly.v1+json, ...). The library returns them; a kernel shows them.
 */

/** A MIME bundle as Jupyter's display_data carries it. */
export interface MimeBundle {
  data: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

const BUNDLE = Symbol.for('tsfreeze.mimebundle');

/** An object that knows how to show itself: the kernel displays the bundle instead of inspecting the object. */
export interface Displayable {
  [BUNDLE](): MimeBundle;
}

/** The symbol an object defines a method under to display itself (`Symbol.for('tsfreeze.mimebundle')`). */
export const displaySymbol: typeof BUNDLE = BUNDLE;

/** A value that displays as `bundle` when it is a cell's last expression. */
export function displayable<T extends object>(value: T, bundle: () => MimeBundle): T & Displayable {
  Object.defineProperty(value, BUNDLE, { value: bundle, enumerable: false, configurable: true });
  return value as T & Displayable;
}

/** The bundle `value` displays as, or null when it has none. */
export function bundleOf(value: unknown): MimeBundle | null {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return null;
  const f = (value as Partial<Displayable>)[BUNDLE];
  return typeof f === 'function' ? f.call(value) : null;
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
