/** %rename SD RULE...: rename a state dict's keys, keep the result under a new name, and show each key's old and new name. */
import { displayable } from '../../../lib/display/bundle';
import { registerMagic, UsageError } from '../registry';
import { completeSources, expectSource, identifierOf, libType, literalWords, lookup, kindOf } from '../resolve';
import { parseRenameRule, RULE_HELP } from '../rename-rule';
import { badge, box, code, details, escapeHtml, table } from '../../../lib/display/html';

const usage = '%rename SD RULE... [--as NAME]';

registerMagic({
  name: 'rename',
  kind: 'line',
  summary: "rename a state dict's keys by rules (strip:module., add:net., ...); the result is a new StateDict variable",
  usage,
  help: [
    'SD is a StateDict variable of the session or a checkpoint file. The rules apply in order to every key;',
    'the result is defined as NAME (default: SD_renamed, or the file\'s name + _renamed), a StateDict,',
    'and the old → new key table is shown. SD itself is left as it was. Two keys that become one are an error.',
    '',
    RULE_HELP,
    '',
    'Example:  %rename sd strip:module. --as clean',
  ].join('\n'),
  options: { as: { type: 'string', help: 'the name of the renamed StateDict (default SD_renamed)' } },
  positionals: [2, Infinity],
  complete(words, partial, ctx) {
    const positional = words.filter((w, i) => !w.startsWith('--') && words[i - 1] !== '--as');
    if (words[words.length - 1] === '--as') return [];
    if (positional.length === 0) return completeSources(ctx, partial, ['statedict']);
    // Suggest stripping each first key segment the state dict has (module., net., ...).
    const found = lookup(ctx, positional[0]);
    const prefixes = found && kindOf(found.value) === 'statedict' ? [...new Set([...(found.value as Map<string, unknown>).keys()].map((k) => k.split('.')[0]).filter(Boolean))].map((p) => `strip:${p}.`) : [];
    return [...prefixes, 'strip:', 'add:', 'replace:', 's/', 'map:'].filter((w) => w.startsWith(partial));
  },
  async run(call, ctx) {
    const [sdWord, ...ruleWords] = call.positionals;
    const literal = literalWords(call);
    const rules = ruleWords.map((w) => parseRenameRule(literal(w), 'rename'));
    const source = expectSource<Map<string, unknown>>(ctx, sdWord, ['statedict'], 'rename', usage);
    const name = (call.options.as as string | undefined) ?? `${identifierOf(source)}_renamed`;
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new UsageError(`%rename: --as takes a variable name, got ${JSON.stringify(name)}\nusage: ${usage}`);
    const { renameKeys, renameKey } = await import('../../../lib/statedict/rename');
    const sd = source.kind === 'path' ? (await (await import('../../../lib/formats/read')).readCheckpoint(source.value)).stateDict : (source.value as never);
    const renamed = renameKeys(sd, rules);
    await ctx.define(name, renamed, libType('StateDict'));
    const rows = [...sd.keys()].map((k) => [k, rules.reduce(renameKey, k)] as const);
    const changed = rows.filter(([a, b]) => a !== b).length;
    const head = `${name} = ${source.name} with ${ruleWords.map(literal).join(' then ')}: ${changed} of ${rows.length} keys renamed`;
    const text = [head];
    if (!changed) text.push(`  no key changed: ${source.name}'s keys look like ${rows.slice(0, 3).map(([k]) => `'${k}'`).join(', ')}`);
    const w = Math.max(0, ...rows.slice(0, 40).map(([a]) => a.length));
    for (const [a, b] of rows.slice(0, 40)) text.push(`  ${a.padEnd(w)}  →  ${a === b ? '(unchanged)' : b}`);
    if (rows.length > 40) text.push(`  … and ${rows.length - 40} more`);
    const html = [
      box(`<b>${code(name)}</b> = ${code(source.name)} with ${ruleWords.map(literal).map(code).join(' then ')}<div style="margin-top:4px">${badge(changed, 'renamed', changed ? 'good' : 'warn')}${badge(rows.length - changed, 'unchanged', 'none')}</div>${changed ? '' : `<div>No key changed: the keys look like ${rows.slice(0, 3).map(([k]) => code(k)).join(', ')}.</div>`}`, changed ? 'good' : 'warn'),
      details(escapeHtml(`old → new (${rows.length} keys)`), table(['old key', 'new key'], rows.map(([a, b]) => [a, a === b ? { html: '<span style="opacity:0.6">(unchanged)</span>' } : b]), { tone: (i) => (rows[i][0] === rows[i][1] ? 'none' : 'good') }), rows.length <= 40),
    ].join('\n');
    // A fresh value: the StateDict itself keeps displaying as a Map.
    return displayable({ name, renamed: changed, keys: rows.length }, () => ({ data: { 'text/plain': text.join('\n'), 'text/html': `<div class="tsfreeze-rename">${html}</div>` } }));
  },
});
