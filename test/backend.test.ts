// Backend choice: automatic order, the DYTLAB_BACKEND override, clear errors.
// Each scenario runs in a fresh process because the choice is once per process.
import { availableParallelism } from 'node:os';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..');
function probe(env: Record<string, string | undefined>, arg?: string): { ok: boolean; info?: Record<string, unknown>; error?: string } {
  const script = `const { initBackend } = require('./src/index.ts');
    initBackend(${arg ? JSON.stringify(arg) : ''}).then((i) => console.log(JSON.stringify({ ok: true, info: i })),
      (e) => console.log(JSON.stringify({ ok: false, error: e.message })));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: root, env: { ...process.env, DYTLAB_BACKEND: undefined, DYTLAB_WASM_THREADS: undefined, ...env }, encoding: 'utf8', timeout: 60_000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`probe failed (status ${r.status}): ${r.stdout}\n${r.stderr}`);
  }
}

describe('initBackend', () => {
  test('automatic choice: tensorflow is tried first (not installed here), then wasm is chosen', () => {
    const r = probe({});
    assert.ok(r.ok, r.error);
    const info = r.info!;
    assert.equal(info.chosenBy, 'auto');
    const attempts = info.attempts as { backend: string; ok: boolean; reason?: string }[];
    let native = false;
    try { execFileSync(process.execPath, ['-e', "require.resolve('@tensorflow/tfjs-node')"], { cwd: root, stdio: 'ignore' }); native = true; } catch { /* not installed */ }
    if (native) {
      assert.equal(info.backend, 'tensorflow');
    } else {
      assert.equal(info.backend, 'wasm');
      assert.equal(attempts[0]!.backend, 'tensorflow');
      assert.match(attempts[0]!.reason!, /tfjs-node.* is not installed/);
      assert.equal(info.simd, true);
      // Threads are on by default where there are 2+ CPUs (and pass the self-check).
      const multi = availableParallelism() >= 2;
      assert.equal(info.threadsActive, multi, String(info.threadsReason));
      assert.equal(info.threads, multi ? Math.min(availableParallelism(), 8) : 1);
      assert.equal((info.fusedKernels as { simd: boolean }).simd, true);
    }
    for (const k of ['backendVersion', 'tfjsCoreVersion', 'node']) assert.match(String(info[k]), /^\d+\.\d+\.\d+/);
  });

  test('DYTLAB_BACKEND overrides the argument', () => {
    const r = probe({ DYTLAB_BACKEND: 'cpu' }, 'wasm');
    assert.ok(r.ok, r.error);
    assert.equal(r.info!.backend, 'cpu');
    assert.equal(r.info!.chosenBy, 'env');
  });

  test('the argument is used when the variable is unset', () => {
    const r = probe({}, 'cpu');
    assert.equal(r.info!.backend, 'cpu');
    assert.equal(r.info!.chosenBy, 'argument');
  });

  test('an unknown DYTLAB_BACKEND value is an error naming the variable and the value', () => {
    const r = probe({ DYTLAB_BACKEND: 'cuda' });
    assert.equal(r.ok, false);
    assert.match(r.error!, /DYTLAB_BACKEND/);
    assert.match(r.error!, /"cuda"/);
    assert.match(r.error!, /tensorflow, webgpu, wasm, cpu/);
  });

  test('an explicitly requested backend that cannot load is an error, not a silent fallback', () => {
    const r = probe({ DYTLAB_BACKEND: 'tensorflow' });
    let native = false;
    try { execFileSync(process.execPath, ['-e', "require('@tensorflow/tfjs-node')"], { cwd: root, stdio: 'ignore' }); native = true; } catch { /* not installed */ }
    if (native) return assert.equal(r.info!.backend, 'tensorflow');
    assert.equal(r.ok, false);
    assert.match(r.error!, /backend "tensorflow".*could not be initialised/);
    assert.match(r.error!, /@tensorflow\/tfjs-node is not installed/);
  });
});
