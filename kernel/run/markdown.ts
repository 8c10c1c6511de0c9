/**
 * A small, safe Markdown renderer for notebook markdown cells: headings, paragraphs, code, lists,
 * block quotes, tables, rules, links, images, emphasis. Raw HTML is shown as text, never run, and
 * links only keep safe schemes.
 */

export interface MarkdownOptions {
  /** Maps an image's src (e.g. `attachment:x.png`, a relative file) to what the page should use. */
  resolveImage?: (src: string) => string;
}

/** HTML-escapes text for element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Renders Markdown source to HTML. */
export function renderMarkdown(src: string, opts: MarkdownOptions = {}): string {
  return blocks(src.replace(/\r\n?/g, '\n').replace(/\t/g, '    ').split('\n'), opts);
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?/;
const ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])( +|$)(.*)$/;
const TABLE_RULE = /^ *\|? *:?-+:? *(\| *:?-+:? *)*\|? *$/;
const MATH = /^ {0,3}\$\$/;

function startsBlock(line: string): boolean {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line) || MATH.test(line);
}

function blocks(lines: string[], opts: MarkdownOptions): string {
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') { i++; continue; }
    let m: RegExpMatchArray | null;
    if ((m = line.match(FENCE))) {
      const close = new RegExp(`^ {0,3}${m[1][0] === '`' ? '`' : '~'}{${m[1].length},}\\s*$`);
      const body: string[] = [];
      for (i++; i < lines.length && !close.test(lines[i]); i++) body.push(lines[i]);
      i++;
      const lang = m[2] ? ` class="language-${escapeHtml(m[2])}"` : '';
      out.push(`<pre><code${lang}>${escapeHtml(body.join('\n'))}</code></pre>`);
    } else if (MATH.test(line)) {
      // Display math stays as its TeX source: the page is offline and has no TeX renderer.
      const body: string[] = [line.replace(MATH, '')];
      let closed = body[0].includes('$$');
      for (i++; !closed && i < lines.length; i++) { body.push(lines[i]); closed = lines[i].includes('$$'); }
      out.push(`<div class="math">$$${escapeHtml(body.join('\n').replace(/\$\$\s*$/, ''))}$$</div>`);
    } else if ((m = line.match(HEADING))) {
      const n = m[1].length;
      out.push(`<h${n}>${inline(m[2] ?? '', opts)}</h${n}>`);
      i++;
    } else if (RULE.test(line)) {
      out.push('<hr>');
      i++;
    } else if (QUOTE.test(line)) {
      const body: string[] = [];
      for (; i < lines.length && (QUOTE.test(lines[i]) || (lines[i].trim() !== '' && !startsBlock(lines[i]))); i++) body.push(lines[i].replace(QUOTE, ''));
      out.push(`<blockquote>${blocks(body, opts)}</blockquote>`);
    } else if (ITEM.test(line)) {
      i = list(lines, i, out, opts);
    } else if (line.includes('|') && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      i = table(lines, i, out, opts);
    } else if (/^ {4}/.test(line)) {
      const body: string[] = [];
      for (; i < lines.length && (/^ {4}/.test(lines[i]) || lines[i].trim() === ''); i++) body.push(lines[i].slice(4));
      while (body.length && body[body.length - 1].trim() === '') body.pop();
      out.push(`<pre><code>${escapeHtml(body.join('\n'))}</code></pre>`);
    } else {
      const body: string[] = [];
      for (; i < lines.length && lines[i].trim() !== ''; i++) {
        // A line of = or - under a paragraph makes it a heading (setext).
        const setext = body.length ? lines[i].match(/^ {0,3}(=+|-+)\s*$/) : null;
        if (setext) {
          const n = setext[1][0] === '=' ? 1 : 2;
          out.push(`<h${n}>${inline(body.join('\n'), opts)}</h${n}>`);
          body.length = 0;
          i++;
          break;
        }
        if (body.length && startsBlock(lines[i])) break;
        body.push(lines[i]);
      }
      if (body.length) out.push(`<p>${inline(body.join('\n').trim(), opts)}</p>`);
    }
  }
  return out.join('\n');
}

/** A list starting at `start`; returns the index after it. */
function list(lines: string[], start: number, out: string[], opts: MarkdownOptions): number {
  const first = lines[start].match(ITEM)!;
  const ordered = /\d/.test(first[2]);
  const marker = first[2].slice(-1);
  const items: string[][] = [];
  let loose = false;
  let i = start;
  while (i < lines.length) {
    const m = lines[i].match(ITEM)!;
    const indent = m[1].length + m[2].length + Math.max(1, Math.min(m[3].length, 4));
    const body = [m[4]];
    let blank = false;
    for (i++; i < lines.length; i++) {
      const l = lines[i];
      if (l.trim() === '') { blank = true; body.push(''); continue; }
      const lead = l.length - l.trimStart().length;
      if (lead >= indent) { body.push(l.slice(indent)); if (blank) loose = true; blank = false; continue; }
      // Lazy continuation of the item's paragraph.
      if (!blank && !startsBlock(l)) { body.push(l.trim()); continue; }
      break;
    }
    while (body.length && body[body.length - 1] === '') body.pop();
    items.push(body);
    const next = i < lines.length ? lines[i].match(ITEM) : null;
    const continues = !!next && /\d/.test(next[2]) === ordered && next[2].slice(-1) === marker && next[1].length <= 3;
    if (blank && continues) loose = true;
    if (!continues) break;
  }
  const startAttr = ordered && parseInt(first[2], 10) !== 1 ? ` start="${parseInt(first[2], 10)}"` : '';
  const tag = ordered ? 'ol' : 'ul';
  const lis = items.map((b) => {
    let html = blocks(b, opts);
    // A tight list shows its items' text without paragraph spacing.
    if (!loose) html = html.replace(/^<p>([\s\S]*?)<\/p>/, '$1');
    return `<li>${html}</li>`;
  });
  out.push(`<${tag}${startAttr}>\n${lis.join('\n')}\n</${tag}>`);
  return i;
}

function cells(row: string): string[] {
  let r = row.trim();
  if (r.startsWith('|')) r = r.slice(1);
  if (r.endsWith('|') && !r.endsWith('\\|')) r = r.slice(0, -1);
  return r.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

function table(lines: string[], start: number, out: string[], opts: MarkdownOptions): number {
  const head = cells(lines[start]);
  const align = cells(lines[start + 1]).map((c) => (c.startsWith(':') && c.endsWith(':') ? 'center' : c.endsWith(':') ? 'right' : c.startsWith(':') ? 'left' : ''));
  const a = (j: number) => (align[j] ? ` style="text-align:${align[j]}"` : '');
  const rows: string[] = [];
  let i = start + 2;
  for (; i < lines.length && lines[i].trim() !== '' && lines[i].includes('|'); i++) {
    const cs = cells(lines[i]);
    rows.push(`<tr>${head.map((_, j) => `<td${a(j)}>${inline(cs[j] ?? '', opts)}</td>`).join('')}</tr>`);
  }
  out.push(`<table>\n<thead><tr>${head.map((h, j) => `<th${a(j)}>${inline(h, opts)}</th>`).join('')}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody>\n</table>`);
  return i;
}

/** Only these link targets survive: web, mail, in-page and relative ones. */
export function safeUrl(url: string, image = false): string | null {
  const u = url.trim();
  const scheme = u.match(/^([a-zA-Z][a-zA-Z0-9+.-]*):/);
  if (!scheme) return u;
  const s = scheme[1].toLowerCase();
  if (s === 'http' || s === 'https' || s === 'mailto') return u;
  if (image && /^data:image\/(png|jpe?g|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*$/i.test(u)) return u;
  if (image && s === 'attachment') return u;
  return null;
}

// Private-use characters mark finished HTML pieces while the rest of a line is still text.
const OPEN = '\uE000';
const CLOSE = '\uE001';

function inline(src: string, opts: MarkdownOptions): string {
  const pieces: string[] = [];
  const keep = (html: string) => `${OPEN}${pieces.push(html) - 1}${CLOSE}`;
  let s = src.replace(/[\uE000\uE001]/g, '');
  s = s.replace(/\\([!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~])/g, (_m, c: string) => keep(escapeHtml(c)));
  s = s.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (_m, _t, code: string) => keep(`<code>${escapeHtml(code.replace(/\n/g, ' ').replace(/^ (.*) $/, '$1'))}</code>`));
  // Inline math stays as TeX source, untouched by emphasis rules.
  s = s.replace(/\$\$[^$]+\$\$|\$(?=\S)([^$\n]*?\S)\$/g, (m) => keep(`<span class="math">${escapeHtml(m)}</span>`));
  s = s.replace(/<((?:https?|mailto):[^\s<>]+)>/g, (m, url: string) => keep(`<a href="${escapeHtml(url)}">${escapeHtml(url)}</a>`));
  s = s.replace(/!\[([^\]]*)\]\(\s*<?([^\s)>]+)>?(?:\s+"([^"]*)")?\s*\)/g, (m, alt: string, src: string, title?: string) => {
    const url = safeUrl(opts.resolveImage ? opts.resolveImage(src) : src, true);
    if (url === null) return keep(escapeHtml(m));
    return keep(`<img src="${escapeHtml(url)}" alt="${escapeHtml(alt)}"${title ? ` title="${escapeHtml(title)}"` : ''}>`);
  });
  s = s.replace(/\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?((?:[^\s()<>]|\([^\s()<>]*\))*)>?(?:\s+"([^"]*)")?\s*\)/g, (m, label: string, href: string, title?: string) => {
    const url = safeUrl(href);
    const inner = inline(label, opts);
    if (url === null) return keep(inner);
    return keep(`<a href="${escapeHtml(url)}"${title ? ` title="${escapeHtml(title)}"` : ''}>${inner}</a>`);
  });
  s = escapeHtml(s);
  s = s.replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1(?![*_])/g, (m, d: string, body: string, at: number, all: string) => (d === '__' && /\w/.test(all[at - 1] ?? '') ? m : `<strong>${body}</strong>`));
  s = s.replace(/(^|[^\w*])\*(?=[^\s*])([\s\S]*?[^\s*])\*(?![*\w])/g, '$1<em>$2</em>');
  s = s.replace(/(^|[^\w_])_(?=[^\s_])([\s\S]*?[^\s_])_(?![_\w])/g, '$1<em>$2</em>');
  s = s.replace(/~~(?=\S)([\s\S]*?\S)~~/g, '<del>$1</del>');
  s = s.replace(/(?: {2,}|\\)\n/g, '<br>\n');
  // Pieces may hold pieces (a link's label): restore until none is left.
  const restore = /\uE000(\d+)\uE001/g;
  while (restore.test(s)) s = s.replace(restore, (_m, n: string) => pieces[Number(n)]);
  return s;
}
