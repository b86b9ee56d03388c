// Backend selection: tensorflow (native, when the user installed it) > wasm > cpu;
// webgpu when asked for.
// The choice is made once per process and remembered, because tfjs kernels,
// fused kernels and every run's provenance depend on it.
//
// webgpu is opt-in (DYTLAB_BACKEND=webgpu or initBackend('webgpu')), not in the
// automatic order: the trainer, evaluation and analyses read tensors
// synchronously (dataSync), which tfjs-webgpu cannot do under Node, so picking
// it by default would break `dytlab train` on every GPU machine. Asked for by
// name it uses a hardware adapter when there is one, else Mesa's llvmpipe
// (software, ~6x slower than wasm; fine for correctness tests).
import { createRequire } from 'node:module';
import { tf } from './tf.js';
import type { GpuAdapterSummary } from './webgpu/dawn.js';
import { relaxedSimdSetting } from './ops/simd.js';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BackendAttempt { backend: BackendName; ok: boolean; reason?: string }

/** What a run records about the engine it ran on. */
export interface BackendInfo {
  backend: BackendName;
  /** Who decided: the DYTLAB_BACKEND variable, the caller's argument, or the automatic order. */
  chosenBy: 'env' | 'argument' | 'auto';
  /** Package that provides the backend and its version. */
  backendPackage: string;
  backendVersion: string;
  tfjsCoreVersion: string;
  node: string;
  platform: string;
  /** wasm only: SIMD build loaded. */
  simd: boolean;
  /** Threads the backend computes with (1 unless wasm threads were opted into, or native). */
  threads: number;
  threadsActive: boolean;
  threadsReason?: string;
  /** Engine fixes installed on this backend (see engine/wasm/). */
  fixes: string[];
  /** Fused norm kernels: registered names, whether they run as SIMD WebAssembly, and why not. */
  fusedKernels: {
    registered: string[]; simd: boolean; reason?: string;
    /** wasm with the SIMD module: whether its relaxed-SIMD build (fused multiply-adds) runs, and why. */
    relaxedSimd?: { on: boolean; reason: string };
  };
  /** Backends tried before this one, and why they were passed over. */
  attempts: BackendAttempt[];
  /** webgpu only: the adapter (name, software or hardware, Dawn backend, features, limits). */
  gpu?: GpuAdapterSummary;
}

let current: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

const requireHere = createRequire(__filename);

function parseBackend(value: string, source: string): BackendName {
  const v = value.trim().toLowerCase();
  if ((BACKEND_NAMES as readonly string[]).includes(v)) return v as BackendName;
  throw new Error(`${source}: unknown backend "${value}"; expected one of ${BACKEND_NAMES.join(', ')}`);
}

function packageVersion(name: string): string {
  try {
    return (requireHere(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Native TensorFlow bindings are optional: they download libtensorflow at install time. */
function loadNative(): { pkg: string } {
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      requireHere.resolve(pkg);
    } catch {
      errors.push(`${pkg} is not installed`);
      continue;
    }
    try {
      requireHere(pkg);
    } catch (e) {
      errors.push(`${pkg} is installed but failed to load: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    if (tf.findBackendFactory('tensorflow') == null) {
      errors.push(`${pkg} loaded but registered its backend on a different @tensorflow/tfjs-core ` +
        `than dytlab's (${tf.version_core}); install versions that share one tfjs-core`);
      continue;
    }
    return { pkg };
  }
  throw new Error(errors.join('; '));
}

type Activated = Pick<BackendInfo, 'backendPackage' | 'simd'> & { gpu?: GpuAdapterSummary };

async function activate(name: BackendName, requested: boolean): Promise<Activated> {
  switch (name) {
    case 'tensorflow': {
      const { pkg } = loadNative();
      if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg}: tf.setBackend('tensorflow') failed`);
      return { backendPackage: pkg, simd: false };
    }
    case 'webgpu': {
      // Software adapters only when asked for by name (see the header).
      const { activateWebGpu } = await import('./webgpu/backend.js');
      const gpu = await activateWebGpu({ allowSoftware: requested });
      return { backendPackage: '@tensorflow/tfjs-backend-webgpu', simd: false, gpu };
    }
    case 'wasm': {
      const { prepareWasm, finishWasm } = await import('./wasm/setup.js');
      prepareWasm();
      if (!(await tf.setBackend('wasm'))) throw new Error(`@tensorflow/tfjs-backend-wasm: initialisation failed`);
      await tf.ready();
      finishWasm();
      await keepThreadsIfCorrect();
      return { backendPackage: '@tensorflow/tfjs-backend-wasm', simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT') };
    }
    case 'cpu': {
      requireHere('@tensorflow/tfjs-backend-cpu');
      if (!(await tf.setBackend('cpu'))) throw new Error(`@tensorflow/tfjs-backend-cpu: initialisation failed`);
      // Its first write prints advice to install tfjs-node, which cannot install on offline machines.
      (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
      return { backendPackage: '@tensorflow/tfjs-backend-cpu', simd: false };
    }
  }
}

/** Threads stay on only if the threaded build passes its self-check; otherwise one thread, with the reason. */
async function keepThreadsIfCorrect(): Promise<void> {
  const { wasmThreadsStatus, abandonWasmThreads } = await import('./wasm-threads.js');
  if (!wasmThreadsStatus().active) return;
  const { threadedMatmulProblem } = await import('./self-check.js');
  const problem = threadedMatmulProblem();
  if (problem) await abandonWasmThreads(`the threaded build failed its self-check (${problem}); using one thread`);
}

/**
 * Choose and initialise the compute backend, once per process.
 * Order: DYTLAB_BACKEND if set, else `preferred` if given, else tensorflow >
 * wasm > cpu (webgpu only when asked for: see the header).
 * An explicitly requested backend that cannot load is an error, not a silent fallback.
 * A later call asking for a different backend than the one active switches to it.
 */
export async function initBackend(preferred?: BackendName): Promise<BackendInfo> {
  const env = process.env.DYTLAB_BACKEND;
  const requested = env ? parseBackend(env, 'DYTLAB_BACKEND') : preferred ? parseBackend(preferred, 'initBackend') : undefined;
  const chosenBy: BackendInfo['chosenBy'] = env ? 'env' : preferred ? 'argument' : 'auto';
  relaxedSimdSetting(); // a bad DYTLAB_RELAXED_SIMD fails here, not as a silent fallback later
  if (pending) await pending.catch(() => undefined);
  if (current && (requested === undefined || requested === current.backend)) return current;
  pending = choose(requested, chosenBy);
  current = await pending;
  return current;
}

async function choose(requested: BackendName | undefined, chosenBy: BackendInfo['chosenBy']): Promise<BackendInfo> {
  const order = requested ? [requested] : BACKEND_NAMES;
  const attempts: BackendAttempt[] = [];
  for (const name of order) {
    if (!requested && name === 'webgpu') {
      attempts.push({ backend: name, ok: false, reason: 'opt-in (DYTLAB_BACKEND=webgpu): the trainer reads tensors synchronously, which tfjs-webgpu cannot do under Node' });
      continue;
    }
    try {
      const got = await activate(name, requested !== undefined);
      return await describe(name, chosenBy, got, attempts);
    } catch (e) {
      attempts.push({ backend: name, ok: false, reason: (e as Error).message });
      if (requested) {
        throw new Error(`backend "${name}" (requested by ${chosenBy === 'env' ? 'DYTLAB_BACKEND' : 'initBackend'}) ` +
          `could not be initialised: ${(e as Error).message}`);
      }
    }
  }
  throw new Error(`no tfjs backend could be initialised: ${attempts.map((a) => `${a.backend}: ${a.reason}`).join('; ')}`);
}

async function describe(name: BackendName, chosenBy: BackendInfo['chosenBy'],
    got: Activated, attempts: BackendAttempt[]): Promise<BackendInfo> {
  const { installFusedKernels } = await import('./setup-ops.js');
  const kernels = installFusedKernels(name);
  let threads = 1, threadsActive = false, threadsReason: string | undefined, fixes: string[] = [];
  if (name === 'wasm') {
    const w = await import('./wasm/setup.js');
    ({ threads, active: threadsActive, reason: threadsReason } = w.wasmThreadInfo());
    fixes = w.installedWasmFixes();
  } else if (name === 'tensorflow') {
    threads = 0; // native TF sizes its own thread pools
    threadsActive = true;
  }
  return {
    backend: name,
    chosenBy,
    backendPackage: got.backendPackage,
    backendVersion: packageVersion(got.backendPackage),
    tfjsCoreVersion: tf.version_core,
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    simd: got.simd,
    threads,
    threadsActive,
    ...(threadsReason ? { threadsReason } : {}),
    fixes,
    fusedKernels: kernels,
    attempts: [...attempts, { backend: name, ok: true }],
    ...(got.gpu ? { gpu: got.gpu } : {}),
  };
}

/** The backend chosen by initBackend in this process, if any. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}
