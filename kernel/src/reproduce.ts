// `dytlab reproduce`: every notebook in notebooks/ into reports/ (executed
// notebooks and HTML), N at a time, each in its own worker process (a notebook's
// tfjs state and module cache stay its own; see run-notebooks.ts), with the
// figures each saved in reports/figures/<notebook>/, then reports/index.html.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { renderIndexHtml, VERSION } from 'dytlab';
import { describeFailure, describeFigures, planNotebooks, runIsolated, type IsolatedResult } from './run-notebooks.js';

export interface ReproduceOptions {
  profile: 'quick' | 'full' | 'study'; jobs: number; notebooksDir: string; outDir: string;
  /** Unused: notebooks run in workers of this process (kept for callers that pass it). */
  cliPath?: string;
  timeoutSec?: number;
}

interface Entry { title: string; notebook: string; html: string; status: string; durationSec: number; firstFigure?: unknown }

export async function reproduce(o: ReproduceOptions): Promise<{ entries: Entry[]; index: string; ok: boolean }> {
  if (!existsSync(o.notebooksDir)) throw new Error(`reproduce: no notebooks folder at ${o.notebooksDir}`);
  const notebooks = readdirSync(o.notebooksDir).filter((f) => f.endsWith('.ipynb') && !f.startsWith('.')).sort().map((f) => join(o.notebooksDir, f));
  if (!notebooks.length) throw new Error(`reproduce: no .ipynb files in ${o.notebooksDir}`);
  // Every notebook read, parameterized and placed before any runs (a bad one stops nothing half-way).
  const plans = planNotebooks({ notebooks, params: [`profile=${JSON.stringify(o.profile)}`], outDir: o.outDir });
  console.error(`reproduce (${o.profile}): ${notebooks.length} notebook(s), ${o.jobs} at a time, into ${o.outDir}`);
  const queue = [...plans];
  const results = new Map<string, IsolatedResult>();
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, async () => {
    for (let plan = queue.shift(); plan; plan = queue.shift()) {
      const r = await runIsolated(plan, { allowErrors: false, progress: 'none', ...(o.timeoutSec ? { timeoutSec: o.timeoutSec } : {}) });
      results.set(plan.path, r);
      console.error(`[${results.size}/${notebooks.length}] ${basename(plan.path)}: ${r.status === 'ok' ? 'ok' : 'FAILED'} in ${r.durationSec.toFixed(1)} s`);
      if (r.failure) console.error(`  ${describeFailure(r).replace(/\n/g, '\n  ')}`);
      const figs = describeFigures(r);
      if (figs) console.error(`  ${r.figures.error ? 'error: ' : ''}${figs}`);
    }
  }));
  const entries: Entry[] = plans.map((plan) => {
    const r = results.get(plan.path)!;
    let title = plan.title;
    const h = plan.nb.cells.find((c) => c.cell_type === 'markdown');
    const m = h && /^#\s+(.+)$/m.exec([h.source].flat().join(''));
    if (m) title = m[1]!;
    return { title, notebook: basename(plan.path), html: relative(o.outDir, r.outHtml), status: r.status, durationSec: r.durationSec, ...(r.firstFigure ? { firstFigure: r.firstFigure } : {}) };
  });
  const index = join(o.outDir, 'index.html');
  writeFileSync(index, renderIndexHtml(entries as never, { dytlab: VERSION, profile: o.profile, generated: new Date().toISOString() }));
  return { entries, index: resolve(index), ok: entries.every((e) => e.status === 'ok') && [...results.values()].every((r) => !r.figures.error) };
}
