// `npm run figures`: regenerates the README's figures (docs/figures/) in one
// command. The list is scripts/readme-figures.json: per notebook, the profile
// it runs on and the figures (saveFigure names) kept. Each profile's notebooks
// are executed with `dytlab run -p profile=...` into reports/readme-figures/<profile>/
// (training what the run store does not have yet; the study profile reads
// data/study/ and trains nothing), then `dytlab figures --flat --only ...`
// writes <name>.svg/.png with their data (.csv) and provenance (.json) into
// docs/figures/.
//   node scripts/figures.mjs             run the notebooks, then export
//   node scripts/figures.mjs --no-run    export again from the executed notebooks of an earlier run
//   node scripts/figures.mjs --dry-run   print the commands, run nothing
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--no-run' && a !== '--dry-run');
if (unknown.length) {
  console.error(`figures: unknown option ${unknown.join(' ')} (use --no-run or --dry-run)`);
  process.exit(2);
}
const noRun = args.includes('--no-run'), dryRun = args.includes('--dry-run');
const manifest = JSON.parse(readFileSync(join(root, 'scripts/readme-figures.json'), 'utf8'));
const cli = join(root, 'bin/dytlab.js');
const rel = (p) => relative(root, p) || '.';

/** The executed copy of a notebook: reports/readme-figures/<profile>/<name>.ipynb. */
const executed = (e) => join(root, 'reports', 'readme-figures', e.profile, basename(e.notebook));

function dytlab(argv, env = {}) {
  console.log(`$ ${Object.entries(env).map(([k, v]) => `${k}=${v} `).join('')}dytlab ${argv.join(' ')}`);
  if (dryRun) return;
  const r = spawnSync(process.execPath, [cli, ...argv], { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`figures: dytlab ${argv[0]} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

if (!noRun) {
  for (const profile of [...new Set(manifest.notebooks.map((e) => e.profile))]) {
    const group = manifest.notebooks.filter((e) => e.profile === profile);
    // The figures are exported once, below, into docs/figures/ (not also into the run's own figures folder).
    dytlab(['run', ...group.map((e) => e.notebook), '-p', `profile=${profile}`, '--out', rel(dirname(executed(group[0])))], { DYTLAB_FIGURES: 'skip' });
  }
}
const missing = manifest.notebooks.map(executed).filter((p) => !existsSync(p));
if (missing.length && !dryRun) {
  console.error(`figures: no executed notebook at ${missing.map(rel).join(', ')} (run without --no-run first)`);
  process.exit(1);
}
dytlab(['figures', ...manifest.notebooks.map((e) => rel(executed(e))), '--flat', '--out', manifest.out,
  ...manifest.notebooks.flatMap((e) => e.figures.flatMap((n) => ['--only', n])), '--formats', manifest.formats.join(',')]);
