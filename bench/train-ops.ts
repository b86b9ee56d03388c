// Fused training ops (src/engine/ops/train-ops.ts) against the composed tfjs ops
// they replace, on wasm, in one process with the two alternating in every rep:
//   1. AdamW over every parameter of the reference LM (createLM d128, 4 layers, 4 heads,
//      vocab 96, ctx 64; 'gelu' MLP): one fused kernel call vs ~10 tfjs ops per tensor;
//   2. the global gradient norm (sum of squares over the same tensors);
//   3. cross-entropy at logits [1024, 96]: forward, forward + backward;
//   4. GELU (tanh form, and exact) and bias + GELU (the MLP's fc bias folded in) at [1024, 512]:
//      forward, forward + backward;
//   5. one whole training step of that LM (batch 16: forward, backward, clip, AdamW), and of the
//      study ViT (batch 64), with every training op fused (auto) vs composed (setTrainOpsImpl).
// Prints the medians and composed / fused ratios; writes bench/results/train-ops-wasm-*.json.
// Usage: node --import tsx bench/train-ops.ts [--quick]
import { createLM, createViT, initBackend, tf } from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { AdamW, clipByGlobalNorm } from '../src/train/adamw.js';
import { crossEntropy } from '../src/train/tasks.js';
import {
  biasGeluOp, crossEntropyOp, geluOp, setTrainOpsImpl, sumOfSquares, trainOpsUnavailable,
} from '../src/engine/ops/train-ops.js';
import type { GeluForm } from '../src/engine/ops/train-ops.js';
import { machineInfo, median, writeResults } from './support.js';

type Impl = 'fused' | 'composed';
const quick = process.argv.includes('--quick');
const LM = { vocabSize: 96, context: 64, dModel: 128, nLayers: 4, nHeads: 4, mlp: 'gelu' as const, seed: 1 };
const BATCH = 16;

/** Reads one element back (the kernels run synchronously; this only makes sure nothing is pending). */
function touch(t: Tensor): void {
  t.dataSync();
}

/** Median ms of `f(impl)` per impl, the impls alternating within every rep, after `warm` untimed reps. */
function timeBoth(reps: number, f: (impl: Impl) => void, warm = 2): Record<Impl, number> {
  const ts: Record<Impl, number[]> = { fused: [], composed: [] };
  for (let r = 0; r < warm + reps; r++) {
    for (const impl of (r % 2 ? ['composed', 'fused'] : ['fused', 'composed']) as Impl[]) {
      const t0 = performance.now();
      f(impl);
      if (r >= warm) ts[impl].push(performance.now() - t0);
    }
  }
  return { fused: median(ts.fused), composed: median(ts.composed) };
}

interface Row { case: string; fusedMs: number; composedMs: number; ratio: number }
const rows: Row[] = [];

function report(name: string, t: Record<Impl, number>): void {
  const row = { case: name, fusedMs: t.fused, composedMs: t.composed, ratio: t.composed / t.fused };
  rows.push(row);
  console.log(`${name.padEnd(44)} fused ${t.fused.toFixed(3).padStart(8)} ms   composed ${t.composed.toFixed(3).padStart(8)} ms   composed/fused ${row.ratio.toFixed(2)}x`);
}

function benchAdamW(): void {
  const lm = createLM(LM);
  const params = lm.namedParameters().filter((p) => p.trainable);
  const cfg = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  const opts: Record<Impl, AdamW> = { fused: new AdamW(params, cfg), composed: new AdamW(params, cfg) };
  opts.composed.impl = 'composed';
  opts.fused.impl = 'fused';
  const grads = new Map(params.map((p, i) => [p.name, tf.randomNormal(p.variable.shape, 0, 0.01, 'float32', i)] as [string, Tensor]));
  const n = params.reduce((s, p) => s + p.variable.size, 0);
  console.log(`AdamW over ${params.length} tensors, ${n} parameters`);
  report(`AdamW.apply (${params.length} tensors)`, timeBoth(quick ? 5 : 21, (impl) => {
    opts[impl].apply(grads, 1e-3);
    touch(params[0]!.variable);
  }));
  const gs = [...grads.values()];
  report(`global grad norm (sum of squares)`, timeBoth(quick ? 5 : 21, (impl) => void sumOfSquares(gs, impl)));
  tf.dispose(gs);
  opts.fused.dispose();
  opts.composed.dispose();
  lm.dispose();
}

function benchCrossEntropy(): void {
  const [N, V] = [1024, 96];
  const logits = tf.randomNormal([N, V], 0, 2, 'float32', 7);
  const targets = tf.tensor1d(Int32Array.from({ length: N }, (_, i) => (i * 31) % V), 'int32');
  const reps = quick ? 7 : 41;
  report(`cross-entropy [${N}, ${V}] forward`, timeBoth(reps, (impl) => {
    const l = crossEntropyOp(logits, targets, impl);
    touch(l);
    l.dispose();
  }));
  report(`cross-entropy [${N}, ${V}] forward + backward`, timeBoth(reps, (impl) => {
    const { value, grad } = tf.valueAndGrad((x: Tensor) => crossEntropyOp(x, targets, impl))(logits);
    touch(grad);
    tf.dispose([value, grad]);
  }));
  tf.dispose([logits, targets]);
}

function benchGelu(form: GeluForm): void {
  const shape = [1024, 512];
  const x = tf.randomNormal(shape, 0, 1.5, 'float32', 8);
  const dy = tf.randomNormal(shape, 0, 1, 'float32', 9);
  const reps = quick ? 7 : 31;
  report(`GELU ${form} [${shape}] forward`, timeBoth(reps, (impl) => {
    const y = geluOp(x, form, impl);
    touch(y);
    y.dispose();
  }));
  report(`GELU ${form} [${shape}] forward + backward`, timeBoth(reps, (impl) => {
    const g = tf.grads((t: Tensor) => geluOp(t, form, impl))([x], dy);
    touch(g[0]!);
    tf.dispose(g);
  }));
  if (form === 'tanh') {
    const b = tf.randomNormal([shape[1]!], 0, 0.5, 'float32', 10);
    report(`bias + GELU ${form} [${shape}] forward`, timeBoth(reps, (impl) => {
      const y = biasGeluOp(x, b, form, impl);
      touch(y);
      y.dispose();
    }));
    report(`bias + GELU ${form} [${shape}] forward + backward`, timeBoth(reps, (impl) => {
      const g = tf.grads((t: Tensor, c: Tensor) => biasGeluOp(t, c, form, impl))([x, b], dy);
      touch(g[1]!);
      tf.dispose(g);
    }));
    b.dispose();
  }
  tf.dispose([x, dy]);
}

function benchStep(): void {
  const lm = createLM(LM);
  const params = lm.namedParameters().filter((p) => p.trainable);
  const vars = params.map((p) => p.variable);
  const opt = new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
  const ids = tf.tensor2d(Int32Array.from({ length: BATCH * LM.context }, (_, i) => (i * 13 + 5) % LM.vocabSize), [BATCH, LM.context], 'int32');
  const tgt = tf.tensor2d(Int32Array.from({ length: BATCH * LM.context }, (_, i) => (i * 7 + 1) % LM.vocabSize), [BATCH, LM.context], 'int32');
  const step = (impl: Impl): void => {
    setTrainOpsImpl(impl);
    try {
      const { value, grads } = tf.variableGrads(() => crossEntropy(lm.apply(ids), tgt), vars);
      const byName = new Map(params.map((p) => [p.name, grads[p.variable.name]!] as [string, Tensor]));
      const { clipped } = clipByGlobalNorm(byName, 1);
      opt.apply(clipped, 1e-3);
      value.dataSync();
      tf.dispose([value, ...Object.values(grads), ...(clipped === byName ? [] : [...clipped.values()])]);
    } finally {
      setTrainOpsImpl('auto');
    }
  };
  const t = timeBoth(quick ? 3 : 11, step, 2);
  report(`LM training step (batch ${BATCH}, ctx ${LM.context})`, t);
  const tokens = BATCH * LM.context;
  console.log(`  tokens/s: fused ${(tokens / t.fused * 1000).toFixed(0)}, composed ${(tokens / t.composed * 1000).toFixed(0)}`);
  tf.dispose([ids, tgt]);
  opt.dispose();
  lm.dispose();
}

/** The study ViT (d64, 4 blocks, 4 heads, patch 7 on 28x28, MLP 2x with bias, mean pool), batch 64: its MLP folds the fc bias. */
function benchVitStep(): void {
  const vit = createViT({ imageSize: 28, patchSize: 7, channels: 1, classes: 10, dModel: 64, nLayers: 4, nHeads: 4, mlpRatio: 2, pool: 'mean', seed: 0 });
  const params = vit.namedParameters().filter((p) => p.trainable);
  const vars = params.map((p) => p.variable);
  const opt = new AdamW(params, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.05 });
  const x = tf.randomUniform([64, 28, 28, 1], 0, 1, 'float32', 11);
  const y = tf.randomUniform([64], 0, 10, 'int32', 51);
  const step = (impl: Impl): void => {
    setTrainOpsImpl(impl);
    try {
      const { value, grads } = tf.variableGrads(() => crossEntropy(vit.apply(x), y), vars);
      opt.apply(new Map(params.map((p) => [p.name, grads[p.variable.name]!] as [string, Tensor])), 1e-3);
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
    } finally {
      setTrainOpsImpl('auto');
    }
  };
  const t = timeBoth(quick ? 3 : 11, step, 2);
  report('ViT training step (batch 64)', t);
  console.log(`  images/s: fused ${(64 / t.fused * 1000).toFixed(0)}, composed ${(64 / t.composed * 1000).toFixed(0)}`);
  tf.dispose([x, y]);
  opt.dispose();
  vit.dispose();
}

async function main(): Promise<void> {
  const info = await initBackend('wasm');
  const why = trainOpsUnavailable();
  if (why !== undefined) throw new Error(`bench/train-ops: the fused training ops cannot run: ${why}`);
  console.log(`backend wasm, threads ${info.threads}, SIMD ${info.simd}${quick ? ' (quick)' : ''}`);
  benchAdamW();
  benchCrossEntropy();
  benchGelu('tanh');
  benchGelu('exact');
  benchStep();
  benchVitStep();
  const file = writeResults('train-ops', 'wasm', { machine: machineInfo(), threads: info.threads, quick, rows });
  console.log(`wrote ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
