/** Which weights a freeze or a parameter group means: a glob, a RegExp, a list of keys, or a StateDict. */
import type { StateDict } from '../statedict/tensor';

/** A choice of weights by structural key (TF.js naming; PyTorch-named keys are accepted too). */
export type Selector = string | RegExp | readonly string[] | StateDict | ((key: string) => boolean);

/** A glob over dotted keys: `*` within a segment, `**` across segments, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') { re += '.*'; i++; }
    else if (c === '*') re += '[^.]*';
    else if (c === '?') re += '[^.]';
    else re += c.replace(/[\\^$+?.()|[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** A predicate over keys for `selector`; a bare layer key (`conv.0`) or prefix glob selects the layer's weights too. */
export function matcher(selector: Selector): (key: string, torchKey?: string) => boolean {
  if (typeof selector === 'function') return (k, t) => selector(k) || (t !== undefined && selector(t));
  if (selector instanceof RegExp) return (k, t) => test(selector, k) || (t !== undefined && test(selector, t));
  const keys = typeof selector === 'string' ? [selector] : selector instanceof Map ? [...selector.keys()] : [...selector];
  const exact = new Set(keys.filter((k) => !/[*?]/.test(k)));
  const globs = keys.filter((k) => /[*?]/.test(k)).map(globToRegExp);
  const one = (k: string) => exact.has(k) || [...prefixes(k)].some((p) => exact.has(p)) || globs.some((g) => g.test(k));
  return (k, t) => one(k) || (t !== undefined && one(t));
}

function test(re: RegExp, s: string): boolean {
  re.lastIndex = 0;
  return re.test(s);
}

/** `a.b.c` → `a`, `a.b`: the layers and models a key lies in. */
function* prefixes(key: string): Generator<string> {
  for (let i = key.indexOf('.'); i > 0; i = key.indexOf('.', i + 1)) yield key.slice(0, i);
}

/** A short description of a selector for messages: `'conv.*'`, `/^fc/`, `3 keys [a, b, c]`, `a StateDict of 12 keys`. */
export function describeSelector(selector: Selector): string {
  if (typeof selector === 'function') return `predicate ${selector.name || '(anonymous)'}`;
  if (selector instanceof RegExp) return String(selector);
  if (typeof selector === 'string') return `'${selector}'`;
  const keys = selector instanceof Map ? [...selector.keys()] : [...selector];
  const what = selector instanceof Map ? 'a StateDict of' : 'a list of';
  return `${what} ${keys.length} key${keys.length === 1 ? '' : 's'} [${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', …' : ''}]`;
}
