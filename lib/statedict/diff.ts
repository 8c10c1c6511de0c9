/**
 * Comparing the keys of two state dicts (or models): what matches, what differs in shape, what
 * is on one side only, and the rename rules that would make more keys match.
 */
import { renameKey, ruleCode, type RenameRule } from './rename';
import { sameShape, type KeyShapes } from './select';

/** A key both sides have, with different shapes. */
export interface ShapeMismatch { key: string; a: number[]; b: number[] }

/** A rename rule for side A and what it would gain. */
export interface Suggestion {
  rule: RenameRule;
  /** How many more keys of A would match a key of B with the same shape. */
  gain: number;
  /** The call that applies it, ready to run. */
  code: string;
  description: string;
}

/** The comparison of two key sets. */
export interface KeyDiff {
  matched: string[];
  mismatched: ShapeMismatch[];
  onlyA: string[];
  onlyB: string[];
  /** Rules for A, best first; each was checked against the whole key set. */
  suggestions: Suggestion[];
}

const MAX_DROP = 2;

/** Compares two key sets and suggests the renames of A that would match more of B. */
export function diffKeyShapes(a: KeyShapes, b: KeyShapes): KeyDiff {
  const base = compare(a, b);
  const suggestions: Suggestion[] = [];
  const prefix = bestPrefixRules(base.onlyA, base.onlyB, a, b, base.exact);
  suggestions.push(...prefix);
  // After the best prefix fix, align what is still unmatched by order and shape.
  const after = prefix.length ? compare(renameShapes(a, prefix[0].rule), b) : base;
  const map = alignByOrder(after.onlyA, after.onlyB, prefix.length ? renameShapes(a, prefix[0].rule) : a, b);
  if (map) {
    const rules: RenameRule[] = prefix.length ? [prefix[0].rule, map] : [map];
    const gain = compare(rules.reduce(renameShapes, a), b).exact - base.exact;
    if (gain > 0) {
      const n = Object.keys(map.map).length;
      suggestions.push({
        rule: map, gain, code: ruleCode(map),
        description: `${prefix.length ? 'then ' : ''}map ${n} key${n > 1 ? 's' : ''} paired by parameter order and shape${prefix.length ? ` (after ${prefix[0].description})` : ''}`,
      });
    }
  }
  return { matched: base.matched, mismatched: base.mismatched, onlyA: base.onlyA, onlyB: base.onlyB, suggestions };
}

function compare(a: KeyShapes, b: KeyShapes) {
  const matched: string[] = [], mismatched: ShapeMismatch[] = [], onlyA: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w) onlyA.push(k);
    else if (sameShape(v.shape, w.shape)) matched.push(k);
    else mismatched.push({ key: k, a: v.shape, b: w.shape });
  }
  const onlyB = [...b.keys()].filter((k) => !a.has(k));
  return { matched, mismatched, onlyA, onlyB, exact: matched.length };
}

function renameShapes(a: KeyShapes, rule: RenameRule): KeyShapes {
  const out: KeyShapes = new Map();
  for (const [k, v] of a) { const to = renameKey(k, rule); if (!out.has(to)) out.set(to, v); }
  return out;
}

/** `keys` with their first `d` dotted segments split off: [prefix with its dot, rest]. */
function split(key: string, d: number): [string, string] | undefined {
  let at = 0;
  for (let i = 0; i < d; i++) { at = key.indexOf('.', at) + 1; if (at === 0) return undefined; }
  return [key.slice(0, at), key.slice(at)];
}

/** Prefix rewrites (strip, add, replace) found by pairing keys that share a tail, each scored on the whole set. */
function bestPrefixRules(onlyA: string[], onlyB: string[], a: KeyShapes, b: KeyShapes, exact: number): Suggestion[] {
  if (!onlyA.length || !onlyB.length) return [];
  const tails = new Map<string, string[]>();
  for (const k of onlyB) {
    for (let e = 0; e <= MAX_DROP; e++) {
      const s = split(k, e);
      if (!s || !s[1]) break;
      if (e > 0 && !s[1].includes('.')) break; // a bare 'weight' tail says nothing
      const list = tails.get(s[1]) ?? [];
      list.push(s[0]);
      tails.set(s[1], list);
    }
  }
  const votes = new Map<string, number>();
  for (const k of onlyA) {
    for (let d = 0; d <= MAX_DROP; d++) {
      const s = split(k, d);
      if (!s || !s[1] || (d > 0 && !s[1].includes('.'))) break;
      for (const pb of tails.get(s[1]) ?? []) {
        if (s[0] === pb) continue;
        const id = JSON.stringify([s[0], pb]);
        votes.set(id, (votes.get(id) ?? 0) + 1);
      }
    }
  }
  const candidates = [...votes].sort((x, y) => y[1] - x[1]).slice(0, 8).map(([id]) => JSON.parse(id) as [string, string]);
  const out: Suggestion[] = [];
  for (const [from, to] of candidates) {
    const rule: RenameRule = from === '' ? { addPrefix: to } : to === '' ? { stripPrefix: from } : { replacePrefix: [from, to] };
    const gain = compare(renameShapes(a, rule), b).exact - exact;
    if (gain <= 0) continue;
    const description = from === '' ? `add the prefix '${to}'` : to === '' ? `strip the prefix '${from}'` : `replace the prefix '${from}' with '${to}'`;
    out.push({ rule, gain, code: ruleCode(rule), description });
  }
  return out.sort((x, y) => y.gain - x.gain);
}

/** Pairs the unmatched keys of both sides in order where shapes agree (skipping a few on either side). */
function alignByOrder(onlyA: string[], onlyB: string[], a: KeyShapes, b: KeyShapes): { map: Record<string, string> } | undefined {
  const map: Record<string, string> = {};
  const shapeA = (k: string) => a.get(k)!.shape;
  const shapeB = (k: string) => b.get(k)!.shape;
  const LOOK = 3;
  let i = 0, j = 0, n = 0;
  while (i < onlyA.length && j < onlyB.length) {
    if (sameShape(shapeA(onlyA[i]), shapeB(onlyB[j]))) { map[onlyA[i++]] = onlyB[j++]; n++; continue; }
    let moved = false;
    for (let s = 1; s <= LOOK && !moved; s++) {
      if (j + s < onlyB.length && sameShape(shapeA(onlyA[i]), shapeB(onlyB[j + s]))) { j += s; moved = true; }
      else if (i + s < onlyA.length && sameShape(shapeA(onlyA[i + s]), shapeB(onlyB[j]))) { i += s; moved = true; }
    }
    if (!moved) { i++; j++; }
  }
  return n ? { map } : undefined;
}
