/** %plot KIND ...: the library's Plotly figures of a model or a training run, in one line. */
import { registerMagic, UsageError, type MagicCall } from '../registry';
import { completeVariables, expectVariable, literalWords, type Kind } from '../resolve';

const usage = '%plot weights MODEL | drift HISTORY | loss HISTORY | training HISTORY | hist MODEL BEFORE  [--title T] [--log] [--linear] [--bins N] [--include REGEX]';

/** Each kind: what its words are, and which options it takes. */
const KINDS: Record<string, { words: Array<{ name: string; kinds: Kind[] }>; options: string[]; what: string }> = {
  weights: { words: [{ name: 'MODEL', kinds: ['model'] }], options: ['title', 'linear'], what: 'frozen and trainable parameters per layer (stacked bars, log axis)' },
  drift: { words: [{ name: 'HISTORY', kinds: ['history', 'drift'] }], options: ['title'], what: "each layer's relative weight change ‖W−W₀‖/‖W₀‖ over the steps (heatmap; frozen layers marked)" },
  loss: { words: [{ name: 'HISTORY', kinds: ['history'] }], options: ['title', 'log'], what: 'loss per step and per epoch (validation too)' },
  training: { words: [{ name: 'HISTORY', kinds: ['history'] }], options: ['title', 'log'], what: 'loss and drift in one figure' },
  hist: { words: [{ name: 'MODEL', kinds: ['model'] }, { name: 'BEFORE', kinds: ['statedict'] }], options: ['title', 'log', 'bins', 'include'], what: 'weight histograms before (BEFORE = stateDictOf(model) taken earlier) and now, frozen and trainable apart' },
};

registerMagic({
  name: 'plot',
  kind: 'line',
  summary: 'plot a model or a training run: weights (parameter counts), drift, loss, training, hist (weights before/after)',
  usage,
  help: [
    'Kinds:',
    ...Object.entries(KINDS).map(([k, v]) => `  %plot ${k} ${v.words.map((w) => w.name).join(' ')}`.padEnd(34) + v.what),
    '',
    'MODEL is a model variable, HISTORY what train() returned (a dotted path such as run.history works),',
    'BEFORE a StateDict snapshot (const before = stateDictOf(model) before training).',
    'The cell\'s value is the figure: interactive in JupyterLab, with a static SVG picture for other viewers.',
  ].join('\n'),
  options: {
    title: { type: 'string', help: 'the figure\'s title' },
    log: { type: 'boolean', help: 'logarithmic y axis (loss, training, hist)' },
    linear: { type: 'boolean', help: 'linear parameter axis (weights; default logarithmic)' },
    bins: { type: 'string', help: 'bins per histogram panel (hist; default 60)' },
    include: { type: 'string', help: 'only keys matching this regular expression (hist)' },
  },
  positionals: [2, 3],
  complete(words, partial, ctx) {
    const positional = words.filter((w, i) => !w.startsWith('--') && !['--title', '--bins', '--include'].includes(words[i - 1]));
    if (['--title', '--bins', '--include'].includes(words[words.length - 1])) return [];
    if (positional.length === 0) return Object.keys(KINDS).filter((k) => k.startsWith(partial));
    const spec = KINDS[positional[0]]?.words[positional.length - 1];
    return spec ? completeVariables(ctx, partial, spec.kinds) : [];
  },
  async run(call, ctx) {
    const [kind, ...words] = call.positionals;
    const spec = KINDS[kind];
    if (!spec) throw new UsageError(`%plot: unknown kind '${kind}': use ${Object.keys(KINDS).join(', ')}\nusage: ${usage}`);
    const line = `%plot ${kind} ${spec.words.map((w) => w.name).join(' ')}`;
    if (words.length !== spec.words.length) throw new UsageError(`%plot ${kind} takes ${spec.words.map((w) => w.name).join(' and ')}, got ${words.length} word${words.length === 1 ? '' : 's'}\nusage: ${line}`);
    checkOptions(call, kind, spec.options, line);
    const values = words.map((w, i) => expectVariable(ctx, w, spec.words[i].kinds, 'plot', line).value);
    const title = call.options.title as string | undefined;
    const log = !!call.options.log;
    // The figure displays itself (interactive, with an SVG picture).
    return figureOf(kind, values, call, title, log, line);
  },
});

const OPTION_VALUE: Record<string, string> = { title: ' T', bins: ' N', include: ' REGEX' };

/** Options not meant for this kind are a usage error, not silently ignored. */
function checkOptions(call: MagicCall, kind: string, allowed: string[], line: string): void {
  for (const [name, v] of Object.entries(call.options)) {
    if (v === undefined || allowed.includes(name)) continue;
    const takers = Object.entries(KINDS).filter(([, s]) => s.options.includes(name)).map(([k]) => k);
    throw new UsageError(`%plot ${kind}: --${name} applies to ${takers.map((k) => `%plot ${k}`).join(', ')} only\nusage: ${line}${allowed.map((o) => ` [--${o}${OPTION_VALUE[o] ?? ''}]`).join('')}`);
  }
}

async function figureOf(kind: string, values: unknown[], call: MagicCall, title: string | undefined, log: boolean, line: string) {
  const model = values[0] as never;
  switch (kind) {
    case 'weights': {
      const { parameterCountsFigure } = await import('../../../lib/plot/counts');
      return parameterCountsFigure(model, { title, log: !call.options.linear });
    }
    case 'drift': {
      const { driftHeatmapFigure } = await import('../../../lib/plot/drift');
      return driftHeatmapFigure(values[0] as never, { title });
    }
    case 'loss': {
      const { lossCurvesFigure } = await import('../../../lib/plot/loss');
      return lossCurvesFigure(values[0] as never, { title, log });
    }
    case 'training': {
      const { trainingFigure } = await import('../../../lib/plot/training');
      return trainingFigure(values[0] as never, { title, log });
    }
    default: {
      const bins = call.options.bins === undefined ? undefined : Number(call.options.bins);
      if (bins !== undefined && (!Number.isInteger(bins) || bins < 1)) throw new UsageError(`%plot hist: --bins takes a positive integer, got ${JSON.stringify(call.options.bins)}\nusage: ${line}`);
      let include: RegExp | undefined;
      try {
        include = call.options.include === undefined ? undefined : new RegExp(literalWords(call)(call.options.include as string));
      } catch (e) {
        throw new UsageError(`%plot hist: --include is not a valid regular expression: ${(e as Error).message}\nusage: ${line}`);
      }
      const { weightChange, weightHistogramFigure } = await import('../../../lib/plot/histogram');
      return weightHistogramFigure(weightChange(model, values[1] as never), { title, log, bins, include });
    }
  }
}
