/** %load MODEL SOURCE: load a checkpoint or state dict into a model and show the load report; the report is kept as `_load`. */
import type { LoadReport } from '../../../lib/model/load';
import type { RenameRule } from '../../../lib/statedict/rename';
import { displayable } from '../../../lib/display/bundle';
import { registerMagic, UsageError } from '../registry';
import { completeSources, completeVariables, expectSource, expectVariable, libType, literalWords, type Source } from '../resolve';
import { parseRenameRule, quoteWord, ruleWord, RULE_HELP } from '../rename-rule';
import { refreshFingerprint } from '../fingerprints';
import { badge, box, codeLine, details, escapeHtml, shapeText, table, type Tone } from '../html';

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
    const resolved = await resolveStateDict(source.value as never, { root: call.options.root as string | undefined });
    const layout = (from as 'torch' | 'tfjs' | undefined) ?? resolved.layout;
    const opts = { strict: !!call.options.strict, skipMismatch: !!call.options['skip-mismatch'], from: layout, rename: renames, map: map as 'auto' | undefined, warn: null };
    let report: LoadReport;
    try {
      report = await loadStateDict(model.value as never, resolved.stateDict, opts);
    } catch (e) {
      if (e instanceof LoadError) ctx.display(await reportBundle(e.report, model, source, call.options, resolved.stateDict, 'failed'));
      throw e;
    }
    const refreshed = report.loaded.length ? await refreshFingerprint(ctx, model.value as never, '%load') : false;
    await ctx.define(asName, report, libType('LoadReport'));
    const bundle = await reportBundle(report, model, source, call.options, resolved.stateDict, refreshed ? 'refreshed' : 'ok', asName);
    return displayable(report, () => bundle);
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

type Status = 'ok' | 'refreshed' | 'failed';

/** The report as text and HTML: counts, the lists, the renames applied, and the warning with the rename that fixes it. */
async function reportBundle(r: LoadReport, model: { name: string; value: unknown }, source: Source, options: Record<string, unknown>, sd: Map<string, unknown>, status: Status, asName?: string) {
  const total = r.loaded.length + r.missing.length + r.mismatched.length;
  const fix = r.warning || status === 'failed' ? await fixLine(r, model, source, options, sd) : undefined;
  const naming = r.layout === 'torch' ? "PyTorch's" : "TF.js's";
  const head = `${status === 'failed' ? 'Nothing was loaded' : `Loaded ${r.loaded.length} of ${model.name}'s ${total} weights`} from ${source.name} (keys matched in ${naming} naming)`;
  const counts = `${r.loaded.length} loaded, ${r.missing.length} missing, ${r.unexpected.length} unexpected, ${r.mismatched.length} shape-mismatched${r.ignored.length ? `, ${r.ignored.length} ignored` : ''}`;
  const renameWords = r.renames.map((x) => ruleWord(x) ?? JSON.stringify(x));
  const notes: string[] = [];
  if (renameWords.length) notes.push(`renames applied: ${renameWords.join(' then ')}`);
  if (r.ignored.length) notes.push(`ignored (no TF.js twin): ${r.ignored.join(', ')}`);
  if (status === 'refreshed') notes.push('the %checkfrozen reference of this model was taken again after the load');
  if (asName) notes.push(`the report is ${asName} (e.g. %freeze ${model.name} ${asName} freezes what was loaded)`);

  const text = [head, counts, ...notes.map((n) => `  ${n}`)];
  const list = (title: string, keys: string[]) => { if (keys.length) text.push(`${title} (${keys.length}): ${keys.slice(0, 20).join(', ')}${keys.length > 20 ? `, … and ${keys.length - 20} more` : ''}`); };
  list('missing', r.missing);
  list('unexpected', r.unexpected);
  list('shape-mismatched', r.mismatched.map((m) => `${m.key} (checkpoint [${m.got}] vs model [${m.expected}])`));
  if (r.warning) text.push(r.warning);
  if (fix) text.push(`fix: ${fix}`);

  const tone: Tone = status === 'failed' || r.warning ? 'bad' : r.missing.length || r.unexpected.length || r.mismatched.length ? 'warn' : 'good';
  const keyList = (title: string, t: Tone, rows: string[][], head: string[]) =>
    rows.length ? details(badge(rows.length, title, t), table(head, rows, { tone: () => t }), rows.length <= 20) : '';
  const html = [
    box(`<b>${escapeHtml(head)}</b><div style="margin-top:4px">${badge(r.loaded.length, 'loaded', 'good')}${badge(r.missing.length, 'missing', r.missing.length ? 'warn' : 'none')}${badge(r.unexpected.length, 'unexpected', r.unexpected.length ? 'warn' : 'none')}${badge(r.mismatched.length, 'shape-mismatched', r.mismatched.length ? 'bad' : 'none')}</div>${notes.map((n) => `<div style="opacity:0.85">${escapeHtml(n)}</div>`).join('')}`, tone),
    r.warning ? box(`<pre style="margin:0;white-space:pre-wrap;font-weight:bold">${escapeHtml(r.warning)}</pre>${fix ? `<div>The rename that fixes it:</div>${codeLine(fix)}` : ''}`, 'bad') : fix ? box(`<div>Likely fix:</div>${codeLine(fix)}`, 'warn') : '',
    keyList('missing (the model has them, the source does not)', 'warn', r.missing.map((k) => [k]), ['key']),
    keyList('unexpected (the source has them, the model does not)', 'warn', r.unexpected.map((k) => [k]), ['key']),
    keyList('shape-mismatched', 'bad', r.mismatched.map((m) => [m.key, shapeText(m.got), shapeText(m.expected)]), ['key', 'in the source', 'in the model']),
    r.loaded.length ? details(badge(r.loaded.length, 'loaded', 'good'), table(['key'], r.loaded.map((k) => [k]), { tone: () => 'good' }), false) : '',
  ].filter(Boolean).join('\n');
  return { data: { 'text/plain': text.join('\n'), 'text/html': `<div class="tsfreeze-load">${html}</div>` } };
}

/** The %load line that would load more: the renames already applied plus the best one %diffkeys finds (or --skip-mismatch when shapes are what failed). */
async function fixLine(r: LoadReport, model: { name: string; value: unknown }, source: Source, options: Record<string, unknown>, sd: Map<string, unknown>): Promise<string | undefined> {
  const { renameKeys } = await import('../../../lib/statedict/rename');
  const { shapesOf } = await import('../../../lib/statedict/select');
  const { diffKeyShapes } = await import('../../../lib/statedict/diff');
  const { resolveShapes } = await import('../../../lib/model/sources');
  const { keyInfosOf } = await import('../../../lib/model/key-roles');
  const renamed = r.renames.length ? renameKeys(sd as never, r.renames) : (sd as never);
  const target = await resolveShapes(model.value as never, r.layout);
  const shapes = shapesOf(renamed);
  const best = diffKeyShapes(shapes, target.shapes, { infoA: keyInfosOf(shapes), infoB: target.infos }).suggestions[0];
  const skip = !best && r.mismatched.length > 0 && !options['skip-mismatch'];
  if (!best && !skip) return undefined;
  const rules: RenameRule[] = best ? [...r.renames, ...best.rules] : r.renames;
  const words = rules.map(ruleWord);
  if (words.some((w) => w === undefined)) return `%load ${quoteWord(model.name)} ${quoteWord(source.name)} --map auto`;
  const flags = ['strict', 'skip-mismatch'].filter((f) => options[f] || (f === 'skip-mismatch' && skip)).map((f) => ` --${f}`).join('');
  const extra = (['from', 'root'] as const).filter((f) => options[f] !== undefined).map((f) => ` --${f} ${quoteWord(String(options[f]))}`).join('');
  return `%load ${quoteWord(model.name)} ${quoteWord(source.name)}${words.map((w) => ` --rename ${w}`).join('')}${flags}${extra}`;
}
