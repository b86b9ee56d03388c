#!/usr/bin/env node
// Builds the CUDA kernels (src/engine/cuda/cu/*.cu) with nvcc into
// src/engine/cuda/generated/:
//   <module>.ptx          PTX for compute_80 (the driver JIT-compiles it for any GPU from Ampere on)
//   <module>.sm_90.cubin  machine code for Hopper (H100/H200), loaded as is
//   manifest.json         sha256 of the sources they came from, nvcc version, flags, sha256 of each output
// The outputs are committed: machines without nvcc (CI, the lent GPU machines)
// use them, and test/cuda.test.ts checks that the manifest matches the sources.
//
// Without nvcc this never fails: it says that the committed files are used, and
// warns loudly when they are stale (sources changed since they were built).
// With nvcc it rebuilds only when the sources changed (or with --force).
//
// Usage: node scripts/build-cuda.mjs [--force] [--check]
//   --check: exit 1 if the committed outputs do not match the sources (no build).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cudaDir = path.join(root, 'src/engine/cuda');
const sourcesDir = path.join(cudaDir, 'cu');
const generatedDir = path.join(cudaDir, 'generated');
const manifestFile = path.join(generatedDir, 'manifest.json');

const MODULES = ['squash', 'norms', 'util'];
const PTX_ARCH = 'compute_80';
const CUBIN_ARCH = 'sm_90';
// -O3 and C++17; no fast math (tanhf/erff/expf stay accurate); line info off (smaller, reproducible).
const FLAGS = ['-O3', '-std=c++17'];
// The loader retries PTX at this ISA version on drivers older than the nvcc
// that wrote it (src/engine/cuda/modules.ts); ptxas checks here that it assembles.
const COMPAT_PTX_VERSION = '7.0';

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// Keep in sync with sourcesHash() in src/engine/cuda/modules.ts.
function sourcesHash() {
  const sources = readdirSync(sourcesDir).filter((f) => /\.(cu|cuh)$/.test(f)).sort();
  const h = createHash('sha256');
  for (const f of sources) {
    h.update(f);
    h.update('\0');
    h.update(readFileSync(path.join(sourcesDir, f)));
    h.update('\0');
  }
  return { hash: h.digest('hex'), sources };
}

function findNvcc() {
  const candidates = [process.env.NVCC, 'nvcc', '/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc'].filter(Boolean);
  for (const c of candidates) {
    try {
      const v = execFileSync(c, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      return { nvcc: c, version: (v.match(/release [^\n]*/) ?? [v.trim().split('\n').pop()])[0] };
    } catch { /* not this one */ }
  }
  return undefined;
}

function readManifest() {
  return existsSync(manifestFile) ? JSON.parse(readFileSync(manifestFile, 'utf8')) : undefined;
}

/** Problems with the committed outputs: stale sources, missing or edited files. */
function problems(manifest, current) {
  if (!manifest) return [`${path.relative(root, manifestFile)} is missing`];
  const out = [];
  if (manifest.sourcesHash !== current.hash) out.push('the .cu sources changed since the committed PTX/cubin were built');
  for (const [file, hash] of Object.entries(manifest.files ?? {})) {
    const p = path.join(generatedDir, file);
    if (!existsSync(p)) out.push(`${file} is missing`);
    else if (sha256(readFileSync(p)) !== hash) out.push(`${file} does not match the manifest (edited by hand?)`);
  }
  return out;
}

/** The PTX with its version lowered to COMPAT_PTX_VERSION must still assemble for sm_80. */
function checkCompatPtx(nvcc) {
  const ptxas = path.join(path.dirname(nvcc.nvcc), 'ptxas');
  const tmp = mkdtempSync(path.join(tmpdir(), 'dytlab-ptx-'));
  try {
    for (const m of MODULES) {
      const ptx = readFileSync(path.join(generatedDir, `${m}.ptx`), 'utf8').replace(/^\.version\s+\d+\.\d+\s*$/m, `.version ${COMPAT_PTX_VERSION}`);
      const f = path.join(tmp, `${m}.ptx`);
      writeFileSync(f, ptx);
      try {
        execFileSync(existsSync(ptxas) ? ptxas : 'ptxas', ['-arch=sm_80', f, '-o', path.join(tmp, `${m}.cubin`)], { stdio: 'pipe' });
      } catch (e) {
        throw new Error(`build-cuda: ${m}.ptx does not assemble at PTX ISA ${COMPAT_PTX_VERSION} (older drivers could not load it): ${e.stderr ?? e.message}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function build(nvcc, current) {
  mkdirSync(generatedDir, { recursive: true });
  const files = {};
  for (const m of MODULES) {
    const src = path.join(sourcesDir, `${m}.cu`);
    const ptx = `${m}.ptx`, cubin = `${m}.${CUBIN_ARCH}.cubin`;
    execFileSync(nvcc.nvcc, [...FLAGS, '-ptx', `-arch=${PTX_ARCH}`, src, '-o', path.join(generatedDir, ptx)], { stdio: 'inherit', cwd: sourcesDir });
    execFileSync(nvcc.nvcc, [...FLAGS, '-cubin', `-arch=${CUBIN_ARCH}`, src, '-o', path.join(generatedDir, cubin)], { stdio: 'inherit', cwd: sourcesDir });
    // PTX carries no paths or dates; normalise line endings anyway.
    files[ptx] = sha256(readFileSync(path.join(generatedDir, ptx)));
    files[cubin] = sha256(readFileSync(path.join(generatedDir, cubin)));
  }
  checkCompatPtx(nvcc);
  for (const f of readdirSync(generatedDir)) if (!(f in files) && f !== 'manifest.json') rmSync(path.join(generatedDir, f));
  const manifest = {
    sourcesHash: current.hash, sources: current.sources, nvcc: nvcc.version, flags: FLAGS,
    ptxArch: PTX_ARCH, cubinArch: CUBIN_ARCH, files,
  };
  writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

const args = process.argv.slice(2);
const current = sourcesHash();
const manifest = readManifest();
const issues = problems(manifest, current);

if (args.includes('--check')) {
  if (issues.length) {
    console.error(`build-cuda: committed CUDA outputs are out of date: ${issues.join('; ')}`);
    process.exit(1);
  }
  console.log('build-cuda: committed PTX/cubin match the sources');
  process.exit(0);
}

const nvcc = findNvcc();
if (!nvcc) {
  if (issues.length) {
    console.warn(`build-cuda: WARNING: nvcc not found and the committed CUDA outputs are stale: ${issues.join('; ')}. ` +
      'Rebuild them on a machine with nvcc (node scripts/build-cuda.mjs) and commit src/engine/cuda/generated/.');
  } else {
    console.log('build-cuda: nvcc not found; using the committed PTX/cubin (they match the sources)');
  }
  process.exit(0);
}
if (!issues.length && !args.includes('--force')) {
  console.log(`build-cuda: PTX/cubin up to date (sources unchanged; ${nvcc.version})`);
  process.exit(0);
}
const t0 = Date.now();
build(nvcc, current);
console.log(`build-cuda: built ${MODULES.length} modules to PTX (${PTX_ARCH}) and cubin (${CUBIN_ARCH}) with nvcc ${nvcc.version} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
