// `dytlab run` and `dytlab reproduce`, through the runner in kernel/.
import { join, resolve } from 'node:path';
import { loadKernelModule } from './kernel-module.js';

// The shapes used here (kernel/src/{params,runner,reproduce}.ts); kept local so src/ never compiles kernel/.
interface Params { parseParam(arg: string): [string, unknown] }
interface Runner {
  runNotebook(path: string, o: { params: Record<string, unknown>; outDir: string; allowErrors: boolean; timeoutSec?: number;
    onCell?: (i: number, n: number, status: string) => void }): Promise<{ status: string; durationSec: number; outNotebook: string; outHtml: string }>;
}
interface Reproduce {
  reproduce(o: { profile: 'quick' | 'full'; jobs: number; notebooksDir: string; outDir: string; cliPath: string }):
    Promise<{ entries: { status: string; durationSec: number; notebook: string; html: string }[]; index: string; ok: boolean }>;
}

export async function runCommand(args: string[]): Promise<number> {
  const { parseParam } = loadKernelModule<Params>('params');
  const notebooks: string[] = [];
  const params: Record<string, unknown> = {};
  let outDir = 'reports', timeoutSec: number | undefined, allowErrors = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => { const v = args[++i]; if (v === undefined) throw new Error(`option ${a} needs a value`); return v; };
    if (a === '-p' || a === '--param') { const [k, v] = parseParam(value()); params[k] = v; }
    else if (a === '--out') outDir = value();
    else if (a === '--timeout') { timeoutSec = Number(value()); if (!(timeoutSec > 0)) throw new Error(`--timeout: expected seconds > 0`); }
    else if (a === '--allow-errors') allowErrors = true;
    else if (a.startsWith('-')) throw new Error(`run: unknown option '${a}' (known: -p name=value, --out DIR, --timeout S, --allow-errors)`);
    else notebooks.push(a);
  }
  if (!notebooks.length) throw new Error('run: give one or more notebooks (.ipynb)');
  const { runNotebook } = loadKernelModule<Runner>('runner');
  let ok = true;
  for (const nb of notebooks) {
    const r = await runNotebook(resolve(nb), {
      params, outDir, allowErrors, ...(timeoutSec ? { timeoutSec } : {}),
      onCell: (i, n, s) => process.stderr.write(`\r${nb}: cell ${i}/${n} ${s}   `),
    });
    process.stderr.write('\n');
    console.log(`${nb}: ${r.status} in ${r.durationSec.toFixed(1)} s -> ${r.outNotebook}, ${r.outHtml}`);
    ok &&= r.status === 'ok';
  }
  return ok ? 0 : 1;
}

export async function reproduceCommand(args: string[]): Promise<number> {
  let profile: 'quick' | 'full' = 'quick', jobs = 1, outDir = 'reports', notebooksDir = 'notebooks';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => { const v = args[++i]; if (v === undefined) throw new Error(`option ${a} needs a value`); return v; };
    if (a === '--profile') { const p = value(); if (p !== 'quick' && p !== 'full') throw new Error(`--profile: expected quick or full, got "${p}"`); profile = p; }
    else if (a === '--jobs') { jobs = Number(value()); if (!Number.isInteger(jobs) || jobs < 1) throw new Error('--jobs: expected a positive integer'); }
    else if (a === '--out') outDir = value();
    else if (a === '--notebooks') notebooksDir = value();
    else throw new Error(`reproduce: unknown option '${a}' (known: --profile quick|full, --jobs N, --out DIR, --notebooks DIR)`);
  }
  const { reproduce } = loadKernelModule<Reproduce>('reproduce');
  const cliPath = join(__dirname, '..', '..', 'bin', 'dytlab.js');
  const r = await reproduce({ profile, jobs, notebooksDir: resolve(notebooksDir), outDir: resolve(outDir), cliPath });
  for (const e of r.entries) console.log(`${e.status.padEnd(7)} ${e.durationSec.toFixed(1).padStart(7)} s  ${e.notebook}  -> ${e.html}`);
  console.log(`index: ${r.index}`);
  return r.ok ? 0 : 1;
}
