// GFLOP/s of matrix products on the wasm backend in one process: stock
// tfjs-backend-wasm, the engine's XNNPACK rewrites (the SIMD product off), and
// the SIMD product (the default); the ratios are the numbers to read. B is the
// same tensor every repetition, so XNNPACK's cached packing flatters it
// against training, where every B is new. Usage: node --import tsx bench/matmul.ts [--quick]
import { initBackend, tf } from '../src/index.js';
import { matmulFixStats, setMatmulFixEnabled, setSimdGemmEnabled } from '../src/engine/wasm/matmul.js';
import { machineInfo, median, writeResults } from './support.js';

interface Case { name: string; a: number[]; b: number[]; ta: boolean; tb: boolean }

const quick = process.argv.includes('--quick');
// Shapes of the reference small LM (d_model 128, 4 heads, context 64, batch 16) and a square product.
const cases: Case[] = [
  { name: 'square 512 plain', a: [512, 512], b: [512, 512], ta: false, tb: false },
  { name: 'square 512 A^T (weight grad)', a: [512, 512], b: [512, 512], ta: true, tb: false },
  { name: 'square 512 B^T (input grad)', a: [512, 512], b: [512, 512], ta: false, tb: true },
  { name: 'linear [16,64,128]x[128,512]', a: [16, 64, 128], b: [128, 512], ta: false, tb: false },
  { name: 'linear grad dW [1024,128]^T x [1024,512]', a: [1024, 128], b: [1024, 512], ta: true, tb: false },
  { name: 'attn q k^T [64,64,32]', a: [64, 64, 32], b: [64, 64, 32], ta: false, tb: true },
  { name: 'attn p v [64,64,64]x[64,64,32]', a: [64, 64, 64], b: [64, 64, 32], ta: false, tb: false },
  { name: 'attn grad p^T dO [64,64,64]^T', a: [64, 64, 64], b: [64, 64, 32], ta: true, tb: false },
];

function flops(c: Case): number {
  const r = c.a.length;
  const m = c.ta ? c.a[r - 1]! : c.a[r - 2]!, k = c.ta ? c.a[r - 2]! : c.a[r - 1]!;
  const n = c.tb ? c.b[c.b.length - 2]! : c.b[c.b.length - 1]!;
  const batch = c.a.slice(0, -2).reduce((p, d) => p * d, 1);
  return 2 * batch * m * k * n;
}

async function time(f: () => tf.Tensor, reps: number): Promise<number> {
  for (let i = 0; i < 2; i++) { const w = f(); await w.data(); w.dispose(); }
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = f();
    await r.data();
    ts.push(performance.now() - t0);
    r.dispose();
  }
  return median(ts);
}

async function main(): Promise<void> {
  const info = await initBackend('wasm');
  const reps = quick ? 3 : 9;
  const rows: Record<string, unknown>[] = [];
  console.log(`matmul on ${info.backend} (simd ${info.simd}, threads ${info.threads}), median of ${reps}`);
  console.log(`${'case'.padEnd(42)} ${'stock GFLOP/s'.padStart(14)} ${'XNNPACK GFLOP/s'.padStart(16)} ${'SIMD GFLOP/s'.padStart(13)} ${'SIMD/XNNPACK'.padStart(13)}`);
  for (const c of cases) {
    const a = tf.randomNormal(c.a, 0, 1, 'float32', 1), b = tf.randomNormal(c.b, 0, 1, 'float32', 2);
    const f = () => tf.matMul(a, b, c.ta, c.tb);
    setMatmulFixEnabled(false);
    const stock = await time(f, reps);
    setMatmulFixEnabled(true);
    setSimdGemmEnabled(false);
    const xnn = await time(f, reps);
    setSimdGemmEnabled(true);
    const simd = await time(f, reps);
    const g = flops(c) / 1e6;
    rows.push({ case: c.name, stockMs: stock, xnnpackMs: xnn, simdMs: simd, stockGflops: g / stock, xnnpackGflops: g / xnn, simdGflops: g / simd, simdOverXnnpack: xnn / simd });
    console.log(`${c.name.padEnd(42)} ${(g / stock).toFixed(1).padStart(14)} ${(g / xnn).toFixed(1).padStart(16)} ${(g / simd).toFixed(1).padStart(13)} ${(xnn / simd).toFixed(2).padStart(12)}x`);
    tf.dispose([a, b]);
  }
  console.log('routes taken:', JSON.stringify(matmulFixStats));
  const file = writeResults('matmul', info.backend, { machine: machineInfo(), backend: info, reps, rows });
  console.log(`wrote ${file}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
