// The README's figures (issue 17, part 4): scripts/readme-figures.json lists,
// per notebook, the profile it runs on and the figures kept in docs/figures/.
// Checked here against the notebooks (a saveFigure call makes each name), the
// committed files (PNG and SVG, their provenance naming that notebook and that
// profile), the README (each figure shown, with its notebook and profile beside
// it, and the command that made them) and the script itself (--dry-run).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const ROOT = join(__dirname, '..');
interface Entry { notebook: string; profile: string; figures: string[] }
const manifest = JSON.parse(readFileSync(join(ROOT, 'scripts/readme-figures.json'), 'utf8')) as { out: string; formats: string[]; notebooks: Entry[] };
const OUT = join(ROOT, manifest.out);
const stem = (e: Entry) => basename(e.notebook).replace(/\.ipynb$/, '');
const codeOf = (nb: string) => (JSON.parse(readFileSync(join(ROOT, nb), 'utf8')) as { cells: { cell_type: string; source: string | string[] }[] })
  .cells.filter((c) => c.cell_type === 'code').map((c) => [c.source].flat().join('')).join('\n');

/** The top-level arguments of every call `fn(...)` in `src` (strings, template literals and brackets respected). */
function callArguments(src: string, fn: string): string[][] {
  const calls: string[][] = [];
  for (let at = src.indexOf(`${fn}(`); at !== -1; at = src.indexOf(`${fn}(`, at + 1)) {
    if (at > 0 && /[\w$.]/.test(src[at - 1]!)) continue;
    const args: string[] = [];
    let depth = 0, start = at + fn.length + 1, i = start;
    const stack: string[] = [];
    for (; i < src.length; i++) {
      const ch = src[i]!;
      const inTemplate = stack.at(-1) === '`';
      if (inTemplate) {
        if (ch === '\\') i++;
        else if (ch === '`') stack.pop();
        else if (ch === '$' && src[i + 1] === '{') { stack.push('${'); i++; }
        continue;
      }
      if (ch === "'" || ch === '"') {
        for (i++; i < src.length && src[i] !== ch; i++) if (src[i] === '\\') i++;
      } else if (ch === '`') stack.push('`');
      else if (ch === '(' || ch === '[' || ch === '{') { stack.push(ch); depth++; }
      else if (ch === '}' && stack.at(-1) === '${') stack.pop();
      else if (ch === ')' || ch === ']' || ch === '}') {
        if (depth === 0) break;
        stack.pop(); depth--;
      } else if (ch === ',' && depth === 0) { args.push(src.slice(start, i).trim()); start = i + 1; }
    }
    args.push(src.slice(start, i).trim());
    calls.push(args.filter((a) => a !== ''));
  }
  return calls;
}

/** The names a saveFigure name argument can take: a string literal, or a template literal whose ${...} parts are any name characters. */
function namePattern(arg: string): RegExp | undefined {
  const lit = /^(['"])([A-Za-z0-9_-]+)\1$/.exec(arg);
  if (lit) return new RegExp(`^${lit[2]}$`);
  const tpl = /^`([^`]*)`$/.exec(arg);
  if (!tpl) return undefined;
  const parts = tpl[1]!.split(/\$\{[^}]*(?:\{[^}]*\}[^}]*)*\}/);
  return new RegExp(`^${parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[A-Za-z0-9_-]+')}$`);
}

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

describe('the README figures', () => {
  test('the call scanner splits top-level arguments (so the checks below can fail)', () => {
    const src = "saveFigure(f({ a: [1, 2] }, 'x, y'), `n-${a ? b.c : 'd'}`, { runs: r });\nx.saveFigure(no, 'no'); saveFigure(g(), 'plain')";
    assert.deepEqual(callArguments(src, 'saveFigure').map((a) => a[1]), ["`n-${a ? b.c : 'd'}`", "'plain'"]);
    const p = namePattern("`n-${a ? b.c : 'd'}`")!;
    assert.ok(p.test('n-vit') && !p.test('m-vit') && !p.test('n-'), String(p));
    assert.equal(namePattern("'plain'")!.test('plain'), true);
  });

  test('the list names notebooks, profiles and unique figure names', () => {
    assert.ok(manifest.notebooks.length >= 4);
    const names = manifest.notebooks.flatMap((e) => e.figures);
    assert.equal(new Set(names).size, names.length, `duplicate names: ${names.join(', ')}`);
    for (const e of manifest.notebooks) {
      assert.ok(existsSync(join(ROOT, e.notebook)), e.notebook);
      assert.ok(['quick', 'study', 'full', 'smoke'].includes(e.profile), `${e.notebook}: profile ${e.profile}`);
      assert.notEqual(e.profile, 'smoke', `${e.notebook}: smoke numbers are meaningless, not for the README`);
      assert.ok(e.figures.length > 0, e.notebook);
    }
  });

  test('every listed figure is saved by a saveFigure call in its notebook', () => {
    for (const e of manifest.notebooks) {
      const patterns = callArguments(codeOf(e.notebook), 'saveFigure').map((a) => (a[1] ? namePattern(a[1]) : undefined));
      assert.ok(patterns.length > 0, `${e.notebook}: no saveFigure call`);
      assert.ok(patterns.every(Boolean), `${e.notebook}: a saveFigure name that is neither a string nor a template literal`);
      for (const n of e.figures) assert.ok(patterns.some((p) => p!.test(n)), `${e.notebook} saves no figure named '${n}' (patterns: ${patterns.join(', ')})`);
    }
  });

  test('docs/figures holds each figure as PNG and SVG with its data and provenance, and nothing else', () => {
    for (const e of manifest.notebooks) {
      for (const n of e.figures) {
        const f = (ext: string) => join(OUT, `${n}.${ext}`);
        for (const ext of [...manifest.formats, 'csv', 'json']) assert.ok(existsSync(f(ext)), `${manifest.out}/${n}.${ext} is missing: run npm run figures`);
        assert.deepEqual([...readFileSync(f('png')).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${n}.png is a PNG`);
        assert.match(readFileSync(f('svg'), 'utf8').slice(0, 400), /<svg/, `${n}.svg is an SVG`);
        const prov = JSON.parse(readFileSync(f('json'), 'utf8')) as Record<string, unknown>;
        assert.equal(prov.figure, n);
        assert.equal(prov.notebook, stem(e), `${n}: made by ${String(prov.notebook)}, listed under ${stem(e)}`);
        assert.equal(prov.profile, e.profile, `${n}: made on profile ${String(prov.profile)}, the list (and the README) say ${e.profile}`);
        assert.equal(prov.style, 'paper', `${n}: the paper style`);
      }
    }
    const listed = new Set(manifest.notebooks.flatMap((e) => e.figures));
    const stray = readdirSync(OUT).filter((f) => /\.(png|svg|pdf|csv|json)$/.test(f) && !listed.has(f.replace(/\.[a-z]+$/, '')));
    assert.deepEqual(stray, [], `files in ${manifest.out} of figures not in scripts/readme-figures.json`);
  });

  test('the README shows each figure with its notebook, its profile and the command that made it', () => {
    const at = readme.indexOf('\n## Figures\n');
    assert.ok(at >= 0, 'README.md has a "## Figures" section');
    const section = readme.slice(at + 1).split(/\n## /)[0]!;
    assert.match(section, /npm run figures/);
    // One block per "### " heading: each figure shown in a block that names its notebook and profile.
    const blocks = section.split(/\n### /);
    for (const e of manifest.notebooks) {
      for (const n of e.figures) {
        const block = blocks.find((b) => b.includes(`](docs/figures/${n}.png)`) || b.includes(`src="docs/figures/${n}.png"`));
        assert.ok(block, `README's Figures section shows docs/figures/${n}.png`);
        assert.ok(block.includes(basename(e.notebook, '.ipynb')), `${n}: the notebook ${e.notebook} is named next to it`);
        assert.ok(block.includes(`profile=${e.profile}`) || block.includes(`profile \`${e.profile}\``), `${n}: the profile ${e.profile} is named next to it`);
        assert.ok(block.includes(`docs/figures/${n}.svg`), `${n}: the SVG is linked`);
      }
    }
  });

  test('npm run figures runs each profile\'s notebooks, then exports exactly the listed figures', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.figures, 'node scripts/figures.mjs');
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/figures.mjs'), '--dry-run'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('$ '));
    for (const profile of new Set(manifest.notebooks.map((e) => e.profile))) {
      const run = lines.find((l) => l.includes(' dytlab run ') && l.includes(`-p profile=${profile} `));
      assert.ok(run, `a dytlab run line for profile ${profile}:\n${r.stdout}`);
      for (const e of manifest.notebooks) assert.equal(run.includes(e.notebook), e.profile === profile, `${e.notebook} in the ${profile} run`);
    }
    const fig = lines.find((l) => l.includes('dytlab figures '));
    assert.ok(fig && / --flat --out docs\/figures /.test(fig), fig);
    assert.deepEqual([...fig.matchAll(/--only (\S+)/g)].map((m) => m[1]), manifest.notebooks.flatMap((e) => e.figures));
    const bad = spawnSync(process.execPath, [join(ROOT, 'scripts/figures.mjs'), '--profile', 'smoke'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.status, 2, 'an unknown option is misuse');
  });
});
