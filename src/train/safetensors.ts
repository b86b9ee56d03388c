// safetensors files (https://github.com/huggingface/safetensors format):
// 8-byte little-endian header length, a JSON header {name: {dtype, shape,
// data_offsets}, __metadata__: {string: string}}, then the raw little-endian data.
// Written to a temporary file and renamed, so a crash never leaves a truncated
// file under the real name.
//
// Reading is header first: the 8-byte length is bounded (by the file's size and
// SAFETENSORS_MAX_HEADER_BYTES), the header is read and every entry validated
// against the file's size (dtype, shape, data_offsets inside the data section and
// matching the shape, no two tensors overlapping), and only then is any tensor's
// data read, one tensor at a time. Every error names the file, the tensor, what
// was expected and what was found.
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { showValue } from '../util/schema.js';

/** Every dtype of the safetensors format, with its size in bytes. */
export const SAFETENSORS_DTYPES = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
} as const;
export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPES;

/** The largest header accepted (the reference implementation's limit): a bogus length fails before anything is read. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** The dtypes `readSafetensors` decodes into typed arrays (and `writeSafetensors` writes). */
export type SafeDType = 'F32' | 'I32';
export interface SafeTensor { dtype: SafeDType; shape: number[]; data: Float32Array | Int32Array }
export interface SafeFile { tensors: Record<string, SafeTensor>; metadata: Record<string, string> }

/** One validated header entry. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** [start, end) in bytes, relative to the start of the data section. */
  dataOffsets: [number, number];
  byteLength: number;
}

/** A file's validated header: where its data section is, its entries (in header order) and metadata. */
export interface SafetensorsHeader {
  path: string;
  fileSize: number;
  /** Bytes of JSON after the 8-byte length. */
  headerLength: number;
  /** Absolute file offset of the data section (8 + headerLength). */
  dataStart: number;
  dataLength: number;
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
}

const DTYPE_NAMES = Object.keys(SAFETENSORS_DTYPES) as SafetensorsDType[];
const DECODERS: Record<SafeDType, (b: ArrayBuffer) => Float32Array | Int32Array> = {
  F32: (b) => new Float32Array(b),
  I32: (b) => new Int32Array(b),
};

export function writeSafetensors(path: string, tensors: Record<string, SafeTensor>, metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name]!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`safetensors: tensor '${name}' has ${t.data.length} values for shape [${t.shape}]`);
    const bytes = n * SAFETENSORS_DTYPES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // align the data section to 8 bytes
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, head);
    writeSync(fd, Buffer.from(json));
    for (const name of names) {
      const d = tensors[name]!.data;
      writeSync(fd, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validate a parsed header against the size of the data section. `bad` makes the
 * error (it adds the file). Entries come back in header order.
 */
export function validateSafetensorsHeader(header: unknown, dataLength: number, bad: (why: string) => Error):
    { entries: SafetensorsEntry[]; metadata: Record<string, string> } {
  if (!isPlainObject(header)) throw bad(`header must be a JSON object of tensors; found ${showValue(header)}`);
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(raw)) throw bad(`__metadata__ must be an object of string values; found ${showValue(raw)}`);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw bad(`__metadata__.${k} must be a string; found ${showValue(v)}`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const at = `tensor '${name}'`;
    if (!isPlainObject(raw)) throw bad(`${at}: entry must be an object {dtype, shape, data_offsets}; found ${showValue(raw)}`);
    const { dtype, shape, data_offsets: offsets } = raw;
    if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPES, dtype)) {
      throw bad(`${at}: dtype must be one of ${DTYPE_NAMES.join(', ')}; found ${showValue(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw bad(`${at}: shape must be an array of non-negative integers; found ${showValue(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      throw bad(`${at}: data_offsets must be a pair [start, end]; found ${showValue(offsets)}`);
    }
    const [s, e] = offsets as unknown[];
    const shown = `data_offsets [${showValue(s)}, ${showValue(e)}]`;
    if (!isCount(s) || !isCount(e)) throw bad(`${at}: ${shown} must be non-negative integers`);
    if (e < s) throw bad(`${at}: ${shown}: end is before start`);
    if (e > dataLength) throw bad(`truncated: ${at} ends at byte ${e} of the data section, which has ${dataLength} bytes (${shown})`);
    const size = SAFETENSORS_DTYPES[dtype as SafetensorsDType];
    const need = (shape as number[]).reduce((a, b) => a * b, 1) * size;
    if (need !== e - s) throw bad(`${at}: ${shown} hold ${e - s} bytes; shape [${shape.join(', ')}] of ${dtype} needs ${need}`);
    entries.push({ name, dtype: dtype as SafetensorsDType, shape: [...shape] as number[], dataOffsets: [s, e], byteLength: e - s });
  }
  // No two tensors share bytes (gaps are allowed). Empty tensors overlap nothing.
  const sorted = entries.filter((x) => x.byteLength > 0).sort((x, y) => x.dataOffsets[0] - y.dataOffsets[0]);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!, cur = sorted[i]!;
    if (cur.dataOffsets[0] < prev.dataOffsets[1]) {
      throw bad(`tensor '${cur.name}': data_offsets [${cur.dataOffsets.join(', ')}] overlap tensor '${prev.name}' ([${prev.dataOffsets.join(', ')}])`);
    }
  }
  return { entries, metadata };
}

/** Read exactly `length` bytes at `position` into `into`, or throw (a short read means the file shrank). */
function readExactly(fd: number, into: Uint8Array, position: number, bad: (why: string) => Error, what: string): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw bad(`truncated: ${what}: expected ${into.length} bytes at offset ${position}, the file ended after ${done}`);
    done += n;
  }
}

function openForReading(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    throw new Error(`checkpoint ${path}: cannot read: ${(e as Error).message}`);
  }
}

function headerFromFd(path: string, fd: number): SafetensorsHeader {
  const bad = (why: string) => new Error(`checkpoint ${path}: ${why}`);
  const fileSize = fstatSync(fd).size;
  if (fileSize < 8) throw bad(`truncated: ${fileSize} bytes, not even a header length`);
  const head = new Uint8Array(8);
  readExactly(fd, head, 0, bad, 'header length');
  const hlen = Buffer.from(head.buffer).readBigUInt64LE(0);
  if (hlen > BigInt(fileSize - 8)) {
    throw bad(`truncated: header says ${hlen} bytes of JSON, the file has ${fileSize - 8} after the length (not a safetensors file?)`);
  }
  if (hlen > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) {
    throw bad(`header length ${hlen} bytes is over the limit of ${SAFETENSORS_MAX_HEADER_BYTES} bytes (not a safetensors file?)`);
  }
  const headerLength = Number(hlen);
  const json = new Uint8Array(headerLength);
  readExactly(fd, json, 8, bad, 'header');
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(json.buffer, 0, headerLength).toString('utf8'));
  } catch (e) {
    throw bad(`header is not valid JSON (${(e as Error).message}); not a safetensors file?`);
  }
  const dataStart = 8 + headerLength, dataLength = fileSize - dataStart;
  const { entries, metadata } = validateSafetensorsHeader(header, dataLength, bad);
  return { path, fileSize, headerLength, dataStart, dataLength, entries, metadata };
}

/** Read and validate a file's header (only the header's bytes are read). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openForReading(path);
  try {
    return headerFromFd(path, fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The raw (little-endian) bytes of one tensor, by entry or name, in a fresh
 * buffer of its own (aligned for any typed array). `fd` reuses an open file.
 */
export function readSafetensorsBytes(header: SafetensorsHeader, entry: SafetensorsEntry | string, fd?: number): Uint8Array {
  const bad = (why: string) => new Error(`checkpoint ${header.path}: ${why}`);
  const e = typeof entry === 'string' ? header.entries.find((x) => x.name === entry) : entry;
  if (!e) throw bad(`no tensor '${String(entry)}' (it has ${header.entries.map((x) => x.name).join(', ') || 'none'})`);
  const own = fd === undefined ? openForReading(header.path) : undefined;
  try {
    const bytes = new Uint8Array(e.byteLength);
    readExactly(own ?? fd!, bytes, header.dataStart + e.dataOffsets[0], bad, `tensor '${e.name}'`);
    return bytes;
  } finally {
    if (own !== undefined) closeSync(own);
  }
}

/** A file of F32/I32 tensors (what writeSafetensors writes), header first, then each tensor. */
export function readSafetensors(path: string): SafeFile {
  const fd = openForReading(path);
  try {
    const header = headerFromFd(path, fd);
    for (const e of header.entries) {
      if (!Object.hasOwn(DECODERS, e.dtype)) {
        throw new Error(`checkpoint ${path}: tensor '${e.name}': dtype ${e.dtype} cannot be decoded here (${Object.keys(DECODERS).join(', ')} can); read its bytes with readSafetensorsBytes`);
      }
    }
    const tensors: Record<string, SafeTensor> = {};
    for (const e of header.entries) {
      const bytes = readSafetensorsBytes(header, e, fd);
      tensors[e.name] = { dtype: e.dtype as SafeDType, shape: e.shape, data: DECODERS[e.dtype as SafeDType](bytes.buffer as ArrayBuffer) };
    }
    return { tensors, metadata: header.metadata };
  } finally {
    closeSync(fd);
  }
}
