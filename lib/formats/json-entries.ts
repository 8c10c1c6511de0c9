/**
 * A JSON object's top-level entries, in order, duplicates kept: V8's JSON.parse takes seconds
 * on an object of 200,000 keys (and silently keeps the last of two equal keys), while parsing
 * each value on its own is linear.
 */

/** Thrown for text that is not one JSON object; `at` is the character offset of the problem. */
export class JsonEntriesError extends Error {
  constructor(message: string, readonly at: number) { super(message); }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** The `[key, value]` pairs of the JSON object `text`, each value parsed by JSON.parse; throws JsonEntriesError where the text breaks. */
export function objectEntries(text: string): Array<[string, unknown, number]> {
  let i = 0;
  const n = text.length;
  const skip = () => { while (i < n && WS.has(text.charCodeAt(i))) i++; };
  const expect = (c: string) => {
    skip();
    if (text[i] !== c) throw new JsonEntriesError(i >= n ? `ends where '${c}' was expected` : `has '${text[i]}' where '${c}' was expected`, i);
    i++;
  };
  /** The end (exclusive) of the string that starts at `i`. */
  const stringEnd = (start: number): number => {
    let j = start + 1;
    for (; j < n; j++) {
      const c = text.charCodeAt(j);
      if (c === 0x5c) j++;
      else if (c === 0x22) return j + 1;
    }
    throw new JsonEntriesError('ends inside a string', start);
  };
  /** The end of the value that starts at `i` (a string, or anything up to the ',' or '}' at depth 0). */
  const valueEnd = (start: number): number => {
    let depth = 0;
    for (let j = start; j < n; j++) {
      const c = text.charCodeAt(j);
      if (c === 0x22) { j = stringEnd(j) - 1; continue; }
      if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) { if (depth === 0) return j; depth--; }
      else if (c === 0x2c && depth === 0) return j;
    }
    throw new JsonEntriesError('ends inside a value', start);
  };
  const parse = (from: number, to: number): unknown => {
    try {
      return JSON.parse(text.slice(from, to));
    } catch (e) {
      throw new JsonEntriesError((e as Error).message, from);
    }
  };
  const out: Array<[string, unknown, number]> = [];
  expect('{');
  skip();
  if (text[i] === '}') { i++; } else {
    for (;;) {
      skip();
      if (text[i] !== '"') throw new JsonEntriesError(i >= n ? 'ends where a key was expected' : `has '${text[i]}' where a key was expected`, i);
      const keyAt = i;
      const keyEnd = stringEnd(i);
      const key = parse(i, keyEnd) as string;
      i = keyEnd;
      expect(':');
      skip();
      const end = valueEnd(i);
      out.push([key, parse(i, end), keyAt]);
      i = end;
      skip();
      if (text[i] === ',') { i++; continue; }
      expect('}');
      break;
    }
  }
  skip();
  if (i < n) throw new JsonEntriesError(`has '${text[i]}' after the object ends`, i);
  return out;
}
