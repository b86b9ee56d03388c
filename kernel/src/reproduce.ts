// `dytlab reproduce`: every notebook in notebooks/ into reports/ (executed
// notebooks and HTML), N at a time in child processes (a notebook's tfjs state
// and module cache stay its own), then reports/index.html.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { renderIndexHtml, VERSION } from 'dytlab';

export interface ReproduceOptions { profile: 'quick' | 'full'; jobs: number; notebooksDir: string; outDir: string; cliPath: string; timeoutSec?: number }

interface Entry { title: string; notebook: string; html: string; status: string; durationSec: number; firstFigure?: unknown }

function runOne(nb: string, o: ReproduceOptions): Promise<{ code: number; seconds: number }> {
  const t0 = Date.now();
  const args = [o.cliPath, 'run', nb, '-p', `profile="${o.profile}"`, '--out', o.outDir, ...(o.timeoutSec ? ['--timeout', String(o.timeoutSec)] : [])];
  return new Promise((res) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('close', (code) => res({ code: code ?? 1, seconds: (Date.now() - t0) / 1000 }));
  });
}

export async function reproduce(o: ReproduceOptions): Promise<{ entries: Entry[]; index: string; ok: boolean }> {
  if (!existsSync(o.notebooksDir)) throw new Error(`reproduce: no notebooks folder at ${o.notebooksDir}`);
  const notebooks = readdirSync(o.notebooksDir).filter((f) => f.endsWith('.ipynb') && !f.startsWith('.')).sort().map((f) => join(o.notebooksDir, f));
  if (!notebooks.length) throw new Error(`reproduce: no .ipynb files in ${o.notebooksDir}`);
  mkdirSync(o.outDir, { recursive: true });
  console.error(`reproduce (${o.profile}): ${notebooks.length} notebook(s), ${o.jobs} at a time, into ${o.outDir}`);
  const queue = [...notebooks];
  const results = new Map<string, { code: number; seconds: number }>();
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, async () => {
    for (let nb = queue.shift(); nb; nb = queue.shift()) {
      const r = await runOne(nb, o);
      results.set(nb, r);
      console.error(`[${results.size}/${notebooks.length}] ${basename(nb)}: ${r.code === 0 ? 'ok' : 'FAILED'} in ${r.seconds.toFixed(1)} s`);
    }
  }));
  const entries: Entry[] = notebooks.map((nb) => {
    const stem = basename(nb, '.ipynb');
    const executed = join(o.outDir, `${stem}.ipynb`);
    let firstFigure: unknown, status = results.get(nb)!.code === 0 ? 'ok' : 'error', title = stem;
    if (existsSync(executed)) {
      const j = JSON.parse(readFileSync(executed, 'utf8'));
      status = j.metadata?.dytlab?.status ?? status;
      const h = j.cells.find((c: { cell_type: string }) => c.cell_type === 'markdown');
      const m = h && /^#\s+(.+)$/m.exec([].concat(h.source).join(''));
      if (m) title = m[1];
      for (const c of j.cells) for (const out of c.outputs ?? []) firstFigure ??= out.data?.['application/vnd.plotly.v1+json'];
    } else {
      status = 'not run';
    }
    return { title, notebook: basename(nb), html: relative(o.outDir, join(o.outDir, `${stem}.html`)), status, durationSec: results.get(nb)!.seconds, ...(firstFigure ? { firstFigure } : {}) };
  });
  const index = join(o.outDir, 'index.html');
  writeFileSync(index, renderIndexHtml(entries as never, { dytlab: VERSION, profile: o.profile, generated: new Date().toISOString() }));
  return { entries, index: resolve(index), ok: entries.every((e) => e.status === 'ok') };
}
