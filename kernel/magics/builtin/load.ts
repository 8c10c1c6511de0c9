/** %load MODEL SOURCE: load a checkpoint or state dict into a model and show the load report; the report is kept as `_load`. */
import type { LoadReport } from '../../../lib/model/load';
import type { RenameRule } from '../../../lib/statedict/rename';
import { displayable } from '../../../lib/display/bundle';
import { registerMagic, UsageError, type MagicCall, type MagicContext } from '../registry';
import { completeSources, completeVariables, expectSource, expectVariable, libType, literalWords, lookup } from '../resolve';
import { parseRenameRule, quoteWord, ruleWord, RULE_HELP } from '../rename-rule';
import { refreshFingerprint } from '../fingerprints';
import { suggestionRulesOf } from '../../../lib/model/load-view';

const usage = '%load MODEL SOURCE [--strict] [--from torch|tfjs] [--rename RULE]... [--map auto] [--skip-mismatch] [--root KEY] [--as NAME]  |  %load NAME WHOLE.pt [--input-shape H,W,C]';

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
    'When MODEL is not a variable of the session and SOURCE is a whole pickled module (torch.save(model)),',
    'the model is rebuilt in TF.js from the pickle\'s module tree (nothing in the file runs), loaded strictly,',
    'and defined as MODEL: torchvision\'s ResNet, MobileNet, EfficientNet and VGG classes and nn.Sequential',
    'trees of standard modules (tsfreeze keys FILE shows the tree). --input-shape gives the image size where',
    'it matters (a Flatten before a Linear).',
    '',
    'Example:  %load model data/pretrained.pth --rename strip:module.',
    'Example:  %load net data/whole_model.pt --input-shape 32,32,3',
  ].join('\n'),
  options: {
    strict: { type: 'boolean', help: 'fail (loading nothing) when a key is missing or unexpected' },
    from: { type: 'string', help: "the source's naming and layout: torch or tfjs (default: PyTorch for PyTorch files and torch-looking keys)" },
    rename: { type: 'string', multiple: true, help: "rename the source's keys first (repeatable, applied in order); RULE forms are listed above" },
    map: { type: 'string', help: 'auto: apply the renames %diffkeys would suggest when they match more keys' },
    'skip-mismatch': { type: 'boolean', help: 'leave out (and list) tensors whose shape differs instead of failing' },
    root: { type: 'string', help: "the sub-tree of the checkpoint to load (e.g. model_state_dict); default: found by itself" },
    as: { type: 'string', help: 'the name the report gets in the session (default _load)' },
    'input-shape': { type: 'string', help: 'rebuilding a whole pickled module: the input without the batch axis, e.g. 224,224,3 (default: any image size)' },
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
    if (!lookup(ctx, call.positionals[0])) return rebuild(call, ctx, asName);
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

/** %load NAME WHOLE.pt: the TF.js twin of a whole pickled module, defined as NAME. */
async function rebuild(call: MagicCall, ctx: MagicContext, asName: string): Promise<unknown> {
  const name = call.positionals[0];
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new UsageError(`%load: no model variable '${name}' in this session (to rebuild a whole pickled module, name the new variable)\nusage: ${usage}`);
  const source = expectSource(ctx, call.positionals[1], ['statedict'], 'load', usage);
  if (source.kind !== 'path') throw new UsageError(`%load: no model variable '${name}' in this session; a model is rebuilt only from a whole pickled module file, and ${source.name} is a session variable\nusage: ${usage}`);
  const shapeWord = call.options['input-shape'] as string | undefined;
  const inputShape = shapeWord === undefined ? undefined : shapeWord.split(',').map((d) => (d.trim() === '' || d.trim() === 'null' ? null : Number(d)));
  if (inputShape?.some((d) => d !== null && (!Number.isInteger(d) || d < 1))) throw new UsageError(`%load: --input-shape takes sizes like 224,224,3, got ${JSON.stringify(shapeWord)}\nusage: ${usage}`);
  const { modelFromCheckpoint, rebuildReport, ModuleRebuildError } = await import('../../../lib/models/from-checkpoint');
  const { loadReportBundle } = await import('../../../lib/model/load-view');
  let model;
  try {
    model = await modelFromCheckpoint(source.value as string, { inputShape, root: call.options.root as string | undefined });
  } catch (e) {
    if (e instanceof ModuleRebuildError) throw new UsageError(`%load: no model variable '${name}' in this session, and ${source.name} cannot be rebuilt as one: ${e.message}\nusage: ${usage}`);
    throw e;
  }
  await ctx.define(name, model, 'import("@tensorflow/tfjs").LayersModel');
  const report = rebuildReport(model)!;
  await ctx.define(asName, report, libType('LoadReport'));
  const notes = [
    `rebuilt ${name}: a TF.js ${model.name} of ${model.countParams().toLocaleString('en-US')} parameters, from the module tree pickled in ${source.name} (read, not run; tsfreeze keys shows it), loaded strictly`,
    `the report is ${asName} (e.g. %freeze ${name} ${asName} freezes what was loaded)`,
  ];
  const names = { model: name, source: source.name, ruleText: (x: RenameRule) => ruleWord(x) ?? JSON.stringify(x) };
  return displayable(report, () => loadReportBundle(report, { ...names, notes }));
}

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
