/** `tsfreeze convert IN OUT`: rewrite a checkpoint in another format (chosen by OUT's extension). */
import { readCheckpoint } from '../../lib/formats/read';
import { writeCheckpoint } from '../../lib/formats/write';
import { summarizeStateDict, type StateDictSummary } from '../../lib/formats/summary';

/** What a conversion did. */
export interface ConvertReport {
  from: string;
  to: string;
  format: string;
  totals: StateDictSummary;
  notes: string[];
}

/** Reads `input` and writes its state dict (and non-tensor values) to `output`. */
export async function convertCheckpoint(input: string, output: string, opts: { root?: string } = {}): Promise<ConvertReport> {
  const ck = await readCheckpoint(input, { root: opts.root });
  await writeCheckpoint(output, ck.stateDict, { metadata: ck.metadata.values });
  return { from: input, to: output, format: ck.format, totals: summarizeStateDict(ck.stateDict), notes: ck.metadata.notes };
}
