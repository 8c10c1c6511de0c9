/** %load MODEL SOURCE: load a checkpoint or state dict into a model and show the load report; the report is kept as `_load`. */
import type { LoadReport } from '../../../lib/model/load';
import type { RenameRule } from '../../../lib/statedict/rename';
import { displayable } from '../../../lib/display/bundle';
import { registerMagic, UsageError } from '../registry';
import { completeSources, completeVariables, expectSource, expectVariable, libType, literalWords } from '../resolve';
import { parseRenameRule, quoteWord, ruleWord, RULE_HELP } from '../rename-rule';
import { refreshFingerprint } from '../fingerprints';
import { suggestionRulesOf } from '../../../lib/model/load-view';

const usage = '%load MODEL SOURCE [--strict] [--from torch|tfjs] [--rename RULE]... [--map auto] [--skip-mismatch] [--root KEY] [--as NAME]';

registerMagic({
  name: 'load',
  kind: 'line',
  summary: 'load a checkpoint file or a StateDict into a model, with the report of what was loaded, missing, unexpected and mismatched',
  usage,
  help: [
    'MODEL is a model variable of the session; SOURCE a checkpoint file (PyTorch .pt/.pth, .safetensors,',
    'TF.js model.json) relative to the notebook\'s folder, or a StateDict variable.',
    'The report is defined in the session as `_load` (a LoadReport; --as NAME picks the name), so the',
    'next cell can freeze exactly what was loaded:  %freeze model _load',
    'A load that takes fewer than half of the model\'s weights shows a warning with the rename that fixes it.',
    'Nothing is written when the load fails (shape mismatch, or --strict with missing/unexpected keys).',
    '',
    RULE_HELP,
    '',
    'Example:  %load model data/pretrained.pth --rename strip:module.',
  ].join('\n'),
  options: {
    strict: { type: 'boolean', help: 'fail (loading nothing) when a key is missing or unexpected' },
    from: { type: 'string', help: "the source's naming and layout: torch or tfjs (default: PyTorch for PyTorch files and torch-looking keys)" },
    rename: { type: 'string', multiple: true, help: "rename the source's keys first (repeatable, applied in order); RULE forms are listed above" },
    map: { type: 'string', help: 'auto: apply the renames %diffkeys would suggest when they match more keys' },
    'skip-mismatch': { type: 'boolean', help: 'leave out (and list) tensors whose shape differs instead of failing' },
    root: { type: 'string', help: "the sub-tree of the checkpoint to load (e.g. model_state_dict); default: found by itself" },
    as: { type: 'string', help: 'the name the report gets in the session (default _load)' },
  },
  positionals: 2,
  complete(words, partial, ctx) {
    const last = words[words.length - 1];
    if (last === '--from') return ['torch', 'tfjs'].filter((w) => w.startsWith(partial));
    if (last === '--map') return ['auto'].filter((w) => w.startsWith(partial));
    if (last === '--rename') return ['strip:', 'add:', 'replace:', 's/', 'map:'].filter((w) => w.startsWith(partial));
    const n = positionalCount(words);
    if (n === 0) return completeVariables(ctx, partial, ['model']);
    if (n === 1) return completeSources(ctx, partial, ['statedict']);
    return [];
  },
  async run(call, ctx) {
    const from = call.options.from as string | undefined;
    if (from !== undefined && from !== 'torch' && from !== 'tfjs') throw new UsageError(`%load: --from takes torch or tfjs, got ${JSON.stringify(from)}\nusage: ${usage}`);
    const map = call.options.map as string | undefined;
    if (map !== undefined && map !== 'auto') throw new UsageError(`%load: --map takes auto, got ${JSON.stringify(map)}\nusage: ${usage}`);
    const asName = (call.options.as as string | undefined) ?? '_load';
    if (!/^[A-Za-z_$][\w$]*$/.test(asName)) throw new UsageError(`%load: --as takes a variable name, got ${JSON.stringify(asName)}\nusage: ${usage}`);
    const literal = literalWords(call);
    const renames = ((call.options.rename as string[] | undefined) ?? []).map((w) => parseRenameRule(literal(w), 'load'));
    const model = expectVariable<object>(ctx, call.positionals[0], ['model'], 'load', usage);
    const source = expectSource(ctx, call.positionals[1], ['statedict'], 'load', usage);

    const { loadStateDict, LoadError } = await import('../../../lib/model/load');
    const { resolveStateDict } = await import('../../../lib/model/sources');
    const { loadReportBundle } = await import('../../../lib/model/load-view');
    const resolved = await resolveStateDict(source.value as never, { root: call.options.root as string | undefined });
    const layout = (from as 'torch' | 'tfjs' | undefined) ?? resolved.layout;
    const opts = { strict: !!call.options.strict, skipMismatch: !!call.options['skip-mismatch'], from: layout, rename: renames, map: map as 'auto' | undefined, warn: null };
    const names = { model: model.name, source: source.name, ruleText: (x: RenameRule) => ruleWord(x) ?? JSON.stringify(x) };
    let report: LoadReport;
    try {
      report = await loadStateDict(model.value as never, resolved.stateDict, opts);
    } catch (e) {
      if (e instanceof LoadError) ctx.display(loadReportBundle(e.report, { ...names, fix: fixLine(e.report, names, call.options) }));
      throw e;
    }
    const refreshed = report.loaded.length ? await refreshFingerprint(ctx, model.value as never, '%load') : false;
    await ctx.define(asName, report, libType('LoadReport'));
    const notes = [
      ...(refreshed ? ['the %checkfrozen reference of this model was taken again after the load'] : []),
      `the report is ${asName} (e.g. %freeze ${model.name} ${asName} freezes what was loaded)`,
    ];
    return displayable(report, () => loadReportBundle(report, { ...names, notes, fix: fixLine(report, names, call.options) }));
  },
});

/** Words before the one being typed that are positionals (not options or their values). */
function positionalCount(words: string[]): number {
  let n = 0;
  for (let i = 0; i < words.length; i++) {
    if (words[i].startsWith('--')) { if (!['--strict', '--skip-mismatch'].includes(words[i])) i++; }
    else n++;
  }
  return n;
}

/** The %load line that loads more: the renames already applied plus the report's suggested ones, or --skip-mismatch when shapes are what failed. */
function fixLine(r: LoadReport, names: { model: string; source: string }, options: Record<string, unknown>): string | undefined {
  const skip = !r.suggestion && r.error !== undefined && r.mismatched.length > 0 && !options['skip-mismatch'];
  if (!r.suggestion && !skip) return undefined;
  const rules: RenameRule[] = r.suggestion ? [...r.renames, ...suggestionRulesOf(r.suggestion)] : r.renames;
  const words = rules.map(ruleWord);
  if (words.some((w) => w === undefined)) return `%load ${quoteWord(names.model)} ${quoteWord(names.source)} --map auto`;
  const flags = ['strict', 'skip-mismatch'].filter((f) => options[f] || (f === 'skip-mismatch' && skip)).map((f) => ` --${f}`).join('');
  const extra = (['from', 'root'] as const).filter((f) => options[f] !== undefined).map((f) => ` --${f} ${quoteWord(String(options[f]))}`).join('');
  return `%load ${quoteWord(names.model)} ${quoteWord(names.source)}${words.map((w) => ` --rename ${w}`).join('')}${flags}${extra}`;
}
