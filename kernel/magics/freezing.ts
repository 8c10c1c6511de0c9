/** What %freeze and %unfreeze share: the syntax, the selector words, the report they show. */
import type { FreezeReport } from '../../lib/freeze/freeze';
import type { ModelLike } from '../../lib/model/weights';
import { displayable } from '../../lib/display/bundle';
import { UsageError, type Magic, type MagicContext } from './registry';
import { completeVariables, expectVariable, literalWords, selectorOf, SELECTOR_KINDS, lookup, type SelectorWord } from './resolve';
import { takeFingerprint } from './fingerprints';

const SELECTOR_HELP = [
  'SELECTOR (one or more; their union is taken) is:',
  '  a glob over dotted keys: features.* (one segment), features.** (any depth), ? one character;',
  '  a key or layer key: head, features.0, fc.bias (a layer key takes all its weights);',
  '  /PATTERN/FLAGS: a regular expression over keys (TF.js or PyTorch naming), backslashes as written;',
  '  a variable holding keys: a StateDict (freeze exactly what it holds), a string[],',
  '  a LoadReport such as %load\'s _load (what was loaded), or a FreezeReport.',
  'A bare word that names such a variable means the variable; other words are keys or globs.',
].join('\n');

/** The magic %freeze or %unfreeze. */
export function freezeMagic(verb: 'freeze' | 'unfreeze'): Magic {
  const usage = verb === 'freeze' ? '%freeze MODEL SELECTOR... [--bn-stats freeze|train]' : '%unfreeze MODEL SELECTOR...';
  return {
    name: verb,
    kind: 'line',
    summary: verb === 'freeze'
      ? 'freeze the weights a glob, /regex/ or key list picks (BatchNorm statistics too); shows what changed and the trainable counts'
      : 'make the weights a glob, /regex/ or key list picks trainable again; shows what changed and the trainable counts',
    usage,
    help: [
      verb === 'freeze'
        ? 'Freezes the selected weights of MODEL: no training loop of tsfreeze hands them to an optimizer, and\nTF.js\'s own trainable flags follow (model.fit honours them). A fully frozen BatchNorm layer also stops\nupdating its moving statistics and normalises with them (--bn-stats freeze, the default); --bn-stats\ntrain keeps TF.js\'s behaviour (batch statistics while training, moving statistics updated).'
        : 'Unfreezes the selected weights of MODEL; a BatchNorm layer touched returns to training behaviour.\n%unfreeze MODEL ** unfreezes everything.',
      'The frozen weights are fingerprinted afterwards: %checkfrozen MODEL later says whether any moved.',
      '',
      SELECTOR_HELP,
      '',
      verb === 'freeze' ? 'Examples:  %freeze model features.**     %freeze model _load     %freeze model /^conv/ --bn-stats train' : 'Example:  %unfreeze model head.**',
    ].join('\n'),
    options: verb === 'freeze' ? { 'bn-stats': { type: 'string', help: "freeze (default): a frozen BatchNorm layer's statistics are frozen too; train: they keep updating" } } : {},
    positionals: [2, Infinity],
    async complete(words, partial, ctx) {
      if (words[words.length - 1] === '--bn-stats') return ['freeze', 'train'].filter((w) => w.startsWith(partial));
      const positional = words.filter((w, i) => !w.startsWith('--') && words[i - 1] !== '--bn-stats');
      if (positional.length === 0) return completeVariables(ctx, partial, ['model']);
      return [...completeVariables(ctx, partial, SELECTOR_KINDS), ...(await layerKeys(ctx, positional[0], partial))];
    },
    async run(call, ctx) {
      const bnStats = (call.options['bn-stats'] as string | undefined) ?? 'freeze';
      if (bnStats !== 'freeze' && bnStats !== 'train') throw new UsageError(`%freeze: --bn-stats takes freeze or train, got ${JSON.stringify(bnStats)}\nusage: ${usage}`);
      const [modelWord, ...words] = call.positionals;
      const model = expectVariable<ModelLike>(ctx, modelWord, ['model'], verb, usage);
      const literal = literalWords(call);
      const selectors = words.map((w) => selectorOf(ctx, literal(w), verb, usage));
      const lib = await import('../../lib/freeze/freeze');
      const { matcher } = await import('../../lib/freeze/selector');
      const { weightSlots } = await import('../../lib/model/weights');
      // Every selector must match before anything changes: no half-done freeze.
      const slots = weightSlots(model.value);
      for (const s of selectors) {
        const m = matcher(s.selector as never);
        if (!slots.some((slot) => m(slot.key, slot.torchKey))) throw new UsageError(`${noMatch(verb, s, model.name, slots.map((x) => x.key))}\nusage: ${usage}`);
      }
      const reports = selectors.map((s) => (verb === 'freeze' ? lib.freeze(model.value, s.selector as never, { bnStats }) : lib.unfreeze(model.value, s.selector as never)));
      const report = merge(reports);
      await takeFingerprint(ctx, model.value, `%${verb}`);
      const { freezeReportBundle } = await import('../../lib/freeze/freeze-view');
      const opts = { model: model.name, selected: selectors.map((s) => s.description).join(', '), notes: [`%checkfrozen ${model.name} will compare with the fingerprint taken now`] };
      return displayable(report, () => freezeReportBundle(report, opts));
    },
  };
}

/** Layer keys and weight keys of the model named `modelWord` that start with `partial` (the model is already loaded, so is TF.js). */
async function layerKeys(ctx: MagicContext, modelWord: string, partial: string): Promise<string[]> {
  const found = lookup(ctx, modelWord);
  if (!found) return [];
  try {
    const { weightSlots } = await import('../../lib/model/weights');
    const out = new Set<string>();
    for (const s of weightSlots(found.value as ModelLike)) {
      const parts = s.key.split('.');
      for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join('.') + (i < parts.length ? '.**' : ''));
    }
    return [...out].filter((k) => k.startsWith(partial)).sort();
  } catch {
    return [];
  }
}

function noMatch(verb: string, s: SelectorWord, model: string, keys: string[]): string {
  if (!keys.length) return `%${verb}: ${model} has no weights yet (build it first, e.g. give its first layer an inputShape)`;
  return `%${verb}: ${s.description} matches no weight of ${model}; its keys are ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? `, … (${keys.length} in all)` : ''}`;
}

/** One report of several selectors' reports (applied in order): the last one's action and totals hold after all of them. */
function merge(reports: FreezeReport[]): FreezeReport {
  const uniq = (xs: string[]) => [...new Set(xs)];
  const keys = uniq(reports.flatMap((r) => r.keys));
  const changed = new Set(keys);
  const last = reports[reports.length - 1];
  return { keys, unchanged: uniq(reports.flatMap((r) => r.unchanged)).filter((k) => !changed.has(k)), batchNorm: uniq(reports.flatMap((r) => r.batchNorm)), action: last.action, totals: last.totals };
}
