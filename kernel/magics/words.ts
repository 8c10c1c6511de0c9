/** Splitting a magic's argument line into words, as a POSIX shell would for quotes and backslashes. */

/** A quote was opened and never closed. */
export class UnterminatedQuoteError extends Error {}

/**
 * Words of `line`: whitespace separates, '…' and "…" group, a backslash escapes the next character
 * outside single quotes. `keepBackslashes`: a backslash outside quotes stays before anything but
 * a quote or a space (the word as written, for regular expressions such as `/^fc\.0\./`).
 */
export function splitWords(line: string, opts: { keepBackslashes?: boolean } = {}): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) word += line[++i];
      else word += c;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) { words.push(word); word = ''; inWord = false; }
      continue;
    }
    inWord = true;
    if (c === '"' || c === "'") quote = c;
    else if (c === '\\' && i + 1 < line.length) {
      const next = line[++i];
      word += opts.keepBackslashes && !/[\s'"]/.test(next) ? c + next : next;
    } else word += c;
  }
  if (quote) throw new UnterminatedQuoteError(`unterminated ${quote} quote in: ${line}`);
  if (inWord) words.push(word);
  return words;
}

/** The word being typed at the end of `line` (empty after a space), for completion. */
export function lastWord(line: string): string {
  const m = /(?:^|\s)(\S*)$/.exec(line);
  return m ? m[1] : '';
}
