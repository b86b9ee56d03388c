// HTML reports are shared: markup from a notebook (raw HTML in markdown cells,
// text/html outputs) must not run script when a colleague opens the report.
// Two layers, each tested on its own: the sanitizer (src/report/sanitize.ts)
// and the Content-Security-Policy, which lets only the report's own scripts run
// (by sha256) and keeps 'unsafe-eval' to pages with WebGL figures. Checked in a
// real headless Chromium, with a plotly figure in the same page that must draw.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { resetPlotlyEmbed, toMimeBundle } from '../src/display/index.js';
import { renderProgress, ProgressView } from '../src/display/progress-view.js';
import { initBackend } from '../src/engine/backend.js';
import { tf } from '../src/engine/tf.js';
import { renderIndexHtml, renderNotebookHtml, type NotebookJson, type Output } from '../src/report/index.js';
import { lineChart } from '../src/viz/index.js';

const TMP = mkdtempSync(join(tmpdir(), 'dytlab-report-security-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

/** Markdown with raw HTML that tries to run script, restyle the page or leave it; and safe markup that must stay. */
const HOSTILE_MARKDOWN = [
  '# Notes <img src=x onerror="window.__pwned=\'toc\'">',
  '<script>window.__pwned=1</script>',
  '<img src=x onerror="window.__pwned=2">',
  'A [link](javascript:void(window.__pwned=3)) and <a id="js-link" href="javascript:void(window.__pwned=3)">another</a>.',
  '<iframe id="frame" srcdoc="<script>parent.__pwned=4</script>"></iframe>',
  '<svg id="svg-onload" onload="window.__pwned=5"><circle r="5"></circle></svg>',
  '<style>body { display: none !important } .page { visibility: hidden }</style>',
  '<div id="overlay" style="position:fixed;top:0;left:0;width:100%;height:100%;background:url(javascript:alert(1))">cover</div>',
  '<meta http-equiv="refresh" content="0;url=javascript:window.__pwned=6">',
  '<form action="javascript:window.__pwned=7"><button id="form-button">go</button></form>',
  '<object data="javascript:window.__pwned=8"></object><embed src="javascript:window.__pwned=8">',
  '<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned=9"></style></mglyph></table></mtext></math>',
  '<noscript><p title="</noscript><img src=x onerror=window.__pwned=10>"></noscript>',
  '<a id="Plotly">clobber</a>',
  'Safe: <b id="safe-b">bold</b> and $x^2$',
  '<details id="safe-details"><summary>more</summary>hidden text</details>',
  '<table id="safe-table"><thead><tr><th align="right">col</th></tr></thead><tbody><tr><td style="color:#b91c1c">1</td></tr></tbody></table>',
  `<img id="safe-img" alt="dot" src="data:image/png;base64,${PNG_1PX}">`,
  '| a | b |\n|---|--:|\n| 1 | 2 |',
  '- [x] done\n- [ ] todo',
  '```ts\nconst x = 1;\n```',
].join('\n\n');

const HOSTILE_HTML_OUTPUT = '<script>window.__pwned=11</script><img src=x onerror="window.__pwned=12"><b id="html-out-b">fine</b>'
  + '<a href="javascript:void(window.__pwned=13)" id="html-out-link">x</a><iframe src="javascript:parent.__pwned=14"></iframe>';

let pluginOutputs: Output[] = [];
before(async () => {
  await initBackend('cpu');
  const t = tf.tensor2d([[1, 2], [3, Number.NaN]]);
  pluginOutputs = [
    { output_type: 'display_data', data: toMimeBundle([{ layer: 1, alpha: 0.5 }, { layer: 2, alpha: 0.25 }]) as Record<string, unknown>, metadata: {} },
    { output_type: 'display_data', data: toMimeBundle(t) as Record<string, unknown>, metadata: {} },
    { output_type: 'display_data', data: renderProgress(new ProgressView('train', 10, 4, 2, 'loss 0.5', false)) as Record<string, unknown>, metadata: {} },
  ];
  t.dispose();
});

/** Just a figure, nothing hostile. */
function figureNotebook(fig: unknown): NotebookJson {
  resetPlotlyEmbed();
  return { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [
    { id: 'fig', cell_type: 'code', metadata: {}, execution_count: 1, source: 'display(fig)', outputs: [
      { output_type: 'display_data', data: toMimeBundle(fig) as Record<string, unknown>, metadata: {} },
    ] },
  ] };
}

function hostileNotebook(opts: { figure?: unknown } = {}): NotebookJson {
  resetPlotlyEmbed();
  const fig = opts.figure ?? lineChart({ series: [{ name: 'loss', x: [0, 1, 2], y: [3, 2, 1] }], title: 'Loss' });
  return {
    nbformat: 4, nbformat_minor: 5, metadata: {},
    cells: [
      { id: 'md', cell_type: 'markdown', metadata: {}, source: HOSTILE_MARKDOWN },
      { id: 'html', cell_type: 'code', metadata: {}, execution_count: 1, source: 'html(x)', outputs: [
        { output_type: 'display_data', data: { 'text/html': HOSTILE_HTML_OUTPUT, 'text/plain': 'x' }, metadata: {} },
        { output_type: 'display_data', data: { 'text/markdown': '<img src=x onerror="window.__pwned=15"> **md output**' }, metadata: {} },
        ...pluginOutputs,
      ] },
      { id: 'fig', cell_type: 'code', metadata: {}, execution_count: 2, source: 'display(fig)', outputs: [
        { output_type: 'display_data', data: toMimeBundle(fig) as Record<string, unknown>, metadata: {} },
      ] },
    ],
  };
}

/** The CSP of a page, as directives. */
function cspOf(html: string): Map<string, string[]> {
  const m = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html);
  assert.ok(m, 'the page has a CSP meta tag');
  const text = m[1]!.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  return new Map(text.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v]));
}

/** sha256 sources of every executable <script> element in the page. */
function inlineScriptHashes(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    const type = /\btype="([^"]*)"/i.exec(m[1]!)?.[1];
    if (type && !/^(text|application)\/(java|ecma)script$/i.test(type)) continue; // JSON data blocks do not run
    out.push(`'sha256-${createHash('sha256').update(m[2]!, 'utf8').digest('base64')}'`);
  }
  return out;
}

describe('report sanitizing (markup)', () => {
  let page = '';
  before(() => { page = renderNotebookHtml(hostileNotebook()); });

  test('no script, handler, javascript: URL, frame, object, form, meta refresh or <style> from the notebook is left', () => {
    const body = page.slice(page.indexOf('<body>'));
    const fromNotebook = body.replace(/<script>\nwindow\.dytlabPlot[\s\S]*?<\/script>/, '').replace(/<script type="application\/json"[^>]*>[\s\S]*?<\/script>/g, '');
    for (const bad of [/<script/i, /\son[a-z]+\s*=/i, /javascript:/i, /<iframe/i, /<object/i, /<embed/i, /<form/i, /<meta/i, /<style/i, /<svg/i, /<noscript/i, /position:\s*fixed/i, /id="Plotly"/, /__pwned/]) {
      assert.doesNotMatch(fromNotebook, bad, `${bad} in the report body`);
    }
  });

  test('the safe markup stays: bold, details, tables, data: images, task lists, code highlighting, math', () => {
    assert.match(page, /<b id="safe-b">bold<\/b>/);
    assert.match(page, /<details id="safe-details"><summary>more<\/summary>hidden text<\/details>/);
    assert.match(page, /<table id="safe-table"><thead><tr><th align="right">col<\/th><\/tr><\/thead><tbody><tr><td style="color:#b91c1c">1<\/td>/);
    assert.match(page, new RegExp(`<img id="safe-img" alt="dot" src="data:image/png;base64,${PNG_1PX.replace(/[+/=]/g, '\\$&')}" ?/?>`));
    assert.match(page, /<th align="right">b<\/th>/);
    assert.match(page, /<input checked disabled type="checkbox" ?\/?> done/);
    assert.match(page, /<code class="language-typescript"><span class="hljs-keyword">const<\/span> x = <span class="hljs-number">1<\/span>;/);
    assert.match(page, /<span class="katex"><math xmlns="http:\/\/www\.w3\.org\/1998\/Math\/MathML"><semantics><mrow><msup><mi>x<\/mi><mn>2<\/mn><\/msup><\/mrow><annotation encoding="application\/x-tex">x\^2<\/annotation>/);
    assert.match(page, /<b id="html-out-b">fine<\/b>/);
    assert.match(page, /<strong>md output<\/strong>/);
    // The table of contents gets the heading's text, not its <img onerror>.
    const toc = /<nav class="toc"[\s\S]*?<\/nav>/.exec(page)?.[0] ?? '';
    assert.match(toc, /<a href="#notes">Notes <img ?\/?><\/a>/);
  });

  test('the display plugins\' HTML (tables, tensor views, progress bars) comes through with its styles', () => {
    for (const o of pluginOutputs) {
      const html = (o as { data: Record<string, string> }).data['text/html']!;
      const normal = (s: string) => s.replace(/\s*\/>/g, '>').replace(/;\s*/g, ';').replace(/:\s+/g, ':').replace(/;"/g, '"').replace(/="([^"]*)"/g, (_, v: string) => `="${v.replace(/&#39;/g, "'")}"`);
      assert.ok(normal(page).includes(normal(html)), `plugin output changed by the sanitizer:\n${html}`);
    }
    assert.match(page, /<div class="dytlab-progress" style="display:flex;align-items:center;gap:0\.6em;font-family:monospace;font-size:13px">/);
    assert.match(page, /<td style="text-align:right">/);
  });
});

describe('report CSP', () => {
  test('scripts only by hash: exactly the page\'s own scripts; no unsafe-inline, no unsafe-eval without WebGL', () => {
    const page = renderNotebookHtml(hostileNotebook());
    const csp = cspOf(page);
    const scripts = csp.get('script-src') ?? [];
    assert.ok(!scripts.includes("'unsafe-inline'"), scripts.join(' '));
    assert.ok(!scripts.includes("'unsafe-eval'"), 'no WebGL figure, no eval');
    const hashes = inlineScriptHashes(page);
    assert.equal(hashes.length, 2, 'plotly.js and the drawing helper');
    assert.deepEqual([...scripts].sort(), [...hashes].sort(), 'every script the page has is named in the CSP, and nothing else');
    assert.deepEqual(csp.get('default-src'), ["'none'"]);
    assert.deepEqual(csp.get('style-src'), ["'unsafe-inline'"]);
    assert.deepEqual(csp.get('object-src'), ["'none'"]);
    assert.deepEqual(csp.get('frame-src'), ["'none'"]);
  });

  test('a page without figures runs no script at all', () => {
    const nb = hostileNotebook();
    nb.cells.pop();
    const page = renderNotebookHtml(nb);
    assert.deepEqual(cspOf(page).get('script-src'), ["'none'"]);
    assert.deepEqual(inlineScriptHashes(page), []);
  });

  test('a WebGL figure (scattergl) adds \'unsafe-eval\', and only then; the index page too', () => {
    const gl = { data: [{ type: 'scattergl', mode: 'markers', x: [1, 2, 3], y: [3, 1, 2] }], layout: { title: { text: 'gl' } } };
    const page = renderNotebookHtml(hostileNotebook({ figure: gl }));
    assert.ok(cspOf(page).get('script-src')!.includes("'unsafe-eval'"));
    const svgFig = lineChart({ series: [{ name: 'a', x: [0, 1], y: [1, 0] }] });
    const entry = (firstFigure: unknown) => ({ title: 't', notebook: 't.ipynb', html: 't.html', status: 'ok', durationSec: 1, firstFigure });
    const ix = renderIndexHtml([entry(svgFig)]);
    assert.ok(!cspOf(ix).get('script-src')!.includes("'unsafe-eval'"));
    assert.deepEqual([...cspOf(ix).get('script-src')!].sort(), [...inlineScriptHashes(ix)].sort());
    assert.ok(cspOf(renderIndexHtml([entry(svgFig), entry(gl)])).get('script-src')!.includes("'unsafe-eval'"));
  });
});

describe('in headless Chromium', () => {
  let browser: Browser;
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is required for this test and was not found at ${CHROMIUM} (install Debian's chromium package)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => { await browser?.close(); });

  /** Opens `html`, collecting errors, dialogs, requests and CSP violations; waits for the figures. */
  async function open(name: string, html: string, figures: number): Promise<{ page: Page; problems: string[]; violations: string[]; requests: string[]; file: string }> {
    const file = join(TMP, `${name}.html`);
    writeFileSync(file, html);
    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
    page.on('request', (r) => requests.push(r.url()));
    await page.addInitScript(() => {
      const w = window as unknown as { __violations: string[] };
      w.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) => w.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    if (figures > 0) {
      await page.waitForFunction((n) => Array.from(document.querySelectorAll('.plotly-figure')).filter((d) => d.querySelector('.main-svg')).length === n, figures, { timeout: 20_000 })
        .catch((e: Error) => problems.push(`the figures did not draw: ${e.message.split('\n')[0]}`));
    }
    await page.waitForTimeout(300);
    const violations = await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations);
    return { page, problems, violations, requests, file };
  }

  test('hostile markdown and HTML outputs run nothing; safe markup shows; the plotly figure draws', { timeout: 90_000 }, async () => {
    const { page, problems, violations, requests, file } = await open('hostile', renderNotebookHtml(hostileNotebook()), 1);
    try {
      await page.click('#js-link', { timeout: 2000 }).catch(() => undefined);
      await page.click('#html-out-link', { timeout: 2000 }).catch(() => undefined);
      await page.click('#form-button', { timeout: 1000 }).catch(() => undefined);
      await page.waitForTimeout(300);
      // A string, so the bundler's helpers (esbuild's __name) stay out of the page.
      const r = await page.evaluate(`(() => {
        const img = document.querySelector('#safe-img');
        const overlay = document.querySelector('#overlay');
        return {
          pwned: window.__pwned === undefined ? null : window.__pwned,
          plotly: typeof (window.Plotly && window.Plotly.newPlot),
          mainSvg: document.querySelectorAll('svg.main-svg').length,
          bodyShown: getComputedStyle(document.body).display !== 'none' && getComputedStyle(document.querySelector('.page')).visibility !== 'hidden',
          overlayPosition: overlay ? getComputedStyle(overlay).position : null,
          safe: ['#safe-b', '#safe-details', '#safe-table', '#html-out-b', 'table.dataframe', '.dytlab-tensor', '.dytlab-progress', 'math']
            .filter((sel) => { const el = document.querySelector(sel); return !el || el.getClientRects().length === 0; }),
          imgLoaded: img ? img.complete && img.naturalWidth === 1 : false,
          tdColor: getComputedStyle(document.querySelector('#safe-table td')).color,
          progressDisplay: getComputedStyle(document.querySelector('.dytlab-progress')).display,
          url: location.href,
        };
      })()`) as { pwned: unknown; plotly: string; mainSvg: number; bodyShown: boolean; overlayPosition: string | null; safe: string[]; imgLoaded: boolean; tdColor: string; progressDisplay: string; url: string };
      assert.equal(r.pwned, null, `script from the notebook ran (window.__pwned = ${String(r.pwned)})`);
      assert.equal(r.url, pathToFileURL(file).href, 'the page was not navigated away');
      assert.equal(r.plotly, 'function', 'the report\'s own plotly.js ran');
      assert.ok(r.mainSvg >= 1, 'the figure drew (svg.main-svg)');
      assert.ok(r.bodyShown, 'a <style> from the notebook hid the page');
      assert.notEqual(r.overlayPosition, 'fixed');
      assert.deepEqual(r.safe, [], 'safe markup that does not show');
      assert.ok(r.imgLoaded, 'the data: image shows');
      assert.equal(r.tdColor, 'rgb(185, 28, 28)');
      assert.equal(r.progressDisplay, 'flex');
      assert.deepEqual(problems, []);
      assert.deepEqual(violations, [], 'nothing even tried to break the CSP: the sanitizer removed it all');
      assert.deepEqual(requests, [pathToFileURL(file).href], 'only the page itself is requested');
    } finally {
      await page.close();
    }
  });

  test('the CSP alone stops injected inline script (a sanitizer miss) while the report\'s scripts still run', { timeout: 60_000 }, async () => {
    const html = renderNotebookHtml(figureNotebook(lineChart({ series: [{ name: 'a', x: [0, 1], y: [1, 0] }] }))).replace('<main class="notebook">',
      '<main class="notebook"><script>window.__pwned="inline"</script><img src="data:," onerror="window.__pwned=\'handler\'"><a id="inj" href="javascript:void(window.__pwned=\'url\')">x</a>');
    const { page, problems, violations } = await open('injected', html, 1);
    try {
      await page.click('#inj', { timeout: 5000 });
      await page.waitForTimeout(300);
      const r = await page.evaluate(() => ({ pwned: (window as unknown as { __pwned?: unknown }).__pwned ?? null, svg: document.querySelectorAll('svg.main-svg').length }));
      assert.equal(r.pwned, null, `injected script ran: ${String(r.pwned)}`);
      assert.ok(r.svg >= 1, 'the figure still drew');
      const all = await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations);
      assert.ok(violations.length > 0 && all.every((v) => v.startsWith('script-src')), `the CSP reported the blocked scripts: ${all.join('; ')}`);
      assert.equal(all.length, 3, `inline script, handler, javascript: URL: ${all.join('; ')}`);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });

  test('a WebGL figure draws under its page\'s CSP without a violation', { timeout: 60_000 }, async () => {
    const gl = { data: [{ type: 'scattergl', mode: 'markers', x: [1, 2, 3], y: [3, 1, 2] }], layout: { title: { text: 'gl' } } };
    const { page, problems, violations } = await open('webgl', renderNotebookHtml(figureNotebook(gl)), 1);
    try {
      const canvases = await page.evaluate(() => document.querySelectorAll('.plotly-figure canvas').length);
      assert.ok(canvases >= 1, 'scattergl drew on a canvas');
      assert.deepEqual(violations, []);
      assert.deepEqual(problems.filter((p) => !/WebGL|GL Driver/i.test(p)), []);
    } finally {
      await page.close();
    }
  });
});
