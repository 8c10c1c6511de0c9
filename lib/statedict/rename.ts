/** Rewriting the keys of a state dict: one small rule each, applied in order. */
import type { StateDict } from './tensor';

/** One way to rewrite keys. */
export type RenameRule =
  | { stripPrefix: string }
  | { addPrefix: string }
  | { replacePrefix: [from: string, to: string] }
  | { pattern: RegExp | string; replacement: string }
  | { map: Record<string, string> };

/** The key a rule makes of `key` (the key itself when the rule does not apply). */
export function renameKey(key: string, rule: RenameRule): string {
  if ('stripPrefix' in rule) return key.startsWith(rule.stripPrefix) ? key.slice(rule.stripPrefix.length) : key;
  if ('addPrefix' in rule) return rule.addPrefix + key;
  if ('replacePrefix' in rule) return key.startsWith(rule.replacePrefix[0]) ? rule.replacePrefix[1] + key.slice(rule.replacePrefix[0].length) : key;
  if ('pattern' in rule) return key.replace(typeof rule.pattern === 'string' ? new RegExp(rule.pattern) : rule.pattern, rule.replacement);
  return Object.prototype.hasOwnProperty.call(rule.map, key) ? rule.map[key] : key;
}

/** A new state dict with every key rewritten by `rules` in order; two keys that collide are an error. */
export function renameKeys(sd: StateDict, rules: RenameRule | RenameRule[]): StateDict {
  const list = Array.isArray(rules) ? rules : [rules];
  const out: StateDict = new Map();
  for (const [key, t] of sd) {
    const to = list.reduce(renameKey, key);
    if (out.has(to)) throw new Error(`renameKeys: '${key}' and another key both become '${to}'`);
    out.set(to, t);
  }
  return out;
}

/** The TypeScript that applies `rule` to a state dict named `sd`. */
export function ruleCode(rule: RenameRule, sd = 'sd'): string {
  const json = (v: unknown) => JSON.stringify(v);
  if ('pattern' in rule) {
    // RegExp's source escapes '/', so the literal is valid; keep the flags (g, i, ...).
    const re = typeof rule.pattern === 'string' ? new RegExp(rule.pattern) : rule.pattern;
    return `renameKeys(${sd}, { pattern: /${re.source}/${re.flags}, replacement: ${json(rule.replacement)} })`;
  }
  if ('map' in rule) return `renameKeys(${sd}, { map: ${json(rule.map)} })`;
  return `renameKeys(${sd}, ${json(rule)})`;
}
