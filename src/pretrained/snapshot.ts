// A Hugging Face snapshot folder read from disk (never the network):
// config.json and the weights, either one model.safetensors or shards listed by
// model.safetensors.index.json ({weight_map: {tensor: file}}). Headers are read
// and validated up front by train/safetensors.ts; a tensor's bytes are read only
// when asked for, one tensor at a time, and F16/BF16 are widened to float32, so
// loading holds at most the model plus one tensor in memory.
// Every error names the folder, the tensor, what was expected and what was found.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  readSafetensorsBytes, readSafetensorsHeader, type SafetensorsEntry, type SafetensorsHeader,
} from '../train/safetensors.js';

export type SnapshotDType = 'F32' | 'F16' | 'BF16';
export const SNAPSHOT_DTYPES: readonly SnapshotDType[] = ['F32', 'F16', 'BF16'];

export interface SnapshotTensor { name: string; dtype: SnapshotDType; shape: number[]; file: string }

export interface Snapshot {
  dir: string;
  /** config.json, parsed. */
  config: Record<string, unknown>;
  /** config.model_type. */
  modelType: string;
  /** Every tensor of the weights, in file (then header) order. */
  names(): string[];
  has(name: string): boolean;
  /** Dtype, shape and file of a tensor; throws naming the folder and the tensor when missing or of a dtype not read here. */
  info(name: string): SnapshotTensor;
  /** The tensor as float32 (F16/BF16 converted), checked against `expectShape` when given. */
  read(name: string, expectShape?: number[]): Float32Array;
  /** Names read so far (a builder reports the rest as unused). */
  used(): Set<string>;
}

const INDEX = 'model.safetensors.index.json', SINGLE = 'model.safetensors';
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Open a snapshot folder: config.json and every safetensors header (no tensor data is read yet). */
export function openSnapshot(dir: string): Snapshot {
  const bad = (why: string) => new Error(`pretrained snapshot ${dir}: ${why}`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw bad('no such folder');
  const config = readJson(join(dir, 'config.json'), bad);
  if (!isObject(config)) throw bad('config.json must be a JSON object');
  const modelType = config.model_type;
  if (typeof modelType !== 'string' || modelType === '') {
    throw bad(`config.json has no model_type (found ${JSON.stringify(modelType)}); expected a string such as "gpt2" or "llama"`);
  }

  // Which file holds which tensor.
  const headers = new Map<string, SafetensorsHeader>();
  const where = new Map<string, { header: SafetensorsHeader; entry: SafetensorsEntry }>();
  const addFile = (file: string) => {
    if (headers.has(file)) return headers.get(file)!;
    if (file !== basename(file) || file.startsWith('.')) throw bad(`${INDEX} names shard '${file}', which is not a file name inside the folder`);
    const path = join(dir, file);
    if (!existsSync(path)) throw bad(`missing shard '${file}' (named by ${INDEX})`);
    const h = readSafetensorsHeader(path);
    headers.set(file, h);
    return h;
  };
  if (existsSync(join(dir, INDEX))) {
    const index = readJson(join(dir, INDEX), bad);
    const map = isObject(index) ? index.weight_map : undefined;
    if (!isObject(map)) throw bad(`${INDEX} has no weight_map object {tensor: file}`);
    for (const [name, file] of Object.entries(map)) {
      if (typeof file !== 'string') throw bad(`${INDEX}: weight_map['${name}'] must be a file name; found ${JSON.stringify(file)}`);
      const h = addFile(file);
      const entry = h.entries.find((e) => e.name === name);
      if (!entry) throw bad(`missing tensor '${name}': ${INDEX} puts it in '${file}', which does not hold it`);
      where.set(name, { header: h, entry });
    }
  } else if (existsSync(join(dir, SINGLE))) {
    const h = addFile(SINGLE);
    for (const entry of h.entries) where.set(entry.name, { header: h, entry });
  } else {
    const files = readdirSync(dir);
    const bin = files.filter((f) => f.endsWith('.bin') || f.endsWith('.pt') || f.endsWith('.pth'));
    throw bad(`no weights: expected ${SINGLE} or ${INDEX}; found ${files.length ? files.join(', ') : 'an empty folder'}` +
      (bin.length ? ' (PyTorch pickles are not read; convert them to safetensors)' : ''));
  }

  const used = new Set<string>();
  const locate = (name: string) => {
    const w = where.get(name);
    if (!w) {
      const near = [...where.keys()].filter((n) => n.endsWith(name.split('.').slice(-2).join('.'))).slice(0, 3);
      throw bad(`missing tensor '${name}'${near.length ? ` (it has ${near.map((n) => `'${n}'`).join(', ')})` : ''}; ${where.size} tensors in all`);
    }
    if (!(SNAPSHOT_DTYPES as readonly string[]).includes(w.entry.dtype)) {
      throw bad(`tensor '${name}' has dtype ${w.entry.dtype}; supported dtypes are ${SNAPSHOT_DTYPES.join(', ')}`);
    }
    return w;
  };
  return {
    dir, config, modelType,
    names: () => [...where.keys()],
    has: (name) => where.has(name),
    info(name) {
      const { header, entry } = locate(name);
      return { name, dtype: entry.dtype as SnapshotDType, shape: [...entry.shape], file: basename(header.path) };
    },
    read(name, expectShape) {
      const { header, entry } = locate(name);
      if (expectShape && (expectShape.length !== entry.shape.length || expectShape.some((d, i) => d !== entry.shape[i]))) {
        throw bad(`tensor '${name}' has shape [${entry.shape.join(', ')}]; expected [${expectShape.join(', ')}]`);
      }
      const fd = openSync(header.path, 'r');
      let bytes: Uint8Array;
      try {
        bytes = readSafetensorsBytes(header, entry, fd);
      } finally {
        closeSync(fd);
      }
      used.add(name);
      return toFloat32(bytes, entry.dtype as SnapshotDType);
    },
    used: () => new Set(used),
  };
}

function readJson(path: string, bad: (why: string) => Error): unknown {
  const file = basename(path);
  if (!existsSync(path)) throw bad(`missing ${file}`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw bad(`${file} is not valid JSON (${(e as Error).message})`);
  }
}

let f16Table: Float32Array | undefined;

/** float16 bit pattern -> float32, every one of the 65536 (subnormals, inf and NaN included). */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    t[h] = exp === 0 ? sign * frac * 2 ** -24
      : exp === 31 ? (frac ? NaN : sign * Infinity)
        : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return (f16Table = t);
}

/** Little-endian bytes of a tensor -> float32 (a view of the same buffer for F32: no copy). */
export function toFloat32(bytes: Uint8Array, dtype: SnapshotDType): Float32Array {
  if (dtype === 'F32') {
    return bytes.byteOffset % 4 === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : new Float32Array(bytes.slice().buffer);
  }
  const src = bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) : new Uint16Array(bytes.slice().buffer);
  const out = new Float32Array(src.length);
  if (dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  } else {
    const t = halfTable();
    for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  }
  return out;
}
