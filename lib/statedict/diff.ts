/**
 * Comparing the keys of two state dicts (or models): what matches, what differs in shape, what is
 * on one side only, and the renames of A that would match more of B.
 *
 * A suggestion is never a guess. A rename rule (a separator, a prefix, a name in the middle of
 * keys) counts only the keys it makes equal to one of B's with the same shape and a compatible
 * role, and is dropped when it would move a key that already matched or make two keys collide.
 * Keys no rule explains are paired by order and shape only when that pairing is the one consistent
 * with every weight's role, shape and order; otherwise `notes` says why they were left alone.
 */
import { renameKey, ruleCode, type RenameRule } from './rename';
import { sameShape, type KeyShapes } from './select';

/** What a diff knows of a key besides its shape. */
export interface KeyInfo {
  /** What the tensor is for (kernel, bias, gamma, moving_mean, …); `a|b` when its names leave it open. */
  role: string;
  /** An entry no load reads (BatchNorm's num_batches_tracked): shown apart, never paired. */
  ignored?: boolean;
}

/** Options of diffKeyShapes. */
export interface DiffOptions {
  /** Roles of A's keys (default: a key's last name, so only like-named weights pair). */
  infoA?: ReadonlyMap<string, KeyInfo>;
  /** Roles of B's keys. */
  infoB?: ReadonlyMap<string, KeyInfo>;
}

/** A key both sides have, with different shapes. */
export interface ShapeMismatch { key: string; a: number[]; b: number[] }

/** A rename of A's keys and what it would gain. */
export interface Suggestion {
  /** The rule this suggestion adds (the last of `rules`). */
  rule: RenameRule;
  /** Every rule to apply, in order. */
  rules: RenameRule[];
  /** How many more keys of A would match a key of B with the same shape and role. */
  gain: number;
  /** The call that applies `rules`, ready to run. */
  code: string;
  description: string;
}

/** The comparison of two key sets. */
export interface KeyDiff {
  matched: string[];
  mismatched: ShapeMismatch[];
  onlyA: string[];
  onlyB: string[];
  /** Entries no load reads (num_batches_tracked), apart from the lists above. */
  ignored: { a: string[]; b: string[] };
  /** Renames of A, most keys fixed first; each was checked against the whole key set. */
  suggestions: Suggestion[];
  /** Why keys that stay unmatched were not paired by order and shape. */
  notes: string[];
}

/** One key of A as renames move it: its original key, its role and shape travel with it. */
interface Entry { orig: string; key: string; shape: number[]; role: string }
interface Target { shape: number[]; role: string }

/** A candidate rule with its score. */
interface Scored { rule: RenameRule; description: string; kind: number; votes: number; gain: number; next: Entry[]; pairs: Map<string, string>; costs: Map<string, number>; cost: number }

/** Most rules chained; most pair comparisons made to find rules (large models stay fast). */
const MAX_RULES = 4;
const PAIR_BUDGET = 400_000;
const CANDIDATES = 48;

/** Compares two key sets and suggests the renames of A that would match more of B. */
export function diffKeyShapes(a: KeyShapes, b: KeyShapes, opts: DiffOptions = {}): KeyDiff {
  const info = (m: ReadonlyMap<string, KeyInfo> | undefined, k: string): KeyInfo => m?.get(k) ?? { role: leafOf(k) };
  const ignored = { a: [] as string[], b: [] as string[] };
  const entries: Entry[] = [];
  for (const [k, v] of a) {
    const i = info(opts.infoA, k);
    if (i.ignored) ignored.a.push(k);
    else entries.push({ orig: k, key: k, shape: v.shape, role: i.role });
  }
  const targets = new Map<string, Target>();
  for (const [k, v] of b) {
    const i = info(opts.infoB, k);
    if (i.ignored) ignored.b.push(k);
    else targets.set(k, { shape: v.shape, role: i.role });
  }

  const matched: string[] = [], mismatched: ShapeMismatch[] = [], onlyA: string[] = [];
  for (const e of entries) {
    const t = targets.get(e.key);
    if (!t) onlyA.push(e.key);
    else if (sameShape(e.shape, t.shape)) matched.push(e.key);
    else mismatched.push({ key: e.key, a: e.shape, b: t.shape });
  }
  const inA = new Set(entries.map((e) => e.key));
  const onlyB = [...targets.keys()].filter((k) => !inA.has(k));

  const { suggestions, notes } = suggest(entries, targets);
  return { matched, mismatched, onlyA, onlyB, ignored, suggestions, notes };
}

/** The renames for A, best first, and notes on what stays unpaired. */
function suggest(entries: Entry[], targets: Map<string, Target>): { suggestions: Suggestion[]; notes: string[] } {
  const chain: Scored[] = [];
  const notes: string[] = [];
  let round0: Scored[] = [];
  let cur = entries;
  for (let round = 0; round < MAX_RULES; round++) {
    const { scored: found, closest } = scoredCandidates(cur, targets);
    if (!found.length) break;
    // A rule is offered only when each key it pairs has no other partner as close in name.
    const clean = uncontested(found, closest);
    const best = clean[0];
    if (best !== found[0]) {
      const n = found[0].gain;
      notes.push(`${found[0].description} would fix ${n} key${n > 1 ? 's' : ''}, but some of them are as close in name to other keys of their shape: not offered${best ? '' : '; name the keys alike or give a key map'}`);
    }
    if (!best) break;
    if (round === 0) round0 = clean.slice(1);
    chain.push(best);
    cur = best.next;
  }
  // Other rules of the first round that pair keys the chosen ones do not.
  const alternatives = round0.filter((o) => !chain.some((c) => conflicts(c, o) || covers(c, o))).slice(0, 3);

  const out: Suggestion[] = [];
  const add = (steps: Array<{ rule: RenameRule; description: string }>, gain: number) => {
    const rules = steps.map((s) => s.rule);
    out.push({ rule: rules[rules.length - 1], rules, gain, code: rules.reduce((c, r) => ruleCode(r, c), 'sd'), description: steps.map((s) => s.description).join(', then ') });
  };
  let gain = 0;
  chain.forEach((s, i) => { gain += s.gain; add(chain.slice(0, i + 1), gain); });
  for (const s of alternatives) add([s], s.gain);

  const paired = pairByOrder(cur, targets, notes);
  if (paired) {
    const next = applyRule(cur, paired.rule);
    const more = next ? countMatched(next, targets) - countMatched(cur, targets) : 0;
    if (next && more > 0) add([...chain, paired], gain + more);
  }
  out.sort((x, y) => y.gain - x.gain || x.rules.length - y.rules.length);
  return { suggestions: out, notes };
}

/** The last name of a key (after its last `.` or `/`). */
function leafOf(key: string): string {
  return key.slice(Math.max(key.lastIndexOf('.'), key.lastIndexOf('/')) + 1);
}

/** Whether two roles can be the same weight's (`kernel|embeddings` fits `embeddings`). */
function compatible(a: string, b: string): boolean {
  if (a === b) return true;
  const bs = b.split('|');
  return a.split('|').some((r) => bs.includes(r));
}

/** Whether a tensor of role `role` first named `orig` may sit on a key `key` of role `target`: compatible roles, or one unknown ('other') and the same last name. */
function fits(role: string, orig: string, target: string, key: string): boolean {
  return compatible(role, target) || ((role === 'other' || target === 'other') && leafOf(orig) === leafOf(key));
}

/** Whether entry `e` sits on a key of B that takes it: same shape, and the same name or a role that fits. */
function takes(e: Entry, targets: Map<string, Target>): boolean {
  const t = targets.get(e.key);
  return !!t && sameShape(e.shape, t.shape) && (e.key === e.orig || fits(e.role, e.orig, t.role, e.key));
}

function countMatched(entries: Entry[], targets: Map<string, Target>): number {
  let n = 0;
  for (const e of entries) if (takes(e, targets)) n++;
  return n;
}

/** The entries renamed by `rule`, or undefined when two keys would become one. */
function applyRule(entries: Entry[], rule: RenameRule): Entry[] | undefined {
  const seen = new Set<string>();
  const out: Entry[] = [];
  for (const e of entries) {
    const key = renameKey(e.key, rule);
    if (seen.has(key)) return undefined;
    seen.add(key);
    out.push(key === e.key ? e : { ...e, key });
  }
  return out;
}

/** A rule's gain, or undefined when it collides keys or moves a key that already matched. */
function score(entries: Entry[], targets: Map<string, Target>, rule: RenameRule): Pick<Scored, 'gain' | 'next' | 'pairs' | 'costs' | 'cost'> | undefined {
  const next = applyRule(entries, rule);
  if (!next) return undefined;
  const pairs = new Map<string, string>();
  const costs = new Map<string, number>();
  let cost = 0;
  for (let i = 0; i < entries.length; i++) {
    const was = takes(entries[i], targets);
    if (was && next[i].key !== entries[i].key) return undefined;
    if (!was && takes(next[i], targets)) {
      // Cost: the names a pairing changes; of two ways to pair a key, the smaller edit is the likelier.
      const c = namesChanged(namesOf(entries[i].key), namesOf(next[i].key));
      pairs.set(next[i].orig, next[i].key);
      costs.set(next[i].orig, c);
      cost += c;
    }
  }
  return { gain: pairs.size, next, pairs, costs, cost };
}

/** The candidates each of whose pairs is the one smallest edit for both its keys (no other key of equal shape and role is as close), best first. */
function uncontested(found: Scored[], closest: Closest): Scored[] {
  return found.filter((c) => [...c.pairs].every(([a, b]) => {
    const cost = c.costs.get(a) as number;
    const x = closest.a.get(a), y = closest.b.get(b);
    return !!x && !!y && x.cost === cost && x.count === 1 && y.cost === cost && y.count === 1;
  }));
}

/** Whether every pair `y` makes, `x` makes too. */
function covers(x: Pick<Scored, 'pairs'>, y: Pick<Scored, 'pairs'>): boolean {
  for (const [a, b] of y.pairs) if (x.pairs.get(a) !== b) return false;
  return true;
}

/** Whether two rules pair a key of A, or a key of B, differently. */
function conflicts(x: Pick<Scored, 'pairs'>, y: Pick<Scored, 'pairs'>): boolean {
  const claimedBy = new Map<string, string>();
  for (const [a, b] of x.pairs) claimedBy.set(b, a);
  for (const [a, b] of y.pairs) {
    const other = x.pairs.get(a);
    if (other !== undefined && other !== b) return true;
    const owner = claimedBy.get(b);
    if (owner !== undefined && owner !== a) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Rules found by comparing keys of equal shape and role

/** A key cut into names at `.` and `/`, with where each name starts and ends. */
interface Names { names: string[]; starts: number[]; ends: number[] }

function namesOf(key: string): Names {
  const names: string[] = [], starts: number[] = [], ends: number[] = [];
  const re = /[^./]+/g;
  for (let m = re.exec(key); m; m = re.exec(key)) { names.push(m[0]); starts.push(m.index); ends.push(m.index + m[0].length); }
  return { names, starts, ends };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Every candidate rule, scored on the whole key set; those that fix keys, best first. */
/** For each open key, the smallest edit that pairs it with a key of the other side of equal shape and role, and how many reach it. */
interface Closest { a: Map<string, { cost: number; count: number }>; b: Map<string, { cost: number; count: number }> }

function scoredCandidates(entries: Entry[], targets: Map<string, Target>): { scored: Scored[]; closest: Closest } {
  // Votes by (kind, from, to); rules are built only for the candidates that get scored.
  const votes = new Map<string, number>();
  const vote: Emit = (kind, from, to) => {
    const id = `${kind}\u0000${from}\u0000${to}`;
    votes.set(id, (votes.get(id) ?? 0) + 1);
  };
  const open = entries.filter((e) => !takes(e, targets) && !targets.has(e.key));
  const taken = new Set(entries.map((e) => e.key));
  const free = [...targets].filter(([k]) => !taken.has(k));
  const closest: Closest = { a: new Map(), b: new Map() };
  if (!open.length || !free.length) return { scored: [], closest };
  const near = (m: Map<string, { cost: number; count: number }>, k: string, cost: number) => {
    const x = m.get(k);
    if (!x || cost < x.cost) m.set(k, { cost, count: 1 });
    else if (cost === x.cost) x.count++;
  };

  // Separators: TF.js weight names (`conv1/kernel`) against dotted keys, and back.
  if (open.some((e) => e.key.includes('/')) && !free.some(([k]) => k.includes('/'))) {
    vote(0, '/', '.');
  }
  if (free.some(([k]) => k.includes('/')) && !open.some((e) => e.key.includes('/'))) {
    vote(0, '.', '/');
  }

  // Prefixes and names in the middle: pair keys of equal shape and compatible role, and see what differs.
  const byShape = new Map<string, Array<[string, Target]>>();
  for (const [k, t] of free) {
    const id = t.shape.join(',');
    const list = byShape.get(id) ?? [];
    list.push([k, t]);
    byShape.set(id, list);
  }
  const namesB = new Map(free.map(([k]) => [k, namesOf(k)]));
  let pairs = 0;
  outer: for (const e of open) {
    const na = namesOf(e.key);
    for (const [k, t] of byShape.get(e.shape.join(',')) ?? []) {
      if (!fits(e.role, e.orig, t.role, k)) continue;
      if (++pairs > PAIR_BUDGET) break outer;
      const nb = namesB.get(k) as Names;
      const cost = namesChanged(na, nb);
      near(closest.a, e.orig, cost);
      near(closest.b, k, cost);
      rulesBetween(e.key, na, k, nb, vote);
    }
  }

  const out: Scored[] = [];
  const ranked = [...votes].map(([id, n]) => { const [kind, from, to] = id.split('\u0000'); return { kind: Number(kind), from, to, votes: n }; });
  // Separator rules come from no pair of keys: always scored.
  for (const c of ranked.sort((x, y) => Number(y.kind === 0) - Number(x.kind === 0) || y.votes - x.votes).slice(0, CANDIDATES)) {
    const { rule, description } = ruleOf(c.kind, c.from, c.to);
    const sc = score(entries, targets, rule);
    // A rule that fixes one key is a key map in disguise: a separator, strip or add may, others need two.
    if (!sc || sc.gain < (c.kind <= 1 ? 1 : 2)) continue;
    out.push({ rule, description, kind: c.kind, votes: c.votes, ...sc });
  }
  return { scored: out.sort((x, y) => y.gain - x.gain || x.cost - y.cost || x.kind - y.kind || y.votes - x.votes), closest };
}

/**
 * How far apart two keys are in names: the names outside their longest shared start and end, on
 * both sides; one name replaced by another counts less the more letters they share at their ends
 * (`q` is closer to `query` than to `key`).
 */
function namesChanged(na: Names, nb: Names): number {
  const n = na.names.length, m = nb.names.length;
  let p = 0;
  while (p < n && p < m && na.names[p] === nb.names[p]) p++;
  let s = 0;
  while (s < n - p && s < m - p && na.names[n - 1 - s] === nb.names[m - 1 - s]) s++;
  const changed = n + m - 2 * (p + s);
  if (n - p - s !== 1 || m - p - s !== 1) return changed;
  const x = na.names[p], y = nb.names[p];
  let cp = 0;
  while (cp < x.length && cp < y.length && x[cp] === y[cp]) cp++;
  let cs = 0;
  while (cs < x.length - cp && cs < y.length - cp && x[x.length - 1 - cs] === y[y.length - 1 - cs]) cs++;
  return 1 + (1 - (cp + cs) / Math.max(x.length, y.length));
}

/** Receives one candidate rule: kind 0 a separator, 1 a prefix added or stripped, 2 a prefix replaced, 3 names inside keys. */
type Emit = (kind: number, from: string, to: string) => void;

/** The rule a candidate stands for, and its description. */
function ruleOf(kind: number, from: string, to: string): { rule: RenameRule; description: string } {
  if (kind === 0) {
    return from === '/'
      ? { rule: { pattern: /\//g, replacement: '.' }, description: "write '/' as '.' (TF.js weight names → dotted keys)" }
      : { rule: { pattern: /\.(?=[^./]*$)/, replacement: '/' }, description: "write the last '.' as '/' (dotted keys → TF.js weight names)" };
  }
  if (kind === 1) return from ? { rule: { stripPrefix: from }, description: `strip the prefix '${from}'` } : { rule: { addPrefix: to }, description: `add the prefix '${to}'` };
  if (kind === 2) return { rule: { replacePrefix: [from, to] }, description: `replace the prefix '${from}' with '${to}'` };
  return { rule: { pattern: new RegExp(escapeRe(from), 'g'), replacement: to.replace(/\$/g, '$$$$') }, description: `replace '${from}' with '${to}' inside keys` };
}

/** The rules that turn key `a` into key `b`, when they share their last name and one more: a prefix (cut anywhere in the shared end) or the names between a shared start and end. */
function rulesBetween(a: string, na: Names, b: string, nb: Names, emit: Emit): void {
  const n = na.names.length, m = nb.names.length;
  let p = 0;
  while (p < n && p < m && na.names[p] === nb.names[p]) p++;
  if (p === n && p === m) return; // only the separators differ
  let s = 0;
  while (s < n - p && s < m - p && na.names[n - 1 - s] === nb.names[m - 1 - s]) s++;
  if (s < 1 || p + s < 2) return;
  if (p === 0) {
    // 'layer1.0.' → 'backbone.layer1.blk.0.' shares '0.' with its target: each cut is a candidate, the whole set decides.
    for (let t = s; t >= 2; t--) {
      if (a.slice(na.starts[n - t]) !== b.slice(nb.starts[m - t])) break; // separators differ too
      const from = a.slice(0, na.starts[n - t]);
      const to = b.slice(0, nb.starts[m - t]);
      emit(from && to ? 2 : 1, from, to);
    }
    return;
  }
  // What lies between the shared names, with the separators around it: '.downsample.' → '.shortcut.'.
  // Taking one shared name more on either side gives the rule for an added name ('.bn1.' → '.bn1.trunk.').
  for (const [p0, s0] of [[p, s], [p - 1, s], [p, s - 1]]) {
    if (p0 < 1 || s0 < 1 || n - s0 <= p0) continue;
    if (a.slice(0, na.ends[p0 - 1]) !== b.slice(0, nb.ends[p0 - 1]) || a.slice(na.starts[n - s0]) !== b.slice(nb.starts[m - s0])) continue;
    emit(3, a.slice(na.ends[p0 - 1], na.starts[n - s0]), b.slice(nb.ends[p0 - 1], nb.starts[m - s0]));
  }
}

// ---------------------------------------------------------------------------------------------
// Pairing by order and shape, when it is the only consistent pairing

/** A layer's weights on one side: its keys, and what they hold. */
interface Unit { module: string; index: number; keys: string[]; signature: string; byRole: Map<string, string> }

/** A key's module: everything before its last name ('' at the top level). */
function moduleOf(key: string): string {
  const at = Math.max(key.lastIndexOf('.'), key.lastIndexOf('/'));
  return at < 0 ? '' : key.slice(0, at);
}

/** Groups keys into layers; a layer whose roles are open or repeated cannot be paired. */
function unitsOf(items: Array<{ key: string; shape: number[]; role: string }>, bad: Set<string>): Unit[] {
  const byModule = new Map<string, Array<{ key: string; shape: number[]; role: string }>>();
  for (const it of items) {
    const mod = moduleOf(it.key);
    const list = byModule.get(mod) ?? [];
    list.push(it);
    byModule.set(mod, list);
  }
  const out: Unit[] = [];
  for (const [module, list] of byModule) {
    const sig = list.map((x) => `${x.role}:[${x.shape.join(',')}]`).sort();
    if (list.some((x) => x.role.includes('|')) || new Set(list.map((x) => x.role)).size !== list.length) {
      for (const x of list) bad.add(x.key);
      continue;
    }
    out.push({ module, index: out.length, keys: list.map((x) => x.key), signature: sig.join(' '), byRole: new Map(list.map((x) => [x.role, x.key])) });
  }
  return out;
}

/** How a layer is named in a note. */
const unitName = (u: Unit) => u.module || '(top level)';

/**
 * A key map for the keys still unmatched, pairing whole layers: a layer whose roles and shapes
 * no other layer on its side has pairs with its one counterpart; the others pair in order, and
 * only when both sides list them in the same order of shapes. Anything else is a guess: no map,
 * and `notes` says why.
 */
function pairByOrder(entries: Entry[], targets: Map<string, Target>, notes: string[]): { rule: RenameRule; description: string } | undefined {
  const taken = new Set(entries.map((e) => e.key));
  const openA = entries.filter((e) => !targets.has(e.key));
  const openB = [...targets].filter(([k]) => !taken.has(k)).map(([key, t]) => ({ key, ...t }));
  if (!openA.length || !openB.length) return undefined;
  const open = new Set<string>();
  const ua = unitsOf(openA, open);
  const ub = unitsOf(openB, open);
  if (open.size) notes.push(`${open.size} unmatched key(s) have a role their names leave open or share it with another key of their layer (e.g. '${[...open][0]}'): never paired by order`);

  const classes = (us: Unit[]) => {
    const m = new Map<string, Unit[]>();
    for (const u of us) m.set(u.signature, [...(m.get(u.signature) ?? []), u]);
    return m;
  };
  const ca = classes(ua), cb = classes(ub);
  const pairs: Array<[Unit, Unit]> = [];
  const restA: Unit[] = [], restB: Unit[] = [];
  let uneven = 0;
  let unevenExample = '';
  for (const [sig, as] of ca) {
    const bs = cb.get(sig);
    if (!bs) continue;
    if (as.length !== bs.length) {
      uneven += as.length + bs.length;
      unevenExample ||= `A has ${as.length} layer(s) holding ${sig} ('${unitName(as[0])}'), B has ${bs.length} ('${unitName(bs[0])}')`;
      continue;
    }
    if (as.length === 1) pairs.push([as[0], bs[0]]);
    else { restA.push(...as); restB.push(...bs); }
  }
  if (uneven) notes.push(`${unevenExample}: which are extra cannot be told from shapes, so none of them were paired`);

  // Layers whose shapes repeat pair in order, only when both sides list them in the same order.
  restA.sort((x, y) => x.index - y.index);
  restB.sort((x, y) => x.index - y.index);
  const at = restA.findIndex((u, i) => u.signature !== restB[i].signature);
  if (at >= 0) {
    notes.push(`${restA.length} layers of A and of B hold the same shapes in a different order (first: A's '${unitName(restA[at])}' holds ${restA[at].signature}, B's '${unitName(restB[at])}' holds ${restB[at].signature}): pairing them by order would be a guess, so they were not paired; name them alike or give a key map`);
  } else {
    restA.forEach((u, i) => pairs.push([u, restB[i]]));
  }
  if (!pairs.length) return undefined;

  const map: Record<string, string> = {};
  for (const [x, y] of pairs) for (const [role, key] of x.byRole) map[key] = y.byRole.get(role) as string;
  const n = Object.keys(map).length;
  const unique = pairs.length - (at >= 0 ? 0 : restA.length);
  return {
    rule: { map },
    description: `map ${n} key${n > 1 ? 's' : ''} of ${pairs.length} layer${pairs.length > 1 ? 's' : ''} paired by role and shape${unique < pairs.length ? ' in order' : ''}${unique ? ` (${unique} by shapes no other layer has)` : ''}`,
  };
}
