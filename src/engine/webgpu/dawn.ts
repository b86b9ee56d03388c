/// <reference types="@webgpu/types" />
// Dawn's Node bindings (npm `webgpu`): load them, put `navigator.gpu` and the
// WebGPU globals (GPUBufferUsage, ...) in place, and find an adapter.
//
// Two kinds of adapter matter here:
// - hardware: Dawn's default backend (Vulkan on Linux) on a real GPU;
// - software: Dawn's OpenGL ES backend over Mesa llvmpipe, at WebGPU's
//   'compatibility' feature level (EGL_PLATFORM=surfaceless; Dawn refuses
//   Mesa's lavapipe Vulkan driver). It computes correctly but ~6x slower than
//   tfjs-wasm (ENGINE-NOTES), so it is used only when asked for.
import { existsSync, readdirSync } from 'node:fs';

export interface GpuAdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** llvmpipe, lavapipe, SwiftShader or an adapter Dawn calls a fallback. */
  software: boolean;
  /** Dawn backend asked for ('default' lets Dawn choose: Vulkan on Linux). */
  dawnBackend: string;
  featureLevel: 'core' | 'compatibility';
  features: string[];
  limits: Record<string, number>;
}

export interface OpenedAdapter { gpu: GPU; adapter: GPUAdapter; summary: GpuAdapterSummary }

interface WebGpuModule { create(options: string[]): GPU; globals: Record<string, unknown> }

/** Debian packages behind the software path (EGL + GLES + Mesa's llvmpipe driver). */
export const SOFTWARE_GL_PACKAGES = ['libegl1', 'libegl-mesa0', 'libgles2', 'libgl1-mesa-dri'] as const;

const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|software rasterizer/i;

let loaded: WebGpuModule | undefined;

async function loadDawn(): Promise<WebGpuModule> {
  if (loaded) return loaded;
  let mod: WebGpuModule;
  try {
    // An ES module; dynamic import keeps it out of every process that never asks for WebGPU.
    mod = (await import('webgpu')) as unknown as WebGpuModule;
  } catch (e) {
    throw new Error(`the npm package 'webgpu' (Dawn's Node bindings) could not be loaded: ${(e as Error).message.split('\n')[0]}`);
  }
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  loaded = mod;
  return mod;
}

/** Device files of GPUs a hardware adapter could sit on. */
export function gpuDeviceNodes(): string[] {
  const out: string[] = [];
  for (const [dir, re] of [['/dev', /^nvidia\d+$/], ['/dev/dri', /^renderD\d+$/]] as const) {
    if (!existsSync(dir)) continue;
    try {
      for (const f of readdirSync(dir)) if (re.test(f)) out.push(`${dir}/${f}`);
    } catch { /* unreadable: nothing found there */ }
  }
  return out;
}

export function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return SOFTWARE_NAMES.test(text) || info.isFallbackAdapter === true ||
    (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
}

const LIMIT_NAMES = [
  'maxStorageBuffersPerShaderStage', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension',
] as const;

function summarize(adapter: GPUAdapter, dawnBackend: string, featureLevel: 'core' | 'compatibility'): GpuAdapterSummary {
  const i = adapter.info;
  const limits: Record<string, number> = {};
  for (const k of LIMIT_NAMES) limits[k] = Number((adapter.limits as unknown as Record<string, number>)[k]);
  return {
    vendor: i.vendor ?? '', architecture: i.architecture ?? '', device: i.device ?? '', description: i.description ?? '',
    software: isSoftwareAdapter(adapter), dawnBackend, featureLevel, features: [...adapter.features].sort(), limits,
  };
}

/** Dawn options from DYTLAB_DAWN_OPTIONS ("backend=vulkan,adapter=..."), if set. */
function envOptions(): string[] | undefined {
  const v = process.env.DYTLAB_DAWN_OPTIONS;
  return v ? v.split(/[\s;]+/).filter(Boolean) : undefined;
}

async function tryAdapter(mod: WebGpuModule, options: string[], request: GPURequestAdapterOptions & { featureLevel?: string }):
    Promise<{ gpu: GPU; adapter: GPUAdapter | null }> {
  const gpu = mod.create(options);
  return { gpu, adapter: await gpu.requestAdapter(request) };
}

/**
 * Finds an adapter: DYTLAB_DAWN_OPTIONS if set; else a hardware adapter
 * through Dawn's default backend (only tried when a GPU device file exists);
 * else, when `allowSoftware`, Dawn's OpenGL ES backend on llvmpipe.
 * Throws with every reason when none fits.
 */
export async function openAdapter(opts: { allowSoftware: boolean }): Promise<OpenedAdapter> {
  const reasons: string[] = [];
  const custom = envOptions();
  const nodes = gpuDeviceNodes();
  // Without a GPU device file there is no hardware adapter: do not even load Dawn.
  if (!custom && !nodes.length && !opts.allowSoftware) {
    throw new Error('no GPU device file (/dev/nvidia*, /dev/dri/renderD*): no hardware adapter; ' +
      "the software adapter (llvmpipe) is slower than wasm and is used only when asked for (DYTLAB_BACKEND=webgpu)");
  }
  const mod = await loadDawn();
  if (custom) {
    for (const featureLevel of ['core', 'compatibility'] as const) {
      const { gpu, adapter } = await tryAdapter(mod, custom, { powerPreference: 'high-performance', featureLevel });
      if (adapter) return { gpu, adapter, summary: summarize(adapter, custom.join(' '), featureLevel) };
    }
    throw new Error(`DYTLAB_DAWN_OPTIONS="${process.env.DYTLAB_DAWN_OPTIONS}": Dawn found no adapter with these options`);
  }
  if (nodes.length) {
    const { gpu, adapter } = await tryAdapter(mod, [], { powerPreference: 'high-performance' });
    if (adapter && !isSoftwareAdapter(adapter)) return { gpu, adapter, summary: summarize(adapter, 'default', 'core') };
    reasons.push(adapter
      ? `Dawn's default backend offered only a software adapter (${adapter.info.device || adapter.info.description})`
      : `GPU device files exist (${nodes.join(', ')}) but Dawn's default backend (Vulkan) found no adapter: ` +
        `is libvulkan.so.1 installed and does the driver ship a Vulkan ICD?`);
  } else {
    reasons.push('no GPU device file (/dev/nvidia*, /dev/dri/renderD*)');
  }
  if (!opts.allowSoftware) throw new Error(reasons.join('; '));
  // Mesa's EGL needs a platform without a display server.
  if (!process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
  const { gpu, adapter } = await tryAdapter(mod, ['backend=opengles'], { featureLevel: 'compatibility' });
  if (adapter) return { gpu, adapter, summary: summarize(adapter, 'opengles', 'compatibility') };
  reasons.push(`Dawn's OpenGL ES backend found no adapter either (EGL_PLATFORM=${process.env.EGL_PLATFORM}; ` +
    `it needs Mesa's EGL/GLES and llvmpipe: Debian packages ${SOFTWARE_GL_PACKAGES.join(' ')})`);
  throw new Error(reasons.join('; '));
}

/** Makes `navigator.gpu` visible, as tfjs-backend-webgpu expects (Node 20 has no navigator; Node 21+ has one without gpu). */
export function installNavigatorGpu(gpu: GPU): void {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator && typeof g.navigator === 'object') {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
}
