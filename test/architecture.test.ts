// The map cannot drift: every import of every source file is checked against
// the layer table in ARCHITECTURE.md (parsed from its ```layers block), with
// TypeScript's own import scanner; kernel/ imports the library only as
// 'dytlab'; bench/ never imports test/; no hand-written file is over 600 lines.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import ts from 'typescript';

const ROOT = join(__dirname, '..');

function files(dir: string, ext = /\.(ts|mjs|js)$/): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'generated' || name === 'dist') continue;
    if (statSync(p).isDirectory()) out.push(...files(p, ext));
    else if (ext.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const readText = (file: string): string => readFileSync(file, 'utf8');

/** Module specifiers a file imports (static, re-exports, dynamic import(), require()). */
function importsOf(file: string, read = readText): string[] {
  return ts.preProcessFile(read(file), true, true).importedFiles.map((f) => f.fileName);
}

/** The layer table: folder -> rank (line number in the ```layers block). */
function layerRanks(markdown: string): Map<string, number> {
  const block = /```layers\n([\s\S]*?)```/.exec(markdown);
  if (!block) throw new Error('ARCHITECTURE.md has no ```layers block');
  const ranks = new Map<string, number>();
  block[1]!.trim().split('\n').forEach((line, rank) => {
    for (const name of line.trim().split(/\s+/)) ranks.set(name, rank);
  });
  return ranks;
}

/** The layer of a file under src/: its top folder, or its name for root files (cli.ts -> cli). */
function layerOf(file: string): string {
  const rel = relative(join(ROOT, 'src'), file).split(sep);
  return rel.length > 1 ? rel[0]! : rel[0]!.replace(/\.(ts|js)$/, '');
}

/** Every import of src/ that goes against the table, as "file -> target (layer a imports layer b)". */
function violations(ranks: Map<string, number>, sources: string[], read = readText): string[] {
  const out: string[] = [];
  for (const file of sources) {
    const from = layerOf(file), rf = ranks.get(from);
    if (rf === undefined) { out.push(`${relative(ROOT, file)}: layer '${from}' is not in ARCHITECTURE.md's table`); continue; }
    for (const spec of importsOf(file, read)) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(join(ROOT, 'src') + sep)) {
        out.push(`${relative(ROOT, file)} -> ${spec}: leaves src/`);
        continue;
      }
      const to = layerOf(target), rt = ranks.get(to);
      if (to === from) continue;
      if (rt === undefined || rt >= rf) out.push(`${relative(ROOT, file)} -> ${spec} (${from} imports ${to}, which is ${rt === undefined ? 'not in the table' : rt === rf ? 'beside it' : 'above it'})`);
    }
  }
  return out;
}

describe('architecture', () => {
  const doc = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');
  const ranks = layerRanks(doc);

  test('every folder of src/ is in the layer table, and the table names only folders that exist', () => {
    const layers = new Set(files(join(ROOT, 'src')).map(layerOf));
    assert.deepEqual([...layers].filter((l) => !ranks.has(l)), []);
    assert.deepEqual([...ranks.keys()].filter((l) => !layers.has(l)), []);
  });

  test('imports of src/ follow the layer table', () => {
    assert.deepEqual(violations(ranks, files(join(ROOT, 'src'))), []);
  });

  test('the check catches a reversed import', () => {
    // A probe file in engine/ importing nn/ (a layer above) and cli.ts: both are reported; a lawful import is not.
    const probe = join(ROOT, 'src', 'engine', '__probe__.ts');
    const text = "import { Module } from '../nn/module.js';\nimport { main } from '../cli.js';\nimport { erf } from '../util/erf.js';\n";
    const found = violations(ranks, [probe], (f) => (f === probe ? text : readText(f)));
    assert.equal(found.length, 2, found.join('\n'));
    assert.match(found[0]!, /engine imports nn, which is above it/);
    assert.match(found[1]!, /engine imports cli, which is above it/);
  });

  test("kernel/ imports the library only as 'dytlab' and stays inside kernel/src", () => {
    const bad: string[] = [];
    for (const file of files(join(ROOT, 'kernel', 'src'))) {
      for (const spec of importsOf(file)) {
        if (spec.startsWith('.') && !resolve(dirname(file), spec).startsWith(join(ROOT, 'kernel', 'src'))) bad.push(`${relative(ROOT, file)} -> ${spec}`);
        if (/^dytlab\//.test(spec) && spec !== 'dytlab/package.json') bad.push(`${relative(ROOT, file)} -> ${spec} (use the package root)`);
      }
    }
    assert.deepEqual(bad, []);
  });

  test('bench/ never imports test/', () => {
    const bad = files(join(ROOT, 'bench')).flatMap((file) => importsOf(file)
      .filter((spec) => spec.startsWith('.') && resolve(dirname(file), spec).startsWith(join(ROOT, 'test') + sep))
      .map((spec) => `${relative(ROOT, file)} -> ${spec}`));
    assert.deepEqual(bad, []);
  });

  test('no hand-written source file is over 600 lines', () => {
    const long = ['src', 'kernel/src', 'bench', 'scripts', 'test'].flatMap((d) => files(join(ROOT, d)))
      .map((f) => ({ f: relative(ROOT, f), n: readFileSync(f, 'utf8').trimEnd().split('\n').length }))
      .filter((x) => x.n > 600).map((x) => `${x.f}: ${x.n} lines`);
    assert.deepEqual(long, []);
  });
});
