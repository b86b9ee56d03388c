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

export type Profile = 'quick' | 'full';
export interface ReproduceOptions { profile: Profile; jobs: number; outDir: string; notebooksDir: string }
interface Reproduce {
  reproduce(o: { profile: Profile; jobs: number; notebooksDir: string; outDir: string; cliPath: string }):
    Promise<{ entries: { status: string; durationSec: number; notebook: string; html: string }[]; index: string; ok: boolean }>;
}

export async function runCommand(o: RunOptions): Promise<number> {
  return loadKernelModule<RunNotebooks>('run-notebooks').runNotebooks(o);
}

export async function reproduceCommand(o: ReproduceOptions): Promise<number> {
  const { reproduce } = loadKernelModule<Reproduce>('reproduce');
  const cliPath = join(__dirname, '..', '..', 'bin', 'dytlab.js');
  const r = await reproduce({ profile: o.profile, jobs: o.jobs, notebooksDir: resolve(o.notebooksDir), outDir: resolve(o.outDir), cliPath });
  for (const e of r.entries) console.log(`${e.status.padEnd(7)} ${e.durationSec.toFixed(1).padStart(7)} s  ${e.notebook}  -> ${e.html}`);
  console.log(`index: ${r.index}`);
  return r.ok ? 0 : 1;
}
