// One training step (forward + backward) of a small LM on wasm, with the engine's
// matmul fix off and on, for each norm, measured in one process. The model is
// the reference size of ../shared/ENGINE-NOTES.md (d_model 128, 4 layers, 4 heads,
// context 64, batch 16, MLP 4x with GELU, vocab 256), built by createLM.
// Usage: node --import tsx bench/lm-step.ts [--quick]
import { createLM, crossEntropy, initBackend, tf, type NormSpec } from '../src/index.js';
import { setMatmulFixEnabled } from '../src/engine/wasm/matmul.js';
import { machineInfo, median, writeResults } from './support.js';

const [D, L, H, T, B, V] = [128, 4, 4, 64, 16, 256];
const quick = process.argv.includes('--quick');

function buildLM(norm: NormSpec) {
  const lm = createLM({ vocabSize: V, context: T, dModel: D, nLayers: L, nHeads: H, mlp: 'gelu', mlpRatio: 4, norm, seed: 1 });
  return { loss: (tokens: tf.Tensor, targets: tf.Tensor) => crossEntropy(lm.apply(tokens), targets), vars: lm.trainableVariables(), dispose: () => lm.dispose() };
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
    lm.dispose();
  }
  setMatmulFixEnabled(true);
  const on = rows.filter((r) => r.matmulFix), off = rows.filter((r) => !r.matmulFix);
  on.forEach((r, i) => console.log(`${String(r.norm).padEnd(10)} speed-up from the matmul fix: ${((off[i]!.stepMs as number) / (r.stepMs as number)).toFixed(2)}x`));
  console.log(`wrote ${writeResults('lm-step', info.backend, { machine: machineInfo(), backend: info, reps, rows })}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
