// Paper-ready figures (src/figures/): a hand-written plotly spec through
// exportFigure into SVG (its title as text), PNG (IHDR width = width x scale),
// PDF (%PDF, page size in points, no raster image); the CSV rows against a hand
// count; the provenance sidecar; the paper style as a pure function; the error
// naming every place Chromium was looked for; saveFigure in a notebook run by
// `dytlab run` (files, report links) and re-exported by `dytlab figures`.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { figureCsv, figureRows } from '../src/figures/data.js';
import { exportFigure, exportFigures, FigureExporter } from '../src/figures/export.js';
import { ChromiumNotFoundError, findChromium } from '../src/figures/chromium.js';
import { runsFrom } from '../src/figures/provenance.js';
import { columnWidthPx, paperStyle } from '../src/figures/style.js';
import { SAVED_FIGURE_MIME, savedFigureRecord, validateFigureName } from '../src/figures/save.js';
import { FigureNameClashError, savedFigures } from '../src/figures/notebook.js';

const ROOT = join(__dirname, '..');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-figures-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

// Written by hand: 3 + 2 scatter points (one trace with error bars, one whose name needs quoting) and a 2 x 3 heatmap.
const SPEC = {
  data: [
    { type: 'scatter', name: 'loss', x: [1, 2, 3], y: [0.5, 0.25, 0.125], error_y: { type: 'data', array: [0.01, 0.02, 0.03] } },
    { type: 'scatter', name: 'floor, "log 4"', x: [1, 3], y: [1.386, 1.386] },
    { type: 'heatmap', name: 'grid', x: ['a', 'b', 'c'], y: [10, 20], z: [[1, 2, 3], [4, 5, 6]], xaxis: 'x2', yaxis: 'y2' },
  ],
  layout: { title: { text: 'Hand-written spec 7' }, xaxis: { title: { text: 'step' }, domain: [0, 0.45] }, yaxis: { title: { text: 'loss' } }, xaxis2: { domain: [0.55, 1], anchor: 'y2' }, yaxis2: { anchor: 'x2' } },
};
const POINTS = 3 + 2 + 2 * 3;
/** Lines and error bars only (plotly draws a heatmap as a raster <image>, even in SVG): all vector. */
const LINES = { data: SPEC.data.slice(0, 2), layout: { title: { text: 'Hand-written spec 7' }, xaxis: { title: { text: 'step' } } } };
const LINE_POINTS = 3 + 2;

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const PLOTLY = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'plotly.js-dist-min', 'package.json'), 'utf8')) as { version: string }).version;

/** Width and height from a PNG's IHDR chunk (bytes 16-23, big-endian). */
function pngSize(path: string): { width: number; height: number } {
  const b = readFileSync(path);
  assert.deepEqual([...b.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${path} is not a PNG`);
  assert.equal(b.subarray(12, 16).toString('latin1'), 'IHDR');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  try { return fn(); } finally {
    for (const [k, v] of Object.entries(old)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

describe('figure data and style (pure)', () => {
  test('the CSV has one row per point, the trace name as a column, x/y/z and the error bars', () => {
    const rows = figureRows(SPEC);
    assert.equal(rows.length, POINTS);
    const csv = figureCsv(SPEC).trimEnd().split('\n');
    assert.equal(csv[0], 'trace,type,x,y,z,error_y');
    assert.equal(csv.length, 1 + POINTS);
    assert.equal(csv[1], 'loss,scatter,1,0.5,,0.01');
    assert.equal(csv[5], '"floor, ""log 4""",scatter,3,1.386,,');
    // z[i][j] sits at (x[j], y[i]): the last cell is z[1][2] = 6 at (c, 20).
    assert.equal(csv[6], 'grid,heatmap,a,10,1,');
    assert.equal(csv[11], 'grid,heatmap,c,20,6,');
  });

  test('a trace with only y gets plotly\'s implied x (x0 + i*dx)', () => {
    const rows = figureRows({ data: [{ type: 'bar', y: [4, 5, 6], x0: 10, dx: 5 }] });
    assert.deepEqual(rows.map((r) => [r.trace, r.x, r.y]), [['trace 0', 10, 4], ['trace 0', 15, 5], ['trace 0', 20, 6]]);
  });

  test('paperStyle: Okabe-Ito colorway, one font family at 8 pt, column widths, no modebar; data untouched', () => {
    const before = JSON.parse(JSON.stringify(SPEC));
    const p = paperStyle(SPEC, { column: 'single' });
    assert.deepEqual(SPEC, before, 'the input spec is not changed');
    assert.equal(p.data, SPEC.data, 'data is the same array');
    assert.deepEqual(p.data, before.data);
    const layout = p.layout as Record<string, any>;
    assert.deepEqual(layout.colorway, ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000']);
    assert.match(layout.font.family, /^Arial\b/);
    assert.equal(layout.font.size, 10.67, '8 pt at 96 px per inch is 8 * 96 / 72 = 10.67 px');
    assert.equal(layout.title.text, 'Hand-written spec 7');
    assert.equal(layout.title.font.family, layout.font.family, 'titles use the same family');
    assert.equal(layout.xaxis2.title, undefined);
    assert.equal(layout.xaxis.title.font.family, layout.font.family);
    assert.deepEqual(layout.xaxis.domain, [0, 0.45], 'the builder\'s axis settings stay');
    assert.equal(layout.width, 336, '3.5 in x 96');
    assert.equal(layout.height, Math.round(336 * 450 / 800), 'a figure without a size keeps the 800 x 450 aspect');
    assert.equal(((p as { config?: Record<string, unknown> }).config ?? {}).displayModeBar, false);
    assert.equal(columnWidthPx('double'), 687, '7.16 in x 96 = 687.36');
    assert.throws(() => paperStyle({ nope: 1 } as never), /expected a plotly figure/);
    assert.throws(() => columnWidthPx('triple' as never), /'single' or 'double'/);
  });

  test('runsFrom finds run ids and config hashes in results, records and rows', () => {
    const r = runsFrom([{ runId: 'RUN1', config: { model: { kind: 'lm' }, data: {}, train: { steps: 1 } } }, { id: 'RUN2', configHash: 'h2' }, { run_id: 'RUN3', config_hash: 'h3' }, 'RUN4']);
    assert.deepEqual(r.run_ids, ['RUN1', 'RUN2', 'RUN3', 'RUN4']);
    assert.equal(r.config_hashes.length, 3);
    assert.match(r.config_hashes[0]!, /^[0-9a-f]{64}$/);
    assert.deepEqual(r.config_hashes.slice(1), ['h2', 'h3']);
  });

  test('figure names and saved records are validated; a clash names both cells', () => {
    assert.equal(validateFigureName('loss_curve-2'), 'loss_curve-2');
    for (const bad of ['', 'a b', 'x/y', '../up', 'é', 'a.svg']) assert.throws(() => validateFigureName(bad), /not allowed: use 1-100 letters, digits, '-' and '_'/);
    assert.throws(() => savedFigureRecord(SPEC, 'ok', { formats: ['gif' as never] }), /saveFigure\('ok'\): unknown format "gif"/);
    assert.throws(() => savedFigureRecord({ data: 3 } as never, 'ok'), /expected a plotly figure/);
    const rec = savedFigureRecord(SPEC, 'f1', { runIds: ['R'], seed: 3, profile: 'smoke' });
    assert.deepEqual(rec.export, { style: 'paper' });
    assert.deepEqual([rec.provenance.run_ids, rec.provenance.seed, rec.provenance.profile], [['R'], 3, 'smoke']);
    const out = (name: string) => ({ output_type: 'display_data', metadata: {}, data: { 'application/vnd.plotly.v1+json': SPEC, [SAVED_FIGURE_MIME]: { name, export: {}, provenance: {} }, 'text/plain': 'fig' } });
    const nb = {
      cells: [
        { cell_type: 'markdown', source: 'x' },
        { cell_type: 'code', id: 'c-a', source: '', execution_count: 1, outputs: [out('loss')] },
        { cell_type: 'code', source: '', execution_count: 2, outputs: [out('other')] },
        { cell_type: 'code', source: '', execution_count: 3, outputs: [out('loss')] },
      ],
    };
    assert.throws(() => savedFigures(nb), (e: Error) => e instanceof FigureNameClashError
      && /figure name 'loss' is saved by cells\[1\] \(code cell 1, id c-a\) and by cells\[3\] \(code cell 3\)/.test(e.message));
    nb.cells.pop();
    assert.deepEqual(savedFigures(nb).map((f) => [f.name, f.cell.index]), [['loss', 1], ['other', 2]]);
  });

  test('no Chromium: the error names each place looked at', async () => {
    const empty = join(TMP, 'empty-bin');
    mkdirSync(empty, { recursive: true });
    const missing = join(TMP, 'no-such-chromium');
    const both = withEnv({ DYTLAB_CHROMIUM: missing, PATH: empty }, () => {
      try { findChromium(); } catch (e) { return e as Error; }
      return undefined;
    });
    assert.ok(both instanceof ChromiumNotFoundError, 'findChromium must throw');
    assert.ok(both.message.includes(`DYTLAB_CHROMIUM=${missing} (not an executable file)`), both.message);
    assert.ok(both.message.includes(`in ${empty}): none`), both.message);
    assert.match(both.message, /playwright-core's browser .*\(not installed\)|playwright-core's browser \(unknown/);
    assert.match(both.message, /apt-get install chromium/);
    const unset = withEnv({ DYTLAB_CHROMIUM: undefined, PATH: empty }, () => { try { findChromium(); } catch (e) { return e as Error; } return undefined; });
    assert.match(String(unset?.message), /DYTLAB_CHROMIUM \(not set\).*PATH/);
    // Through exportFigure: rejected before any file is written.
    process.env.DYTLAB_CHROMIUM = missing;
    try {
      await assert.rejects(exportFigure(SPEC, join(TMP, 'never', 'f')), /no Chromium to render figures: DYTLAB_CHROMIUM=.*no-such-chromium/);
    } finally {
      delete process.env.DYTLAB_CHROMIUM;
    }
    assert.equal(existsSync(join(TMP, 'never')), false);
  });
});

describe('exportFigure in headless Chromium', () => {
  test('SVG with its title as text, PNG at width x scale, vector PDF, CSV and provenance', { timeout: 120_000 }, async () => {
    const base = join(TMP, 'out', 'hand');
    const paths = await exportFigure(LINES, base, { width: 640, height: 400, scale: 2, provenance: { runs: [{ run_id: 'RUN-A', config_hash: 'HASH-A' }], seed: 7, profile: 'smoke', notebook: 'nb' } });
    assert.deepEqual([...paths], ['svg', 'png', 'pdf', 'csv', 'json'].map((k) => `${base}.${k}`));
    assert.equal(paths.svg, `${base}.svg`);
    const svg = readFileSync(`${base}.svg`, 'utf8');
    assert.match(svg, /^<svg[^>]*width="640"[^>]*height="400"/);
    assert.match(svg, /<text[^>]*>Hand-written spec 7<\/text>/, 'the title is a text element');
    assert.ok(!/<image\b/.test(svg), 'no raster image inside the SVG');
    assert.ok((svg.match(/<path\b/g) ?? []).length >= 3, 'lines and error bars are paths');
    assert.deepEqual(pngSize(`${base}.png`), { width: 1280, height: 800 });
    const pdf = readFileSync(`${base}.pdf`);
    assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
    const text = pdf.toString('latin1');
    // 640 x 400 CSS px at 96 per inch = 480 x 300 pt.
    const box = /\/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]/.exec(text);
    assert.ok(box, 'a MediaBox');
    assert.ok(Math.abs(Number(box[1]) - 480) < 1 && Math.abs(Number(box[2]) - 300) < 1, `page ${box[1]} x ${box[2]} pt`);
    assert.ok(!/\/Subtype\s*\/Image/.test(text), 'vector: no image XObject in the PDF');
    assert.match(text, /\/FontFile2|\/FontFile3|\/Type\s*\/Font/, 'text is drawn with fonts');
    assert.equal(readFileSync(`${base}.csv`, 'utf8').trimEnd().split('\n').length, 1 + LINE_POINTS);
    const prov = JSON.parse(readFileSync(`${base}.json`, 'utf8'));
    assert.deepEqual(Object.keys(prov).sort(), ['backend', 'cell', 'config_hashes', 'created', 'dytlab', 'figure', 'files', 'git_commit', 'height', 'notebook', 'plotly', 'profile', 'run_ids', 'saved', 'scale', 'seed', 'style', 'width'].sort());
    assert.equal(prov.figure, 'hand');
    assert.equal(prov.notebook, 'nb');
    assert.equal(prov.dytlab, VERSION);
    assert.equal(prov.plotly, PLOTLY);
    const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
    assert.equal(prov.git_commit, head || null);
    assert.deepEqual([prov.run_ids, prov.config_hashes, prov.seed, prov.profile], [['RUN-A'], ['HASH-A'], 7, 'smoke']);
    assert.deepEqual([prov.width, prov.height, prov.scale, prov.style], [640, 400, 2, 'none']);
    assert.deepEqual(prov.files, { svg: 'hand.svg', png: 'hand.png', pdf: 'hand.pdf', csv: 'hand.csv' });
    assert.ok(Math.abs(Date.parse(prov.created) - Date.now()) < 120_000);
  });

  test('a batch starts one Chromium; paper style at 300 dpi; a format subset', { timeout: 120_000 }, async () => {
    const launch = FigureExporter.launch;
    let launches = 0;
    FigureExporter.launch = (o) => { launches++; return launch.call(FigureExporter, o); };
    try {
      const dir = join(TMP, 'batch');
      const list = Array.from({ length: 4 }, (_, i) => ({ spec: SPEC, base: join(dir, `f${i}`), options: { formats: ['png' as const] } }));
      list.push({ spec: SPEC, base: join(dir, 'paper'), options: { formats: ['png', 'svg'], style: 'paper', column: 'single' } as never });
      const out = await exportFigures(list);
      assert.equal(launches, 1, 'one browser for the whole batch');
      assert.equal(out.length, 5);
      assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('f0')).sort(), ['f0.csv', 'f0.json', 'f0.png']);
      assert.deepEqual(pngSize(join(dir, 'f0.png')), { width: 1400, height: 900 }, 'plain: 700 x 450 at scale 2');
      // Single column: 336 px = 3.5 in; at 300 dpi, 1050 pixels.
      assert.equal(pngSize(join(dir, 'paper.png')).width, 1050);
      const svg = readFileSync(join(dir, 'paper.svg'), 'utf8');
      assert.match(svg, /font-family: ?Arial/);
      assert.match(svg, /fill: ?rgb\(0, 114, 178\)|stroke: ?rgb\(0, 114, 178\)/, 'the first Okabe-Ito colour (#0072B2) draws the first trace');
    } finally {
      FigureExporter.launch = launch;
    }
  });
});

// A tiny notebook that saves two figures, run by the built CLI.
function tinyNotebook(): unknown {
  const code = (source: string, tags?: string[]) => ({ cell_type: 'code', execution_count: null, metadata: tags ? { tags } : {}, outputs: [], source });
  return {
    nbformat: 4, nbformat_minor: 4,
    metadata: { kernelspec: { name: 'dytlab', display_name: 'TypeScript (dytlab)', language: 'typescript' } },
    cells: [
      { cell_type: 'markdown', metadata: {}, source: '# Tiny figures' },
      code("const profile: string = 'quick';\nconst seed: number = 5;", ['parameters']),
      code("import { initBackend, saveFigure, lineChart } from 'dytlab';\nawait initBackend();\nconst fig = lineChart({ title: 'Tiny line', series: [{ name: 's', x: [1, 2, 3], y: [3, 1, 2] }] });\nsaveFigure(fig, 'tiny-line', { runIds: ['RUN-T'] });"),
      code("saveFigure({ data: [{ type: 'bar', name: 'b', x: ['u', 'v'], y: [2, 4] }], layout: { title: { text: 'Tiny bars' } } }, 'tiny_bars', { style: 'none', formats: ['svg'] });"),
    ],
  };
}

describe('saveFigure through dytlab run and dytlab figures', () => {
  // Generous limits: a loaded machine; on an idle one the whole describe takes ~30 s.
  const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'dytlab.js'), ...args],
    { cwd: ROOT, encoding: 'utf8', timeout: 900_000, env: { ...process.env, DYTLAB_BACKEND: 'cpu' } });

  test('dytlab run writes figures/<notebook>/ and links them in the report; dytlab figures re-exports', { timeout: 1_800_000 }, () => {
    const nbPath = join(TMP, 'tiny-figs.ipynb');
    writeFileSync(nbPath, JSON.stringify(tinyNotebook()));
    const out = join(TMP, 'run-out');
    const r = cli(['run', nbPath, '-p', 'profile="smoke"', '--out', out]);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /2 figures \(tiny-line, tiny_bars\) ->/);
    const dir = join(out, 'figures', 'tiny-figs');
    assert.deepEqual(readdirSync(dir).sort(), ['tiny-line.csv', 'tiny-line.json', 'tiny-line.pdf', 'tiny-line.png', 'tiny-line.svg', 'tiny_bars.csv', 'tiny_bars.json', 'tiny_bars.svg']);
    assert.match(readFileSync(join(dir, 'tiny-line.svg'), 'utf8'), />Tiny line<\/text>/);
    assert.equal(pngSize(join(dir, 'tiny-line.png')).width, Math.floor(687 * 300 / 96), 'paper, double column: 687 px at 300 dpi (the canvas drops the fraction)');
    const prov = JSON.parse(readFileSync(join(dir, 'tiny-line.json'), 'utf8'));
    assert.equal(prov.notebook, 'tiny-figs');
    assert.deepEqual(prov.cell, { index: 3, code_cell: 3, id: null, execution_count: 3 }, 'after the injected parameters cell');
    assert.deepEqual([prov.run_ids, prov.seed, prov.profile, prov.style], [['RUN-T'], 5, 'smoke', 'paper']);
    assert.match(String(prov.backend), /^cpu/);
    assert.equal(readFileSync(join(dir, 'tiny_bars.csv'), 'utf8'), 'trace,type,x,y\nb,bar,u,2\nb,bar,v,4\n');
    const html = readFileSync(join(out, 'tiny-figs.html'), 'utf8');
    assert.match(html, /Figure <code>tiny-line<\/code>: <a href="figures\/tiny-figs\/tiny-line.svg">SVG<\/a>/);
    assert.match(html, /<a href="figures\/tiny-figs\/tiny_bars.svg">SVG<\/a> \u00b7 <a href="figures\/tiny-figs\/tiny_bars.csv">/);
    const executed = JSON.parse(readFileSync(join(out, 'tiny-figs.ipynb'), 'utf8'));
    assert.deepEqual(executed.metadata.dytlab.figures, ['tiny-line', 'tiny_bars']);

    // From the executed notebook, without running it: the default place, then --flat --only.
    rmSync(join(out, 'figures'), { recursive: true });
    const f = cli(['figures', join(out, 'tiny-figs.ipynb'), '--formats', 'svg,png']);
    assert.equal(f.status, 0, f.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ['tiny-line.csv', 'tiny-line.json', 'tiny-line.png', 'tiny-line.svg', 'tiny_bars.csv', 'tiny_bars.json', 'tiny_bars.png', 'tiny_bars.svg']);
    const docs = join(TMP, 'docs');
    const g = cli(['figures', join(out, 'tiny-figs.ipynb'), '--flat', '--out', docs, '--only', 'tiny_bars']);
    assert.equal(g.status, 0, g.stderr);
    assert.deepEqual(readdirSync(docs).sort(), ['tiny_bars.csv', 'tiny_bars.json', 'tiny_bars.svg']);
    const bad = cli(['figures', join(out, 'tiny-figs.ipynb'), '--only', 'nope']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /no notebook saves 'nope' \(saved: tiny-line in .*, tiny_bars in /);
  });

  test('dytlab figures: a name clash in an executed notebook is an error naming both cells', { timeout: 900_000 }, () => {
    const nb = tinyNotebook() as { cells: Record<string, unknown>[] };
    const out = { output_type: 'display_data', metadata: {}, data: { 'application/vnd.plotly.v1+json': SPEC, [SAVED_FIGURE_MIME]: { name: 'same', export: {}, provenance: {} }, 'text/plain': 'f' } };
    nb.cells[2]!.outputs = [out];
    nb.cells[3]!.outputs = [out];
    const p = join(TMP, 'clash.ipynb');
    writeFileSync(p, JSON.stringify(nb));
    const r = cli(['figures', p]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /figure name 'same' is saved by cells\[2\] \(code cell 2\) and by cells\[3\] \(code cell 3\)/);
  });
});
