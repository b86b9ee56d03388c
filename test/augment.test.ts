import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomShift } from '../src/data/augment.js';
import { Rng } from '../src/data/rng.js';
import type { ImageBatch } from '../src/data/batching.js';

function dot(n: number, H: number, W: number, y: number, x: number): ImageBatch {
  const img = new Float32Array(n * H * W).fill(-0.5);
  for (let i = 0; i < n; i++) img[i * H * W + y * W + x] = 1;
  return { kind: 'images', x: img, y: new Int32Array(n), batch: n, height: H, width: W, indices: new Int32Array(n) };
}

test('randomShift moves each image as a whole, fills with the background, and is seeded', () => {
  const b = dot(50, 9, 9, 4, 4);
  const s = randomShift(b, 2, new Rng(3));
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const img = s.x.subarray(i * 81, (i + 1) * 81);
    const at = img.indexOf(1);
    assert.ok(at >= 0, 'the bright pixel left the image');
    const [y, x] = [Math.floor(at / 9), at % 9];
    assert.ok(Math.abs(y - 4) <= 2 && Math.abs(x - 4) <= 2);
    assert.equal(img.filter((v) => v === -0.5).length, 80);
    seen.add(`${y},${x}`);
  }
  assert.ok(seen.size > 10, 'shifts should vary');
  assert.deepEqual(Array.from(randomShift(b, 2, new Rng(3)).x), Array.from(s.x));
  assert.deepEqual(Array.from(randomShift(b, 0, new Rng(3)).x), Array.from(b.x));
  assert.equal(b.x[4 * 9 + 4], 1, 'the input batch must not change');
  assert.throws(() => randomShift(b, -1, new Rng(1)), /maxShift = -1/);
});
