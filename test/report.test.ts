// Notebook -> offline HTML (src/report): every output type, plotly.js once per
// file, no external resources, math as MathML, escaping, table of contents,
// the nbformat reader and shape checks, the index page, and a real headless
// Chromium that must draw the figures without a single network request.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { resetPlotlyEmbed, setDisplaySink, toMimeBundle, display, type MimeBundle, PLOTLY_BUNDLE_MARKER } from '../src/display/index.js';
import { lineChart, scatter } from '../src/viz/index.js';
import {
  NotebookError, readNotebook, renderIndexHtml, renderNotebookHtml, validateNotebookShape,
  type CodeCell, type NotebookJson, type Output,
} from '../src/report/index.js';

const FIXTURE = join(__dirname, 'fixtures', 'report-all-outputs.ipynb');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-report-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const fixture = (): NotebookJson => clone(JSON.parse(readFileSync(FIXTURE, 'utf8')) as NotebookJson);
const count = (s: string, needle: string): number => s.split(needle).length - 1;

/** The page without the embedded plotly.js <script> (whose minified source mentions map-tile URLs as strings). */
function withoutPlotlyBundle(html: string): string {
  return html.replace(new RegExp(`<script[^>]*${PLOTLY_BUNDLE_MARKER}[^>]*>[\\s\\S]*?</script>`, 'g'), '<script data-removed></script>');
}

/** Every attribute that makes a browser load something, or navigate, with an absolute http(s) or protocol-relative URL. */
function externalReferences(html: string): string[] {
  const page = withoutPlotlyBundle(html);
  const found: string[] = [];
  for (const m of page.matchAll(/\b(src|href|srcset|poster|action|data|xlink:href)\s*=\s*["']?\s*((?:https?:)?\/\/[^"'\s>]*)/gi)) found.push(m[0]);
  for (const m of page.matchAll(/url\(\s*["']?\s*((?:https?:)?\/\/[^)"']*)/gi)) found.push(m[0]);
  for (const m of page.matchAll(/@import\s+[^;]*/gi)) found.push(m[0]);
  return found;
}

function figureOutput(fig: unknown, kind: 'display_data' | 'execute_result' = 'display_data'): Output {
  const data = toMimeBundle(fig) as Record<string, unknown>;
  return kind === 'display_data'
    ? { output_type: 'display_data', data, metadata: {} }
    : { output_type: 'execute_result', execution_count: 9, data, metadata: {} };
}

/** A notebook with `n` figures made by the display plugin (so the first also carries plotly.js in its html fallback). */
function notebookWithFigures(n: number): NotebookJson {
  resetPlotlyEmbed();
  const nb = fixture();
  const outputs: Output[] = [];
  for (let k = 0; k < n; k++) {
    const fig = k % 2 === 0
      ? lineChart({ series: [{ name: `run ${k}`, x: [0, 1, 2, 3], y: [4, 2, 1.5, 1.2] }], title: `Loss ${k}`, xTitle: 'step', yTitle: 'loss' })
      : scatter({ points: { x: [-2, -1, 0, 1, 2], y: [-0.96, -0.76, 0, 0.76, 0.96] }, name: 'LN out', title: `tanh-like ${k}` });
    outputs.push(figureOutput(fig, k === n - 1 ? 'execute_result' : 'display_data'));
  }
  nb.cells.push({ id: 'figures', cell_type: 'code', metadata: {}, execution_count: 9, source: 'display(fig)', outputs });
  return nb;
}

describe('renderNotebookHtml: outputs', () => {
  let page = '';
  before(() => {
    page = renderNotebookHtml(fixture(), {
      manifest: {
        dytlabVersion: '0.1.0', gitCommit: 'abc1234', backend: 'wasm', parameters: { steps: 100, lr: 0.001 }, seeds: [1, 2],
        startTime: '2025-01-01T00:00:00Z', durationSec: 12.5, status: 'ok', note: '<img src=x onerror=alert(1)>',
      },
    });
  });

  test('a complete document', () => {
    assert.match(page, /^<!DOCTYPE html>/);
    assert.match(page, /<meta charset="utf-8">/);
    assert.match(page, /<title>DyT versus LayerNorm<\/title>/);
    assert.match(page, /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;;/);
  });

  test('markdown: rendered, math as MathML, attachment image inlined', () => {
    assert.match(page, /<h1 id="dyt-versus-layernorm">DyT versus LayerNorm/);
    assert.match(page, /<math xmlns="http:\/\/www\.w3\.org\/1998\/Math\/MathML"><semantics><mrow><mi>y<\/mi>/);
    assert.match(page, /<div class="math-display"><span class="katex"><math [^>]*display="block"/);
    assert.match(page, /<img src="data:image\/png;base64,iVBORw0KGgo[^"]*" alt="logo" ?\/?>/);
    assert.ok(count(page, '<math') >= 4, 'inline, display, markdown output and latex output math');
  });

  test('code highlighted as TypeScript, with prompts and tags', () => {
    assert.match(page, /<code class="language-typescript"><span class="hljs-keyword">const<\/span> steps = <span class="hljs-number">100<\/span>/);
    assert.match(page, /In \[1\]:/);
    assert.match(page, /<span class="tag">parameters<\/span>/);
    assert.match(page, /Out \[4\]:/);
  });

  test('streams: escaped, ANSI stripped, consecutive stdout merged, stderr apart', () => {
    assert.ok(!page.includes('<script>alert(1)</script>'), 'stream text must be escaped');
    assert.match(page, /<pre class="stream stdout">&lt;script&gt;alert\(1\)&lt;\/script&gt;\ngreen text\n<\/pre>/);
    assert.ok(!page.includes('\u001b'), 'no ANSI escape left');
    assert.match(page, /<pre class="stream stderr">careful\n<\/pre>/);
  });

  test('display data: html inserted, images, svg, markdown, latex, json, plain', () => {
    assert.match(page, /<div class="html-output"><b class="from-html-output">bold<\/b><\/div>/);
    assert.match(page, /<img alt="image\/png image" src="data:image\/png;base64,iVBORw0KGgo[A-Za-z0-9+/=]+" width="20">/);
    assert.match(page, /<img class="svg-output" alt="SVG image" src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+">/);
    assert.match(page, /<div class="markdown-output"><p><strong>markdown output<\/strong> with <span class="katex"><math/);
    assert.match(page, /<div class="latex-output"><span class="katex"><math[^>]*display="block"><semantics><mrow><mfrac>/);
    assert.match(page, /<pre class="json-output">\{\n {2}&quot;alpha&quot;: 0\.5,\n {2}&quot;note&quot;: &quot;&lt;script&gt;x&lt;\/script&gt;&quot;\n\}<\/pre>/);
    assert.match(page, /<pre class="text-output">plain &lt;text&gt; &amp; more<\/pre>/);
    assert.match(page, /<pre class="text-output">2<\/pre>/);
  });

  test('errors: name, value and traceback, escaped', () => {
    assert.match(page, /<div class="error-head">RangeError: alpha &lt;must&gt; be positive<\/div><pre class="traceback">RangeError: alpha &lt;must&gt; be positive\n {4}at &lt;cell&gt;:1:7<\/pre>/);
  });

  test('raw cells escaped; empty code cells left out', () => {
    assert.match(page, /<div class="raw"><pre>raw &lt;text&gt; cell<\/pre><\/div>/);
    assert.ok(!page.includes('id="cell-8"'), 'the empty code cell has nothing to show');
  });

  test('manifest: every key, values escaped', () => {
    for (const k of ['dytlabVersion', 'gitCommit', 'backend', 'parameters', 'seeds', 'startTime', 'durationSec', 'status']) {
      assert.match(page, new RegExp(`<th>${k}</th>`), k);
    }
    assert.match(page, /<th>steps<\/th><td>100<\/td>/);
    assert.match(page, /<td>1, 2<\/td>/);
    assert.match(page, /12\.5 s/);
    assert.match(page, /<span class="status status-ok">ok<\/span>/);
    assert.ok(!page.includes('<img src=x'), 'manifest values are escaped');
    assert.match(page, /&lt;img src=x onerror=alert\(1\)&gt;/);
  });

  test('table of contents: one entry per heading, each anchor exists once', () => {
    const toc = /<nav class="toc"[\s\S]*?<\/nav>/.exec(page)?.[0] ?? '';
    const links = [...toc.matchAll(/href="#([^"]+)"/g)].map((m) => m[1] as string);
    assert.deepEqual(links, ['dyt-versus-layernorm', 'setup', 'setup-details']);
    for (const id of links) assert.equal(count(page, `id="${id}"`), 1, id);
    assert.match(toc, /<li class="toc-l2"><a href="#setup">Setup<\/a><\/li>/);
    const dup = renderNotebookHtml({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [
      { id: 'a', cell_type: 'markdown', metadata: {}, source: '## Results\n\n## Results' },
    ] });
    assert.match(dup, /id="results"/);
    assert.match(dup, /id="results-1"/);
  });

  test('no figures: no plotly.js; no external resource anywhere', () => {
    assert.ok(!page.includes(PLOTLY_BUNDLE_MARKER));
    assert.deepEqual(externalReferences(page), []);
  });

  test('update_display_data is applied to the display it updates', () => {
    const nb: NotebookJson = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [
      { id: 'a', cell_type: 'code', metadata: {}, execution_count: 1, source: '', outputs: [
        { output_type: 'display_data', data: { 'text/plain': 'step 1 of 3' }, metadata: {}, transient: { display_id: 'p' } },
        { output_type: 'update_display_data', data: { 'text/plain': 'step 3 of 3' }, metadata: {}, transient: { display_id: 'p' } },
        { output_type: 'update_display_data', data: { 'text/plain': 'orphan update' }, metadata: {}, transient: { display_id: 'q' } },
      ] },
    ] };
    const h = renderNotebookHtml(nb);
    assert.ok(!h.includes('step 1 of 3'));
    assert.equal(count(h, 'step 3 of 3'), 1);
    assert.ok(h.includes('orphan update'));
  });
});

describe('renderNotebookHtml: figures', () => {
  test('three figures: plotly.js exactly once, each figure a div + JSON, one drawing helper at the end', () => {
    const nb = notebookWithFigures(3);
    const cell = nb.cells[nb.cells.length - 1] as CodeCell;
    const firstHtml = (cell.outputs[0] as { data: MimeBundle }).data['text/html'] as string;
    assert.ok(firstHtml.includes(PLOTLY_BUNDLE_MARKER), 'the first figure output also carries plotly.js in its html fallback');
    const page = renderNotebookHtml(nb);
    assert.equal(count(page, PLOTLY_BUNDLE_MARKER), 1, 'one plotly.js <script>');
    assert.equal(count(page, '* plotly.js v'), 1, 'the bundle source appears once');
    assert.equal(count(page, 'class="plotly-figure"'), 3);
    for (const k of [1, 2, 3]) {
      assert.match(page, new RegExp(`<div id="figure-${k}" class="plotly-figure"[^>]* data-dytlab-figure></div>\\n<script type="application/json" id="figure-${k}-json">\\{"data":`));
    }
    assert.equal(count(page, 'window.dytlabPlot = function'), 1, 'one drawing helper');
    assert.ok(page.indexOf(PLOTLY_BUNDLE_MARKER) < page.indexOf('id="figure-1"'), 'plotly.js comes before the figures');
    assert.ok(page.lastIndexOf('id="figure-3-json"') < page.indexOf('window.dytlabPlot = function'), 'the helper comes after them');
    assert.ok(!page.includes('dytlab-plot-'), 'the plotly JSON is preferred over the html fallback');
    assert.deepEqual(externalReferences(page), []);
  });

  test('a figure JSON holding </script> stays inside its script element', () => {
    const nb = fixture();
    nb.cells.push({ id: 'f', cell_type: 'code', metadata: {}, execution_count: 1, source: '', outputs: [
      { output_type: 'display_data', data: { 'application/vnd.plotly.v1+json': { data: [{ y: [1] }], layout: { title: { text: '</script><script>alert(1)</script>' } } }, 'text/plain': 'fig' }, metadata: {} },
    ] });
    const page = withoutPlotlyBundle(renderNotebookHtml(nb));
    assert.ok(!page.includes('<script>alert(1)</script>'));
    assert.match(page, /\\u003c\/script\\u003e\\u003cscript\\u003ealert\(1\)/);
  });
});

describe('readNotebook and validateNotebookShape', () => {
  const write = (name: string, text: string): string => {
    const p = join(TMP, name);
    writeFileSync(p, text);
    return p;
  };

  test('reads the fixture; it has the nbformat 4 shape', () => {
    const nb = readNotebook(FIXTURE, { validate: true });
    assert.equal(nb.nbformat, 4);
    assert.equal(nb.cells.length, 9);
    assert.deepEqual(validateNotebookShape(nb), []);
  });

  test('errors name the file', () => {
    const cases: [string, string, RegExp][] = [
      ['broken.ipynb', '{"nbformat": 4, "cells": [', /broken\.ipynb: not valid JSON/],
      ['array.ipynb', '[1, 2]', /array\.ipynb: not a notebook: the JSON is an array/],
      ['no-version.ipynb', '{"cells": [], "metadata": {}}', /no-version\.ipynb: not an nbformat 4 notebook: the 'nbformat' field is missing/],
      ['v3.ipynb', '{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}', /v3\.ipynb: nbformat 3 is not supported/],
      ['no-cells.ipynb', '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', /no-cells\.ipynb: not an nbformat 4 notebook: 'cells' is missing/],
    ];
    for (const [name, text, re] of cases) {
      const p = write(name, text);
      assert.throws(() => readNotebook(p), (err: unknown) => {
        assert.ok(err instanceof NotebookError);
        assert.match(err.message, re);
        assert.ok(err.message.startsWith(p), `message should start with the path: ${err.message}`);
        assert.equal(err.path, p);
        return true;
      });
    }
    assert.throws(() => readNotebook(join(TMP, 'missing.ipynb')), /missing\.ipynb: cannot read the notebook: ENOENT/);
    const bad = write('bad-shape.ipynb', JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [{ cell_type: 'code', source: 1 }] }));
    // A malformed cell is named (file, cell, field) when read, not left to fail later as a TypeError.
    assert.throws(() => readNotebook(bad), /bad-shape\.ipynb: cells\[0\] \(code\): 'source' must be a string or an array of strings, got number 1/);
    assert.throws(() => readNotebook(bad, { validate: true }), /bad-shape\.ipynb: /);
  });

  test('structural problems, each with its place', () => {
    const nb = fixture() as unknown as { cells: Record<string, unknown>[]; extra?: number; metadata: Record<string, unknown> };
    nb.extra = 1;
    nb.metadata.kernelspec = { name: 'dytlab' };
    const code = nb.cells[3] as { execution_count: unknown; outputs: Record<string, unknown>[]; source: unknown };
    code.execution_count = 1.5;
    code.outputs.push({ output_type: 'stream', name: 'stdout' });
    code.outputs.push({ output_type: 'display_data', data: { 'text/plain': 3 }, metadata: [] });
    code.outputs.push({ output_type: 'update_display_data', data: {}, metadata: {} });
    code.outputs.push({ output_type: 'execute_result', data: {}, metadata: {}, execution_count: -1 });
    code.outputs.push({ output_type: 'error', ename: 'E', evalue: 'v', traceback: 'x' });
    nb.cells[0]!.source = 7;
    nb.cells[1]!.metadata = null;
    nb.cells[2]!.id = 'md-title';
    delete nb.cells[4]!.id;
    nb.cells[5]!.cell_type = 'python';
    nb.cells[7]!.outputs = [];
    const problems = validateNotebookShape(nb);
    const expected = [
      "notebook: unknown key 'extra'",
      'metadata.kernelspec.display_name must be a string',
      'cells[0].source must be a string or an array of strings, got number 7',
      'cells[1].metadata must be an object, got null',
      'cells[2].id "md-title" is also the id of cells[0]; ids must be unique',
      'cells[3].execution_count must be an integer >= 0 or null, got number 1.5',
      "cells[3].outputs[3]: 'text' is required",
      "cells[3].outputs[4].metadata must be an object, got an array",
      "cells[3].outputs[4].data['text/plain'] must be a string or an array of strings, got number 3",
      "cells[3].outputs[5]: output_type the string \"update_display_data\" is not one of execute_result, display_data, stream, error (a Jupyter message, not a saved output: apply it to the display_data it updates)",
      'cells[3].outputs[6].execution_count must be an integer >= 0 or null, got number -1',
      'cells[3].outputs[7].traceback must be an array of strings, got the string "x"',
      "cells[4]: 'id' is required from nbformat_minor 5",
      'cells[5]: cell_type the string "python" is not one of code, markdown, raw',
      "cells[7] (raw): unknown key 'outputs'",
    ];
    assert.deepEqual(problems, expected);
    assert.deepEqual(validateNotebookShape([]), ['the notebook must be a JSON object, got an array']);
  });
});

describe('renderIndexHtml', () => {
  test('a row per notebook, figures as thumbnails, plotly.js once, links kept relative', () => {
    const fig = lineChart({ series: [{ name: 'a', x: [0, 1], y: [1, 0] }] });
    const page = renderIndexHtml([
      { title: 'DyT <fit>', notebook: 'notebooks/01-fit.ipynb', html: '01-fit.html', status: 'ok', durationSec: 12.25, firstFigure: fig },
      { title: 'Outliers', notebook: 'notebooks/02.ipynb', html: 'javascript:alert(1)', status: 'error', durationSec: 75, firstFigure: fig },
      { title: 'No figure', notebook: 'notebooks/03.ipynb', html: 'sub dir/03.html', status: 'ok', durationSec: 3 },
    ], { dytlabVersion: '0.1.0', backend: 'wasm' });
    assert.equal(count(page, PLOTLY_BUNDLE_MARKER), 1);
    assert.equal(count(page, 'class="thumb"'), 2);
    assert.match(page, /<a href="01-fit\.html">DyT &lt;fit&gt;<\/a>/);
    assert.ok(!page.includes('javascript:alert'), 'a link with a scheme is not made a link');
    assert.match(page, /<a href="sub dir\/03\.html">No figure<\/a>/);
    assert.match(page, /<span class="status status-error">error<\/span>/);
    assert.match(page, /12\.3 s/);
    assert.match(page, /1 min 15 s/);
    assert.match(page, /3 notebooks: 2 ok, 1 error/);
    assert.match(page, /<th>backend<\/th><td>wasm<\/td>/);
    assert.deepEqual(externalReferences(page), []);
    const none = renderIndexHtml([{ title: 'x', notebook: 'x.ipynb', html: 'x.html', status: 'ok', durationSec: 1 }], {});
    assert.ok(!none.includes(PLOTLY_BUNDLE_MARKER));
  });
});

describe('in headless Chromium', () => {
  test('a report with 2 figures draws both, and requests nothing but the file itself', { timeout: 60_000 }, async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is required for this test and was not found at ${CHROMIUM} (install Debian's chromium package)`);
    const page1 = renderNotebookHtml(notebookWithFigures(2), { manifest: { status: 'ok' } });
    const file = join(TMP, 'two-figures.html');
    writeFileSync(file, page1);
    const fig = lineChart({ series: [{ name: 'a', x: [0, 1], y: [1, 0] }] });
    const indexFile = join(TMP, 'index.html');
    writeFileSync(indexFile, renderIndexHtml([
      { title: 'two', notebook: 'two.ipynb', html: 'two-figures.html', status: 'ok', durationSec: 1, firstFigure: fig },
      { title: 'again', notebook: 'two.ipynb', html: 'two-figures.html', status: 'ok', durationSec: 1, firstFigure: fig },
    ], {}));

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const check = async (path: string, selector: string): Promise<{ requests: string[]; problems: string[]; svgs: number[]; containers: number }> => {
        const page = await browser.newPage();
        const requests: string[] = [];
        const problems: string[] = [];
        page.on('request', (r) => requests.push(r.url()));
        page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
        page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
        await page.goto(pathToFileURL(path).href, { waitUntil: 'load' });
        await page.waitForFunction((sel) => {
          const divs = Array.from(document.querySelectorAll(sel));
          return divs.length > 0 && divs.every((d) => d.querySelector('.main-svg'));
        }, selector, { timeout: 15_000 });
        const result = await page.evaluate((sel) => ({
          svgs: Array.from(document.querySelectorAll(sel)).map((d) => d.querySelectorAll('.main-svg').length),
          containers: document.querySelectorAll('.plot-container').length,
        }), selector);
        await page.close();
        return { requests, problems, ...result };
      };

      const r = await check(file, '.plotly-figure');
      assert.deepEqual(r.requests, [pathToFileURL(file).href], 'only the page itself is requested');
      assert.equal(r.containers, 2);
      assert.equal(r.svgs.length, 2);
      for (const n of r.svgs) assert.ok(n >= 1, `a figure div has ${n} plotly svg layers`);
      assert.deepEqual(r.problems, []);

      const ix = await check(indexFile, '.thumb');
      assert.deepEqual(ix.requests, [pathToFileURL(indexFile).href]);
      assert.equal(ix.containers, 2);
      assert.deepEqual(ix.problems, []);
    } finally {
      await browser.close();
    }
  });

  test('the display fallback alone (as nbconvert shows it) draws every figure from one embedded plotly.js', { timeout: 60_000 }, async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is required for this test and was not found at ${CHROMIUM}`);
    // What `jupyter nbconvert --to html` does with our outputs: it ignores the plotly
    // JSON and inserts each text/html fallback, in order, into one page.
    resetPlotlyEmbed();
    const outputs: MimeBundle[] = [];
    setDisplaySink({ display: (d) => outputs.push(d), update: () => undefined, clear: () => undefined });
    try {
      for (let k = 0; k < 3; k++) display(lineChart({ series: [{ name: `s${k}`, x: [0, 1, 2], y: [k, k + 1, k] }] }));
    } finally {
      setDisplaySink(null);
    }
    const bodies = outputs.map((o) => `<div class="output_html">${o['text/html'] as string}</div>`).join('\n');
    assert.equal(count(bodies, PLOTLY_BUNDLE_MARKER), 1);
    const file = join(TMP, 'fallback.html');
    writeFileSync(file, `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>${bodies}</body></html>`);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      await page.waitForFunction(() => document.querySelectorAll('.dytlab-plotly .main-svg').length >= 3 && document.querySelectorAll('.plot-container').length === 3, undefined, { timeout: 15_000 });
      assert.deepEqual(requests, [pathToFileURL(file).href]);
    } finally {
      await browser.close();
    }
  });
});
