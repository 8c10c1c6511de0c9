/** A mistake in how a command or a magic was called: shown as its message (with the usage), never with a stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}
