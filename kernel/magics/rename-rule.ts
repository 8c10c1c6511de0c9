/**
 * Rename rules as magic words (`strip:module.`, `add:net.`, `replace:old.=new.`,
 * `s/PATTERN/REPLACEMENT/FLAGS`, `map:a=b,c=d`) and back, so a suggested rename prints as a
 * word the magics accept.
 */
import type { RenameRule } from '../../lib/statedict/rename';
import { UsageError } from './registry';

/** The rule forms, for help texts. */
export const RULE_HELP = [
  'RULE is one of:',
  '  strip:PREFIX          drop PREFIX where a key starts with it (strip:module.)',
  '  add:PREFIX            put PREFIX before every key (add:attention_map.)',
  '  replace:OLD=NEW       a key starting with OLD starts with NEW instead (replace:backbone.=features.)',
  '  s/PATTERN/REPL/FLAGS  a regular expression replace, as String.replace does (s/^fc\\./head./)',
  '  map:OLD=NEW,OLD=NEW   rename whole keys one by one',
].join('\n');

/** The rule a word stands for; a UsageError says what forms there are. */
export function parseRenameRule(word: string, magic: string): RenameRule {
  const bad = (why: string) => new UsageError(`%${magic}: ${why} in rename rule ${JSON.stringify(word)}\n${RULE_HELP}`);
  const colon = word.indexOf(':');
  const kind = colon > 0 ? word.slice(0, colon) : '';
  const rest = word.slice(colon + 1);
  if (kind === 'strip') {
    if (!rest) throw bad('no prefix');
    return { stripPrefix: rest };
  }
  if (kind === 'add') {
    if (!rest) throw bad('no prefix');
    return { addPrefix: rest };
  }
  if (kind === 'replace') {
    const eq = rest.indexOf('=');
    if (eq <= 0) throw bad("expected replace:OLD=NEW (OLD not empty)");
    return { replacePrefix: [rest.slice(0, eq), rest.slice(eq + 1)] };
  }
  if (kind === 'map') {
    const map: Record<string, string> = {};
    for (const pair of rest.split(',')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw bad(`expected OLD=NEW, got ${JSON.stringify(pair)}`);
      map[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    return { map };
  }
  if (word.startsWith('s/')) {
    const parts = splitSlashes(word.slice(2));
    if (parts.length !== 3) throw bad('expected s/PATTERN/REPLACEMENT/FLAGS');
    const [pattern, replacement, flags] = parts;
    try {
      return { pattern: new RegExp(pattern, flags), replacement };
    } catch (e) {
      throw bad((e as Error).message);
    }
  }
  throw bad('unknown form');
}

/** `s` split at unescaped '/', with `\/` turned into '/' (other escapes are the pattern's own). */
function splitSlashes(s: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === '/') { cur += '/'; i++; }
    else if (s[i] === '/') { parts.push(cur); cur = ''; }
    else cur += s[i];
  }
  parts.push(cur);
  return parts;
}

/** The magic word for a rule (quoted when the shell-like splitting needs it), or undefined when it has none. */
export function ruleWord(rule: RenameRule): string | undefined {
  let word: string;
  if ('stripPrefix' in rule) word = `strip:${rule.stripPrefix}`;
  else if ('addPrefix' in rule) word = `add:${rule.addPrefix}`;
  else if ('replacePrefix' in rule) {
    if (rule.replacePrefix[0].includes('=')) return undefined;
    word = `replace:${rule.replacePrefix[0]}=${rule.replacePrefix[1]}`;
  } else if ('map' in rule) {
    const pairs = Object.entries(rule.map);
    if (!pairs.length || pairs.some(([a, b]) => /[=,]/.test(a) || b.includes(','))) return undefined;
    word = `map:${pairs.map(([a, b]) => `${a}=${b}`).join(',')}`;
  } else {
    const re = typeof rule.pattern === 'string' ? new RegExp(rule.pattern) : rule.pattern;
    word = `s/${re.source}/${rule.replacement.replace(/\//g, '\\/')}/${re.flags}`;
  }
  return quoteWord(word);
}

/** `word` as the magics' word splitting reads it back unchanged: single-quoted when it holds spaces, quotes or backslashes. */
export function quoteWord(word: string): string {
  if (word && /^[\w.:=,/*?+\-[\]^$|(){}@%#~]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'"'"'`)}'`;
}
