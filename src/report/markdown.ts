// Markdown -> HTML with marked, math with KaTeX (MathML output), code blocks
// with highlight.js, headings with unique anchors (collected for the table of
// contents), and images only from cell attachments or data: URIs (nothing is
// fetched). The rendered HTML, raw HTML written inside the markdown included,
// goes through the report's sanitizer (./sanitize.ts), and so does each
// heading's HTML collected for the table of contents.
import { createRequire } from 'node:module';
import type * as MarkedModule from 'marked' with { 'resolution-mode': 'import' };
import { escapeHtml } from '../display/html.js';
import { renderMath } from '../display/math.js';
import { highlightCode } from './highlight.js';
import { sanitizeHtml } from './sanitize.js';

type Marked = typeof MarkedModule;
type Tokens = MarkedModule.Tokens.Generic;

const requireHere = createRequire(__filename);
let markedModule: Marked | undefined;

function markedLib(): Marked {
  return (markedModule ??= requireHere('marked') as Marked);
}

export interface Heading { level: number; id: string; html: string; text: string }

/** Attachments of a markdown cell: name -> {mime: base64}. */
export type Attachments = Record<string, Record<string, unknown>>;

export interface MarkdownRenderer {
  /** Renders one markdown document to sanitized HTML. `collect` adds its headings to `headings`. */
  render(src: string, opts?: { attachments?: Attachments; collect?: boolean }): string;
  /** Headings collected so far, in order. */
  readonly headings: Heading[];
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(?:amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e] as string);
}

/** GitHub-style slug: lower case, letters/digits/dashes/underscores, spaces to dashes. */
export function slugify(text: string): string {
  const s = decodeEntities(text.replace(/<[^>]*>/g, '')).trim().toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s+/g, '-');
  return s || 'section';
}

const IMAGE_DATA_URI = /^data:image\/(?:png|jpeg|gif|webp|svg\+xml|bmp);base64,[A-Za-z0-9+/=\s]+$/i;

/** Index of the first unescaped `$`, `\(` or `\[` in inline text. */
function mathStart(src: string): number | undefined {
  const re = /\\[\s\S]|\$/g;
  for (let m = re.exec(src); m; m = re.exec(src)) {
    if (m[0] === '$' || m[0] === '\\(' || m[0] === '\\[') return m.index;
  }
  return undefined;
}

/** Inline math: $$…$$ (display), $…$ (pandoc rules: no space inside the dollars, no digit right after), \(…\), \[…\]. */
function mathInlineToken(src: string): Tokens | undefined {
  let m = /^\$\$((?:\\[\s\S]|[^\\$]|\$(?!\$))+?)\$\$/.exec(src);
  if (m) return { type: 'mathInline', raw: m[0], text: m[1] as string, display: true };
  m = /^\\\[([\s\S]+?)\\\]/.exec(src);
  if (m) return { type: 'mathInline', raw: m[0], text: m[1] as string, display: true };
  m = /^\\\(([\s\S]+?)\\\)/.exec(src);
  if (m) return { type: 'mathInline', raw: m[0], text: m[1] as string, display: false };
  m = /^\$((?:\\[\s\S]|[^\\$])+?)\$(?!\d)/.exec(src);
  if (m) {
    const tex = m[1] as string;
    if (/^\s|\s$/.test(tex) || /\n\s*\n/.test(tex)) return undefined;
    return { type: 'mathInline', raw: m[0], text: tex, display: false };
  }
  return undefined;
}

/** A new renderer; its heading ids stay unique across everything it renders. */
export function createMarkdownRenderer(): MarkdownRenderer {
  const { Marked } = markedLib();
  const headings: Heading[] = [];
  const slugCounts = new Map<string, number>();
  let attachments: Attachments = {};
  let collect = false;

  const uniqueId = (base: string): string => {
    const n = slugCounts.get(base) ?? 0;
    slugCounts.set(base, n + 1);
    return n === 0 ? base : `${base}-${n}`;
  };

  const imageSrc = (href: string): string | undefined => {
    if (href.startsWith('attachment:')) {
      const bundle = attachments[decodeURIComponent(href.slice('attachment:'.length))];
      if (bundle) {
        for (const [mime, data] of Object.entries(bundle)) {
          const b64 = (Array.isArray(data) ? data.join('') : String(data)).replace(/\s+/g, '');
          if (/^image\/(png|jpeg|gif|webp|bmp|svg\+xml)$/i.test(mime) && /^[A-Za-z0-9+/=]+$/.test(b64)) return `data:${mime};base64,${b64}`;
        }
      }
      return undefined;
    }
    return IMAGE_DATA_URI.test(href) ? href.replace(/\s+/g, '') : undefined;
  };

  const md = new Marked({ gfm: true });
  md.use({
    extensions: [
      {
        name: 'mathBlock',
        level: 'block',
        start(src: string) {
          const m = /(^|\n)[ \t]{0,3}\$\$/.exec(src);
          return m ? m.index + (m[1] as string).length : undefined;
        },
        tokenizer(src: string) {
          const m = /^[ \t]{0,3}\$\$([\s\S]+?)\$\$[ \t]*(?:\n+|$)/.exec(src);
          return m ? { type: 'mathBlock', raw: m[0], text: (m[1] as string).trim() } : undefined;
        },
        renderer(token: Tokens) {
          return `<div class="math-display">${renderMath(String(token.text), true)}</div>\n`;
        },
      },
      {
        name: 'mathInline',
        level: 'inline',
        start: mathStart,
        tokenizer: mathInlineToken,
        renderer(token: Tokens) {
          return renderMath(String(token.text), Boolean(token.display));
        },
      },
    ],
    renderer: {
      heading({ tokens, depth }) {
        const inner = this.parser.parseInline(tokens);
        const plain = this.parser.parseInline(tokens, this.parser.textRenderer);
        const text = decodeEntities(plain.replace(/<annotation\b[\s\S]*?<\/annotation>/g, '').replace(/<[^>]*>/g, '')).trim();
        const id = uniqueId(slugify(text));
        if (collect) headings.push({ level: depth, id, html: sanitizeHtml(inner).replace(/<\/?a\b[^>]*>/gi, ''), text });
        return `<h${depth} id="${escapeHtml(id)}">${inner}<a class="anchor-link" href="#${escapeHtml(id)}" aria-label="link to this section">\u00b6</a></h${depth}>\n`;
      },
      image({ href, title, text }) {
        const src = imageSrc(href);
        if (!src) {
          return `<span class="missing-image" title="images are embedded only from cell attachments or data: URIs">[image not embedded: ${escapeHtml(text || href)} (${escapeHtml(href)})]</span>`;
        }
        return `<img src="${escapeHtml(src)}" alt="${escapeHtml(text)}"${title ? ` title="${escapeHtml(title)}"` : ''}>`;
      },
      code({ text, lang }) {
        const language = (lang ?? '').trim().split(/\s+/)[0] || 'plaintext';
        const aliases: Record<string, string> = { ts: 'typescript', js: 'javascript', sh: 'bash', py: 'python', text: 'plaintext' };
        const name = aliases[language.toLowerCase()] ?? language;
        return `<pre class="hljs"><code class="language-${escapeHtml(name)}">${highlightCode(text, name)}</code></pre>\n`;
      },
    },
  });

  return {
    headings,
    render(src: string, opts = {}) {
      attachments = opts.attachments ?? {};
      collect = Boolean(opts.collect);
      try {
        return sanitizeHtml(md.parse(src, { async: false }) as string);
      } finally {
        attachments = {};
        collect = false;
      }
    },
  };
}
