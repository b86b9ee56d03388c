// `dytlab doctor`: what the engine runs on, and whether it computes correctly.
import { initBackend, type BackendInfo, type BackendName } from '../engine/backend.js';
import { selfCheckAsync, type SelfCheck } from '../engine/self-check.js';
import { VERSION } from '../version.js';

export function formatDoctor(info: BackendInfo, check: SelfCheck): string {
  const rows: [string, string][] = [
    ['dytlab', VERSION],
    ['backend', `${info.backend} (${info.chosenBy === 'auto' ? 'chosen automatically' : info.chosenBy === 'env' ? 'from DYTLAB_BACKEND' : 'requested'})`],
    ['backend package', `${info.backendPackage} ${info.backendVersion}`],
    ['tfjs-core', info.tfjsCoreVersion],
    ['node', `${info.node} ${info.platform}`],
    ['simd', info.backend === 'wasm' ? (info.simd ? 'yes' : 'no') : 'n/a'],
    ['threads', info.threadsActive
      ? `${info.threads || 'native'} (multithreading active)`
      : `${info.threads} (multithreading off${info.threadsReason ? `: ${info.threadsReason}` : info.backend === 'wasm' ? '; DYTLAB_WASM_THREADS=N asks for N' : ''})`],
    ['engine fixes', info.fixes.length ? info.fixes.join(', ') : 'none'],
    ['fused kernels', info.fusedKernels.registered.length
      ? `${info.backend === 'webgpu' ? 'WGSL' : info.fusedKernels.simd ? 'SIMD WebAssembly' : 'JavaScript'}: ${info.fusedKernels.registered.join(', ')}`
      : `none (${info.fusedKernels.reason ?? 'unavailable'})`],
  ];
  if (info.fusedKernels.relaxedSimd) {
    rows.push(['relaxed simd', `${info.fusedKernels.relaxedSimd.on ? 'on' : 'off'}: ${info.fusedKernels.relaxedSimd.reason}`]);
  }
  if (info.fusedKernels.registered.length && info.fusedKernels.reason) rows.push(['kernel note', info.fusedKernels.reason]);
  if (info.gpu) {
    rows.push(['gpu adapter', `${info.gpu.device || info.gpu.description} (${info.gpu.software ? 'software' : 'hardware'}; ` +
      `Dawn ${info.gpu.dawnBackend}, ${info.gpu.featureLevel} feature level)`]);
  }
  for (const a of info.attempts.filter((x) => !x.ok)) rows.push([`skipped ${a.backend}`, a.reason ?? '']);
  rows.push(['self-check', `${check.ok ? 'ok' : 'FAILED'}: ${check.detail}`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** `dytlab doctor`: the backend chosen, the engine's fixes and kernels, a numerical self-check. */
export async function doctorCommand(o: { backend?: BackendName; json: boolean }): Promise<number> {
  const info = await initBackend(o.backend);
  const check = await selfCheckAsync();
  console.log(o.json ? JSON.stringify({ version: VERSION, ...info, selfCheck: check }, null, 2) : formatDoctor(info, check));
  return check.ok ? 0 : 1;
}
