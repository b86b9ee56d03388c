// The package as a user meets it: `dytlab` resolves from CommonJS and ESM to one
// instance (self-reference through package.json "exports"), and the CLI runs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';

const root = join(__dirname, '..');
const run = (args: string[], cwd = root, env: Record<string, string | undefined> = {}) =>
  spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, DYTLAB_BACKEND: undefined, ...env } });

describe('package', () => {
  test('dist/ is built (npm test builds it first)', () => {
    for (const f of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/cli.js', 'dist/wasm/ops.wasm']) {
      assert.ok(existsSync(join(root, f)), `${f} is missing: run npm run build`);
    }
  });

  test("require('dytlab') and import 'dytlab' from a notebook folder give the same API and one tfjs instance", () => {
    // A script inside the project (as tslab's compiled CommonJS cells are) resolves 'dytlab' by self-reference.
    const dir = mkdtempSync(join(root, 'notebooks', '.selfref-'));
    try {
      writeFileSync(join(dir, 'probe.cjs'), `const d = require('dytlab');
        console.log(JSON.stringify({ cjs: typeof d.createNorm + ',' + typeof d.initBackend }));`);
      writeFileSync(join(dir, 'probe.mjs'), `import * as d from 'dytlab'; import { createRequire } from 'node:module';
        const c = createRequire(import.meta.url)('dytlab');
        console.log(JSON.stringify({ esm: typeof d.createNorm + ',' + typeof d.initBackend, same: d.tf === c.tf && d.createNorm === c.createNorm }));`);
      const cjs = run([join(dir, 'probe.cjs')], dir);
      assert.equal(cjs.status, 0, cjs.stderr);
      assert.deepEqual(JSON.parse(cjs.stdout.trim().split('\n').pop()!), { cjs: 'function,function' });
      const esm = run([join(dir, 'probe.mjs')], dir);
      assert.equal(esm.status, 0, esm.stderr);
      assert.deepEqual(JSON.parse(esm.stdout.trim().split('\n').pop()!), { esm: 'function,function', same: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('dytlab doctor prints the backend, versions, SIMD/threads and passes its self-check', () => {
    const r = run(['bin/dytlab.js', 'doctor'], root, { DYTLAB_WASM_THREADS: '0' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^backend\s+wasm \(chosen automatically\)/m);
    assert.match(r.stdout, /^tfjs-core\s+4\.\d+\.\d+/m);
    assert.match(r.stdout, /^node\s+20\./m);
    assert.match(r.stdout, /^simd\s+yes/m);
    assert.match(r.stdout, /^threads\s+1 \(multithreading off: DYTLAB_WASM_THREADS=0 turns them off/m);
    assert.match(r.stdout, /^self-check\s+ok/m);
    assert.doesNotMatch(r.stdout + r.stderr, /looks like you are running TensorFlow\.js/);
  });

  test('dytlab doctor --json on the cpu backend, and DYTLAB_WASM_THREADS is reported', () => {
    const r = run(['bin/dytlab.js', 'doctor', '--json', '--backend', 'cpu']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.backend, 'cpu');
    assert.equal(j.selfCheck.ok, true);
    const t = run(['bin/dytlab.js', 'doctor'], root, { DYTLAB_WASM_THREADS: '2' });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /^threads\s+2 \(multithreading active\)/m);
  });

  test('unknown commands and options fail with a message', () => {
    const r = run(['bin/dytlab.js', 'frobnicate']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
    const o = run(['bin/dytlab.js', 'doctor', '--backend', 'tpu']);
    assert.equal(o.status, 2);
    assert.match(o.stderr, /option '--backend <name>' argument 'tpu' is invalid\. Allowed choices are tensorflow, webgpu, wasm, cpu/);
  });

  test('every package the library and the kernel load at run time is a dependency, not a devDependency', () => {
    // A user's `npm install dytlab` has no devDependencies: playwright-core, for one, launches the Chromium that exports figures.
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? (e.name === 'generated' ? [] : files(join(dir, e.name))) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []));
    // Value imports (not `import type`), require()/createRequire's function, require.resolve and import(), with a literal name.
    const USE = /^import\s+(?!type\b)[^;]*?\bfrom\s+'([^']+)'|\b(?:require|requireHere)(?:\.resolve)?\(\s*'([^']+)'|\bimport\(\s*'([^']+)'/gm;
    // Looked up only where present, each with its fallback (not needed by an installed dytlab).
    const OPTIONAL: Record<string, string> = {
      tsx: 'sweep workers run from source under tsx only when the parent does',
      '@types/node': "the kernel's type checker finds it if it can, else tslab's own",
    };
    const used = new Map<string, string>();
    for (const f of [...files(join(root, 'src')), ...files(join(root, 'kernel', 'src'))]) {
      for (const m of readFileSync(f, 'utf8').matchAll(USE)) {
        const spec = m[1] ?? m[2] ?? m[3]!;
        if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]!)) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (name !== 'dytlab' && !(name in OPTIONAL) && !used.has(name)) used.set(name, f.slice(root.length + 1));
      }
    }
    assert.ok(used.has('playwright-core') && used.has('zod'), `the scan finds the packages (found: ${[...used.keys()].join(', ')})`);
    const missing = [...used].filter(([n]) => !(n in pkg.dependencies)).map(([n, f]) => `${n} (${f}${n in pkg.devDependencies ? '; a devDependency' : ''})`);
    assert.deepEqual(missing, [], 'move these to dependencies');
  });
});
