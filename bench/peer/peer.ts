// dytlab against PyTorch on the same CPU, in one run: the LM of issue 16 (vocab 96,
// d_model 128, 4 layers, 4 heads, context 64, batch 16, GELU MLP 4x) in tokens/s
// and the study's ViT (d_model 64, 4 blocks, patch 7 on 28x28, batch 64) in
// images/s, with LayerNorm and with DyT, a full training step each (forward,
// backward, AdamW update). Rounds alternate the two sides (who goes first
// swaps every round); each side's round is warm-up steps then timed steps, and
// the ratio dytlab/PyTorch is taken per round. PyTorch (Debian's python3-torch)
// runs in one python process (bench/peer/peer.py --serve), 2 threads, with
// OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its environment only;
// dytlab runs here through its public API, on the backend initBackend picks
// (DYTLAB_BACKEND, DYTLAB_WASM_THREADS apply). Parameter counts are checked
// equal before anything is timed.
//
// Usage: node --import tsx bench/peer/peer.ts [--quick] [--rounds N] [--warmup N] [--steps N]
//          [--models lm,vit] [--norms layernorm,dyt] [--torch-threads N] [--openblas-threads N] [--backend wasm] [--no-torch]
//        --openblas-threads N: OPENBLAS_NUM_THREADS=N for PyTorch (unset: OpenBLAS starts a thread per
//          core besides torch's OpenMP threads; on 2 cores the two pools oversubscribe them and
//          PyTorch's step times scatter 40-480 ms; with 1 they hold at their best)
//        --smoke: tiny models, one step, no results file (for the test: the whole path, in seconds)
import { loadavg } from 'node:os';
import { backendInfo, initBackend, tf, type BackendName } from '../../src/index.js';
import { machineInfo, median, writeResults } from '../support.js';
import {
  assertParamParity, dytlabCase, findTorchPython, PEER_MODELS, PEER_NORMS, peerCase, TorchPeer, torchArgs, torchShapes,
  type PeerCase, type PeerModel, type PeerNorm,
} from './setup.js';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name}: expected a value`);
  return v;
}
function count(name: string, fallback: number, min = 1): number {
  const v = option(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} ${v}: expected an integer >= ${min}`);
  return n;
}
function list<T extends string>(name: string, all: readonly T[]): T[] {
  const v = option(name);
  if (v === undefined) return [...all];
  const xs = v.split(',').map((s) => s.trim()) as T[];
  for (const x of xs) if (!all.includes(x)) throw new Error(`${name}: '${x}' is not one of ${all.join(', ')}`);
  return xs;
}

const smoke = process.argv.includes('--smoke');
const quick = smoke || process.argv.includes('--quick');
const noTorch = process.argv.includes('--no-torch');
const rounds = count('--rounds', smoke ? 1 : quick ? 2 : 3);
const warmup = count('--warmup', smoke ? 0 : quick ? 2 : 3, 0);
const steps = count('--steps', smoke ? 1 : quick ? 4 : 12);
const SMOKE_SIZES: Partial<PeerCase> = { dModel: 16, layers: 1, heads: 2, batch: 2, context: 8, vocab: 11, imageSize: 8, patch: 4 };
const caseOf = (model: PeerModel, norm: PeerNorm) => peerCase(model, norm, smoke ? SMOKE_SIZES : {});
const models = list<PeerModel>('--models', PEER_MODELS);
const norms = list<PeerNorm>('--norms', PEER_NORMS);
const torchThreads = count('--torch-threads', 2);
const openblasThreads = option('--openblas-threads');
if (openblasThreads !== undefined && !(Number.isInteger(Number(openblasThreads)) && Number(openblasThreads) >= 1)) {
  throw new Error(`--openblas-threads: expected an integer >= 1, got ${openblasThreads}`);
}
const backend = option('--backend') as BackendName | undefined;

interface Side { perSec: number; stepMs: number; steps: number[] }
interface RoundRow { round: number; model: PeerModel; norm: PeerNorm; unit: string; first: 'dytlab' | 'torch'; dytlab: Side; torch?: Side; ratio?: number }

const side = (stepMs: number[], items: number): Side => {
  const ms = median(stepMs);
  return { perSec: (items * 1000) / ms, stepMs: ms, steps: stepMs.map((x) => Math.round(x * 10) / 10) };
};

async function dytlabRound(c: PeerCase): Promise<Side> {
  const d = dytlabCase(c);
  try {
    const before = tf.memory().numTensors;
    const ms: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const t0 = performance.now();
      const loss = await d.step(i);
      if (i >= warmup) ms.push(performance.now() - t0);
      if (!Number.isFinite(loss)) throw new Error(`dytlab ${c.model} ${c.norm}: loss ${loss} at step ${i}`);
    }
    const grew = tf.memory().numTensors - before;
    if (grew > 0) console.log(`  warning: dytlab ${c.model} ${c.norm}: ${grew} tensors more after the round (a leak in the step?)`);
    return side(ms, d.itemsPerStep);
  } finally {
    d.dispose();
  }
}

const fmt = (x: number) => x.toFixed(0).padStart(7);

async function main(): Promise<void> {
  const info = await initBackend(backend);
  const load0 = loadavg();
  console.log(`bench/peer: dytlab vs PyTorch, ${rounds} round(s) of ${warmup} warm-up + ${steps} timed steps per side, model and norm${smoke ? ' (smoke: tiny models)' : quick ? ' (quick)' : ''}`);
  console.log(`machine: ${JSON.stringify(machineInfo())}, load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);
  if (load0[0]! > 1) console.log(`  note: the 1-minute load average is ${load0[0]!.toFixed(2)} before the run: other processes share the CPU, and threaded PyTorch suffers most from that`);
  console.log(`dytlab: ${info.backend} (${info.backendPackage} ${info.backendVersion}), simd ${info.simd ? 'yes' : 'no'}, threads ${info.threads}` +
    `${info.threadsActive ? ' (active)' : ''}${info.threadsReason ? ` — ${info.threadsReason}` : ''}; fixes: ${info.fixes.join(', ') || 'none'}; ` +
    `fused kernels: ${info.fusedKernels.registered.length} (${info.fusedKernels.simd ? 'SIMD' : `no SIMD${info.fusedKernels.reason ? `: ${info.fusedKernels.reason}` : ''}`})`);

  let peer: TorchPeer | undefined;
  if (!noTorch) {
    const found = findTorchPython();
    if (!('torch' in found)) throw new Error(`bench/peer: PyTorch is not available: ${found.reason}. Run with --no-torch to time dytlab alone.`);
    peer = await TorchPeer.start(found.python, openblasThreads === undefined ? {} : { OPENBLAS_NUM_THREADS: openblasThreads });
    const t = peer.info;
    console.log(`pytorch: ${String(t.torch)} (${String(t.executable)}), torch.set_num_threads(${torchThreads}) in every job (its default here: ${String(t.threads)}); ` +
      `${(t.parallel as string[] | undefined)?.filter((l) => /OpenMP|MKL|concurrency/.test(l) && !/max_threads/.test(l)).join('; ') ?? ''}`);
    const stray = Object.keys((t.openblasEnv as Record<string, string> | undefined) ?? {}).filter((k) => k.startsWith('OPENBLAS_CORETYPE') || k.startsWith('OPENBLAS_L2'));
    if (stray.length) throw new Error(`bench/peer: ${stray.join(', ')} still set in the python process`);
  } else {
    console.log('pytorch: skipped (--no-torch)');
  }

  try {
    // Parameter parity first: the same network on both sides, or nothing is timed.
    const parity: Record<string, unknown>[] = [];
    for (const model of models) {
      for (const norm of norms) {
        const c = caseOf(model, norm);
        const d = dytlabCase(c);
        const shapes = d.shapes;
        d.dispose();
        if (!peer) {
          console.log(`parameters ${model} ${norm}: dytlab ${shapes.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0)} (PyTorch not checked)`);
          continue;
        }
        const t = await peer.job(torchArgs(c, { warmup: 0, steps: 0, threads: torchThreads, countOnly: true }));
        const p = assertParamParity(`${model} ${norm}`, shapes, torchShapes(t));
        console.log(`parameters ${model} ${norm}: dytlab ${p.dytlab}, PyTorch ${p.torch} (match)`);
        parity.push({ model, norm, dytlab: p.dytlab, torch: p.torch });
      }
    }

    const rows: RoundRow[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const model of models) {
        for (const norm of norms) {
          const c = caseOf(model, norm);
          const first = round % 2 === 0 ? 'dytlab' : 'torch';
          const runTorch = async (): Promise<Side | undefined> => {
            if (!peer) return undefined;
            const r = await peer.job(torchArgs(c, { warmup, steps, threads: torchThreads }));
            if (!r.losses?.every(Number.isFinite)) throw new Error(`PyTorch ${model} ${norm}: a loss is not finite (${String(r.losses)})`);
            if (r.threads !== torchThreads) throw new Error(`PyTorch ${model} ${norm}: ran on ${r.threads} threads, not ${torchThreads}`);
            return side(r.stepMs!, r.itemsPerStep);
          };
          const early = first === 'torch' ? await runTorch() : undefined;
          const dy = await dytlabRound(c);
          const th = first === 'dytlab' ? await runTorch() : early;
          const unit = model === 'lm' ? 'tokens' : 'images';
          const row: RoundRow = { round, model, norm, unit, first, dytlab: dy, ...(th ? { torch: th, ratio: dy.perSec / th.perSec } : {}) };
          rows.push(row);
          console.log(`round ${round + 1} ${model.padEnd(3)} ${norm.padEnd(9)} dytlab ${fmt(dy.perSec)} ${unit}/s (${dy.stepMs.toFixed(0)} ms/step)` +
            (th ? `   PyTorch ${fmt(th.perSec)} ${unit}/s (${th.stepMs.toFixed(0)} ms/step)   ratio ${row.ratio!.toFixed(3)}` : ''));
        }
      }
    }

    console.log(`\nsummary (median over ${rounds} round(s); ratio = dytlab / PyTorch, per round in brackets):`);
    const summary: Record<string, unknown>[] = [];
    for (const model of models) {
      for (const norm of norms) {
        const rs = rows.filter((r) => r.model === model && r.norm === norm);
        const unit = rs[0]!.unit;
        const dy = median(rs.map((r) => r.dytlab.perSec));
        const th = peer ? median(rs.map((r) => r.torch!.perSec)) : undefined;
        const ratios = peer ? rs.map((r) => r.ratio!) : [];
        const ratio = peer ? median(ratios) : undefined;
        summary.push({ model, norm, unit, dytlabPerSec: dy, torchPerSec: th, ratio, ratios });
        console.log(`${model.padEnd(3)} ${norm.padEnd(9)} dytlab ${fmt(dy)} ${unit}/s` +
          (th !== undefined ? `   PyTorch ${fmt(th)} ${unit}/s   ratio ${ratio!.toFixed(3)} [${ratios.map((x) => x.toFixed(3)).join(', ')}]` : ''));
      }
    }
    if (peer) {
      // PyTorch's own scatter: the slowest of its timed steps over the fastest, over all rounds.
      const all = rows.flatMap((r) => r.torch!.steps);
      const spread = Math.max(...all) / Math.min(...all);
      if (spread > 2) {
        console.log(`note: PyTorch's step times scatter ${spread.toFixed(1)}x (slowest over fastest)` +
          (openblasThreads === undefined ? '; OpenBLAS\'s threads and torch\'s OpenMP threads may be sharing the cores: --openblas-threads 1 gives PyTorch its steady speed' : ''));
      }
    }
    const load1 = loadavg();
    console.log(`load average after: ${load1.map((x) => x.toFixed(2)).join(' ')}`);
    if (smoke) return;
    const file = writeResults('peer', info.backend, {
      machine: { ...machineInfo(), loadavgBefore: load0, loadavgAfter: load1 }, backend: backendInfo() ?? info, torch: peer?.info ?? null,
      settings: { quick, rounds, warmup, steps, models, norms, torchThreads, openblasThreads: openblasThreads ?? null, cases: models.map((m) => caseOf(m, 'layernorm')) },
      parity, summary, rounds: rows,
    });
    console.log(`wrote ${file}`);
  } finally {
    peer?.close();
  }
}

main().catch((e) => { console.error(e instanceof Error ? e.message : e); process.exitCode = 1; });
