// What a notebook may hold (issue 15): its question, parameters, calls and the
// reading of results; helpers live in the library. So: no code cell over 40
// lines, no function (or arrow function bound to a name) defined in two
// notebooks, and every research notebook shows a "what was trained" table
// (the library's trainedTable / trainedTableFromRows / trainedEntry, or the
// `trained` table experimentRows returns) before its results.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = join(__dirname, '..', 'notebooks');
const notebooks = readdirSync(DIR).filter((f) => /^\d\d-.*\.ipynb$/.test(f)).sort();
const code = (f: string) => (JSON.parse(readFileSync(join(DIR, f), 'utf8')) as { cells: { cell_type: string; source: string | string[] }[] })
  .cells.filter((c) => c.cell_type === 'code').map((c) => [c.source].flat().join(''));
const DEF = /(?:^|[^.\w])function\s+([A-Za-z_$][\w$]*)|(?:const|let)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:\([^)]*\)|[A-Za-z_$][\w$]*)\s*(?::\s*[^=]+)?=>/g;

describe('notebooks hold calls, not helpers', () => {
  test('there are notebooks to check', () => assert.ok(notebooks.length >= 10, notebooks.join(', ')));

  test('no code cell over 40 lines', () => {
    const long = notebooks.flatMap((f) => code(f).map((s, i) => [f, i, s.split('\n').length] as const).filter(([, , n]) => n > 40));
    assert.deepEqual(long.map(([f, i, n]) => `${f} code cell ${i}: ${n} lines`), []);
  });

  test('no function is defined in two notebooks', () => {
    const where = new Map<string, Set<string>>();
    for (const f of notebooks) {
      for (const s of code(f)) for (const m of s.matchAll(DEF)) {
        const name = m[1] ?? m[2]!;
        where.set(name, (where.get(name) ?? new Set()).add(f));
      }
    }
    const twice = [...where].filter(([, fs]) => fs.size > 1).map(([n, fs]) => `${n}: ${[...fs].join(', ')}`);
    assert.deepEqual(twice, []);
  });

  test('the detector sees a definition (so the check above can fail)', () => {
    const s = 'function foo(a) {}\nconst bar = (x: number): number => x;\nconst baz = async (y) => y;\nobj.method(function () {});';
    assert.deepEqual([...s.matchAll(DEF)].map((m) => m[1] ?? m[2]), ['foo', 'bar', 'baz']);
  });

  test('research notebooks 01-08, 10 and 11 open with a "what was trained" table', () => {
    const missing = notebooks.filter((f) => !/^0[09]-/.test(f)).filter((f) => !code(f).some((s) => /trainedTable(FromRows)?\(|trainedEntry\(|\.trained\b/.test(s)));
    assert.deepEqual(missing, []);
  });
});
