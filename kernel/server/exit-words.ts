/**
 * `exit` and `quit` typed alone in a cell end a console session, as in IPython: the reply
 * carries IPython's `ask_exit` payload, which jupyter console acts on (and shuts the kernel down).
 * A variable of that name that the cells declared wins.
 */

/** IPython's payload asking the front end to end the session. */
export interface AskExitPayload extends Record<string, unknown> {
  source: 'ask_exit';
  keepkernel: boolean;
}

const EXIT_WORD = /^\s*(exit|quit)\s*(?:\(\s*\))?\s*;?\s*$/;

/** The ask_exit payload when `code` is `exit` or `quit` (optionally called), unless the cells defined that name. */
export function exitPayload(code: string, locals: Record<string, unknown>): AskExitPayload | undefined {
  const m = EXIT_WORD.exec(code);
  if (!m || m[1] in locals) return undefined;
  return { source: 'ask_exit', keepkernel: false };
}
