/** Turning a kernel's iopub messages into a cell's nbformat outputs, as Jupyter front ends do. */
import type { Message } from '../protocol/wire';
import type { Output } from './notebook';

/** Outputs by display_id, across the whole notebook: update_display_data changes all of them. */
export type DisplayRegistry = Map<string, Output[]>;

/** Collects one cell's outputs from its iopub messages. */
export class CellOutputs {
  readonly outputs: Output[] = [];
  private clearOnNext = false;

  constructor(private readonly displays: DisplayRegistry) {}

  /** Applies one iopub message (messages that are not outputs are ignored). */
  handle(msg: Message): void {
    const c = msg.content as Record<string, unknown>;
    switch (msg.header.msg_type) {
      case 'stream': {
        const name = c.name === 'stderr' ? 'stderr' : 'stdout';
        this.flushClear();
        const last = this.outputs[this.outputs.length - 1];
        // Consecutive writes to one stream are one output, with carriage returns applied (progress bars).
        if (last?.output_type === 'stream' && last.name === name) last.text = applyCarriageReturns(String(last.text) + String(c.text ?? ''));
        else this.outputs.push({ output_type: 'stream', name, text: applyCarriageReturns(String(c.text ?? '')) });
        break;
      }
      case 'display_data':
      case 'execute_result': {
        this.flushClear();
        const data = mimeBundle(c.data);
        const metadata = plainObject(c.metadata);
        const out: Output = msg.header.msg_type === 'execute_result'
          ? { output_type: 'execute_result', execution_count: typeof c.execution_count === 'number' ? c.execution_count : null, data, metadata }
          : { output_type: 'display_data', data, metadata };
        this.outputs.push(out);
        const id = displayId(c);
        if (id !== undefined) this.displays.set(id, [...(this.displays.get(id) ?? []), out]);
        break;
      }
      case 'update_display_data': {
        const id = displayId(c);
        for (const out of (id !== undefined && this.displays.get(id)) || []) {
          if (out.output_type === 'display_data' || out.output_type === 'execute_result') {
            out.data = mimeBundle(c.data);
            out.metadata = plainObject(c.metadata);
          }
        }
        break;
      }
      case 'error':
        this.flushClear();
        this.outputs.push({ output_type: 'error', ename: String(c.ename ?? ''), evalue: String(c.evalue ?? ''), traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [] });
        break;
      case 'clear_output':
        if (c.wait) this.clearOnNext = true;
        else { this.clearOnNext = false; this.outputs.length = 0; }
        break;
      default:
    }
  }

  /**
   * Applies an execute_reply's payloads: a `page` (what `%name?` and IPython's `?` send for the
   * pager) becomes a display in the cell, as JupyterLab shows it; nbclient would drop it.
   */
  handlePayloads(payload: unknown): void {
    if (!Array.isArray(payload)) return;
    for (const p of payload) {
      const page = plainObject(p);
      if (page.source !== 'page') continue;
      this.flushClear();
      this.outputs.push({ output_type: 'display_data', data: mimeBundle(page.data), metadata: {} });
    }
  }

  private flushClear(): void {
    if (this.clearOnNext) { this.clearOnNext = false; this.outputs.length = 0; }
  }
}

/** Text as a terminal shows it: what follows a carriage return overwrites the line (a trailing one waits for more text). */
export function applyCarriageReturns(s: string): string {
  if (!s.includes('\r')) return s;
  return s.split('\n').map((line) => {
    const trailing = line.endsWith('\r');
    const body = trailing ? line.slice(0, -1) : line;
    return body.slice(body.lastIndexOf('\r') + 1) + (trailing ? '\r' : '');
  }).join('\n');
}

/** MIME types whose data nbformat keeps as JSON (not as a string). */
export const JSON_MIME = /^application\/(.*\+)?json$/;

/** A bundle nbformat accepts: JSON types keep their value, others must be text. */
function mimeBundle(v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(plainObject(v))) {
    out[k] = JSON_MIME.test(k) || typeof x === 'string' || (Array.isArray(x) && x.every((l) => typeof l === 'string')) ? x : JSON.stringify(x);
  }
  return out;
}

function plainObject(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function displayId(c: Record<string, unknown>): string | undefined {
  const id = plainObject(c.transient).display_id;
  return typeof id === 'string' ? id : undefined;
}
