/** %summary MODEL: trainable and frozen parameter counts per layer, as a table and as bars. */
import { displayable } from '../../../lib/display/bundle';
import type { TrainableSummary } from '../../../lib/freeze/summary';
import { registerMagic } from '../registry';
import { completeVariables, expectVariable } from '../resolve';
import { badge, box, count, escapeHtml, table, type Tone } from '../../../lib/display/html';

const usage = '%summary MODEL [--no-plot] [--linear]';

registerMagic({
  name: 'summary',
  kind: 'line',
  summary: 'trainable and frozen parameters per layer of a model: a table, then the frozen/trainable bar plot',
  usage,
  help: [
    'One row per layer that owns weights: its key, class, trainable and frozen parameter counts. As in Keras,',
    'BatchNorm moving statistics count as frozen (no optimizer updates them) and are shown apart.',
    'Rows of fully frozen layers are tinted blue, fully trainable ones orange, as in the plot.',
    'The value of the cell is the plot (a Plotly figure); the table is shown above it.',
  ].join('\n'),
  options: {
    'no-plot': { type: 'boolean', help: 'the table only' },
    linear: { type: 'boolean', help: 'a linear parameter axis in the plot (default: logarithmic)' },
  },
  positionals: 1,
  complete(words, partial, ctx) {
    return words.length === 0 ? completeVariables(ctx, partial, ['model']) : [];
  },
  async run(call, ctx) {
    const model = expectVariable(ctx, call.positionals[0], ['model'], 'summary', usage);
    const { trainableSummary, formatSummary } = await import('../../../lib/freeze/summary');
    const summary = trainableSummary(model.value as never);
    const tableBundle = { data: { 'text/plain': `${model.name}\n${formatSummary(summary)}`, 'text/html': summaryHtml(model.name, summary) } };
    if (call.options['no-plot']) return displayable(summary, () => tableBundle);
    ctx.display(tableBundle);
    const { parameterCountsFigure } = await import('../../../lib/plot/counts');
    const { figureValue } = await import('../../../lib/plot/show');
    return figureValue(parameterCountsFigure(summary, { log: !call.options.linear, title: `${model.name}: parameters per layer` }));
  },
});

/** The summary as an HTML table with totals. */
function summaryHtml(name: string, s: TrainableSummary): string {
  const tone = (i: number): Tone => {
    const l = s.layers[i];
    return l.trainable === 0 ? 'info' : l.frozen - l.statistics === 0 ? 'warn' : 'none';
  };
  const rows = s.layers.map((l) => [l.key || '(root)', l.className, count(l.trainable), count(l.frozen - l.statistics), l.statistics ? count(l.statistics) : '']);
  const t = s.totals;
  return `<div class="tsfreeze-summary">${box(`<b>${escapeHtml(name)}</b>: ${badge(t.total, 'params', 'none')}${badge(t.trainable, 'trainable', 'warn')}${badge(t.frozen - t.statistics, 'frozen', 'info')}${t.statistics ? badge(t.statistics, 'BatchNorm statistics', 'info') : ''}`, 'none')}${table(['layer', 'class', 'trainable', 'frozen', 'BatchNorm stats'], rows, { tone, right: [2, 3, 4] })}</div>`;
}
