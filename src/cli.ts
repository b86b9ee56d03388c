// The `dytlab` command. Subcommands are added by later issues (run, sweep, reproduce, kernel...).
import { initBackend, type BackendInfo, type BackendName, BACKEND_NAMES } from './engine/backend.js';
import { selfCheckAsync, type SelfCheck } from './engine/self-check.js';
import { VERSION } from './version.js';
import { trainCommand } from './cli/train.js';
import { reproduceCommand, runCommand } from './cli/notebooks.js';
import { kernelCommand } from './cli/kernel.js';
import { sweepCommand } from './cli/sweep.js';
import { storeCommand } from './cli/store.js';

const USAGE = `dytlab ${VERSION}: a lab for transformers without normalization layers

usage: dytlab <command> [options]

commands:
  doctor [--backend NAME] [--json]   show the compute backend chosen and check the engine
  train --config FILE [--set k=v]... [--store PATH] [--resume CHECKPOINT] [--quiet]
                                     train one run from a JSON/YAML config; metrics go to the run store
                                     (exit 0 finished, 3 diverged, 1 failed)
  sweep FILE [--profile NAME] [--store PATH] [--jobs N] [--shard i/N] [--dry-run] [--quiet]
                                     run a sweep's missing combinations in parallel workers (default one per
                                     core); --shard i/N (or Slurm array variables) runs combinations k with
                                     k mod N = i; --dry-run prints the plan and an estimated time
  store merge TARGET SOURCE...       copy the runs of other stores (e.g. sweep shards) into TARGET, no duplicates
  store ls [--store PATH] [--status S] [--name NAME] [--metric NAME] [--json]
                                     list runs: id, name, status, steps, final metric
  run NOTEBOOK... [-p name=value]... [--out DIR] [--timeout S] [--allow-errors]
                                     execute notebooks headless into DIR (default reports/): .ipynb + HTML
  reproduce [--profile quick|full] [--jobs N]
                                     run every notebook in notebooks/ into reports/, with reports/index.html
  kernel install [--user | --prefix DIR | --sys-prefix] [--name NAME]
                                     install the Jupyter kernelspec "TypeScript (dytlab)"
  kernel list [--json] | kernel remove [--user | --prefix DIR | --sys-prefix]
  help                               this text

environment:
  DYTLAB_BACKEND=tensorflow|wasm|cpu   force a backend
  DYTLAB_WASM_THREADS=N                opt in to N wasm threads (off by default)
`;

export function parseFlags(args: string[], known: Record<string, 'bool' | 'value'>): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, inline] = a.split('=', 2) as [string, string | undefined];
    const kind = known[flag];
    if (!kind) throw new Error(`unknown option '${a}' (known: ${Object.keys(known).join(', ')})`);
    if (kind === 'bool') out[flag] = true;
    else {
      const v = inline ?? args[++i];
      if (v === undefined) throw new Error(`option ${flag} needs a value`);
      out[flag] = v;
    }
  }
  return out;
}

export function formatDoctor(info: BackendInfo, check: SelfCheck): string {
  const rows: [string, string][] = [
    ['dytlab', VERSION],
    ['backend', `${info.backend} (${info.chosenBy === 'auto' ? 'chosen automatically' : info.chosenBy === 'env' ? 'from DYTLAB_BACKEND' : 'requested'})`],
    ['backend package', `${info.backendPackage} ${info.backendVersion}`],
    ['tfjs-core', info.tfjsCoreVersion],
    ['node', `${info.node} ${info.platform}`],
    ['simd', info.backend === 'wasm' ? (info.simd ? 'yes' : 'no') : 'n/a'],
    ['threads', info.threadsActive
      ? `${info.threads || 'native'} (multithreading active)`
      : `${info.threads} (multithreading off${info.threadsReason ? `: ${info.threadsReason}` : info.backend === 'wasm' ? '; opt in with DYTLAB_WASM_THREADS=2' : ''})`],
    ['engine fixes', info.fixes.length ? info.fixes.join(', ') : 'none'],
    ['fused kernels', info.fusedKernels.registered.length
      ? `${info.backend === 'webgpu' ? 'WGSL' : info.fusedKernels.simd ? 'SIMD WebAssembly' : 'JavaScript'}: ${info.fusedKernels.registered.join(', ')}`
      : `none (${info.fusedKernels.reason ?? 'unavailable'})`],
  ];
  if (info.fusedKernels.registered.length && info.fusedKernels.reason) rows.push(['kernel note', info.fusedKernels.reason]);
  if (info.gpu) {
    rows.push(['gpu adapter', `${info.gpu.device || info.gpu.description} (${info.gpu.software ? 'software' : 'hardware'}; ` +
      `Dawn ${info.gpu.dawnBackend}, ${info.gpu.featureLevel} feature level)`]);
  }
  for (const a of info.attempts.filter((x) => !x.ok)) rows.push([`skipped ${a.backend}`, a.reason ?? '']);
  rows.push(['self-check', `${check.ok ? 'ok' : 'FAILED'}: ${check.detail}`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

async function doctor(args: string[]): Promise<number> {
  const f = parseFlags(args, { '--backend': 'value', '--json': 'bool' });
  const requested = f['--backend'] as string | undefined;
  if (requested !== undefined && !(BACKEND_NAMES as readonly string[]).includes(requested)) {
    throw new Error(`--backend: unknown backend "${requested}"; expected one of ${BACKEND_NAMES.join(', ')}`);
  }
  const info = await initBackend(requested as BackendName | undefined);
  const check = await selfCheckAsync();
  console.log(f['--json'] ? JSON.stringify({ version: VERSION, ...info, selfCheck: check }, null, 2) : formatDoctor(info, check));
  return check.ok ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'doctor': return doctor(rest);
    case 'train': return trainCommand(rest);
    case 'sweep': return sweepCommand(rest);
    case 'store': return storeCommand(rest);
    case 'run': return runCommand(rest);
    case 'reproduce': return reproduceCommand(rest);
    case 'kernel': return kernelCommand(rest);
    case undefined: case 'help': case '--help': case '-h':
      console.log(USAGE);
      return 0;
    case '--version': case '-v':
      console.log(VERSION);
      return 0;
    default:
      console.error(`dytlab: unknown command '${cmd}'\n\n${USAGE}`);
      return 2;
  }
}
