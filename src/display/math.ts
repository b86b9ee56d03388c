// TeX -> MathML with KaTeX (loaded on first use). MathML output needs neither
// KaTeX's CSS nor its fonts: browsers render <math> natively, so the result
// stays self-contained and offline.
import { createRequire } from 'node:module';
import type * as Katex from 'katex';

const requireHere = createRequire(__filename);
let katexModule: typeof Katex | undefined;

function katex(): typeof Katex {
  return (katexModule ??= requireHere('katex') as typeof Katex);
}

/**
 * Renders TeX as MathML (`<span class="katex"><math>…</math></span>`). Invalid
 * TeX does not throw: KaTeX shows the source, escaped, in an error span.
 * `\href`, `\url` and `\includegraphics` are refused (trust: false).
 */
export function renderMath(tex: string, displayMode: boolean): string {
  return katex().renderToString(tex, {
    output: 'mathml',
    displayMode,
    throwOnError: false,
    strict: 'ignore',
    trust: false,
  });
}

/**
 * Strips one pair of math delimiters ($$…$$, $…$, \[…\], \(…\)) from a
 * text/latex value, the way Jupyter writes them. Returns the TeX and whether it
 * asked for display mode.
 */
export function unwrapLatex(source: string): { tex: string; display: boolean } {
  const s = source.trim();
  const pairs: [string, string, boolean][] = [['$$', '$$', true], ['\\[', '\\]', true], ['\\(', '\\)', false], ['$', '$', false]];
  for (const [open, close, display] of pairs) {
    if (s.length >= open.length + close.length && s.startsWith(open) && s.endsWith(close)) {
      return { tex: s.slice(open.length, s.length - close.length), display };
    }
  }
  return { tex: s, display: true };
}
