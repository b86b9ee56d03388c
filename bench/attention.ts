// Fused attention (one SIMD kernel forward, one backward: src/engine/ops/attention-op.ts)
// against the composed tfjs chain (split, head transposes, batched matmuls, mask,
// softmax), on wasm, measured in one process with the two alternating per rep:
//   1. attentionOp alone at qkv [16, 64, 384], 4 heads (D = 32): forward, forward + backward,
//      causal without and with RoPE, and bidirectional;
//   2. one training step of the reference LM (d128, 4 layers, 4 heads, ctx 64, batch 16, RoPE)
//      with Attention.apply fused (auto) and composed.
// Usage: node --import tsx bench/attention.ts [--quick]
import { createLM, crossEntropy, initBackend, tf } from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { attentionOp, setAttentionImpl } from '../src/engine/ops/attention-op.js';
import type { AttentionRope } from '../src/engine/ops/attention-op.js';
import { machineInfo, median, writeResults } from './support.js';

const quick = process.argv.includes('--quick');
const [B, T, H, d] = [16, 64, 4, 128];
const D = d / H;

function ropeTables(): AttentionRope {
  const cos = new Float32Array(T * D), sin = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < D / 2; i++) {
      const a = t * Math.pow(10000, (-2 * i) / D);
      cos[t * D + i] = cos[t * D + i + D / 2] = Math.cos(a);
      sin[t * D + i] = sin[t * D + i + D / 2] = Math.sin(a);
    }
  }
  return { cos: tf.tensor2d(cos, [T, D]), sin: tf.tensor2d(sin, [T, D]) };
}

/** Median ms of `f` for each impl, the impls alternating within every rep (after one warm-up each). */
function timeBoth(reps: number, f: (impl: 'fused' | 'composed') => Promise<void>): Promise<{ fused: number; composed: number }> {
  return (async () => {
    const ts = { fused: [] as number[], composed: [] as number[] };
    for (let r = 0; r <= reps; r++) {
      for (const impl of ['fused', 'composed'] as const) {
        const t0 = performance.now();
        await f(impl);
        if (r > 0) ts[impl].push(performance.now() - t0);
      }
    }
    return { fused: median(ts.fused), composed: median(ts.composed) };
  })();
}

async function main(): Promise<void> {
  const info = await initBackend('wasm');
  const reps = quick ? 5 : 15;
  console.log(`attention on ${info.backend} (threads ${info.threads}), qkv [${B}, ${T}, ${3 * d}], ${H} heads, median of ${reps}`);
  const qkv = tf.randomNormal([B, T, 3 * d], 0, 1, 'float32', 1);
  const dz = tf.randomNormal([B, T, d], 0, 1, 'float32', 2);
  const rope = ropeTables();
  const rows: Record<string, unknown>[] = [];
  const report = (label: string, r: { fused: number; composed: number }) => {
    rows.push({ case: label, fusedMs: r.fused, composedMs: r.composed, speedup: r.composed / r.fused });
    console.log(`${label.padEnd(34)} fused ${r.fused.toFixed(2).padStart(7)} ms  composed ${r.composed.toFixed(2).padStart(7)} ms  ` +
      `composed/fused ${(r.composed / r.fused).toFixed(2)}x`);
  };
  for (const [label, causal, withRope] of [['causal', true, false], ['causal + RoPE', true, true], ['bidirectional', false, false]] as const) {
    const opts = (impl: 'fused' | 'composed') => ({ heads: H, causal, impl, ...(withRope ? { rope } : {}) });
    report(`${label}: forward`, await timeBoth(reps, async (impl) => {
      const z = attentionOp(qkv, opts(impl));
      await z.data();
      z.dispose();
    }));
    report(`${label}: forward + backward`, await timeBoth(reps, async (impl) => {
      const g = tf.grads((x: Tensor) => attentionOp(x, opts(impl)))([qkv], dz)[0]!;
      await g.data();
      g.dispose();
    }));
  }

  // A training step of the reference LM with Attention.apply fused (auto) and composed.
  const V = 256;
  const lm = createLM({ vocabSize: V, context: T, dModel: d, nLayers: 4, nHeads: H, mlp: 'gelu', mlpRatio: 4, seed: 1 });
  const tokens = tf.randomUniform([B, T], 0, V, 'int32', 3);
  const targets = tf.randomUniform([B, T], 0, V, 'int32', 4);
  const vars = lm.trainableVariables();
  const step = await timeBoth(quick ? 3 : 7, async (impl) => {
    setAttentionImpl(impl === 'fused' ? 'auto' : 'composed');
    const { value, grads } = tf.variableGrads(() => crossEntropy(lm.apply(tokens), targets), vars);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  });
  setAttentionImpl('auto');
  report('LM training step (d128 L4 H4 T64 B16)', step);
  console.log(`LM tokens/s: fused ${((B * T) / (step.fused / 1000)).toFixed(0)}, composed ${((B * T) / (step.composed / 1000)).toFixed(0)}`);
  lm.dispose();
  tf.dispose([qkv, dz, rope.cos, rope.sin, tokens, targets]);
  console.log(`wrote ${writeResults('attention', info.backend, { machine: machineInfo(), backend: info, reps, shape: [B, T, 3 * d], heads: H, rows })}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
