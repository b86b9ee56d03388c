// safetensors files (https://github.com/huggingface/safetensors format):
// 8-byte little-endian header length, a JSON header {name: {dtype, shape,
// data_offsets}, __metadata__: {string: string}}, then the raw little-endian data.
// Written to a temporary file and renamed, so a crash never leaves a truncated
// file under the real name; reading checks every offset and names the problem.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

export type SafeDType = 'F32' | 'I32';
export interface SafeTensor { dtype: SafeDType; shape: number[]; data: Float32Array | Int32Array }
export interface SafeFile { tensors: Record<string, SafeTensor>; metadata: Record<string, string> }

const BYTES: Record<SafeDType, number> = { F32: 4, I32: 4 };

export function writeSafetensors(path: string, tensors: Record<string, SafeTensor>, metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name]!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`safetensors: tensor '${name}' has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n * BYTES[t.dtype]] };
    offset += n * BYTES[t.dtype];
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

export function readSafetensors(path: string): SafeFile {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new Error(`checkpoint ${path}: cannot read: ${(e as Error).message}`);
  }
  const bad = (why: string) => new Error(`checkpoint ${path}: ${why}`);
  if (buf.length < 8) throw bad(`truncated: ${buf.length} bytes, not even a header length`);
  const hlen = Number(buf.readBigUInt64LE(0));
  if (8 + hlen > buf.length) throw bad(`truncated: header says ${hlen} bytes of JSON, file has ${buf.length - 8}`);
  type Entry = { dtype: SafeDType; shape: number[]; data_offsets: [number, number] };
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
  } catch (e) {
    throw bad(`header is not valid JSON (${(e as Error).message}); not a safetensors file?`);
  }
  const data = buf.subarray(8 + hlen);
  const tensors: Record<string, SafeTensor> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: [s, e] } = raw as Entry;
    if (!(dtype in BYTES)) throw bad(`tensor '${name}' has unsupported dtype ${dtype}`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (e - s !== n * BYTES[dtype]) throw bad(`tensor '${name}': offsets [${s}, ${e}] do not fit shape [${shape}]`);
    if (e > data.length) throw bad(`truncated: tensor '${name}' ends at byte ${e} of the data section, which has ${data.length}`);
    const bytes = new Uint8Array(data.subarray(s, e)); // copy: aligned, owned
    tensors[name] = { dtype, shape, data: dtype === 'F32' ? new Float32Array(bytes.buffer) : new Int32Array(bytes.buffer) };
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string> | undefined) ?? {} };
}
