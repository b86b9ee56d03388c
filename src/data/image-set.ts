// The in-memory image dataset shape every image loader returns and the
// ImageBatcher consumes: one flat Float32Array of row-major images plus labels.
import { ConfigError } from '../util/schema.js';

export interface ImageSet {
  /** n * height * width pixels, image-major then row-major (single channel). */
  images: Float32Array;
  /** n class ids in [0, classes). */
  labels: Int32Array;
  n: number;
  height: number;
  width: number;
  classes: number;
}

/** Throw a ConfigError naming the field unless `set` is internally consistent. */
export function checkImageSet(set: ImageSet, label: string): void {
  const fail = (msg: string): never => {
    throw new ConfigError(`${label}: ${msg}`);
  };
  if (set == null || typeof set !== 'object') fail(`image set is ${String(set)}`);
  for (const k of ['n', 'height', 'width', 'classes'] as const) {
    const v = set[k];
    if (!Number.isInteger(v) || v < 1) fail(`set.${k} = ${String(v)} is invalid: expected a positive integer`);
  }
  if (!(set.images instanceof Float32Array)) fail('set.images must be a Float32Array');
  if (!(set.labels instanceof Int32Array)) fail('set.labels must be an Int32Array');
  const pixels = set.n * set.height * set.width;
  if (set.images.length !== pixels) {
    fail(`set.images.length = ${set.images.length} is invalid: expected n*height*width = ${pixels}`);
  }
  if (set.labels.length !== set.n) fail(`set.labels.length = ${set.labels.length} is invalid: expected n = ${set.n}`);
  for (let i = 0; i < set.n; i++) {
    const y = set.labels[i]!;
    if (y < 0 || y >= set.classes) fail(`set.labels[${i}] = ${y} is invalid: expected an id in [0, ${set.classes})`);
  }
}

/** Count of each label, for checking balance. */
export function labelCounts(set: Pick<ImageSet, 'labels' | 'classes'>): number[] {
  const counts = new Array<number>(set.classes).fill(0);
  for (const y of set.labels) counts[y] = (counts[y] ?? 0) + 1;
  return counts;
}
