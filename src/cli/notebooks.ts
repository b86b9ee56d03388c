// `dytlab run` and `dytlab reproduce`, through the runner in kernel/.
import { join, resolve } from 'node:path';
import { loadKernelModule } from './kernel-module.js';

// The shapes used here (kernel/src/{run-notebooks,reproduce}.ts); kept local so src/ never compiles kernel/.
export interface RunOptions {
  notebooks: string[];
  /** Raw `-p name=value` strings, in order: the runner parses them against each notebook's parameters cell. */
  params: string[];
  outDir: string;
  timeoutSec?: number;
  allowErrors: boolean;
}
interface RunNotebooks { runNotebooks(o: RunOptions): Promise<number> }

export type Profile = 'quick' | 'full' | 'study';
/** jobs: notebooks at a time (default: one per core). */
export interface ReproduceOptions { profile: Profile; jobs?: number; outDir: string; notebooksDir: string }
interface Reproduce {
  reproduce(o: { profile: Profile; jobs?: number; notebooksDir: string; outDir: string; cliPath: string }):
    Promise<{ entries: { status: string; durationSec: number; notebook: string; html: string }[]; index: string; ok: boolean; wallSec?: number }>;
}

export async function runCommand(o: RunOptions): Promise<number> {
  try {
    return await loadKernelModule<RunNotebooks>('run-notebooks').runNotebooks(o);
  } catch (e) {
    // Bad input is found before any cell runs; a bad -p value is misuse (exit 2, as the runner says).
    const code = (e as { exitCode?: unknown }).exitCode;
    if (typeof code !== 'number') throw e;
    process.stderr.write(`dytlab run: ${(e as Error).message}\n`);
    return code;
  }
}

export async function reproduceCommand(o: ReproduceOptions): Promise<number> {
  const { reproduce } = loadKernelModule<Reproduce>('reproduce');
  const cliPath = join(__dirname, '..', '..', 'bin', 'dytlab.js');
  const r = await reproduce({ profile: o.profile, ...(o.jobs ? { jobs: o.jobs } : {}), notebooksDir: resolve(o.notebooksDir), outDir: resolve(o.outDir), cliPath });
  for (const e of r.entries) console.log(`${e.status.padEnd(7)} ${e.durationSec.toFixed(1).padStart(7)} s  ${e.notebook}  -> ${e.html}`);
  if (r.wallSec !== undefined) console.log(`wall time: ${(r.wallSec / 60).toFixed(1)} min`);
  console.log(`index: ${r.index}`);
  return r.ok ? 0 : 1;
}
