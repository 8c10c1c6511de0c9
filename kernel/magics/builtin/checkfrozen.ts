/** %checkfrozen MODEL: have the frozen weights moved since they were fingerprinted? */
import type { Fingerprint, FrozenChange } from '../../../lib/freeze/guard';
import type { ModelLike } from '../../../lib/model/weights';
import { displayable } from '../../../lib/display/bundle';
import { registerMagic, UsageError, type MagicContext } from '../registry';
import { completeVariables, expectVariable } from '../resolve';
import { storedFingerprint, takeFingerprint } from '../fingerprints';
import { box, count, escapeHtml, table } from '../../../lib/display/html';

const usage = '%checkfrozen MODEL [--against VAR] [--reset] [--warn] [--top N]';

registerMagic({
  name: 'checkfrozen',
  kind: 'line',
  summary: 'check that the frozen weights (and frozen BatchNorm statistics) of a model have not moved; the largest changes if they have',
  usage,
  help: [
    'Compares every frozen weight of MODEL with a reference, element by element (exact equality):',
    '  --against VAR  a Fingerprint (fingerprint(model)) or a StateDict snapshot (stateDictOf(model), TF.js naming);',
    '  otherwise the fingerprint %freeze / %unfreeze / %load took last, or the one train()\'s guard took;',
    '  with none, one is taken now and the next %checkfrozen compares with it.',
    'Unchanged: says so, with how many tensors and elements were compared. Changed: a table of the moved',
    'tensors, largest absolute change first, and the cell fails with FrozenWeightError (--warn: shows only).',
    '--reset takes a new fingerprint now (after you changed frozen weights on purpose).',
  ].join('\n'),
  options: {
    against: { type: 'string', help: 'compare with this Fingerprint or StateDict variable' },
    reset: { type: 'boolean', help: 'take a new fingerprint now instead of comparing' },
    warn: { type: 'boolean', help: 'show changes without failing the cell' },
    top: { type: 'string', help: 'show at most N changed tensors (default 20)' },
  },
  positionals: 1,
  complete(words, partial, ctx) {
    if (words[words.length - 1] === '--against') return completeVariables(ctx, partial, ['fingerprint', 'statedict']);
    if (words[words.length - 1] === '--top') return [];
    return words.filter((w) => !w.startsWith('--')).length === 0 ? completeVariables(ctx, partial, ['model']) : [];
  },
  async run(call, ctx) {
    const top = call.options.top === undefined ? 20 : Number(call.options.top);
    if (!Number.isInteger(top) || top < 1) throw new UsageError(`%checkfrozen: --top takes a positive integer, got ${JSON.stringify(call.options.top)}\nusage: ${usage}`);
    if (call.options.reset && call.options.against !== undefined) throw new UsageError(`%checkfrozen: --reset and --against do not go together\nusage: ${usage}`);
    const model = expectVariable<ModelLike>(ctx, call.positionals[0], ['model'], 'checkfrozen', usage);
    const { frozenKeys } = await import('../../../lib/freeze/registry');
    const frozenNow = [...frozenKeys(model.value)];

    if (call.options.reset) {
      const fp = await takeFingerprint(ctx, model.value, '%checkfrozen --reset');
      return note(`took a new fingerprint of ${model.name}'s ${fp.fingerprint.entries.size} frozen tensors; %checkfrozen ${model.name} compares with it from now on`, 'info');
    }
    const ref = await reference(ctx, model, frozenNow, call.options.against as string | undefined);
    if (!ref) {
      if (!frozenNow.length) return note(`${model.name} has no frozen weights: nothing to check (freeze some with %freeze ${model.name} SELECTOR)`, 'warn');
      const fp = await takeFingerprint(ctx, model.value, '%checkfrozen');
      return note(`no fingerprint of ${model.name} to compare with yet: took one now of its ${fp.fingerprint.entries.size} frozen tensors; run %checkfrozen ${model.name} again later (or freeze with %freeze, which takes one)`, 'warn');
    }

    const { compareFrozen, FrozenWeightError } = await import('../../../lib/freeze/guard');
    const changes = compareFrozen(model.value, ref.fingerprint);
    const moved = changes.filter((c) => c.changed).sort(byChange);
    const checked = ref.fingerprint.entries.size;
    const elements = [...ref.fingerprint.entries.values()].reduce((a, e) => a + e.values.length, 0);
    const unchecked = frozenNow.filter((k) => !ref.fingerprint.entries.has(k));
    const notes: string[] = [];
    if (unchecked.length) notes.push(`${unchecked.length} tensor${unchecked.length === 1 ? ' is' : 's are'} frozen now but not in the reference (frozen after it was taken), so not checked: ${unchecked.slice(0, 5).join(', ')}${unchecked.length > 5 ? ', …' : ''}; --reset takes a new fingerprint`);
    if (!checked && !frozenNow.length) return note(`${model.name} has no frozen weights now, and ${ref.what} holds none: nothing to check`, 'warn');
    if (!moved.length) {
      const head = `unchanged: all ${checked} frozen tensors of ${model.name} (${count(elements)} elements) are exactly as in ${ref.what}`;
      return displayable({ changed: [] as FrozenChange[], checked }, () => ({
        data: {
          'text/plain': [head, ...notes.map((n) => `  ${n}`)].join('\n'),
          'text/html': box(`<b>✓ ${escapeHtml(head)}</b>${notes.map((n) => `<div>${escapeHtml(n)}</div>`).join('')}`, unchecked.length ? 'warn' : 'good'),
        },
      }));
    }
    const head = `${moved.length} of ${checked} frozen tensors of ${model.name} changed since ${ref.what}`;
    const shown = moved.slice(0, top);
    const magnitude = (c: FrozenChange) => (c.maxAbsChange === Infinity ? 'weight missing or reshaped' : c.maxAbsChange.toPrecision(3));
    const size = (c: FrozenChange) => ref.fingerprint.entries.get(c.key)?.values.length ?? 0;
    const w = Math.max(...shown.map((c) => c.key.length));
    const text = [head, ...shown.map((c) => `  ${c.key.padEnd(w)}  max |change| ${magnitude(c)}  (${count(c.changedElements)} of ${count(size(c))} elements)`)];
    if (moved.length > top) text.push(`  … and ${moved.length - top} more`);
    text.push(...notes.map((n) => `  ${n}`));
    const html = box(`<b>✗ ${escapeHtml(head)}</b>${notes.map((n) => `<div>${escapeHtml(n)}</div>`).join('')}`, 'bad') +
      table(['key', 'max |change|', 'elements changed'], shown.map((c) => [c.key, magnitude(c), `${count(c.changedElements)} of ${count(size(c))}`]), { tone: () => 'bad', right: [1, 2] }) +
      (moved.length > top ? `<div>… and ${moved.length - top} more (--top N shows more)</div>` : '');
    const bundle = { data: { 'text/plain': text.join('\n'), 'text/html': html } };
    if (call.options.warn) return displayable({ changed: moved, checked }, () => bundle);
    ctx.display(bundle);
    throw new FrozenWeightError(moved);
  },
});

/** The largest change first (NaN, a value that became NaN, counts as largest). */
function byChange(a: FrozenChange, b: FrozenChange): number {
  const v = (c: FrozenChange) => (Number.isNaN(c.maxAbsChange) ? Infinity : c.maxAbsChange);
  const d = v(b) - v(a);
  return Number.isNaN(d) ? 0 : d;
}

/** What to compare with, and how to name it in the output. */
async function reference(ctx: MagicContext, model: { name: string; value: ModelLike }, frozenNow: string[], against: string | undefined): Promise<{ fingerprint: Fingerprint; what: string } | undefined> {
  if (against !== undefined) {
    const ref = expectVariable<Fingerprint | Map<string, { shape: number[]; data: ArrayLike<number> }>>(ctx, against, ['fingerprint', 'statedict'], 'checkfrozen', usage);
    if (ref.kind === 'fingerprint') return { fingerprint: ref.value as Fingerprint, what: `the fingerprint ${against}` };
    const sd = ref.value as Map<string, { shape: number[]; data: ArrayLike<number> }>;
    const missing = frozenNow.filter((k) => !sd.has(k));
    if (missing.length) throw new UsageError(`%checkfrozen: ${against} lacks ${missing.length} frozen key${missing.length === 1 ? '' : 's'} of ${model.name} (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}): take the snapshot with stateDictOf(${model.name}) (TF.js naming) before training\nusage: ${usage}`);
    const entries = new Map(frozenNow.map((k) => [k, { shape: sd.get(k)!.shape, values: sd.get(k)!.data }]));
    return { fingerprint: { entries }, what: `the snapshot ${against}` };
  }
  // The magic's own fingerprint first when it covers what is frozen now: taken when the weights
  // were frozen, it also catches a change made before a later train(). Else the last fingerprint
  // the library took (train()'s guard, or the user's fingerprint()).
  const stored = storedFingerprint(ctx, model.value);
  const { lastFingerprint } = await import('../../../lib/freeze/guard');
  const last = lastFingerprint(model.value);
  const covers = (fp: Fingerprint) => frozenNow.every((k) => fp.entries.has(k));
  const storedRef = stored && { fingerprint: stored.fingerprint, what: `the fingerprint ${stored.by} took at ${stored.at.toLocaleTimeString('en-GB')}` };
  const lastRef = last && { fingerprint: last, what: "the last fingerprint taken (train()'s guard, or fingerprint())" };
  if (storedRef && (covers(storedRef.fingerprint) || !lastRef || last === stored.fingerprint)) return storedRef;
  return lastRef ?? storedRef;
}

/** A one-line result as text and a tinted box. */
function note(text: string, tone: 'info' | 'warn') {
  return displayable({ message: text }, () => ({ data: { 'text/plain': text, 'text/html': box(escapeHtml(text), tone) } }));
}
