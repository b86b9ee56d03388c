// The kernel module's two builds side by side in one process, one thread: the
// plain build (a multiply and an add) against the relaxed-SIMD build
// (f32x4.relaxed_madd, src/engine/ops/assembly/simd-math.ts madd()), both
// instantiated on one memory and alternated rep by rep, so the ratio is taken
// at the same moments. Kernels: the DyT forward (fast tanh + affine) on
// [4096, 768], tanh-form GELU on the same floats, and the LM's matrix products.
// Sets V8's --experimental-wasm-relaxed-simd for this process (Node 20).
//
// Usage: node --import tsx bench/relaxed-simd.ts [--quick]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as v8 from 'node:v8';
import { machineInfo, median, writeResults } from './support.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const quick = process.argv.includes('--quick');
const reps = quick ? 9 : 31;

type Kernels = Record<string, (...a: number[]) => void>;
const memory = new WebAssembly.Memory({ initial: 2048 }); // 128 MiB
const load = (file: string): Kernels => {
  const bytes = readFileSync(join(__dirname, '..', 'dist', 'wasm', file));
  if (!WebAssembly.validate(bytes)) throw new Error(`${file}: this runtime cannot run it (no relaxed SIMD?)`);
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as unknown as Kernels;
};
const builds = { plain: load('ops.wasm'), relaxed: load('ops-relaxed.wasm') };

// Layout: x, y, gamma, beta, alpha, s, then the product's A, B, C and pack.
const f32 = new Float32Array(memory.buffer);
const R = 4096, C = 768, N = R * C;
const X = 1 << 12, Y = X + 4 * N, G = Y + 4 * N, B = G + 4 * C, A = B + 4 * C, S = A + 16;
const MA = S + 16, MB = MA + 4 * 1024 * 512, MC = MB + 4 * 512 * 512, PACK = MC + 4 * 1024 * 512;
let seed = 1;
const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
for (let i = 0; i < N; i++) f32[X / 4 + i] = 3 * rand();
for (let i = 0; i < C; i++) { f32[G / 4 + i] = 1 + 0.1 * rand(); f32[B / 4 + i] = 0.1 * rand(); }
f32[A / 4] = 0.7;
f32[S / 4] = 0;
for (let i = 0; i < 1024 * 512 + 512 * 512; i++) f32[MA / 4 + i] = rand();

const cases: Array<{ name: string; run: (k: Kernels) => void; flops?: number }> = [
  { name: 'DyT forward [4096, 768] (squash_fwd tanh)', run: (k) => k.squash_fwd!(0, X, Y, R, C, A, 0, S, 0, G, B, 0) },
  { name: 'GELU tanh form, 3.1M floats (gelu_fwd)', run: (k) => k.gelu_fwd!(X, Y, N) },
  { name: 'product [1024,128]x[128,512] (gemm_f32)', run: (k) => k.gemm_f32!(0, 1024, 512, 128, MA, 128, MB, 512, MC, 512, PACK), flops: 2 * 1024 * 128 * 512 },
  { name: 'product [1024,512]x[512,128] (gemm_f32)', run: (k) => k.gemm_f32!(0, 1024, 128, 512, MA, 512, MB, 128, MC, 128, PACK), flops: 2 * 1024 * 512 * 128 },
];

const rows = cases.map(({ name, run, flops }) => {
  const ms = { plain: [] as number[], relaxed: [] as number[] };
  for (let i = 0; i < 3; i++) { run(builds.plain); run(builds.relaxed); }
  for (let i = 0; i < reps; i++) {
    for (const b of ['plain', 'relaxed'] as const) {
      const t0 = performance.now();
      run(builds[b]);
      ms[b].push(performance.now() - t0);
    }
  }
  const p = median(ms.plain), r = median(ms.relaxed);
  return { name, plainMs: p, relaxedMs: r, ratio: r / p, ...(flops ? { plainGflops: flops / p / 1e6, relaxedGflops: flops / r / 1e6 } : {}) };
});

console.log(`relaxed SIMD vs plain build, one thread, median of ${reps} alternating reps (ratio < 1: relaxed faster)`);
for (const r of rows) {
  const gf = r.plainGflops ? `   ${r.plainGflops.toFixed(1)} -> ${r.relaxedGflops!.toFixed(1)} GFLOP/s` : '';
  console.log(`${r.name.padEnd(44)} ${r.plainMs.toFixed(3)} ms -> ${r.relaxedMs.toFixed(3)} ms  ratio ${r.ratio.toFixed(2)}${gf}`);
}
console.log(`wrote ${writeResults('relaxed-simd', 'wasm', { machine: machineInfo(), reps, rows })}`);
