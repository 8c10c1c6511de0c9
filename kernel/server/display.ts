/** What a cell's last value looks like in the notebook: its own bundle, or text. */
import { inspect } from 'node:util';
import { bundleOf, type MimeBundle } from '../../lib/display/bundle';

/** Duck-typed TF.js tensor: shown with its own toString (values), not its internals. */
function isTensor(v: unknown): v is { toString(verbose?: boolean): string } {
  return !!v && typeof v === 'object' && 'dataSync' in v && 'shape' in v && 'dtype' in v;
}

/** The MIME bundle for a value: its own display (Symbol.for("Jupyter.display")), else text/plain (strings as they are, as tslab does). */
export async function valueBundle(value: unknown): Promise<MimeBundle> {
  let own;
  try {
    own = await bundleOf(value);
  } catch (e) {
    // A display method that throws must not lose the value: it is shown as text, with why.
    return { data: { 'text/plain': `${inspect(value, { depth: 2 })}\n(its own display failed: ${(e as Error)?.message ?? e})` }, metadata: {} };
  }
  if (own) return { data: own.data, metadata: own.metadata ?? {} };
  let text: string;
  if (typeof value === 'string') text = value;
  else if (isTensor(value)) text = value.toString(true);
  else text = inspect(value, { depth: 4, maxArrayLength: 50, breakLength: 100 });
  return { data: { 'text/plain': text }, metadata: {} };
}
