// The GPU measurement of issue 8, run by bench/gpu/run.sh on a lent GPU
// machine (or with --smoke on a CPU machine, to prove it runs end to end):
//   - the card, driver and WebGPU adapter features;
//   - correctness of every GPU kernel (CUDA and WebGPU) against float64;
//   - DyT, LayerNorm and RMSNorm forward and forward+backward at [4096, 768]
//     and [4096, 4096] on each path, as GB/s and as ratios to a
//     device-to-device copy measured in the same run;
//   - tfjs-webgpu matmul TFLOP/s; a training step of lm-tiny and of a wide LM
//     (d_model 1024, 8 layers, context 512), LayerNorm vs DyT;
//   - PyTorch eager and torch.compile peers when `python3 -c 'import torch'` works.
// Writes gpu-results.json and gpu-results.md to --out (default $OUT).
//
// Usage: node gpu-bench.cjs [--smoke] [--out DIR] [--skip cuda,webgpu,torch] [--budget SECONDS]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCudaSection } from './cuda-section.js';
import type { CudaSection } from './cuda-section.js';
import { runWebGpuSection } from './webgpu-section.js';
import type { WebGpuSection } from './webgpu-section.js';
import { correctnessTable, targetTable, timingTable } from './common.js';
import type { TimingRow } from './common.js';

interface Args { smoke: boolean; out: string; skip: Set<string>; budget: number }

function parseArgs(argv: string[]): Args {
  const a: Args = { smoke: false, out: process.env.OUT || join(process.cwd(), 'bench', 'results', 'gpu'), skip: new Set(), budget: 420 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i]!;
    if (v === '--smoke') a.smoke = true;
    else if (v === '--out') a.out = argv[++i] ?? a.out;
    else if (v === '--skip') for (const s of (argv[++i] ?? '').split(',')) a.skip.add(s.trim());
    else if (v === '--budget') a.budget = Number(argv[++i]);
    else throw new Error(`gpu-bench: unknown argument ${v} (usage: [--smoke] [--out DIR] [--skip cuda,webgpu,torch] [--budget SECONDS])`);
  }
  if (!(a.budget > 0)) throw new Error('gpu-bench: --budget must be a positive number of seconds');
  return a;
}

function sh(cmd: string, args: string[], timeoutMs = 20_000): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

interface TorchSection { status: string; reason?: string; rows: TimingRow[]; [k: string]: unknown }

function runTorch(a: Args, log: (s: string) => void, remainingS: number): TorchSection {
  const probe = spawnSync('python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
  if (probe.status !== 0) {
    const reason = probe.error ? `python3: ${probe.error.message}` : `python3 -c 'import torch' failed: ${(probe.stderr || '').trim().split('\n').pop()}`;
    log(`torch: skipped (${reason})`);
    return { status: 'unavailable', reason, rows: [] };
  }
  const out = join(tmpdir(), `dytlab-torch-${process.pid}.json`);
  const script = join(__dirname, 'torch_bench.py');
  const file = existsSync(script) ? script : join(process.cwd(), 'bench', 'gpu', 'torch_bench.py');
  log(`torch: ${probe.stdout.trim()}, running ${file}`);
  // torch_bench.py stops starting measurements at its deadline and rewrites its JSON after each one.
  const deadline = Date.now() / 1000 + Math.max(20, remainingS - 20);
  const r = spawnSync('python3', [file, '--out', out, '--deadline', String(deadline), ...(a.smoke ? ['--smoke'] : [])], {
    encoding: 'utf8', timeout: Math.max(30, remainingS) * 1000, stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (!existsSync(out)) return { status: 'failed', reason: r.error ? r.error.message : `torch_bench.py exited ${r.status} without a result`, rows: [] };
  return JSON.parse(readFileSync(out, 'utf8')) as TorchSection;
}

function provenance(): Record<string, unknown> {
  // prepare.sh records the commit the carried bundle was built from.
  const manifest = process.env.DYTLAB_GPU_MANIFEST && existsSync(process.env.DYTLAB_GPU_MANIFEST)
    ? JSON.parse(readFileSync(process.env.DYTLAB_GPU_MANIFEST, 'utf8')) as Record<string, unknown> : {};
  const commit = sh('git', ['rev-parse', 'HEAD']);
  return { commit: commit ?? manifest['commit'] ?? 'unknown', bundle: manifest };
}

function markdown(r: Record<string, unknown>, cuda: CudaSection, webgpu: WebGpuSection, torch: TorchSection): string {
  const lines: string[] = [];
  lines.push(`# dytlab GPU benchmark${r['smoke'] ? ' (smoke)' : ''}`, '');
  lines.push(`- date: ${r['date']}, host: ${r['host']}, commit: ${(r['provenance'] as { commit: string }).commit}`);
  lines.push(`- card: ${r['card']}; driver: ${r['driver']}`);
  lines.push(`- CUDA path: ${cuda.status}${cuda.reason ? ` (${cuda.reason.split('\n')[0]})` : ''}`);
  lines.push(`- WebGPU path: ${webgpu.status}${webgpu.reason ? ` (${webgpu.reason.split('\n')[0]})` : ''}` +
    (webgpu.backend?.gpu ? `; adapter ${webgpu.backend.gpu.device || webgpu.backend.gpu.description} (${webgpu.backend.gpu.software ? 'software' : 'hardware'}, Dawn ${webgpu.backend.gpu.dawnBackend}); features: ${webgpu.backend.gpu.features.join(', ') || 'none'}` : ''));
  lines.push(`- PyTorch: ${torch.status}${torch.reason ? ` (${String(torch.reason).split('\n')[0]})` : ` ${torch['torch'] ?? ''}`}`, '');
  const targets = [...cuda.targets, ...webgpu.targets];
  if (targets.length) lines.push('## Targets', '', targetTable(targets), '');
  const timings = [...cuda.timings, ...webgpu.timings, ...torch.rows];
  if (timings.length) lines.push('## Layer times (ratios to the copy on the same path, same run)', '', timingTable(timings), '');
  if (cuda.tuning.length) lines.push('## CUDA launch variants', '', timingTable(cuda.tuning), '');
  if (webgpu.matmul.length) {
    lines.push('## tfjs-webgpu matmul', '', '| n | ms | TFLOP/s |', '|---|---|---|',
      ...webgpu.matmul.map((m) => `| ${m.n} | ${m.ms.toFixed(3)} | ${m.tflops.toFixed(2)} |`), '');
  }
  if (webgpu.lmSteps.length) {
    lines.push('## Training step on tfjs-webgpu (AdamW, fused norm kernels)', '', '| model | norm | params | ms/step | tokens/s | loss |', '|---|---|---|---|---|---|',
      ...webgpu.lmSteps.map((s) => `| ${s['model']} | ${s['norm']} | ${((s['params'] as number) / 1e6).toFixed(1)}M | ${(s['stepMs'] as number).toFixed(1)} | ${(s['tokensPerSec'] as number).toFixed(0)} | ${(s['loss'] as number).toFixed(3)} |`), '');
  }
  const correctness = [...cuda.correctness, ...webgpu.correctness];
  if (correctness.length) lines.push('## Correctness vs float64 (fresh random inputs, poisoned outputs)', '', correctnessTable(correctness), '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const deadline = t0 + a.budget * 1000;
  mkdirSync(a.out, { recursive: true });
  const log = (s: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${s}`);
  const seed = Date.now() % 2 ** 31;
  const sizes: Array<[number, number]> = a.smoke ? [[256, 768]] : [[4096, 768], [4096, 4096]];
  const smi = sh('nvidia-smi', ['--query-gpu=name,driver_version,memory.total,clocks.max.memory,pcie.link.gen.max', '--format=csv,noheader']);
  log(`gpu-bench ${a.smoke ? '(smoke) ' : ''}on ${hostname()}: ${smi ?? 'no nvidia-smi'}`);

  const skipped = (what: string): { status: string; reason: string } => ({ status: 'skipped', reason: `--skip ${what}` });
  const cuda: CudaSection = a.skip.has('cuda')
    ? { ...skipped('cuda'), status: 'unavailable', correctness: [], timings: [], tuning: [], targets: [] }
    : runCudaSection({ sizes, reps: a.smoke ? 5 : 50, seed, log });
  const webgpu: WebGpuSection = a.skip.has('webgpu')
    ? { ...skipped('webgpu'), status: 'unavailable', correctness: [], timings: [], matmul: [], lmSteps: [], targets: [] }
    : await runWebGpuSection({ smoke: a.smoke, sizes, reps: a.smoke ? 3 : 30, seed, log, deadline: deadline - 90_000,
      l2Bytes: (cuda.device?.['l2Bytes'] as number | undefined) ?? 50 * 2 ** 20 });
  const torch: TorchSection = a.skip.has('torch')
    ? { status: 'skipped', reason: '--skip torch', rows: [] }
    : runTorch(a, log, (deadline - Date.now()) / 1000);

  const result: Record<string, unknown> = {
    schema: 'dytlab-gpu-bench/1', smoke: a.smoke, date: new Date().toISOString(), host: hostname(), seed,
    card: (cuda.device?.['name'] as string | undefined) ?? smi?.split(',')[0]?.trim() ?? webgpu.backend?.gpu?.device ?? 'unknown',
    driver: smi?.split(',')[1]?.trim() ?? (cuda.device?.['driverVersion'] as string | undefined) ?? 'unknown',
    nvidiaSmi: smi ?? null, node: process.versions.node, cpu: cpus()[0]?.model, provenance: provenance(),
    probe: process.env.DYTLAB_GPU_PROBE && existsSync(process.env.DYTLAB_GPU_PROBE) ? readFileSync(process.env.DYTLAB_GPU_PROBE, 'utf8') : null,
    cuda, webgpu, pytorch: torch, seconds: (Date.now() - t0) / 1000,
  };
  const md = markdown(result, cuda, webgpu, torch);
  writeFileSync(join(a.out, 'gpu-results.json'), JSON.stringify(result, null, 2));
  writeFileSync(join(a.out, 'gpu-results.md'), md + '\n');
  console.log(`\n${md}\n`);
  log(`wrote ${join(a.out, 'gpu-results.json')} and gpu-results.md`);
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
