// The safetensors reader: every header entry validated (dtype, shape,
// data_offsets inside the data section, sizes, no overlaps, metadata), errors
// that name the file, the tensor, what was expected and what was found, and the
// header checked against the file's size before any data is read.
import { after, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  readSafetensors, readSafetensorsBytes, readSafetensorsHeader, SAFETENSORS_DTYPES, SAFETENSORS_MAX_HEADER_BYTES, writeSafetensors,
} from '../src/train/safetensors.js';
import { writeRawSafetensors } from './support/safetensors-file.js';

const dir = mkdtempSync(join(tmpdir(), 'dytlab-safetensors-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const fresh = () => join(dir, `f${counter++}.safetensors`);

/** Bytes 0..n-1, so a tensor read from the wrong place shows. */
const ramp = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);

/** Two float32 tensors of 4 values each (a: bytes 0-16, b: 16-32) with an editable header. */
function twoTensors(edit: (h: Record<string, any>) => void = () => {}): string {
  const header: Record<string, any> = {
    __metadata__: { format: 'test' },
    a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
    b: { dtype: 'F32', shape: [2, 2], data_offsets: [16, 32] },
  };
  edit(header);
  const path = fresh();
  writeRawSafetensors(path, header, ramp(32));
  return path;
}

/** The error `readSafetensors` throws: never a raw TypeError/RangeError, always naming the file. */
function readError(path: string): Error {
  let err: unknown;
  try {
    readSafetensors(path);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, `readSafetensors(${path}) did not throw`);
  assert.ok(!(err instanceof TypeError) && !(err instanceof RangeError), `raw ${err.constructor.name}: ${err.message}`);
  assert.ok(err.message.startsWith(`checkpoint ${path}: `), `the error does not name the file: ${err.message}`);
  return err;
}

describe('safetensors reader', () => {
  test('negative data_offsets are refused, naming file, tensor, expected and found (they used to read another tensor\'s bytes)', () => {
    // [-32, -16] has the right length (16 bytes for 4 floats); read with subarray it is tensor a's bytes.
    const path = twoTensors((h) => { h.b.data_offsets = [-32, -16]; });
    assert.match(readError(path).message, /: tensor 'b': data_offsets \[-32, -16\] must be non-negative integers$/);
    const path2 = twoTensors((h) => { h.a.data_offsets = [-16, 0]; });
    assert.match(readError(path2).message, /tensor 'a': data_offsets \[-16, 0\] must be non-negative integers/);
  });

  test('every malformed header entry is a named error, not a TypeError', () => {
    const cases: [string, (h: Record<string, any>) => void, RegExp][] = [
      ['unknown dtype', (h) => { h.a.dtype = 'F33'; }, /tensor 'a': dtype must be one of F64, F32, .*BF16.*; found "F33"/],
      ['missing dtype', (h) => { delete h.a.dtype; }, /tensor 'a': dtype must be one of .*; found undefined/],
      ['dtype not a string', (h) => { h.a.dtype = 4; }, /tensor 'a': dtype must be one of .*; found 4/],
      ['shape a string', (h) => { h.a.shape = '4'; }, /tensor 'a': shape must be an array of non-negative integers; found "4"/],
      ['shape missing', (h) => { delete h.a.shape; }, /tensor 'a': shape must be an array of non-negative integers; found undefined/],
      ['negative dimension', (h) => { h.a.shape = [-4]; }, /tensor 'a': shape must be an array of non-negative integers; found \[-4\]/],
      ['fractional dimension', (h) => { h.a.shape = [2.5]; }, /tensor 'a': shape must be an array of non-negative integers; found \[2\.5\]/],
      ['offsets not a pair', (h) => { h.a.data_offsets = [0, 8, 16]; }, /tensor 'a': data_offsets must be a pair \[start, end\]; found \[0,8,16\]/],
      ['offsets missing', (h) => { delete h.a.data_offsets; }, /tensor 'a': data_offsets must be a pair \[start, end\]; found undefined/],
      ['offsets not integers', (h) => { h.a.data_offsets = [0, 'x']; }, /tensor 'a': data_offsets \[0, "x"\] must be non-negative integers/],
      ['offsets fractional', (h) => { h.a.data_offsets = [0.5, 16.5]; }, /tensor 'a': data_offsets \[0\.5, 16\.5\] must be non-negative integers/],
      ['end before start', (h) => { h.b.data_offsets = [32, 16]; }, /tensor 'b': data_offsets \[32, 16\]: end is before start/],
      ['past the data section', (h) => { h.b.data_offsets = [32, 48]; },
        /truncated: tensor 'b' ends at byte 48 of the data section, which has 32 bytes \(data_offsets \[32, 48\]\)/],
      ['size does not fit the shape', (h) => { h.b.shape = [3]; }, /tensor 'b': data_offsets \[16, 32\] hold 16 bytes; shape \[3\] of F32 needs 12/],
      ['overlapping tensors', (h) => { h.b.data_offsets = [8, 24]; }, /tensor 'b': data_offsets \[8, 24\] overlap tensor 'a' \(\[0, 16\]\)/],
      ['entry not an object', (h) => { h.a = null; }, /tensor 'a': entry must be an object \{dtype, shape, data_offsets\}; found null/],
      ['entry an array', (h) => { h.a = [1]; }, /tensor 'a': entry must be an object \{dtype, shape, data_offsets\}; found \[1\]/],
      ['metadata not a map', (h) => { h.__metadata__ = ['x']; }, /__metadata__ must be an object of string values; found \["x"\]/],
      ['metadata value not a string', (h) => { h.__metadata__ = { step: 10 }; }, /__metadata__\.step must be a string; found 10/],
    ];
    for (const [what, edit, re] of cases) assert.match(readError(twoTensors(edit)).message, re, what);
  });

  test('a header that is not a JSON object of tensors is a named error', () => {
    const cases: [string, RegExp][] = [
      ['{"a": ', /header is not valid JSON \(.*\); not a safetensors file\?/],
      ['[]', /header must be a JSON object of tensors; found \[\]/],
      ['null', /header must be a JSON object of tensors; found null/],
      ['42', /header must be a JSON object of tensors; found 42/],
      ['"text"', /header must be a JSON object of tensors; found "text"/],
    ];
    for (const [text, re] of cases) {
      const path = fresh();
      writeRawSafetensors(path, text);
      assert.match(readError(path).message, re, text);
    }
  });

  test('header lengths past the file or over the limit are refused before reading them', () => {
    const path = fresh();
    writeRawSafetensors(path, '{}');
    const buf = fs.readFileSync(path);
    buf.writeBigUInt64LE(2n ** 63n, 0);
    writeFileSync(path, buf);
    assert.match(readError(path).message, /truncated: header says 9223372036854775808 bytes of JSON, the file has 2 after the length/);
    writeFileSync(path, 'short');
    assert.match(readError(path).message, /truncated: 5 bytes, not even a header length/);
  });

  test('a large file with a bogus header fails fast, from the header alone, without reading the data', () => {
    // 3 GB, sparse (no disk): reading it whole is impossible (over 2 GiB), so only a header-first reader gives these errors.
    const size = 3_000_000_000;
    const big = join(dir, 'big.safetensors');
    writeRawSafetensors(big, { w: { dtype: 'F32', shape: [1_000_000_000], data_offsets: [0, 4_000_000_000] } });
    truncateSync(big, size);
    assert.match(readError(big).message, /truncated: tensor 'w' ends at byte 4000000000 of the data section, which has \d+ bytes/);
    // A header length inside the file but over the limit.
    const huge = join(dir, 'huge.safetensors');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(200_000_000n);
    writeFileSync(huge, len);
    truncateSync(huge, size);
    assert.match(readError(huge).message, new RegExp(`header length 200000000 bytes is over the limit of ${SAFETENSORS_MAX_HEADER_BYTES} bytes`));
    rmSync(huge);
    // A valid 3 GB file: its header is read with 2 small fd reads (length, JSON), never the whole file.
    const header = { w: { dtype: 'U8', shape: [size - 200], data_offsets: [0, size - 200] } };
    const json = JSON.stringify(header);
    const pad = ' '.repeat(200 - 8 - json.length);
    writeRawSafetensors(big, json + pad);
    truncateSync(big, size);
    const readFile = mock.method(fs, 'readFileSync');
    const readSync = mock.method(fs, 'readSync');
    try {
      const h = readSafetensorsHeader(big);
      assert.equal(h.fileSize, size);
      assert.equal(h.dataStart, 200);
      assert.equal(h.entries.length, 1);
      assert.deepEqual(h.entries[0], { name: 'w', dtype: 'U8', shape: [size - 200], dataOffsets: [0, size - 200], byteLength: size - 200 });
      assert.equal(readFile.mock.callCount(), 0, 'readFileSync was used');
      const bytesRead = readSync.mock.calls.reduce((s, c) => s + (c.result as number), 0);
      assert.equal(bytesRead, 200, 'more than the header was read');
    } finally {
      readFile.mock.restore();
      readSync.mock.restore();
      rmSync(big);
    }
  });

  test('valid files: every dtype of the table, scalars, empty tensors, raw bytes by entry', () => {
    assert.deepEqual(SAFETENSORS_DTYPES.BF16, 2);
    assert.deepEqual(SAFETENSORS_DTYPES.F64, 8);
    const path = fresh();
    writeRawSafetensors(path, {
      __metadata__: { note: 'mixed' },
      half: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 8] },
      brain: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
      empty: { dtype: 'F32', shape: [0, 3], data_offsets: [12, 12] },
      scalar: { dtype: 'F32', shape: [], data_offsets: [12, 16] },
      flags: { dtype: 'BOOL', shape: [4], data_offsets: [16, 20] },
      big: { dtype: 'I64', shape: [1], data_offsets: [24, 32] }, // a gap 20-24 is allowed; overlaps are not
    }, ramp(32));
    const h = readSafetensorsHeader(path);
    assert.deepEqual(h.metadata, { note: 'mixed' });
    assert.deepEqual(h.entries.map((e) => e.name), ['half', 'brain', 'empty', 'scalar', 'flags', 'big']);
    assert.equal(h.dataLength, 32);
    const half = h.entries.find((e) => e.name === 'half')!;
    assert.deepEqual(Array.from(readSafetensorsBytes(h, half)), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(Array.from(readSafetensorsBytes(h, 'big')), [24, 25, 26, 27, 28, 29, 30, 31]);
    assert.equal(readSafetensorsBytes(h, 'empty').length, 0);
    assert.throws(() => readSafetensorsBytes(h, 'nope'), /checkpoint .*: no tensor 'nope' \(it has half, brain, empty, scalar, flags, big\)/);
    // readSafetensors decodes F32 and I32; other dtypes are named (read their bytes instead).
    assert.match(readError(path).message, /tensor 'half': dtype F16 cannot be decoded here \(F32, I32 can\); read its bytes with readSafetensorsBytes/);
  });

  test('round trip through writeSafetensors, read tensor by tensor', () => {
    const path = fresh();
    writeSafetensors(path, {
      w: { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, NaN]) },
      ids: { dtype: 'I32', shape: [2], data: Int32Array.from([7, -1]) },
      s: { dtype: 'F32', shape: [], data: Float32Array.from([0.5]) },
    }, { step: '10' });
    const h = readSafetensorsHeader(path);
    assert.equal(h.dataStart % 8, 0, 'the data section is 8-byte aligned');
    const f = readSafetensors(path);
    assert.deepEqual(f.metadata, { step: '10' });
    assert.deepEqual(Object.keys(f.tensors).sort(), ['ids', 's', 'w']);
    assert.deepEqual(Array.from(f.tensors.ids!.data), [7, -1]);
    assert.deepEqual(f.tensors.s!.shape, []);
    assert.ok(f.tensors.w!.data instanceof Float32Array && Number.isNaN(f.tensors.w!.data[5]));
  });
});
