/** A mistake in how a `tsfreeze` command was called: the CLI prints it with the usage, no stack. */
export class UsageError extends Error {}
