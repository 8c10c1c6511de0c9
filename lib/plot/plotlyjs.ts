/**
 * plotly.js itself (the cartesian bundle of npm `plotly.js-cartesian-dist-min`), inlined into a
 * page so that nothing is fetched from a CDN. The tag hides CommonJS/AMD names while the bundle
 * runs, so it always defines `window.Plotly` (classic Notebook has RequireJS's `define`), keeps a
 * Plotly the page already has, then draws every figure that was waiting for it.
 */
import { readFileSync } from 'node:fs';

const PACKAGE = 'plotly.js-cartesian-dist-min';
/** Where a figure's draw function waits when plotly.js has not run yet (see bundle.ts). */
export const QUEUE = '__tsfreezePlotQueue';

let source: string | undefined;

/** The minified plotly.js source (read once). */
export function plotlyJsSource(): string {
  if (source === undefined) {
    let path: string;
    try {
      path = require.resolve(`${PACKAGE}/plotly-cartesian.min.js`);
    } catch {
      throw new Error(`tsfreeze plots need the npm package ${PACKAGE} (a dependency of tsfreeze): run npm install in the project`);
    }
    source = readFileSync(path, 'utf8');
    // Inside a <script>, '</script' would end the element early (the bundle has none today).
    source = source.replace(/<\/(script)/gi, '<\\/$1');
  }
  return source;
}

/** The plotly.js version inlined (from the package's own header). */
export function plotlyJsVersion(): string {
  return /plotly\.js[^\n]*?v(\d+\.\d+\.\d+)/.exec(plotlyJsSource().slice(0, 300))?.[1] ?? 'unknown';
}

/**
 * Where classic Jupyter Notebook serves the copy of plotly.js that `tsfreeze install` puts
 * beside the kernelspec (share/jupyter/nbextensions/tsfreeze/), relative to the server's base URL.
 */
export const PLOTLY_NBEXTENSION = 'nbextensions/tsfreeze/plotly.min.js';

/**
 * plotly.js as a classic script: defines `window.Plotly` (CommonJS and AMD names hidden, so a
 * page with RequireJS gets it too), keeps a Plotly the page already has, then draws the
 * figures waiting for it. Inlined in a `<script>`, or served as the Notebook nbextension file.
 */
export function plotlyStandaloneJs(): string {
  return [
    `/* plotly.js v${plotlyJsVersion()} (cartesian), MIT license, from tsfreeze */`,
    'if (!window.Plotly) {',
    '(function (module, exports, define) {',
    plotlyJsSource(),
    '}).call(window);',
    '}',
    `(function () { var q = window.${QUEUE}; window.${QUEUE} = []; if (q) for (var i = 0; i < q.length; i++) { try { q[i](); } catch (e) { console.error(e); } } })();`,
  ].join('\n');
}

/** A `<script>` that defines `window.Plotly` from the inlined bundle (no network) and draws the figures waiting for it. */
export function plotlyScriptTag(): string {
  return `<script type="text/javascript">${plotlyStandaloneJs()}\n</script>`;
}
