// The CUDA path on a machine without a GPU: the committed PTX/cubin match the
// .cu sources (and every kernel the launchers name is in them), nvcc rebuilds
// them byte for byte where it is the same version, the driver layer says
// "no CUDA driver" clearly, and, through a mock libcuda built from
// test/support/mock-libcuda.c, that koffi marshals every driver call,
// kernel argument and error the way the driver expects. Running the kernels
// themselves needs a GPU: bench/gpu/run.sh checks them against float64.
//
// Run: node --import tsx --test test/cuda.test.ts
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CudaDriver, CudaError, CudaKernels, CudaModules, CUDA_MODULES, NoCudaDriverError, arg, backwardGrid, cudaDir,
  cudaKernelNames, normGeometry, readManifest, sourcesHash, squashPartialWidth, withPtxVersion,
} from '../src/engine/cuda/index.js';

const root = path.join(__dirname, '..');
const built = path.join(cudaDir(), 'generated');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('committed PTX and cubin', () => {
  test('the manifest matches the .cu sources and every output file (rebuild with node scripts/build-cuda.mjs)', () => {
    const m = readManifest();
    const now = sourcesHash(path.join(cudaDir(), 'cu'));
    assert.deepEqual(m.sources, now.sources);
    assert.equal(m.sourcesHash, now.hash, 'the .cu sources changed since src/engine/cuda/generated/ was built');
    assert.equal(m.ptxArch, 'compute_80');
    assert.equal(m.cubinArch, 'sm_90');
    for (const mod of CUDA_MODULES) {
      for (const f of [`${mod}.ptx`, `${mod}.sm_90.cubin`]) {
        assert.ok(m.files[f], `${f} listed`);
        assert.equal(sha256(fs.readFileSync(path.join(built, f))), m.files[f], `${f} matches its recorded hash`);
      }
    }
    // The build script's own check agrees (it exits 1 on stale outputs).
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/build-cuda.mjs'), '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  test('the sources hash changes when a source changes (the check can fail)', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dytlab-cu-'));
    try {
      for (const f of fs.readdirSync(path.join(cudaDir(), 'cu'))) fs.copyFileSync(path.join(cudaDir(), 'cu', f), path.join(tmp, f));
      const before = sourcesHash(tmp).hash;
      fs.appendFileSync(path.join(tmp, 'util.cu'), '\n// edit\n');
      assert.notEqual(sourcesHash(tmp).hash, before);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('every kernel the launchers use is an entry of the PTX and a symbol of the cubin', () => {
    for (const [mod, names] of Object.entries(cudaKernelNames())) {
      const ptx = fs.readFileSync(path.join(built, `${mod}.ptx`), 'utf8');
      const entries = new Set([...ptx.matchAll(/\.entry\s+(\w+)\s*\(/g)].map((x) => x[1]));
      const cubin = fs.readFileSync(path.join(built, `${mod}.sm_90.cubin`));
      assert.equal(cubin.subarray(0, 4).toString('latin1'), '\x7fELF', `${mod} cubin is an ELF image`);
      for (const n of names) {
        assert.ok(entries.has(n), `${mod}.ptx has .entry ${n}`);
        assert.ok(cubin.includes(Buffer.from(`${n}\0`)), `${mod} cubin has ${n}`);
      }
      assert.match(ptx, /^\.target sm_80$/m);
    }
  });

  test('withPtxVersion rewrites only the .version line', () => {
    const ptx = fs.readFileSync(path.join(built, 'util.ptx'), 'utf8');
    const lowered = withPtxVersion(ptx, '7.0');
    assert.match(lowered, /^\.version 7\.0$/m);
    const a = ptx.split('\n'), b = lowered.split('\n');
    assert.equal(a.length, b.length);
    assert.deepEqual(a.filter((l, i) => l !== b[i]).map((l) => l.startsWith('.version')), [true]);
  });

  test('nvcc of the recorded version rebuilds util.ptx byte for byte', (t) => {
    let version: string;
    try {
      version = execFileSync('nvcc', ['--version'], { encoding: 'utf8' }).match(/release [^\n]*/)?.[0] ?? '';
    } catch {
      return t.skip('nvcc is not installed here: the committed PTX is used as is');
    }
    const m = readManifest();
    if (version !== m.nvcc) return t.skip(`nvcc here is "${version}", the PTX was built with "${m.nvcc}"`);
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dytlab-ptx-')), 'util.ptx');
    execFileSync('nvcc', [...m.flags, '-ptx', `-arch=${m.ptxArch}`, 'util.cu', '-o', out], { cwd: path.join(cudaDir(), 'cu') });
    assert.equal(sha256(fs.readFileSync(out)), m.files['util.ptx']);
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
  });
});

describe('launch geometry', () => {
  test('norms: float4 when C % 4 == 0, fewest registers for blocks of <= 256 threads', () => {
    assert.deepEqual(normGeometry(768), { vw: 4, cv: 192, vpt: 1, threads: 192 });
    assert.deepEqual(normGeometry(4096), { vw: 4, cv: 1024, vpt: 4, threads: 256 });
    assert.deepEqual(normGeometry(4096, 1024), { vw: 4, cv: 1024, vpt: 1, threads: 1024 });
    assert.deepEqual(normGeometry(13), { vw: 1, cv: 13, vpt: 1, threads: 32 });
    assert.deepEqual(normGeometry(1030), { vw: 1, cv: 1030, vpt: 8, threads: 160 });
    assert.deepEqual(normGeometry(65536), { vw: 4, cv: 16384, vpt: 16, threads: 1024 });
    assert.throws(() => normGeometry(65540), /C = 65540 is too large/);
    assert.throws(() => normGeometry(0), /positive integer/);
  });

  test('backward: blocks over contiguous runs of rows, partial widths', () => {
    assert.deepEqual(backwardGrid(4096, 132, 4), { blocks: 512, rowsPerBlock: 8 });
    assert.deepEqual(backwardGrid(3, 132, 4), { blocks: 3, rowsPerBlock: 1 });
    assert.deepEqual(backwardGrid(0, 132), { blocks: 0, rowsPerBlock: 0 });
    for (const [rows, sms] of [[4096, 132], [1000, 7], [1, 1], [70_001, 114]]) {
      const g = backwardGrid(rows!, sms!);
      assert.ok(g.blocks * g.rowsPerBlock >= rows! && (g.blocks - 1) * g.rowsPerBlock < rows!, `covers [${rows}] exactly`);
    }
    assert.equal(squashPartialWidth(768, false, false), 1538);
    assert.equal(squashPartialWidth(768, true, false), 2305);
    assert.equal(squashPartialWidth(768, true, true), 3072);
  });
});

describe('driver layer without a driver', () => {
  test('a missing libcuda.so.1 is a clear "no CUDA driver" error', (t) => {
    let present = false;
    try {
      present = /libcuda\.so\.1\b/.test(execFileSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' }));
    } catch { /* no ldconfig: try loading */ }
    if (present) return t.skip('this machine has libcuda.so.1: the device run covers it');
    const saved = process.env.DYTLAB_LIBCUDA;
    delete process.env.DYTLAB_LIBCUDA;
    try {
      assert.throws(() => CudaDriver.load(), (e: Error) => {
        assert.ok(e instanceof NoCudaDriverError);
        assert.match(e.message, /^no CUDA driver: libcuda\.so\.1 not found \(.+\)$/);
        return true;
      });
      assert.throws(() => CudaKernels.open(), NoCudaDriverError);
    } finally {
      if (saved !== undefined) process.env.DYTLAB_LIBCUDA = saved;
    }
  });

  test('DYTLAB_LIBCUDA names the library in the error', () => {
    assert.throws(() => CudaDriver.load('/nonexistent/libcuda.so.1'),
      (e: Error) => /^no CUDA driver: \/nonexistent\/libcuda\.so\.1 not found \(.+\)$/.test(e.message));
  });
});

/** Builds the mock driver with the system C compiler; undefined (with the reason) when there is none. */
function buildMock(): { lib?: string; reason?: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dytlab-mockcuda-'));
  const lib = path.join(dir, 'libcuda.so.1');
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean) as string[]) {
    const r = spawnSync(cc, ['-shared', '-fPIC', '-O1', '-o', lib, path.join(__dirname, 'support', 'mock-libcuda.c')], { encoding: 'utf8' });
    if (r.status === 0) return { lib };
  }
  return { reason: 'no C compiler (cc, gcc, clang) to build test/support/mock-libcuda.c' };
}

describe('driver layer through a mock libcuda', () => {
  const mock = buildMock();
  const skip = mock.lib ? false : mock.reason!;

  test('device queries, memory round trip, memset, copies, events', { skip }, () => {
    const d = CudaDriver.load(mock.lib!);
    assert.equal(d.driverVersion(), 12080);
    assert.equal(d.deviceCount(), 1);
    const k = CudaKernels.open(0, d);
    assert.deepEqual(
      { name: k.info.name, cc: k.info.computeCapability, sms: k.info.multiprocessors, driver: k.info.driverVersion },
      { name: 'Mock GPU (dytlab test driver)', cc: '9.0', sms: 4, driver: '12.8' });
    // 2 x 2619 MHz x 5120 bits / 8 = 3352 GB/s (the H100 SXM's nominal figure).
    assert.ok(Math.abs(k.info.nominalBandwidthGBs - 3352.32) < 0.01, String(k.info.nominalBandwidthGBs));
    const n = 1000;
    const a = d.alloc(4 * n), b = d.alloc(4 * n);
    const src = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    d.upload(a, src);
    d.copy(b, a, 4 * n);
    const back = new Float32Array(n);
    d.download(back, b);
    assert.deepEqual(back, src);
    d.memset32(b, 0x7fc00000, n); // poison: NaN
    d.download(back, b);
    assert.ok(back.every(Number.isNaN));
    d.memset8(b, 0, 4 * n);
    d.copyAsync(a, b, 4 * n);
    d.download(back, a);
    assert.ok(back.every((v) => v === 0));
    const e0 = d.createEvent(), e1 = d.createEvent();
    d.record(e0);
    d.record(e1);
    assert.ok(d.elapsed(e0, e1) >= 0);
    d.destroyEvent(e0);
    d.destroyEvent(e1);
    d.free(a);
    d.free(b);
    k.close();
  });

  test('kernel launches pack pointers, int32, uint32 and float32 arguments', { skip }, () => {
    const d = CudaDriver.load(mock.lib!);
    d.retainPrimaryContext(d.device(0));
    const m = d.loadModule(Buffer.from('//dytlab-mock module'), true);
    const axpy = d.getFunction(m, 'mock_axpy'), fill = d.getFunction(m, 'mock_fill');
    const n = 7;
    const x = d.alloc(4 * n), y = d.alloc(4 * n);
    d.upload(x, Float32Array.from({ length: n }, (_, i) => i));
    d.launch(fill, [1], [32], [arg.ptr(y), arg.i32(n), arg.f32(0.25)]);
    d.launch(axpy, [1], [32], [arg.ptr(y), arg.ptr(x), arg.f32(-1.5), arg.u32(n)]);
    const out = new Float32Array(n);
    d.download(out, y);
    assert.deepEqual(Array.from(out), Array.from({ length: n }, (_, i) => 0.25 - 1.5 * i));
    assert.throws(() => d.launch(fill, [1], [32], [arg.ptr(y), arg.i32(2 ** 31), arg.f32(0)]), /kernel argument 2147483648 is not an int32/);
    d.unloadModule(m);
  });

  test('driver errors are named with cuGetErrorName / cuGetErrorString', { skip }, () => {
    const d = CudaDriver.load(mock.lib!);
    d.retainPrimaryContext(d.device(0));
    const m = d.loadModule(Buffer.from('//dytlab-mock module'), true);
    const check = (f: () => unknown, name: string, re: RegExp): void => {
      assert.throws(f, (e: Error) => {
        assert.ok(e instanceof CudaError, e.message);
        assert.equal(e.errorName, name);
        assert.match(e.message, re);
        return true;
      });
    };
    check(() => d.getFunction(m, 'no_such_kernel'), 'CUDA_ERROR_NOT_FOUND', /cuModuleGetFunction\(no_such_kernel\) failed: CUDA_ERROR_NOT_FOUND \(500\): named symbol not found/);
    check(() => d.alloc(2 ** 41), 'CUDA_ERROR_OUT_OF_MEMORY', /cuMemAlloc_v2\(2199023255552 bytes\) failed: .*out of memory/);
    check(() => d.loadModule(Buffer.from('not an image'), true), 'CUDA_ERROR_INVALID_IMAGE', /cuModuleLoadData/);
    check(() => d.device(3), 'CUDA_ERROR_INVALID_DEVICE', /cuDeviceGet/);
    const fill = d.getFunction(m, 'mock_fill'), y = d.alloc(16);
    check(() => d.launch(fill, [1], [32], [arg.ptr(y), arg.i32(-1), arg.f32(0)], 0, 'mock_fill'), 'CUDA_ERROR_LAUNCH_FAILED', /cuLaunchKernel\(mock_fill\)/);
  });

  test('cuInit failing (no device) is reported with the driver name of the error', { skip }, () => {
    process.env.MOCK_CUDA_NO_DEVICE = '1';
    try {
      assert.throws(() => CudaDriver.load(mock.lib!), /cuInit failed: CUDA_ERROR_NO_DEVICE \(100\): no CUDA-capable device is detected/);
    } finally {
      delete process.env.MOCK_CUDA_NO_DEVICE;
    }
  });

  test('modules: cubin first on sm_90, PTX when the cubin is refused, each fallback recorded', { skip }, () => {
    const d = CudaDriver.load(mock.lib!);
    d.retainPrimaryContext(d.device(0));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dytlab-mods-'));
    fs.mkdirSync(path.join(dir, 'generated'));
    // The mock accepts text starting with //dytlab-mock: the "cubin" here is refused, the PTX loads.
    fs.writeFileSync(path.join(dir, 'generated', 'util.sm_90.cubin'), '\x7fELF not for the mock');
    fs.writeFileSync(path.join(dir, 'generated', 'util.ptx'), '//dytlab-mock util\n.version 9.0\n');
    const mods = new CudaModules(d, { major: 9, minor: 0 }, dir);
    assert.ok(mods.fn('util', 'mock_axpy'));
    assert.equal(mods.loaded['util']!.image, 'ptx');
    assert.match(mods.loaded['util']!.fallbacks[0]!, /^cubin: cuModuleLoadData failed: CUDA_ERROR_INVALID_IMAGE/);
    // Another architecture goes straight to PTX.
    const other = new CudaModules(d, { major: 8, minor: 0 }, dir);
    other.fn('util', 'mock_fill');
    assert.deepEqual(other.loaded['util'], { image: 'ptx', fallbacks: [] });
    mods.unload();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
