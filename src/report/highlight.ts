// Syntax highlighting with highlight.js (its core and a handful of languages,
// loaded on first use), and a small inline colour theme for its classes.
import { createRequire } from 'node:module';
import type { HLJSApi, LanguageFn } from 'highlight.js';
import { escapeHtml } from '../display/html.js';

const requireHere = createRequire(__filename);
let hljsInstance: HLJSApi | undefined;

const LANGUAGES = ['typescript', 'javascript', 'json', 'bash', 'shell', 'python', 'plaintext'];

function hljs(): HLJSApi {
  if (hljsInstance) return hljsInstance;
  const core = requireHere('highlight.js/lib/core') as HLJSApi & { newInstance?: () => HLJSApi };
  const h = typeof core.newInstance === 'function' ? core.newInstance() : core;
  for (const lang of LANGUAGES) h.registerLanguage(lang, requireHere(`highlight.js/lib/languages/${lang}`) as LanguageFn);
  hljsInstance = h;
  return h;
}

/**
 * Highlighted HTML for `code` (highlight.js escapes the text it wraps).
 * Unknown languages are escaped without highlighting.
 */
export function highlightCode(code: string, language = 'typescript'): string {
  const h = hljs();
  const lang = language.toLowerCase();
  if (!h.getLanguage(lang)) return escapeHtml(code);
  try {
    return h.highlight(code, { language: lang, ignoreIllegals: true }).value;
  } catch {
    return escapeHtml(code);
  }
}

/** Colours for highlight.js classes (light, GitHub-like). */
export const HIGHLIGHT_CSS = `
.hljs { color: #1f2328; }
.hljs-comment, .hljs-quote { color: #6e7781; font-style: italic; }
.hljs-keyword, .hljs-selector-tag, .hljs-meta .hljs-keyword, .hljs-doctag { color: #cf222e; }
.hljs-string, .hljs-regexp, .hljs-meta .hljs-string { color: #0a3069; }
.hljs-number, .hljs-literal, .hljs-symbol, .hljs-bullet { color: #0550ae; }
.hljs-title, .hljs-title.function_, .hljs-section { color: #8250df; }
.hljs-title.class_, .hljs-type, .hljs-built_in { color: #953800; }
.hljs-attr, .hljs-attribute, .hljs-variable, .hljs-template-variable, .hljs-property { color: #0550ae; }
.hljs-params { color: #1f2328; }
.hljs-meta { color: #116329; }
.hljs-subst { color: #1f2328; }
.hljs-emphasis { font-style: italic; }
.hljs-strong { font-weight: bold; }
`;
