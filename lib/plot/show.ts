/**
 * Showing a figure from code: `await show(figure)` displays it in the notebook (through the
 * kernel's display host) and returns its bundle; outside a kernel it only returns the bundle.
 * One PlotSession per process, shared by the kernel's magics and the user's cells, so plotly.js
 * is inlined once per page whoever draws first.
 */
import { displayHost, displayable, type Displayable } from '../display/bundle';
import { PlotSession, type MimeBundle, type PlotSessionOptions } from './bundle';
import type { PlotlyFigure } from './figure';

const SLOT = Symbol.for('tsfreeze.plotsession');
const OPTIONS = Symbol.for('tsfreeze.plotsession.options');

/** The process's plot session, created on first use (with the options configureDefaultPlotSession gave). */
export function defaultPlotSession(): PlotSession {
  const g = globalThis as Record<symbol, unknown>;
  return ((g[SLOT] as PlotSession | undefined) ??= new PlotSession(g[OPTIONS] as PlotSessionOptions | undefined));
}

/** Sets the options of the process's plot session (a kernel does, at start); an existing session is replaced. */
export function configureDefaultPlotSession(opts: PlotSessionOptions): void {
  const g = globalThis as Record<symbol, unknown>;
  g[OPTIONS] = opts;
  const old = g[SLOT] as PlotSession | undefined;
  g[SLOT] = undefined;
  void old?.close();
}

/** Displays `figure` now when a kernel runs this process; resolves to its bundle either way. */
export async function show(figure: PlotlyFigure, session: PlotSession = defaultPlotSession()): Promise<MimeBundle> {
  const bundle = await session.bundle(figure);
  displayHost()?.display(bundle);
  return bundle;
}

/** The figure as a value that displays itself when it is a cell's last expression (its bundle is made now). */
export async function figureValue(figure: PlotlyFigure, session: PlotSession = defaultPlotSession()): Promise<PlotlyFigure & Displayable> {
  const bundle = await session.bundle(figure);
  return displayable({ ...figure }, () => bundle);
}

/** `figure`, which from now on displays itself (an interactive plot with its SVG picture) through the process's plot session. */
export function displayableFigure<T extends PlotlyFigure>(figure: T): T & Displayable {
  return displayable(figure, () => defaultPlotSession().bundle(figure));
}
