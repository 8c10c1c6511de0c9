/** %summary MODEL: trainable and frozen parameter counts per layer, as a table and as bars. */
import { displayable } from '../../../lib/display/bundle';
import { registerMagic } from '../registry';
import { completeVariables, expectVariable } from '../resolve';

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
    const { trainableSummary } = await import('../../../lib/freeze/summary');
    const { summaryBundle } = await import('../../../lib/freeze/freeze-view');
    const summary = trainableSummary(model.value as never);
    const table = summaryBundle(summary, { model: model.name });
    if (call.options['no-plot']) return displayable(summary, () => table);
    ctx.display(table);
    const { parameterCountsFigure } = await import('../../../lib/plot/counts');
    return parameterCountsFigure(summary, { log: !call.options.linear, title: `${model.name}: parameters per layer` });
  },
});
