// Relaxed SIMD (src/engine/ops/simd.ts): the kernel module has a build whose
// multiply-adds are f32x4.relaxed_madd (fused where the CPU has FMA). It runs
// where the runtime validates relaxed SIMD (Node 22+ by default; Node 20 behind
// V8's --experimental-wasm-relaxed-simd, which DYTLAB_RELAXED_SIMD=1 sets), and
// the float64-reference kernel tests must hold for it as for the plain build.
// Children: the choice is made once per process.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

const root = join(__dirname, '..');

interface ChildResult {
  error?: string;
  relaxed: { on: boolean; reason: string } | null;
  file: string | null;
  threads: number;
  selfCheck: { ok: boolean; dytMaxRelErr: number };
  x: number[];
  y: number[];
}

function child(env: Record<string, string | undefined>, nodeFlags: string[] = []): ChildResult {
  const r = spawnSync(process.execPath, [...nodeFlags, '--import', 'tsx', join(__dirname, 'fixtures', 'relaxed-simd-child.ts')], {
    cwd: root, env: { ...process.env, DYTLAB_RELAXED_SIMD: undefined, ...env }, encoding: 'utf8', timeout: 120_000,
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('@@relaxed '));
  assert.ok(line, `no result (exit ${r.status}):\n${r.stderr.slice(-1500)}`);
  return JSON.parse(line.slice('@@relaxed '.length)) as ChildResult;
}

/** tanh(0.8 x) per element, in float64: the DyT forward's reference with gamma 1, beta 0. */
function assertDyt(j: ChildResult): void {
  j.x.forEach((v, i) => {
    const want = Math.tanh(0.8 * v);
    assert.ok(Math.abs(j.y[i]! - want) <= 1e-6 * Math.abs(want) + 1e-30, `DyT(${v}) = ${j.y[i]}, float64 ${want}`);
  });
}

describe('relaxed SIMD kernel build', () => {
  // The built relaxed module itself tells whether this runtime (unflagged) has relaxed SIMD.
  const runtimeHasIt = WebAssembly.validate(readFileSync(join(root, 'dist', 'wasm', 'ops-relaxed.wasm')));

  test('by default it runs exactly where the runtime has relaxed SIMD, and says why not elsewhere', () => {
    const j = child({});
    assert.equal(j.error, undefined);
    assert.equal(j.relaxed?.on, runtimeHasIt, j.relaxed?.reason);
    assert.equal(j.file?.endsWith('-relaxed.wasm'), runtimeHasIt, `kernel module ${j.file}`);
    if (!runtimeHasIt) assert.match(j.relaxed!.reason, /DYTLAB_RELAXED_SIMD=1/);
    assert.ok(j.selfCheck.ok);
    assertDyt(j);
  });

  test('DYTLAB_RELAXED_SIMD=1 turns it on (setting the V8 flag where needed); the self-check and DyT hold', () => {
    const j = child({ DYTLAB_RELAXED_SIMD: '1' });
    assert.equal(j.error, undefined);
    assert.equal(j.relaxed?.on, true, j.relaxed?.reason);
    assert.match(j.file ?? '', /ops(-shared)?-relaxed\.wasm$/);
    assert.ok(j.selfCheck.ok, `self-check: ${JSON.stringify(j.selfCheck)}`);
    assert.ok(j.selfCheck.dytMaxRelErr < 1e-6);
    assertDyt(j);
  });

  test('DYTLAB_RELAXED_SIMD=0 keeps the plain build even where the runtime has relaxed SIMD', () => {
    const j = child({ DYTLAB_RELAXED_SIMD: '0' }, ['--experimental-wasm-relaxed-simd']);
    assert.equal(j.relaxed?.on, false);
    assert.match(j.relaxed!.reason, /DYTLAB_RELAXED_SIMD=0/);
    assert.match(j.file ?? '', /ops(-shared)?\.wasm$/);
  });

  test('a bad DYTLAB_RELAXED_SIMD is an error that names it and the value', () => {
    const j = child({ DYTLAB_RELAXED_SIMD: 'yes' });
    assert.match(j.error ?? '', /DYTLAB_RELAXED_SIMD=yes: expected 1 .* or 0/);
  });

  test('the float64-reference kernel tests pass on the relaxed build', () => {
    // The same assertions as on the plain build (tanh and exp bounds, every squash shape,
    // the norms, GELU, cross-entropy, attention), here with fused multiply-adds.
    const files = ['kernels', 'norms', 'fused-train-ops', 'fused-attention'].map((f) => join('test', `${f}.test.ts`));
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', ...files], {
      cwd: root, env: { ...process.env, NODE_TEST_CONTEXT: undefined, DYTLAB_RELAXED_SIMD: '1' }, encoding: 'utf8', timeout: 300_000,
    });
    const fail = /^# fail (\d+)/m.exec(r.stdout), pass = /^# pass (\d+)/m.exec(r.stdout);
    assert.ok(pass && fail, `no summary (exit ${r.status}):\n${r.stdout.slice(-1500)}${r.stderr.slice(-800)}`);
    assert.equal(Number(fail[1]), 0, r.stdout.split('\n').filter((l) => /^\s*not ok/.test(l)).join('\n'));
    assert.ok(Number(pass[1]) > 100, `only ${pass[1]} tests ran`);
    assert.equal(r.status, 0);
  });
});
