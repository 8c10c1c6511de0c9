/** %lsmagic: the magics there are, with one line each. */
import { displayable } from '../../../lib/display/bundle';
import { allMagics, registerMagic } from '../registry';

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&${({ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot' } as Record<string, string>)[c]};`);

registerMagic({
  name: 'lsmagic',
  kind: 'line',
  summary: 'list the magics, with what each does',
  usage: '%lsmagic',
  positionals: 0,
  run() {
    const rows = allMagics().map((m) => ({ names: [m.kind !== 'cell' ? `%${m.name}` : '', m.kind !== 'line' ? `%%${m.name}` : ''].filter(Boolean).join(' '), m }));
    const width = Math.max(...rows.map((r) => r.names.length));
    const text = ['Available magics (%name? shows help):', ...rows.map((r) => `  ${r.names.padEnd(width)}  ${r.m.summary}`)].join('\n');
    const html = `<table><thead><tr><th style="text-align:left">magic</th><th style="text-align:left">what it does</th></tr></thead><tbody>${rows
      .map((r) => `<tr><td style="text-align:left"><code>${escape(r.names)}</code></td><td style="text-align:left">${escape(r.m.summary)}</td></tr>`)
      .join('')}</tbody></table><p>Help on one: <code>%name?</code></p>`;
    return displayable({ magics: rows.map((r) => r.m.name) }, () => ({ data: { 'text/plain': text, 'text/html': html } }));
  },
});
