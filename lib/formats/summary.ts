/** Counting what a state dict holds, for `tsfreeze keys` and `%summary`. */
import { numel, type StateDict } from '../statedict/tensor';

/** Totals of a state dict. */
export interface StateDictSummary {
  tensors: number;
  /** Elements of all tensors (parameters and buffers alike). */
  parameters: number;
  bytes: number;
}

/** Counts the tensors, elements and bytes of `sd`. */
export function summarizeStateDict(sd: StateDict): StateDictSummary {
  let parameters = 0, bytes = 0;
  for (const t of sd.values()) { parameters += numel(t.shape); bytes += t.data.byteLength; }
  return { tensors: sd.size, parameters, bytes };
}
