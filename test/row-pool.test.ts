// Row-parallel SIMD kernels (src/engine/ops/row-pool.ts): with wasm threads on,
// the squash, LayerNorm, RMSNorm and GELU forwards, the norm backwards (at chunk starts), GELU's backward, fused attention (by batch) and the matrix product split their rows across helper
// threads on the shared heap. Each row is computed by the same code whichever
// thread runs it, so the results must be bitwise those of one thread; this runs
// in a child because the threaded backend is chosen once per process.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GEMM_PACK_FLOATS } from '../src/engine/ops/row-pool.js';

describe('row pool', () => {
  test('the pool gives each product share the scratch the SIMD module uses (GEMM_PACK_FLOATS = GEMM_KC * GEMM_NC + 8)', () => {
    const src = readFileSync(join(__dirname, '..', 'src', 'engine', 'ops', 'assembly', 'simd-gemm.ts'), 'utf8');
    const kc = /export const GEMM_KC: i32 = (\d+);/.exec(src), nc = /export const GEMM_NC: i32 = (\d+);/.exec(src);
    assert.ok(kc && nc && /GEMM_PACK_FLOATS: i32 = GEMM_KC \* GEMM_NC \+ 8;/.test(src), 'simd-gemm.ts no longer states GEMM_KC / GEMM_NC / GEMM_PACK_FLOATS as this test reads them');
    assert.equal(GEMM_PACK_FLOATS, Number(kc[1]) * Number(nc[1]) + 8);
  });

  for (const relaxed of ['0', '1']) test(`threaded kernels (forwards and backwards) equal one thread bit for bit, and the helpers really run (${relaxed === '1' ? 'relaxed-SIMD build' : 'plain build'})`,
    { skip: availableParallelism() < 2 ? 'one CPU: wasm threads (and so the pool) are off by design' : false }, () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'row-pool-child.ts')], {
        cwd: join(__dirname, '..'), env: { ...process.env, DYTLAB_WASM_THREADS: '2', DYTLAB_RELAXED_SIMD: relaxed }, encoding: 'utf8', timeout: 120_000,
      });
      const line = r.stdout.split('\n').find((l) => l.startsWith('@@rowpool '));
      assert.ok(line, `no result (exit ${r.status}):\n${r.stderr.slice(-1500)}`);
      const j = JSON.parse(line.slice('@@rowpool '.length)) as { threads: number; pool: { threads: number; ready: number }; same: Record<string, boolean>; helped: number; file: string };
      assert.equal(j.threads, 2);
      assert.match(j.file, relaxed === '1' ? /-relaxed\.wasm$/ : /ops-shared\.wasm$/, 'the helpers load the module the main thread uses');
      assert.equal(j.pool.threads, 2, 'one helper besides the main thread');
      assert.equal(j.pool.ready, 1, 'the helper instantiated the module on the shared memory');
      assert.ok(j.helped > 0, 'the helper computed none of 20 large jobs\' shares');
      assert.deepEqual(j.same, { dyt: true, dytChannel: true, layernorm: true, rmsnorm: true,
        dytGrad: true, dytChannelGrad: true, layernormGrad: true, rmsnormGrad: true, gelu: true, geluExactGrad: true, biasGelu: true, attention: true, attentionGrad: true, matmul: true, matmulTransposed: true });
    });
});
