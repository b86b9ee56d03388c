#!/usr/bin/env node
// Builds the SIMD kernel module (src/engine/ops/assembly/simd-ops.ts) with
// AssemblyScript into
//   dist/wasm/ops.wasm         imports a plain memory  (single-thread tfjs-wasm)
//   dist/wasm/ops-shared.wasm  imports a shared memory (threaded tfjs-wasm)
//   and the same two with relaxed SIMD (ops-relaxed.wasm, ops-shared-relaxed.wasm)
// and refuses to write them unless the module is safe to run on emscripten's
// heap: its only import is env.memory, it has no data segments, globals,
// tables, start function or memory-management instructions, and a run of every
// export on a guarded scratch memory writes nothing outside its outputs.
//
// Usage: node scripts/build-ops.mjs   (exit code 1 and a message on failure)

import { mkdir, writeFile, readFile } from 'node:fs/promises';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import asc from 'assemblyscript/asc';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'src/engine/ops/assembly/simd-ops.ts');
const outDir = path.join(root, 'dist/wasm');

// The shared variant must declare a maximum; 65536 pages (4 GiB) matches what
// tfjs-wasm's threaded build declares, so its memory is accepted.
const SHARED_MAX_PAGES = 65536;

const COMMON_FLAGS = [
  '-O3',
  '--runtime', 'stub',      // no GC; nothing is ever allocated anyway
  '--importMemory',         // env.memory: tfjs-wasm's heap
  '--noExportMemory',
  '--initialMemory', '0',
  '--noAssert',
  '--use', 'abort=',        // no env.abort import
  '--enable', 'simd',
  '--noColors',
];

const SHARED_FLAGS = ['--sharedMemory', '--maximumMemory', String(SHARED_MAX_PAGES), '--enable', 'threads'];
// The relaxed-SIMD builds differ only in madd() (assembly/simd-math.ts): one
// f32x4.relaxed_madd instead of a multiply and an add. The loader picks them
// where the runtime has relaxed SIMD (src/engine/ops/simd.ts).
const VARIANTS = [
  { file: 'ops.wasm', flags: [], shared: false, relaxed: false },
  { file: 'ops-shared.wasm', flags: SHARED_FLAGS, shared: true, relaxed: false },
  { file: 'ops-relaxed.wasm', flags: ['--enable', 'relaxed-simd'], shared: false, relaxed: true },
  { file: 'ops-shared-relaxed.wasm', flags: [...SHARED_FLAGS, '--enable', 'relaxed-simd'], shared: true, relaxed: true },
];
// Node 20's V8 validates relaxed SIMD only behind this flag (later ones by
// default); the guard check must instantiate those builds too.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

// The exports the loader (src/engine/ops/simd.ts, EXPORT_NAMES) expects: read from
// that file so the list lives in one place; the module must export exactly these.
const EXPECTED_EXPORTS = (() => {
  const loader = fs.readFileSync(path.join(root, 'src/engine/ops/simd.ts'), 'utf8');
  const m = loader.match(/const EXPORT_NAMES = \[([^\]]*)\]/);
  if (!m) throw new Error('scripts/build-ops.mjs: cannot find EXPORT_NAMES in src/engine/ops/simd.ts');
  return [...m[1].matchAll(/'([a-z0-9_]+)'/g)].map((x) => x[1]).sort();
})();

// Instructions/sections that would mean the module manages or owns memory.
const FORBIDDEN_WAT = [
  /\(data\b/, /\(global\b/, /\(table\b/, /\(elem\b/, /\(start\b/,
  /\bmemory\.(grow|size|fill|copy|init)\b/, /\bdata\.drop\b/,
];

class BuildError extends Error {}

async function compile(variant) {
  const outputs = new Map();
  const stderr = [];
  const { error } = await asc.main(
    [path.relative(root, source), ...COMMON_FLAGS, ...variant.flags, '-o', 'out.wasm', '-t', 'out.wat'],
    {
      readFile: async (name, baseDir) => {
        try { return await readFile(path.resolve(baseDir, name), 'utf8'); } catch { return null; }
      },
      writeFile: (name, contents) => { outputs.set(name, contents); },
      listFiles: () => [],
      stdout: { write: () => true },
      stderr: { write: (chunk) => { stderr.push(String(chunk)); return true; } },
    },
  );
  const log = stderr.join('');
  if (error) throw new BuildError(`asc failed for ${variant.file}: ${error.message}\n${log}`);
  // asc reports some problems only as diagnostics; treat any ERROR as fatal.
  if (/\bERROR\b/.test(log)) throw new BuildError(`asc reported errors for ${variant.file}:\n${log}`);
  const binary = outputs.get('out.wasm');
  const text = outputs.get('out.wat');
  if (!(binary instanceof Uint8Array) || typeof text !== 'string') {
    throw new BuildError(`asc produced no output for ${variant.file}\n${log}`);
  }
  return { binary, text: String(text), warnings: log.trim() };
}

function checkStructure(variant, binary, text) {
  const mod = new WebAssembly.Module(binary);
  const imports = WebAssembly.Module.imports(mod);
  if (imports.length !== 1 || imports[0].module !== 'env' || imports[0].name !== 'memory' || imports[0].kind !== 'memory') {
    throw new BuildError(`${variant.file}: expected the single import env.memory, got ${JSON.stringify(imports)}`);
  }
  const memDecl = text.match(/\(import "env" "memory" \(memory \$\d+ ([^)]*)\)\)/);
  if (!memDecl) throw new BuildError(`${variant.file}: cannot find the memory import in the .wat`);
  const wantDecl = variant.shared ? `0 ${SHARED_MAX_PAGES} shared` : '0';
  if (memDecl[1].trim() !== wantDecl) {
    throw new BuildError(`${variant.file}: memory import is "(memory ${memDecl[1]})", expected "(memory ${wantDecl})"`);
  }
  const exports = WebAssembly.Module.exports(mod);
  const names = exports.map((e) => e.name).sort();
  if (JSON.stringify(names) !== JSON.stringify(EXPECTED_EXPORTS) || exports.some((e) => e.kind !== 'function')) {
    throw new BuildError(`${variant.file}: unexpected exports ${JSON.stringify(exports)}`);
  }
  if (variant.relaxed !== text.includes('f32x4.relaxed_madd')) {
    throw new BuildError(`${variant.file}: ${variant.relaxed ? 'no' : 'an unexpected'} f32x4.relaxed_madd in the .wat`);
  }
  for (const pattern of FORBIDDEN_WAT) {
    const hit = text.match(pattern);
    if (hit) throw new BuildError(`${variant.file}: module must not own or manage memory, found "${hit[0]}" in the .wat`);
  }
  return mod;
}

// ---------------------------------------------------------------------------
// Guard check: lay out every buffer with gaps on a fresh memory filled with a
// sentinel, run every export over awkward sizes, and verify that only the
// declared outputs changed.

// gemm_f32's scratch, read from its source so the guard checks the real size.
const GEMM_PACK_FLOATS = (() => {
  const src = fs.readFileSync(path.join(root, 'src/engine/ops/assembly/simd-gemm.ts'), 'utf8');
  const kc = src.match(/export const GEMM_KC: i32 = (\d+);/), nc = src.match(/export const GEMM_NC: i32 = (\d+);/);
  if (!kc || !nc || !/GEMM_PACK_FLOATS: i32 = GEMM_KC \* GEMM_NC \+ 8;/.test(src)) throw new Error('scripts/build-ops.mjs: cannot read GEMM_KC / GEMM_NC / GEMM_PACK_FLOATS from simd-gemm.ts');
  return Number(kc[1]) * Number(nc[1]) + 8;
})();
const SENTINEL = 0x7fc0beef; // a NaN payload that no kernel computes
const GAP = 64; // bytes between buffers

function guardCheck(variant, mod) {
  const memory = variant.shared
    ? new WebAssembly.Memory({ initial: 64, maximum: SHARED_MAX_PAGES, shared: true })
    : new WebAssembly.Memory({ initial: 64 });
  const k = new WebAssembly.Instance(mod, { env: { memory } }).exports;
  const u32 = new Uint32Array(memory.buffer);
  const f32 = new Float32Array(memory.buffer);
  let seed = 12345;
  const rand = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32 * 4 - 2; };

  // A norm backward's chunk record (chunkRecordBytes in src/engine/ops/simd.ts).
  const recordBytes = (fields, C) => ((fields * C * 4 + 15) & ~15) + 16;
  const runCase = (label, specs, call) => {
    // Sentinel over everything this case lays out (and a gap past it), not the whole memory.
    u32.fill(SENTINEL, 0, Math.min(u32.length, (GAP + 4 + specs.reduce((t, [, floats]) => t + floats * 4 + GAP, 0) + 2 * GAP) / 4));
    let at = GAP + 4; // deliberately not 16-byte aligned
    const ptr = {};
    const allowed = [];
    const scratch = [];
    for (const [name, floats, role] of specs) {
      ptr[name] = at;
      if (role === 'in') for (let i = 0; i < floats; i++) f32[at / 4 + i] = rand();
      else if (role === 'scratch') scratch.push([at, at + floats * 4]); // may be written, need not be
      else allowed.push([at, at + floats * 4]);
      at += floats * 4 + GAP;
    }
    const before = u32.slice(0, at / 4 + GAP);
    call(ptr);
    for (let i = 0; i < before.length; i++) {
      if (u32[i] === before[i]) continue;
      const byte = i * 4;
      if (![...allowed, ...scratch].some(([a, b]) => byte >= a && byte < b)) {
        throw new BuildError(`${variant.file}: ${label} wrote outside its outputs at byte ${byte}`);
      }
    }
    for (const [a, b] of allowed) {
      for (let byte = a; byte < b; byte += 4) {
        if (u32[byte / 4] === SENTINEL) throw new BuildError(`${variant.file}: ${label} left output byte ${byte} unwritten`);
      }
    }
  };

  for (const C of [1, 2, 3, 4, 5, 7, 8, 13, 16]) {
    for (const rows of [1, 3, 17]) {
      const n = rows * C;
      runCase(`tanh_f32(n=${n})`, [['x', n, 'in'], ['y', n, 'out']], (p) => k.tanh_f32(p.x, p.y, n));
      for (let kind = 0; kind < 7; kind++) {
        for (const [aPC, sPC] of [[0, 0], [1, 1], [1, 0], [0, 1]]) {
          const aLen = aPC ? C : 1;
          const sLen = sPC ? C : 1;
          const tag = `kind=${kind} rows=${rows} C=${C} alphaPerChannel=${aPC} sPerChannel=${sPC}`;
          runCase(`squash_fwd(${tag})`,
            [['x', n, 'in'], ['alpha', aLen, 'in'], ['s', sLen, 'in'], ['gamma', C, 'in'], ['beta', C, 'in'], ['y', n, 'out']],
            (p) => k.squash_fwd(kind, p.x, p.y, rows, C, p.alpha, aPC, p.s, sPC, p.gamma, p.beta, 0));
          // The training forward also writes f(u) (fOut); the backward then reads it (fIn).
          runCase(`squash_fwd(${tag} fOut)`,
            [['x', n, 'in'], ['alpha', aLen, 'in'], ['s', sLen, 'in'], ['gamma', C, 'in'], ['beta', C, 'in'], ['y', n, 'out'], ['f', n, 'out']],
            (p) => k.squash_fwd(kind, p.x, p.y, rows, C, p.alpha, aPC, p.s, sPC, p.gamma, p.beta, p.f));
          for (const [chunkRows, saved] of [[16, false], [2, false], [16, true]]) {
            const fields = 2 + aPC + sPC, chunks = Math.ceil(rows / chunkRows), rec = recordBytes(fields, C);
            runCase(`squash_bwd(${tag} chunkRows=${chunkRows}${saved ? ' fIn' : ''}) + chunk_reduce`,
              [['x', n, 'in'], ['dy', n, 'in'], ['alpha', aLen, 'in'], ['s', sLen, 'in'], ['gamma', C, 'in'], ['f', n, 'in'],
                ['dx', n, 'out'], ['dalpha', aLen, 'out'], ['ds', sLen, 'out'], ['dgamma', C, 'out'], ['dbeta', C, 'out'],
                ['part', (chunks * rec) / 4, 'scratch']],
              (p) => {
                k.squash_bwd(kind, p.x, p.dy, rows, C, p.alpha, aPC, p.s, sPC, p.gamma, p.dx, p.part, rec, chunkRows, saved ? p.f : 0);
                k.chunk_reduce(p.part, chunks, rec, C, 0, p.dgamma);
                k.chunk_reduce(p.part, chunks, rec, C, 1, p.dbeta);
                k.chunk_reduce(p.part, chunks, rec, C, aPC ? 2 : -1, p.dalpha);
                k.chunk_reduce(p.part, chunks, rec, C, sPC ? 2 + aPC : -2, p.ds);
              });
          }
        }
      }
      runCase(`layernorm_fwd(rows=${rows} C=${C})`,
        [['x', n, 'in'], ['gamma', C, 'in'], ['beta', C, 'in'], ['y', n, 'out'], ['mean', rows, 'out'], ['rstd', rows, 'out']],
        (p) => k.layernorm_fwd(p.x, p.y, rows, C, p.gamma, p.beta, 1e-5, p.mean, p.rstd));
      const chunks = Math.ceil(rows / 16);
      runCase(`layernorm_bwd(rows=${rows} C=${C}) + chunk_reduce`,
        [['x', n, 'in'], ['dy', n, 'in'], ['gamma', C, 'in'], ['mean', rows, 'in'], ['rstd', rows, 'in'],
          ['dx', n, 'out'], ['dgamma', C, 'out'], ['dbeta', C, 'out'], ['part', (chunks * recordBytes(2, C)) / 4, 'scratch']],
        (p) => {
          k.layernorm_bwd(p.x, p.dy, rows, C, p.gamma, p.mean, p.rstd, p.dx, p.part, recordBytes(2, C), 16);
          k.chunk_reduce(p.part, chunks, recordBytes(2, C), C, 0, p.dgamma);
          k.chunk_reduce(p.part, chunks, recordBytes(2, C), C, 1, p.dbeta);
        });
      runCase(`rmsnorm_fwd(rows=${rows} C=${C})`,
        [['x', n, 'in'], ['gamma', C, 'in'], ['y', n, 'out'], ['rstd', rows, 'out']],
        (p) => k.rmsnorm_fwd(p.x, p.y, rows, C, p.gamma, 1e-5, p.rstd));
      runCase(`sum_rows_f32(rows=${rows} C=${C})`, [['x', n, 'in'], ['y', C, 'out']], (p) => k.sum_rows_f32(p.x, p.y, rows, C));
      runCase(`sum_cols_f32(rows=${rows} C=${C})`, [['x', n, 'in'], ['y', rows, 'out']], (p) => k.sum_cols_f32(p.x, p.y, rows, C));
      // gemm_f32: every layout, ragged M/N, and K past one k block (GEMM_KC = 256) so
      // the accumulate path runs; C and the pack scratch are its only outputs.
      for (const flags of [0, 1, 2, 3]) {
        for (const K of [1, 5, 300]) {
          const M = rows + 4, N = C + 5 + (C === 16 ? 600 : 0); // N > GEMM_NC once: two column panels
          runCase(`gemm_f32(flags=${flags} M=${M} N=${N} K=${K})`,
            [['a', M * K, 'in'], ['b', K * N, 'in'], ['c', M * N, 'out'], ['pack', GEMM_PACK_FLOATS, 'scratch']],
            (p) => k.gemm_f32(flags, M, N, K, p.a, flags & 1 ? M : K, p.b, flags & 2 ? K : N, p.c, N, p.pack));
        }
      }
      runCase(`rmsnorm_bwd(rows=${rows} C=${C}) + chunk_reduce`,
        [['x', n, 'in'], ['dy', n, 'in'], ['gamma', C, 'in'], ['rstd', rows, 'in'],
          ['dx', n, 'out'], ['dgamma', C, 'out'], ['part', (chunks * recordBytes(1, C)) / 4, 'scratch']],
        (p) => {
          k.rmsnorm_bwd(p.x, p.dy, rows, C, p.gamma, p.rstd, p.dx, p.part, recordBytes(1, C), 16);
          k.chunk_reduce(p.part, chunks, recordBytes(1, C), C, 0, p.dgamma);
        });
    }
  }
}

async function main() {
  await mkdir(outDir, { recursive: true });
  const built = [];
  for (const variant of VARIANTS) {
    const { binary, text, warnings } = await compile(variant);
    if (warnings) process.stderr.write(`asc warnings for ${variant.file}:\n${warnings}\n`);
    const mod = checkStructure(variant, binary, text);
    guardCheck(variant, mod);
    built.push([variant.file, binary]);
  }
  // Write only once every variant passed, so a failed build leaves no
  // half-updated pair behind.
  for (const [file, binary] of built) {
    await writeFile(path.join(outDir, file), binary);
    console.log(`build-ops: wrote dist/wasm/${file} (${binary.length} bytes)`);
  }
}

main().catch((err) => {
  console.error(`build-ops: FAILED: ${err instanceof BuildError ? err.message : err?.stack ?? err}`);
  process.exit(1);
});
