/** A checkpoint that cannot be read or written, told as one line: which file, where, what to do. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    /** The file (or `<bytes>` for an in-memory source). */
    readonly file: string,
    /** What is wrong, with its place (entry, key, byte offset) when known. */
    readonly problem: string,
    /** What the user can do about it, when something can be done. */
    readonly hint?: string,
  ) {
    super(oneLine(`${file}: ${problem}${hint ? ` (${hint})` : ''}`));
  }
}

/** Text from a file (names, keys) may hold line breaks and control characters; show them escaped. */
function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => (c === '\n' ? '\\n' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
