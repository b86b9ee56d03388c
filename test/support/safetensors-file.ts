// Hand-made safetensors files for tests: any header (valid or not) over any data.
import { readFileSync, writeFileSync } from 'node:fs';

/** Write an 8-byte length, `header` (a JSON value, or raw text when a string) and `data`. */
export function writeRawSafetensors(path: string, header: unknown, data: Uint8Array = new Uint8Array(0)): void {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, data]));
}

/** Split a safetensors file into its parsed header and its data section. */
export function splitSafetensors(path: string): { header: Record<string, any>; data: Buffer } {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')), data: buf.subarray(8 + n) };
}

/** Rewrite a file's header in place (the data section is kept byte for byte). */
export function editSafetensorsHeader(path: string, edit: (header: Record<string, any>) => void): void {
  const { header, data } = splitSafetensors(path);
  edit(header);
  writeRawSafetensors(path, header, data);
}
