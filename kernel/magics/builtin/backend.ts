/** %backend [NAME]: which TF.js backend runs the session, why, and what else was considered; with NAME, switch first. */
import { displayable } from '../../../lib/display/bundle';
import type { BackendInfo } from '../../../lib/backend/select';
import { registerMagic, UsageError } from '../registry';
import { box, code, escapeHtml, table } from '../../../lib/display/html';

const NAMES = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];
const usage = `%backend [${NAMES.join('|')}]`;

registerMagic({
  name: 'backend',
  kind: 'line',
  summary: 'show the TF.js backend in use, why it was chosen and every candidate; %backend NAME switches first',
  usage,
  help: [
    'Without NAME: the backend in use, the reason, its package and details (adapter, threads, SIMD, kernels',
    'tsfreeze added), and each candidate setBackend considered with why it was chosen or skipped.',
    'With NAME: setBackend(NAME) first. auto tries @tensorflow/tfjs-node-gpu and @tensorflow/tfjs-node',
    '(tensorflow) when installed, then WebGPU on a hardware adapter, then WebAssembly, then plain JS (cpu).',
    'Tensors made before a switch stay on their old backend: switch before building models.',
  ].join('\n'),
  positionals: [0, 1],
  complete(words, partial) {
    return words.length === 0 ? NAMES.filter((n) => n.startsWith(partial)) : [];
  },
  async run(call) {
    const name = call.positionals[0];
    if (name !== undefined && !NAMES.includes(name)) throw new UsageError(`%backend: unknown backend '${name}': use ${NAMES.join(', ')}\nusage: ${usage}`);
    const { setBackend, backendInfo } = await import('../../../lib/backend/select');
    const info = name !== undefined ? await setBackend(name as never) : backendInfo();
    return displayable(info, () => ({ data: { 'text/plain': backendText(info), 'text/html': backendHtml(info) } }));
  },
});

/** Facts about the chosen backend as label/value pairs. */
function facts(info: BackendInfo): Array<[string, string]> {
  const out: Array<[string, string]> = [['backend', info.name], ['reason', info.reason]];
  if (info.requested) out.push(['asked for', info.requested]);
  if (info.package) out.push(['package', info.package]);
  if (info.adapter) out.push(['adapter', `${info.adapter}${info.software ? ' (software renderer)' : ''}`]);
  if (info.threads !== undefined) out.push(['threads', String(info.threads)]);
  if (info.simd !== undefined) out.push(['SIMD', info.simd ? 'yes' : 'no']);
  if (info.kernels) out.push(['kernels', `${info.kernels.added.length} added for training, ${info.kernels.replaced.length} replaced for speed`]);
  return out;
}

function backendText(info: BackendInfo): string {
  const f = facts(info);
  const w = Math.max(...f.map(([k]) => k.length));
  const lines = f.map(([k, v]) => `${k.padEnd(w)}  ${v}`);
  if (info.candidates.length) {
    lines.push('', 'candidates:');
    const n = Math.max(...info.candidates.map((c) => c.name.length));
    for (const c of info.candidates) lines.push(`  ${c.chosen ? '✓' : '·'} ${c.name.padEnd(n)}  ${c.package ? `(${c.package}) ` : ''}${c.reason}`);
  }
  return lines.join('\n');
}

function backendHtml(info: BackendInfo): string {
  const head = box(`<b>TF.js backend: ${code(info.name)}</b> — ${escapeHtml(info.reason)}`, info.name === 'none' ? 'warn' : 'good');
  const details = table([], facts(info).slice(2).map(([k, v]) => [k, v]));
  const candidates = info.candidates.length
    ? `<div style="margin-top:6px"><b>Candidates</b>, in the order tried:</div>${table(['', 'backend', 'package', 'why'], info.candidates.map((c) => [c.chosen ? '✓' : '', c.name, c.package ?? '', c.reason]), { tone: (i) => (info.candidates[i].chosen ? 'good' : 'none') })}`
    : '';
  return `<div class="tsfreeze-backend">${head}${facts(info).length > 2 ? details : ''}${candidates}</div>`;
}
