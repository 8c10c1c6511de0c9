/** Terminal colour codes (ANSI SGR) in tracebacks and streams, as HTML spans; other escapes dropped. */
import { escapeHtml } from './markdown';

const COLORS = ['#000000', '#c4362b', '#3a8a2e', '#a37c00', '#2e5fc4', '#a63ea6', '#1b8a94', '#c6c6c6'];
const BRIGHT = ['#555555', '#e5533f', '#4fb33e', '#c9a227', '#4d7fe0', '#c95ec9', '#2fb3be', '#ffffff'];

/** Text with ANSI escapes removed. */
export function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]/g, '');
}

/** Escaped HTML of `s`, its SGR colours and bold as styled spans. */
export function ansiToHtml(s: string): string {
  let fg: string | null = null;
  let bg: string | null = null;
  let bold = false;
  let out = '';
  let open = false;
  const parts = s.split(/(\x1b\[[0-9;]*m)/);
  for (const part of parts) {
    const sgr = part.match(/^\x1b\[([0-9;]*)m$/);
    if (!sgr) {
      const t = escapeHtml(stripAnsi(part));
      if (!t) continue;
      const style = [fg && `color:${fg}`, bg && `background-color:${bg}`, bold && 'font-weight:bold'].filter(Boolean).join(';');
      if (open) { out += '</span>'; open = false; }
      if (style) { out += `<span style="${style}">`; open = true; }
      out += t;
      continue;
    }
    const codes = (sgr[1] || '0').split(';').map(Number);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) { fg = bg = null; bold = false; }
      else if (c === 1) bold = true;
      else if (c === 22) bold = false;
      else if (c >= 30 && c <= 37) fg = COLORS[c - 30];
      else if (c >= 90 && c <= 97) fg = BRIGHT[c - 90];
      else if (c === 39) fg = null;
      else if (c >= 40 && c <= 47) bg = COLORS[c - 40];
      else if (c >= 100 && c <= 107) bg = BRIGHT[c - 100];
      else if (c === 49) bg = null;
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) { const col = xterm256(codes[i + 2]); if (c === 38) fg = col; else bg = col; i += 2; }
      else if ((c === 38 || c === 48) && codes[i + 1] === 2) { const col = `rgb(${codes[i + 2] ?? 0},${codes[i + 3] ?? 0},${codes[i + 4] ?? 0})`; if (c === 38) fg = col; else bg = col; i += 4; }
    }
  }
  if (open) out += '</span>';
  return out;
}

function xterm256(n: number | undefined): string {
  const v = n ?? 0;
  if (v < 8) return COLORS[v];
  if (v < 16) return BRIGHT[v - 8];
  if (v < 232) {
    const k = v - 16;
    const c = (x: number) => (x === 0 ? 0 : 55 + x * 40);
    return `rgb(${c(Math.floor(k / 36))},${c(Math.floor(k / 6) % 6)},${c(k % 6)})`;
  }
  const g = 8 + (v - 232) * 10;
  return `rgb(${g},${g},${g})`;
}
