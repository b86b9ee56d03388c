// The HTML a report takes from a notebook (markdown cells with raw HTML in
// them, text/html and text/markdown outputs) goes through sanitize-html before
// it reaches the page: reports are shared, and a notebook is not code its
// readers chose to run.
//
// The allowlist starts from nbconvert's (`--sanitize-html`, the `clean_html`
// filter: bleach's tags a, abbr, acronym, b, blockquote, code, em, i, li, ol,
// strong, ul plus div, pre, span, table, tr, td; `class` and `id` on every tag;
// bleach's CSS property list) and adds what rendered markdown and our display
// plugins need and cannot run code: headings, paragraphs, lists, full tables,
// details/summary, images from data: URIs, GFM task-list checkboxes, and the
// MathML that KaTeX writes (no `annotation-xml`, no `mglyph`, no `href` on math
// elements). No inline SVG (nbconvert allows none either; SVG outputs are shown
// as data: images, where scripts do not run), no <style>, <script>, <iframe>,
// <object>, <form>, <meta>, <base>, <link>, event handlers, `javascript:` or
// other non-web URLs. Disallowed tags are dropped and their text kept, except
// script-like tags whose content is dropped too.
import { createRequire } from 'node:module';

/** The part of sanitize-html's options used here (the package ships no types of its own). */
interface Frame { tag: string; attribs: Record<string, string>; text: string }
interface SanitizeOptions {
  allowedTags: string[];
  allowedAttributes: Record<string, string[]>;
  allowedStyles: Record<string, Record<string, RegExp[]>>;
  allowedSchemes: string[];
  allowedSchemesByTag: Record<string, string[]>;
  allowProtocolRelative: boolean;
  nonTextTags: string[];
  disallowedTagsMode: 'discard';
  transformTags: Record<string, (tag: string, attribs: Record<string, string>) => { tagName: string; attribs: Record<string, string> }>;
  exclusiveFilter: (frame: Frame) => boolean;
}
type SanitizeHtml = (dirty: string, options: SanitizeOptions) => string;

const requireHere = createRequire(__filename);
let sanitizer: SanitizeHtml | undefined;

function sanitizeHtmlLib(): SanitizeHtml {
  return (sanitizer ??= requireHere('sanitize-html') as SanitizeHtml);
}

const MATHML_TAGS = [
  'math', 'semantics', 'annotation', 'mrow', 'mi', 'mn', 'mo', 'ms', 'mtext', 'mspace', 'msup', 'msub', 'msubsup',
  'mfrac', 'msqrt', 'mroot', 'mstyle', 'mpadded', 'mphantom', 'menclose', 'mover', 'munder', 'munderover',
  'mtable', 'mtr', 'mtd', 'mlabeledtr', 'merror',
];

const MATHML_ATTRIBUTES = [
  'xmlns', 'display', 'encoding', 'mathvariant', 'mathsize', 'mathcolor', 'mathbackground', 'stretchy', 'fence',
  'separator', 'lspace', 'rspace', 'width', 'height', 'depth', 'voffset', 'linethickness', 'accent', 'accentunder',
  'columnalign', 'columnspacing', 'columnlines', 'rowalign', 'rowspacing', 'rowlines', 'frame', 'framespacing',
  'displaystyle', 'scriptlevel', 'minsize', 'maxsize', 'symmetric', 'largeop', 'movablelimits', 'notation',
  'linebreak', 'form', 'side', 'equalrows', 'equalcolumns', 'bevelled', 'numalign', 'denomalign', 'columnspan', 'rowspan',
];

/** nbconvert's tags (bleach's defaults + div, pre, code, span, table, tr, td), then markdown's and the display plugins'. */
export const ALLOWED_TAGS: readonly string[] = [
  'a', 'abbr', 'acronym', 'b', 'blockquote', 'code', 'em', 'i', 'li', 'ol', 'strong', 'ul',
  'div', 'pre', 'span', 'table', 'tr', 'td',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'hr', 'img', 'input',
  'thead', 'tbody', 'tfoot', 'th', 'caption', 'col', 'colgroup',
  'details', 'summary', 'dl', 'dt', 'dd', 'del', 'ins', 's', 'strike', 'u', 'sub', 'sup', 'small', 'big', 'mark',
  'kbd', 'samp', 'var', 'q', 'cite', 'dfn', 'time', 'tt', 'center', 'font', 'figure', 'figcaption',
  'section', 'article', 'aside', 'header', 'footer', 'address', 'nav', 'hgroup',
  'bdi', 'bdo', 'ruby', 'rp', 'rt', 'wbr', 'meter', 'progress',
  ...MATHML_TAGS,
];

const TABLE_CELL = ['colspan', 'rowspan', 'align', 'valign', 'scope', 'headers', 'width', 'height', 'nowrap'];

export const ALLOWED_ATTRIBUTES: Readonly<Record<string, string[]>> = {
  '*': ['class', 'id', 'title', 'lang', 'dir', 'style', 'align', 'hidden', 'role', 'aria-*'],
  a: ['href', 'rel', 'target', 'hreflang'],
  abbr: ['title'],
  acronym: ['title'],
  img: ['src', 'alt', 'width', 'height'],
  input: ['type', 'checked', 'disabled'],
  td: TABLE_CELL,
  th: TABLE_CELL,
  table: ['border', 'cellpadding', 'cellspacing', 'width', 'summary'],
  col: ['span', 'width'],
  colgroup: ['span', 'width'],
  ol: ['start', 'reversed', 'type'],
  ul: ['type'],
  li: ['value'],
  details: ['open'],
  time: ['datetime'],
  font: ['color', 'face', 'size'],
  meter: ['value', 'min', 'max', 'low', 'high', 'optimum'],
  progress: ['value', 'max'],
  ...Object.fromEntries(MATHML_TAGS.map((t) => [t, MATHML_ATTRIBUTES])),
};

/**
 * CSS properties a style attribute may set: bleach's list (nbconvert's) plus
 * the box model, flex layout and backgrounds that the display plugins use.
 * Nothing that positions an element over the page (position, z-index, inset,
 * transform) or loads anything (values with url(), image-set(), etc. are refused).
 */
export const ALLOWED_CSS_PROPERTIES: readonly string[] = [
  // bleach.css_sanitizer.ALLOWED_CSS_PROPERTIES
  'azimuth', 'background-color', 'border-bottom-color', 'border-collapse', 'border-color', 'border-left-color',
  'border-right-color', 'border-top-color', 'clear', 'color', 'cursor', 'direction', 'display', 'elevation', 'float',
  'font', 'font-family', 'font-size', 'font-style', 'font-variant', 'font-weight', 'height', 'letter-spacing',
  'line-height', 'overflow', 'pause', 'pause-after', 'pause-before', 'pitch', 'pitch-range', 'richness', 'speak',
  'speak-header', 'speak-numeral', 'speak-punctuation', 'speech-rate', 'stress', 'text-align', 'text-decoration',
  'text-indent', 'unicode-bidi', 'vertical-align', 'voice-family', 'volume', 'white-space', 'width',
  // box model, tables, text
  'margin', 'margin-top', 'margin-right', 'margin-bottom', 'margin-left',
  'padding', 'padding-top', 'padding-right', 'padding-bottom', 'padding-left',
  'border', 'border-top', 'border-right', 'border-bottom', 'border-left', 'border-width', 'border-style',
  'border-radius', 'border-spacing', 'table-layout', 'caption-side', 'empty-cells',
  'min-width', 'max-width', 'min-height', 'max-height', 'box-sizing', 'overflow-x', 'overflow-y', 'overflow-wrap',
  'word-break', 'word-wrap', 'text-overflow', 'text-transform', 'font-variant-numeric', 'list-style-type',
  'opacity', 'visibility', 'background',
  // flex layout (progress bars)
  'flex', 'flex-direction', 'flex-wrap', 'flex-grow', 'flex-shrink', 'flex-basis', 'gap', 'row-gap', 'column-gap',
  'align-items', 'align-self', 'align-content', 'justify-content',
];

/** A declaration value that cannot load anything or reach outside the declaration. */
const SAFE_CSS_VALUE = /^(?![\s\S]*(?:url|image|image-set|cross-fade|element|paint|expression|var|env|attr)\s*\()(?![\s\S]*(?:javascript|vbscript)\s*:)[^;{}<>\\@]*$/i;

/**
 * Ids that would shadow a global the page's scripts or plotly.js look up on
 * `window` (named access), or the report's metadata block. Case-sensitive, so
 * heading slugs (lower case) never match.
 */
const RESERVED_ID = /^(?:Plotly|PlotlyConfig|MathJax|dytlabPlot|dytlab-report-meta)$/;

function options(): SanitizeOptions {
  const styles: Record<string, RegExp[]> = {};
  for (const p of ALLOWED_CSS_PROPERTIES) styles[p] = [SAFE_CSS_VALUE];
  return {
    allowedTags: [...ALLOWED_TAGS],
    allowedAttributes: { ...ALLOWED_ATTRIBUTES },
    allowedStyles: { '*': styles },
    allowedSchemes: ['http', 'https', 'mailto'],
    // Images only from data: URIs (nothing is fetched; the page's CSP agrees).
    allowedSchemesByTag: { img: ['data'] },
    allowProtocolRelative: false,
    // Dropped with everything inside them (others are dropped and keep their text).
    nonTextTags: ['script', 'style', 'textarea', 'option', 'xmp', 'noscript', 'noembed', 'noframes', 'template', 'title', 'iframe', 'object', 'plaintext'],
    disallowedTagsMode: 'discard',
    transformTags: {
      '*': (tagName, attribs) => {
        const a = { ...attribs };
        if (a.id !== undefined && RESERVED_ID.test(a.id)) delete a.id;
        if (tagName === 'img' && a.src !== undefined && !/^\s*data:image\//i.test(a.src)) delete a.src;
        if (tagName === 'input') a.disabled = ''; // task-list checkboxes only (see exclusiveFilter), never editable
        return { tagName, attribs: a };
      },
    },
    exclusiveFilter: (frame) => frame.tag === 'input' && String(frame.attribs.type).toLowerCase() !== 'checkbox',
  };
}

let cachedOptions: SanitizeOptions | undefined;

/** `html` with only the allowed tags, attributes, styles and URL schemes left. */
export function sanitizeHtml(html: string): string {
  return sanitizeHtmlLib()(html, (cachedOptions ??= options()));
}
