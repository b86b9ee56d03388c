// plotly.js itself, for HTML that must draw figures offline: the minified
// bundle of the npm package `plotly.js-dist-min`, read from disk on first use
// (4.8 MB) and kept for the life of the process.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { inlineScript } from './html.js';

const requireHere = createRequire(__filename);
let cached: { source: string; version: string; hash?: string } | undefined;

function load(): { source: string; version: string; hash?: string } {
  if (cached) return cached;
  let path: string;
  try {
    path = requireHere.resolve('plotly.js-dist-min/plotly.min.js');
  } catch (err) {
    throw new Error(`plotly.js is needed to draw figures offline, but the package 'plotly.js-dist-min' was not found (${(err as Error).message})`);
  }
  const raw = readFileSync(path, 'utf8');
  const version = /plotly\.js v(\d+\.\d+\.\d+)/.exec(raw.slice(0, 400))?.[1] ?? 'unknown';
  // As an HTML parser hands the element's text to the script engine (and to a
  // CSP hash check): line breaks as \n, NUL as U+FFFD. The bundle has neither today.
  const text = raw.replace(/\r\n?/g, '\n').replace(/\0/g, '\ufffd');
  cached = { source: inlineScript(text), version };
  return cached;
}

/** The plotly.js version that gets embedded. */
export function plotlyVersion(): string {
  return load().version;
}

/**
 * One <script> element holding plotly.js (it sets `window.Plotly`). The
 * `data-dytlab-plotly-bundle` attribute marks it, so tools can find and count
 * embedded copies.
 */
export function plotlyBundleScriptTag(): string {
  const { source, version } = load();
  return `<script type="text/javascript" data-dytlab-plotly-bundle="${version}">\n${source}\n</script>`;
}

/**
 * The Content-Security-Policy source that lets the <script> of
 * plotlyBundleScriptTag() run: `'sha256-…'` of its text (computed once).
 */
export function plotlyBundleScriptHash(): string {
  const c = load();
  return (c.hash ??= `'sha256-${createHash('sha256').update(`\n${c.source}\n`, 'utf8').digest('base64')}'`);
}

/** The attribute that marks an embedded plotly.js bundle in HTML. */
export const PLOTLY_BUNDLE_MARKER = 'data-dytlab-plotly-bundle';
