// The committed study (data/study/runs.csv, exported by `dytlab study export`)
// checked as a reviewer would, with code written apart from src/study: both
// model families, every variant the issue names, statuses from the three
// allowed, and at each (study, model, variant) the learning rate with the best
// mean validation metric (a plain mean over the runs that logged one) enclosed
// by tried values on both sides, with at least 3 seeds there.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const CSV = join(__dirname, '..', 'data', 'study', 'runs.csv');
const REQUIRED = ['layernorm', 'rmsnorm', 'dyt-tanh', 'dyt-hardtanh', 'dyt-sigmoid', 'dyt-identity', 'dyt-softsign', 'dyt-erf', 'dyt-isru',
  'dyisru', 'rezero', 'skipinit', 'fixup', 'sigma-reparam', 'post-ln'];

/** A plain CSV reader for this file's shape (no quoted commas: the labels have none; asserted). */
function readCsv(path: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = head!.split(',');
  return lines.map((l, i) => {
    const cells = l.split(',');
    assert.equal(cells.length, cols.length, `line ${i + 2}: ${cells.length} cells for ${cols.length} columns`);
    return Object.fromEntries(cols.map((c, j) => [c, cells[j]!.replace(/^"|"$/g, '')]));
  });
}

describe('data/study/runs.csv', () => {
  test('is committed', () => assert.ok(existsSync(CSV), `${CSV} is missing: run \`dytlab study run\` and \`dytlab study export\``));
  const rows = existsSync(CSV) ? readCsv(CSV) : [];

  test('both model families, every variant in both, statuses ok / diverged / stalled only', () => {
    assert.deepEqual([...new Set(rows.map((r) => r.model))].sort(), ['lm', 'vit']);
    for (const m of ['lm', 'vit']) {
      const have = new Set(rows.filter((r) => r.model === m).map((r) => r.variant));
      assert.deepEqual(REQUIRED.filter((v) => !have.has(v)), [], `${m}: variants missing`);
    }
    assert.deepEqual([...new Set(rows.map((r) => r.status))].filter((s) => !['ok', 'diverged', 'stalled'].includes(s)), []);
    for (const c of ['study', 'model', 'variant', 'seed', 'lr', 'alpha0', 'steps', 'status', 'metric', 'val_metric', 'test_metric']) {
      assert.ok(c in rows[0]!, `column ${c}`);
    }
  });

  test('the best mean validation lr of every (study, model, variant) has a tried lr on both sides and >= 3 seeds', () => {
    const groups = new Map<string, Record<string, string>[]>();
    for (const r of rows) groups.set(`${r.study} / ${r.model} / ${r.variant}`, [...(groups.get(`${r.study} / ${r.model} / ${r.variant}`) ?? []), r]);
    const bad: string[] = [];
    for (const [g, rs] of groups) {
      const higher = rs[0]!.metric === 'val_accuracy';
      const lrs = [...new Set(rs.map((r) => Number(r.lr)))].sort((a, b) => a - b);
      const means = lrs.map((lr) => {
        const v = rs.filter((r) => Number(r.lr) === lr && r.val_metric !== '').map((r) => Number(r.val_metric)).filter(Number.isFinite);
        return v.length ? v.reduce((s, x) => s + x, 0) / v.length : NaN;
      });
      let best = -1;
      means.forEach((m, i) => { if (Number.isFinite(m) && (best < 0 || (higher ? m > means[best]! : m < means[best]!))) best = i; });
      if (best < 0) { bad.push(`${g}: no lr with a validation metric`); continue; }
      if (best === 0 || best === lrs.length - 1) bad.push(`${g}: best lr ${lrs[best]} is at the edge of ${lrs.join(', ')}`);
      const seeds = new Set(rs.filter((r) => Number(r.lr) === lrs[best]).map((r) => r.seed)).size;
      if (seeds < 3) bad.push(`${g}: ${seeds} seeds at lr ${lrs[best]}`);
    }
    assert.deepEqual(bad, []);
  });
});
