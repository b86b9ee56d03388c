// One training step (forward + backward) of a small pre-norm transformer LM
// written with raw tf ops, on wasm, with the engine's matmul fix off and on and
// with each norm, measured in one process. The model is the reference size of
// ../shared/ENGINE-NOTES.md: d_model 128, 4 layers, 4 heads, context 64,
// batch 16, MLP 4x with GELU, vocab 256.
// Usage: node --import tsx bench/lm-step.ts [--quick]
import { createNorm, initBackend, tf, type NormLayer, type NormSpec } from '../src/index.js';
import { setMatmulFixEnabled } from '../src/engine/wasm/matmul.js';
import { machineInfo, median, writeResults } from './support.js';

const [D, L, H, T, B, V] = [128, 4, 4, 64, 16, 256];
const quick = process.argv.includes('--quick');

function buildLM(spec: NormSpec) {
  const w = (shape: number[], seed: number, scale = 0.02) => tf.variable(tf.randomNormal(shape, 0, scale, 'float32', seed));
  const blocks = Array.from({ length: L }, (_, i) => ({
    n1: createNorm(spec, D), n2: createNorm(spec, D),
    qkv: w([D, 3 * D], 10 * i + 1), proj: w([D, D], 10 * i + 2), fc: w([D, 4 * D], 10 * i + 3), out: w([4 * D, D], 10 * i + 4),
  }));
  const emb = w([V, D], 1000), pos = w([T, D], 1001), head = w([D, V], 1002), nf: NormLayer = createNorm(spec, D);
  const mask = tf.keep(tf.linalg.bandPart(tf.ones([T, T]), -1, 0));
  // tfjs's matmul gradient does not reduce a broadcast batch: linear layers work on [B*T, d].
  const lin = (x: tf.Tensor, wt: tf.Tensor) => tf.matMul(x.reshape([-1, x.shape[x.rank - 1]!]), wt).reshape([...x.shape.slice(0, -1), wt.shape[1]!]);
  const loss = (tokens: tf.Tensor2D, targets: tf.Tensor2D) => {
    let x = tf.add(tf.gather(emb, tokens), pos) as tf.Tensor3D;
    for (const b of blocks) {
      const h = b.n1.apply(x);
      const qkv = lin(h, b.qkv).reshape([B, T, 3, H, D / H]).transpose([2, 0, 3, 1, 4]);
      const [q, k, v] = tf.unstack(qkv) as tf.Tensor4D[];
      const att = tf.matMul(q!, k!, false, true).mul(1 / Math.sqrt(D / H));
      const p = tf.softmax(tf.where(mask.cast('bool'), att, tf.fill(att.shape, -1e9)));
      const y = tf.matMul(p, v!).transpose([0, 2, 1, 3]).reshape([B, T, D]);
      x = tf.add(x, lin(y, b.proj));
      const m = b.n2.apply(x);
      const g = lin(m, b.fc);
      const gelu = tf.mul(g, tf.sigmoid(tf.mul(g, 1.702))); // sigmoid approximation of GELU
      x = tf.add(x, lin(gelu, b.out));
    }
    const logits = lin(nf.apply(x), head).reshape([B * T, V]);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(targets.reshape([B * T]), V), logits) as tf.Scalar;
  };
  const vars = [emb, pos, head, ...nf.trainableVariables(), ...blocks.flatMap((b) => [b.qkv, b.proj, b.fc, b.out, ...b.n1.trainableVariables(), ...b.n2.trainableVariables()])];
  return { loss, vars };
}

async function main(): Promise<void> {
  const info = await initBackend('wasm');
  const reps = quick ? 3 : 7;
  const tokens = tf.randomUniform([B, T], 0, V, 'int32', 1) as tf.Tensor2D;
  const targets = tf.randomUniform([B, T], 0, V, 'int32', 2) as tf.Tensor2D;
  const rows: Record<string, unknown>[] = [];
  console.log(`LM training step (d${D}, ${L} layers, ${H} heads, ctx ${T}, batch ${B}) on ${info.backend}, median of ${reps}`);
  for (const [label, spec] of [['layernorm', { kind: 'layernorm' }], ['rmsnorm', { kind: 'rmsnorm' }], ['dyt', { kind: 'dyt' }]] as [string, NormSpec][]) {
    const lm = buildLM(spec);
    for (const fix of [false, true]) {
      setMatmulFixEnabled(fix);
      const ts: number[] = [];
      for (let i = 0; i < reps + 1; i++) {
        const t0 = performance.now();
        const { value, grads } = tf.variableGrads(() => lm.loss(tokens, targets), lm.vars);
        await value.data();
        const dt = performance.now() - t0;
        tf.dispose([value, ...Object.values(grads)]);
        if (i > 0) ts.push(dt); // first run warms up
      }
      const ms = median(ts);
      rows.push({ norm: label, matmulFix: fix, stepMs: ms, tokensPerSec: (B * T) / (ms / 1000) });
      console.log(`${label.padEnd(10)} matmul fix ${fix ? 'on ' : 'off'}  ${ms.toFixed(0).padStart(6)} ms/step  ${((B * T) / (ms / 1000)).toFixed(0).padStart(6)} tokens/s`);
    }
    tf.dispose(lm.vars);
  }
  setMatmulFixEnabled(true);
  const on = rows.filter((r) => r.matmulFix), off = rows.filter((r) => !r.matmulFix);
  on.forEach((r, i) => console.log(`${String(r.norm).padEnd(10)} speed-up from the matmul fix: ${((off[i]!.stepMs as number) / (r.stepMs as number)).toFixed(2)}x`));
  console.log(`wrote ${writeResults('lm-step', info.backend, { machine: machineInfo(), backend: info, reps, rows })}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
