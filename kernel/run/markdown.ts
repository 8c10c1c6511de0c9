/**
 * Markdown cells as HTML, for the page `tsfreeze run` writes: markdown-it (CommonMark, tables,
 * strikethrough), TeX math kept as its source (the page is offline, with no TeX renderer), then
 * the result sanitized as nbconvert's SanitizeHTML does it (bleach's rules): the tags Markdown
 * produces and bleach's default tags are kept with their safe attributes, any other raw HTML
 * tag is shown as text, comments, scripts, event handlers and styles go, and links keep only
 * http(s), mailto and relative targets (images may also be data:image URIs).
 */
import MarkdownIt from 'markdown-it';
import sanitizeHtml from 'sanitize-html';
import { escapeHtml } from '../../lib/display/escape-html';

export { escapeHtml };

export interface MarkdownOptions {
  /** Maps an image's src (e.g. `attachment:x.png`, a relative file) to what the page should use. */
  resolveImage?: (src: string) => string;
}

/** bleach's default tags (what nbconvert's SanitizeHTML keeps), plus those Markdown itself produces. */
const TAGS = [
  'a', 'abbr', 'acronym', 'b', 'blockquote', 'code', 'em', 'i', 'li', 'ol', 'strong', 'ul',
  'p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'pre', 's', 'del', 'hr', 'br', 'img', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'span', 'div',
];

const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: TAGS,
  allowedAttributes: {
    a: ['href', 'title'], abbr: ['title'], acronym: ['title'], img: ['src', 'alt', 'title'], ol: ['start'],
    code: ['class'], th: ['style'], td: ['style'], span: ['class'], div: ['class'],
  },
  allowedClasses: { code: [/^language-[\w+#.-]+$/], span: ['math'], div: ['math'] },
  allowedStyles: { th: { 'text-align': [/^(left|right|center)$/] }, td: { 'text-align': [/^(left|right|center)$/] } },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['http', 'https', 'data'] },
  allowProtocolRelative: false,
  // As bleach with strip=False: a tag that is not allowed is shown as text, not dropped.
  disallowedTagsMode: 'escape',
  exclusiveFilter: (frame) => frame.tag === 'img' && /^data:/i.test(String(frame.attribs.src ?? '')) && !/^data:image\/(png|jpe?g|gif|webp|svg\+xml);/i.test(String(frame.attribs.src)),
};

/** Renders Markdown source to sanitized HTML. */
export function renderMarkdown(src: string, opts: MarkdownOptions = {}): string {
  const md = new MarkdownIt({ html: true, linkify: false, typographer: false });
  // Attachments (`attachment:x.png`) are resolved when the image is rendered.
  md.validateLink = (url) => safeUrl(url, true) !== null || /^attachment:/i.test(url);
  md.use(texMath);
  const image = md.renderer.rules.image!;
  md.renderer.rules.image = (tokens, idx, options, env, self) => {
    const t = tokens[idx];
    const src = t.attrGet('src');
    if (src !== null && opts.resolveImage) t.attrSet('src', opts.resolveImage(String(src)));
    return image(tokens, idx, options, env, self);
  };
  return sanitizeHtml(md.render(src), SANITIZE).trim();
}

/** A URL a link (or, with `image`, an image) may keep: http(s), mailto, relative or an anchor; images also data:image; else null. */
export function safeUrl(url: string, image = false): string | null {
  const u = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(u.replace(/[\u0000-\u0020]/g, ''))?.[1].toLowerCase();
  if (scheme === undefined) return u.startsWith('//') ? null : u;
  if (scheme === 'http' || scheme === 'https' || scheme === 'mailto') return u;
  if (image && scheme === 'data' && /^data:image\/(png|jpe?g|gif|webp|svg\+xml);/i.test(u)) return u;
  return null;
}

/**
 * TeX math as Jupyter writes it, kept as its source: `$$…$$` blocks become `<div class="math">`,
 * `$…$` in text becomes `<span class="math">`, so Markdown's emphasis rules never touch it.
 */
function texMath(md: MarkdownIt.MarkdownIt): void {
  md.block.ruler.before('fence', 'math_block', (state: MarkdownIt.StateBlock, start: number, end: number, silent: boolean) => {
    const first = state.src.slice(state.bMarks[start] + state.tShift[start], state.eMarks[start]);
    if (!first.startsWith('$$') || state.sCount[start] - state.blkIndent >= 4) return false;
    if (silent) return true;
    let body = first.slice(2);
    let line = start;
    let closed = body.trimEnd().endsWith('$$');
    if (closed) body = body.trimEnd().slice(0, -2);
    while (!closed && ++line < end) {
      const text = state.src.slice(state.bMarks[line] + state.tShift[line], state.eMarks[line]);
      closed = text.trimEnd().endsWith('$$');
      body += `\n${closed ? text.trimEnd().slice(0, -2) : text}`;
    }
    const token = state.push('math_block', 'div', 0);
    token.content = body.trim();
    token.map = [start, line + 1];
    state.line = line + 1;
    return true;
  });
  md.inline.ruler.before('escape', 'math_inline', (state: MarkdownIt.StateInline, silent: boolean) => {
    if (state.src[state.pos] !== '$') return false;
    const m = /^\$\$([^$]+)\$\$|^\$(?=\S)([^$\n]*?\S)\$(?!\d)/.exec(state.src.slice(state.pos));
    if (!m) return false;
    if (!silent) state.push('math_inline', 'span', 0).content = m[0];
    state.pos += m[0].length;
    return true;
  });
  md.renderer.rules.math_block = (tokens: MarkdownIt.Token[], idx: number) => `<div class="math">$$${escapeHtml(tokens[idx].content)}$$</div>\n`;
  md.renderer.rules.math_inline = (tokens: MarkdownIt.Token[], idx: number) => `<span class="math">${escapeHtml(tokens[idx].content)}</span>`;
}
