// One training step of the reference LM, op by op: which tfjs kernels run, how
// many dispatches, and where the time goes. The model and the step are the
// issue's (vocab 96, d_model 128, 4 layers, 4 heads, context 64, batch 16,
// GELU MLP, AdamW), written with the public API only, so the same file runs
// on an older checkout for a before/after table.
// Usage: node --import tsx bench/step-profile.ts [--norm layernorm|dyt] [--reps N] [--markdown]
import { parseArgs } from 'node:util';
import { AdamW, createLM, crossEntropy, initBackend, tf } from '../src/index.js';
import { machineInfo, median, writeResults } from './support.js';

const { values: opts } = parseArgs({
  options: { norm: { type: 'string', default: 'layernorm' }, reps: { type: 'string', default: '10' }, markdown: { type: 'boolean', default: false } },
});
const [V, D, L, H, T, B] = [96, 128, 4, 4, 64, 16];

async function main(): Promise<void> {
  const info = await initBackend('wasm');
  const norm = opts.norm === 'dyt' ? { kind: 'dyt' as const } : { kind: 'layernorm' as const };
  const lm = createLM({ vocabSize: V, context: T, dModel: D, nLayers: L, nHeads: H, mlp: 'gelu', mlpRatio: 4, norm, seed: 1 });
  const params = lm.namedParameters().filter((p) => p.trainable);
  const opt = new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
  const tokens = tf.randomUniform([B, T], 0, V, 'int32', 1), targets = tf.randomUniform([B, T], 0, V, 'int32', 2);
  const step = () => {
    const { value, grads } = tf.variableGrads(() => crossEntropy(lm.apply(tokens), targets) as tf.Scalar, params.map((p) => p.variable));
    opt.apply(new Map(params.map((p) => [p.name, grads[p.variable.name]!])), 1e-3);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
  for (let i = 0; i < 3; i++) step();
  const times: number[] = [];
  for (let i = 0; i < Number(opts.reps); i++) { const t0 = performance.now(); step(); times.push(performance.now() - t0); }
  const stepMs = median(times);
  const prof = await tf.profile(() => { step(); });
  const byKernel = new Map<string, { calls: number; ms: number }>();
  for (const k of prof.kernels) {
    const e = byKernel.get(k.name) ?? { calls: 0, ms: 0 };
    e.calls++; e.ms += Number(k.kernelTimeMs) || 0;
    byKernel.set(k.name, e);
  }
  // tf.customGrad's backward runs as an 'unnamed scope' around the kernels it calls:
  // listed, but left out of the total (its time is already in those kernels).
  const kernelMs = [...byKernel].filter(([n]) => n !== 'unnamed scope').reduce((s, [, e]) => s + e.ms, 0);
  const dispatches = prof.kernels.filter((k) => k.name !== 'unnamed scope').length;
  const rows = [...byKernel].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.ms - a.ms);
  const title = `${norm.kind}: ${stepMs.toFixed(1)} ms/step (median of ${opts.reps}), ${((B * T) / (stepMs / 1000)).toFixed(0)} tokens/s, ` +
    `${dispatches} kernel dispatches, ${kernelMs.toFixed(1)} ms inside kernels; wasm threads ${info.threads}`;
  console.log(title);
  if (opts.markdown) {
    console.log('\n| kernel | calls | ms | share |\n|---|---:|---:|---:|');
    for (const r of rows) console.log(`| ${r.name} | ${r.calls} | ${r.ms.toFixed(2)} | ${((100 * r.ms) / kernelMs).toFixed(1)}% |`);
  } else {
    for (const r of rows) console.log(`${r.name.padEnd(28)} ${String(r.calls).padStart(5)} ${r.ms.toFixed(2).padStart(9)} ms ${((100 * r.ms) / kernelMs).toFixed(1).padStart(5)}%`);
  }
  console.log(`wrote ${writeResults('step-profile', info.backend, { machine: machineInfo(), backend: info, norm: norm.kind, stepMs, dispatches, kernelMs, rows })}`);
  lm.dispose();
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
