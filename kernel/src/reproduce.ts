// `dytlab reproduce`: every notebook in notebooks/ into reports/ (executed
// notebooks and HTML), each in its own worker process (a notebook's tfjs state
// and module cache stay its own; see run-notebooks.ts), with the figures each
// saved in reports/figures/<notebook>/, then reports/index.html.
//
// Notebooks run side by side, one per core by default (--jobs), each on its share
// of the cores (wasm threads set to it; a notebook with a `jobs` parameter, i.e.
// sweep workers, gets that many single-threaded workers). The folder's
// schedule.json (schedule.ts) says which notebooks wait for others (they reuse
// runs those train: the run store would make them wait anyway, holding a core),
// which run alone (they time things), and how long each takes, so the longest
// start first. Runs shared between notebooks are trained once: the store keys
// runs by config hash, and a notebook asking for a run another is training
// waits for it (experiments/ensure.ts). A status line every 30 s says what runs.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { renderIndexHtml, VERSION } from 'dytlab';
import { declaredParameters } from './params.js';
import { prepareNotebook } from './runner.js';
import { describeFailure, describeFigures, planNotebooks, runIsolated, type IsolatedResult, type NotebookPlan } from './run-notebooks.js';
import { coresFor, nextNotebook, priorities, readSchedule, workerEnvFor } from './schedule.js';

export interface ReproduceOptions {
  profile: 'quick' | 'full' | 'study'; notebooksDir: string; outDir: string;
  /** Notebooks at a time (default 0: one per core). */
  jobs?: number;
  /** Unused: notebooks run in workers of this process (kept for callers that pass it). */
  cliPath?: string;
  timeoutSec?: number;
  /** Seconds between status lines (default 30; 0: none). */
  statusEverySec?: number;
  /** Cores to share (default: os.availableParallelism()). */
  cores?: number;
}

interface Entry { title: string; notebook: string; html: string; status: string; durationSec: number; firstFigure?: unknown }

const tagsOf = (c: { metadata?: Record<string, unknown> }) => ((c.metadata?.tags as string[] | undefined) ?? []);
const stem = (p: string) => basename(p).replace(/\.ipynb$/i, '');
const clock = (sec: number) => `${Math.floor(sec / 60)}:${String(Math.floor(sec % 60)).padStart(2, '0')}`;

/** Whether a notebook declares a `jobs` parameter (its sweep workers). */
function declaresJobs(plan: NotebookPlan): boolean {
  const cell = plan.nb.cells.find((c) => tagsOf(c).includes('parameters'));
  return !!cell && declaredParameters([cell.source].flat().join('')).has('jobs');
}

export async function reproduce(o: ReproduceOptions): Promise<{ entries: Entry[]; index: string; ok: boolean; wallSec: number }> {
  if (!existsSync(o.notebooksDir)) throw new Error(`reproduce: no notebooks folder at ${o.notebooksDir}`);
  const notebooks = readdirSync(o.notebooksDir).filter((f) => f.endsWith('.ipynb') && !f.startsWith('.')).sort().map((f) => join(o.notebooksDir, f));
  if (!notebooks.length) throw new Error(`reproduce: no .ipynb files in ${o.notebooksDir}`);
  const sched = readSchedule(o.notebooksDir);
  // Every notebook read, parameterized and placed before any runs (a bad one stops nothing half-way).
  const plans = planNotebooks({ notebooks, params: [`profile=${JSON.stringify(o.profile)}`], outDir: o.outDir });
  const cores = Math.max(1, o.cores ?? availableParallelism());
  const slots = Math.max(1, Math.min(o.jobs && o.jobs > 0 ? o.jobs : cores, plans.length));
  const byName = new Map(plans.map((p) => [stem(p.path), p]));
  const sweeps = new Set<string>();
  for (const [name, plan] of byName) {
    if (!declaresJobs(plan)) continue;
    sweeps.add(name);
    const n = coresFor(name, sched, cores, slots);
    const prepared = prepareNotebook(plan.path, plan.nb, { ...plan.params, jobs: n }, (l) => console.error(l));
    Object.assign(plan, { nb: prepared.nb, params: prepared.params, warnings: [...plan.warnings, ...prepared.warnings] });
  }
  const prio = priorities([...byName.keys()], sched, o.profile);
  const share = slots === 1 ? 'one at a time' : `${slots} at a time on ${cores} core${cores === 1 ? '' : 's'}`;
  console.error(`reproduce (${o.profile}): ${notebooks.length} notebook(s), ${share}, into ${o.outDir}` +
    (sched.alone.length || Object.keys(sched.after).length ? ` (schedule: ${join(relative(process.cwd(), o.notebooksDir) || '.', 'schedule.json')})` : ''));

  const t0 = Date.now();
  const elapsed = () => (Date.now() - t0) / 1000;
  const pending = [...byName.keys()];
  const running = new Map<string, { since: number; cell: string; progress?: string; cores: number }>();
  const ended = new Set<string>();
  const results = new Map<string, IsolatedResult>();
  const statusEvery = o.statusEverySec ?? 30;
  const status = statusEvery > 0 ? setInterval(() => {
    const now = Date.now();
    const parts = [...running].map(([n, r]) => `${n} ${clock((now - r.since) / 1000)} ${r.cell}${r.progress ? `: ${r.progress}` : ''}`);
    console.error(`[${clock(elapsed())}] ${ended.size}/${plans.length} done; running: ${parts.join('; ') || 'none'}${pending.length ? `; waiting: ${pending.length}` : ''}`);
  }, statusEvery * 1000) : undefined;
  status?.unref();

  const start = (name: string): Promise<void> => {
    pending.splice(pending.indexOf(name), 1);
    const plan = byName.get(name)!;
    const n = coresFor(name, sched, cores, slots);
    const env = workerEnvFor(process.env, n, cores, sweeps.has(name));
    const r: { since: number; cell: string; progress?: string; cores: number } = { since: Date.now(), cell: 'starting', cores: n };
    running.set(name, r);
    console.error(`[${clock(elapsed())}] start ${name} (${sched.alone.includes(name) ? 'alone, ' : ''}${n} core${n === 1 ? '' : 's'}` +
      `${sweeps.has(name) ? `, ${n} sweep worker${n === 1 ? '' : 's'}` : ''}${env.DYTLAB_WASM_THREADS !== undefined ? `, DYTLAB_WASM_THREADS=${env.DYTLAB_WASM_THREADS}` : ''})`);
    return runIsolated(plan, {
      allowErrors: false, progress: 'none', env, ...(o.timeoutSec ? { timeoutSec: o.timeoutSec } : {}),
      onMessage: (m) => {
        if (m.t === 'start') { r.cell = `cell ${m.n}/${m.total}`; delete r.progress; }
        else if (m.t === 'progress') r.progress = m.text;
      },
    }).then((res) => {
      running.delete(name);
      ended.add(name);
      results.set(name, res);
      console.error(`[${clock(elapsed())}] ${ended.size}/${plans.length} ${name}: ${res.status === 'ok' ? 'ok' : 'FAILED'} in ${res.durationSec.toFixed(1)} s`);
      if (res.failure) console.error(`  ${describeFailure(res).replace(/\n/g, '\n  ')}`);
      const figs = describeFigures(res);
      if (figs) console.error(`  ${res.figures.error ? 'error: ' : ''}${figs}`);
    });
  };

  try {
    const inFlight = new Set<Promise<void>>();
    for (;;) {
      for (let next = nextNotebook({ pending, running: [...running.keys()], ended }, sched, prio, slots); next; next = nextNotebook({ pending, running: [...running.keys()], ended }, sched, prio, slots)) {
        const p: Promise<void> = start(next).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      if (!inFlight.size) break;
      await Promise.race(inFlight);
    }
  } finally {
    if (status) clearInterval(status);
  }
  const wallSec = elapsed();

  const entries: Entry[] = plans.map((plan) => {
    const r = results.get(stem(plan.path))!;
    let title = plan.title;
    const h = plan.nb.cells.find((c) => c.cell_type === 'markdown');
    const m = h && /^#\s+(.+)$/m.exec([h.source].flat().join(''));
    if (m) title = m[1]!;
    return { title, notebook: basename(plan.path), html: relative(o.outDir, r.outHtml), status: r.status, durationSec: r.durationSec, ...(r.firstFigure ? { firstFigure: r.firstFigure } : {}) };
  });
  const index = join(o.outDir, 'index.html');
  writeFileSync(index, renderIndexHtml(entries as never, { dytlab: VERSION, profile: o.profile, generated: new Date().toISOString() }));
  // What each notebook took and the whole run, for the next schedule.json estimates.
  writeFileSync(join(o.outDir, 'reproduce-times.json'), `${JSON.stringify({
    profile: o.profile, cores, slots, wallSec: Math.round(wallSec), generated: new Date().toISOString(),
    notebooks: Object.fromEntries(entries.map((e) => [stem(e.notebook), { status: e.status, sec: Math.round(e.durationSec) }])),
  }, null, 2)}\n`);
  console.error(`reproduce: ${entries.filter((e) => e.status === 'ok').length}/${entries.length} ok in ${clock(wallSec)} (notebook time ${clock(entries.reduce((a, e) => a + e.durationSec, 0))} in all)`);
  return { entries, index: resolve(index), ok: entries.every((e) => e.status === 'ok') && [...results.values()].every((r) => !r.figures.error), wallSec };
}
