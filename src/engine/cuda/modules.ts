// The compiled CUDA kernels: PTX (compute_80, JIT-compiled by the driver on
// any GPU from Ampere on) and sm_90 cubins (Hopper, loaded as is), built by
// scripts/build-cuda.mjs from cu/*.cu and committed under generated/ with a
// manifest recording the hash of the sources they came from, so machines
// without nvcc (CI, the lent GPU machines) use them as they are.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../util/paths.js';
import { CudaError } from './driver.js';
import type { CudaDriver, Handle } from './driver.js';

export const CUDA_MODULES = ['squash', 'norms', 'util'] as const;
export type CudaModuleName = (typeof CUDA_MODULES)[number];

export const PTX_ARCH = 'compute_80';
export const CUBIN_ARCH = 'sm_90';
/**
 * nvcc 13 writes PTX ISA 9.0, which drivers older than CUDA 13 refuse
 * (CUDA_ERROR_UNSUPPORTED_PTX_VERSION); the kernels use nothing newer than
 * ISA 7.0 (sm_80's own version), which scripts/build-cuda.mjs checks with
 * ptxas, so the loader can lower the version line and retry.
 */
export const COMPAT_PTX_VERSION = '7.0';

/** The PTX text with its `.version` line set to `version`. */
export function withPtxVersion(ptx: string, version: string): string {
  return ptx.replace(/^\.version\s+\d+\.\d+\s*$/m, `.version ${version}`);
}

export interface CudaManifest {
  /** sha256 over every source file (name and bytes, sorted by name): see sourcesHash(). */
  sourcesHash: string;
  sources: string[];
  nvcc: string;
  flags: string[];
  ptxArch: string;
  cubinArch: string;
  files: Record<string, string>;
}

/** src/engine/cuda (sources in cu/, outputs in generated/); DYTLAB_CUDA_DIR overrides. */
export function cudaDir(): string {
  if (process.env.DYTLAB_CUDA_DIR) return process.env.DYTLAB_CUDA_DIR;
  const root = packageRoot();
  if (root === undefined) throw new Error('cannot find the dytlab package root (package.json) to locate src/engine/cuda/generated');
  return path.join(root, 'src', 'engine', 'cuda');
}

/** The hash the manifest records: sha256 of "name\0bytes\0" for each .cu/.cuh file, sorted by name. */
export function sourcesHash(kernelsDir: string): { hash: string; sources: string[] } {
  const sources = fs.readdirSync(kernelsDir).filter((f) => /\.(cu|cuh)$/.test(f)).sort();
  const h = createHash('sha256');
  for (const f of sources) {
    h.update(f);
    h.update('\0');
    h.update(fs.readFileSync(path.join(kernelsDir, f)));
    h.update('\0');
  }
  return { hash: h.digest('hex'), sources };
}

export function readManifest(dir = cudaDir()): CudaManifest {
  const file = path.join(dir, 'generated', 'manifest.json');
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run node scripts/build-cuda.mjs on a machine with nvcc`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as CudaManifest;
}

/** Which image a device loads: the cubin on the exact architecture it was built for, else PTX. */
export function imageFor(name: CudaModuleName, cc: { major: number; minor: number }, dir = cudaDir()): { file: string; kind: 'cubin' | 'ptx' } {
  const cubin = path.join(dir, 'generated', `${name}.${CUBIN_ARCH}.cubin`);
  if (`sm_${cc.major}${cc.minor}` === CUBIN_ARCH && fs.existsSync(cubin)) return { file: cubin, kind: 'cubin' };
  return { file: path.join(dir, 'generated', `${name}.ptx`), kind: 'ptx' };
}

/** Modules loaded into the current context, and their functions, looked up once. */
export class CudaModules {
  private readonly modules = new Map<CudaModuleName, Handle>();
  private readonly functions = new Map<string, Handle>();
  /** Per module: the image that loaded ('cubin', 'ptx', 'ptx-isa7.0'), and why earlier ones did not. */
  readonly loaded: Record<string, { image: string; fallbacks: string[] }> = {};

  constructor(private readonly driver: CudaDriver, private readonly cc: { major: number; minor: number }, private readonly dir = cudaDir()) {}

  private module(name: CudaModuleName): Handle {
    let m = this.modules.get(name);
    if (m === undefined) {
      m = this.loadWithFallbacks(name);
      this.modules.set(name, m);
    }
    return m;
  }

  /** cubin (on its own architecture), else PTX as built, else PTX at ISA 7.0 for older drivers. */
  private loadWithFallbacks(name: CudaModuleName): Handle {
    const { file, kind } = imageFor(name, this.cc, this.dir);
    const ptxFile = path.join(this.dir, 'generated', `${name}.ptx`);
    if (!fs.existsSync(ptxFile)) throw new Error(`${ptxFile} is missing: run node scripts/build-cuda.mjs`);
    const fallbacks: string[] = [];
    const attempts: Array<[string, () => Handle]> = [];
    if (kind === 'cubin') attempts.push(['cubin', () => this.driver.loadModule(fs.readFileSync(file), false)]);
    const ptx = fs.readFileSync(ptxFile, 'utf8');
    attempts.push(['ptx', () => this.driver.loadModule(Buffer.from(ptx), true)]);
    attempts.push([`ptx-isa${COMPAT_PTX_VERSION}`, () => this.driver.loadModule(Buffer.from(withPtxVersion(ptx, COMPAT_PTX_VERSION)), true)]);
    for (const [image, load] of attempts) {
      try {
        const m = load();
        this.loaded[name] = { image, fallbacks };
        return m;
      } catch (e) {
        if (!(e instanceof CudaError)) throw e;
        fallbacks.push(`${image}: ${e.message}`);
      }
    }
    throw new Error(`CUDA module ${name} could not be loaded: ${fallbacks.join('; ')}`);
  }

  fn(module: CudaModuleName, name: string): Handle {
    const key = `${module}:${name}`;
    let f = this.functions.get(key);
    if (f === undefined) {
      f = this.driver.getFunction(this.module(module), name);
      this.functions.set(key, f);
    }
    return f;
  }

  unload(): void {
    for (const m of this.modules.values()) this.driver.unloadModule(m);
    this.modules.clear();
    this.functions.clear();
  }
}
