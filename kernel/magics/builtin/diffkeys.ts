/** %diffkeys A B: the keys two checkpoints, state dicts or models share, differ in, or have alone, and the renames that fix them. */
import { displayable } from '../../../lib/display/bundle';
import { registerMagic, UsageError } from '../registry';
import { completeSources, expectSource, type Source } from '../resolve';
import { quoteWord, ruleWord } from '../rename-rule';

const usage = '%diffkeys A B [--limit N]';

registerMagic({
  name: 'diffkeys',
  kind: 'line',
  summary: 'compare the keys and shapes of two checkpoints, state dicts or models, with the renames that match more',
  usage,
  help: [
    'A and B are each a model or StateDict variable of the session (a dotted path such as run.model works),',
    'or a checkpoint file (.pt/.pth, .safetensors, TF.js model.json) relative to the notebook\'s folder.',
    'Both sides are compared in one naming: PyTorch\'s when either side is PyTorch-named (a model, a TF.js',
    'model.json with its topology, or a TF.js-named state dict is converted by the layer table), else TF.js\'s',
    '(a model.json\'s weight names such as conv1/kernel become structural keys through its topology).',
    'The output says how each side\'s keys were formed; entries no load reads (num_batches_tracked) are counted apart.',
    '',
    'Shows matched, shape-mismatched, only-in-A and only-in-B keys with their shapes (long lists collapsed),',
    'then each rename of A\'s keys that matches more of B (separators, prefixes, names inside keys such as',
    'downsample -> shortcut; a key map pairing layers by role, shape and order only when no other pairing fits),',
    'most keys fixed first, as lines ready to run:',
    '%load B A --rename RULE when B is a model, %rename A RULE otherwise, and the renameKeys(...) call.',
    'Same as the command line\'s `tsfreeze diffkeys A B`.',
    '',
    'Example:  %diffkeys data/pretrained.pth model',
  ].join('\n'),
  options: { limit: { type: 'string', help: 'lists longer than N start collapsed (text: cut after N); default 20' } },
  positionals: 2,
  complete(words, partial, ctx) {
    return words.length < 2 ? completeSources(ctx, partial, ['model', 'statedict']) : [];
  },
  async run(call, ctx) {
    const limit = call.options.limit === undefined ? 20 : Number(call.options.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`%diffkeys: --limit takes a positive integer, got ${JSON.stringify(call.options.limit)}\nusage: ${usage}`);
    const [a, b] = call.positionals.map((w) => expectSource(ctx, w, ['model', 'statedict'], 'diffkeys', usage));
    const { formatKeyDiff, keyDiffHtml, suggestionRules } = await import('../../commands/diffkeys');
    const { diffKeysWithShapes } = await import('../../../lib/model/diff-keys');
    const { diff, shapesA, shapesB } = await diffKeysWithShapes(a.value as never, b.value as never);
    // The TypeScript lines run as they are: A's variable, or the file read in place.
    const sd = a.kind === 'statedict' ? a.name : a.kind === 'path' ? `(await readCheckpoint(${JSON.stringify(a.name)})).stateDict` : 'sd';
    const extraLines = (s: (typeof diff.suggestions)[number]) => {
      const words = suggestionRules(diff, s).map(ruleWord);
      if (words.some((w) => w === undefined) || a.kind === 'model') return [];
      return b.kind === 'model'
        ? [`%load ${quoteWord(b.name)} ${quoteWord(a.name)}${words.map((w) => ` --rename ${w}`).join('')}`]
        : [`%rename ${quoteWord(a.name)} ${words.join(' ')}`];
    };
    const footer = footerOf(a, b);
    const opts = { a: labelOf(a), b: labelOf(b), limit, sd, extraLines, footer, shapes: { a: shapesA, b: shapesB } };
    const text = formatKeyDiff(diff, opts);
    const html = keyDiffHtml(diff, opts);
    return displayable(diff, () => ({ data: { 'text/plain': text, 'text/html': html } }));
  },
});

/** How a side is named in the output. */
function labelOf(s: Source): string {
  return s.kind === 'path' ? s.name : `${s.name} (${s.kind === 'model' ? 'model' : 'StateDict'})`;
}

/** The closing hint: let the load find the renames itself, or swap the sides when A is the model. */
function footerOf(a: Source, b: Source): string {
  if (a.kind === 'model' && b.kind !== 'model') return `A is the model: %diffkeys ${quoteWord(b.name)} ${quoteWord(a.name)} suggests renames of the checkpoint's keys instead`;
  if (b.kind === 'model') return `or let the load apply the best renames itself: %load ${quoteWord(b.name)} ${quoteWord(a.name)} --map auto`;
  return `renames apply to A's keys; %rename ${quoteWord(a.name)} RULE --as NAME keeps the result`;
}
