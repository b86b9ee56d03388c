// Shared by the benchmarks: medians, machine facts, result files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { relaxedSimdStatus } from '../src/engine/ops/simd.js';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function machineInfo(): Record<string, unknown> {
  return {
    cpu: cpus()[0]?.model, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.versions.node,
    // Which kernel build ran (src/engine/ops/simd.ts): its numbers differ from the plain build's.
    relaxedSimd: relaxedSimdStatus().on, date: new Date().toISOString(),
  };
}

/** Write `data` to bench/results/<name>-<backend>-<timestamp>.json and return the path. */
export function writeResults(name: string, backend: string, data: unknown): string {
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${backend}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(data, null, 2));
  return file;
}
