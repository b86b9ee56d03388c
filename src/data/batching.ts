// Seeded, deterministic batch iterators with resumable state. Pure TypeScript:
// no tfjs here (see tensors.ts), so data order is testable without a backend.
//
// Resuming: `state()` is plain JSON; `restore(state)` on a batcher built over the
// same data continues with exactly the batches the original would have produced.
import { z } from 'zod';
import { ConfigError, parseWith } from '../util/schema.js';
import { checkImageSet, type ImageSet } from './image-set.js';
import { positiveInt, rngStateSchema, seedSchema } from './options.js';
import { Rng, type RngState } from './rng.js';

/** B windows of T = context tokens: x[b*T + t] = stream[start_b + t], y[b*T + t] = stream[start_b + t + 1]. */
export interface TokenBatch {
  kind: 'tokens';
  x: Int32Array;
  y: Int32Array;
  batch: number;
  context: number;
  /** Where each window starts in the stream. */
  starts: Int32Array;
}

/** B images: x is [B * height * width] row-major, y the B labels. */
export interface ImageBatch {
  kind: 'images';
  x: Float32Array;
  y: Int32Array;
  batch: number;
  height: number;
  width: number;
  /** Which images of the set, in batch order. */
  indices: Int32Array;
}

// ---------------------------------------------------------------- tokens

export interface TokenBatcherOptions {
  batch: number;
  /** Tokens per window fed to the model (T); each window reads context + 1 tokens. */
  context: number;
  seed?: number;
}

export interface TokenBatcherState {
  kind: 'TokenBatcher';
  batch: number;
  context: number;
  streamLength: number;
  step: number;
  rng: RngState;
}

const tokenOptionsSchema = z.object({ batch: positiveInt, context: positiveInt, seed: seedSchema.optional() }).strict();
const tokenStateSchema = z.object({
  kind: z.literal('TokenBatcher'),
  batch: positiveInt,
  context: positiveInt,
  streamLength: positiveInt,
  step: z.number().int().nonnegative(),
  rng: rngStateSchema,
}).strict();
const maxBatchesSchema = positiveInt.optional();

function checkStream(stream: unknown, label: string): Int32Array {
  if (!(stream instanceof Int32Array)) {
    throw new ConfigError(`${label}: stream must be an Int32Array of token ids (got ${Object.prototype.toString.call(stream)})`);
  }
  return stream;
}

function checkContext(context: number, streamLength: number, label: string): void {
  if (context + 1 > streamLength) {
    throw new ConfigError(`${label}: context = ${context} is invalid: a window needs context + 1 = ${context + 1} tokens ` +
      `but the stream has ${streamLength}`);
  }
}

/** A restored state must describe the same batcher shape; name the first field that differs. */
function checkSame(label: string, pairs: [string, number, number][]): void {
  for (const [field, got, want] of pairs) {
    if (got !== want) throw new ConfigError(`${label}: state.${field} = ${got} does not match this batcher's ${field} = ${want}`);
  }
}

/**
 * Deterministic non-overlapping windows over `stream` for evaluation: window k
 * starts at k*context, so every target token from 1 to W*context is scored once,
 * where W = floor((length - 1) / context); the last partial batch is included,
 * and the trailing (length - 1) mod context tokens are not scored.
 */
export function* evalTokenBatches(stream: Int32Array, options: { batch: number; context: number; maxBatches?: number }): Generator<TokenBatch> {
  const label = 'evalTokenBatches';
  checkStream(stream, label);
  const { batch, context, maxBatches } = parseWith(
    z.object({ batch: positiveInt, context: positiveInt, maxBatches: maxBatchesSchema }).strict(), options, label);
  checkContext(context, stream.length, label);
  const windows = Math.floor((stream.length - 1) / context);
  const limit = maxBatches ?? Infinity;
  for (let first = 0, k = 0; first < windows && k < limit; first += batch, k++) {
    const b = Math.min(batch, windows - first);
    const x = new Int32Array(b * context);
    const y = new Int32Array(b * context);
    const starts = new Int32Array(b);
    for (let i = 0; i < b; i++) {
      const s = (first + i) * context;
      starts[i] = s;
      x.set(stream.subarray(s, s + context), i * context);
      y.set(stream.subarray(s + 1, s + context + 1), i * context);
    }
    yield { kind: 'tokens', x, y, batch: b, context, starts };
  }
}

/** Random windows of context + 1 tokens, uniformly over every start position, from a seeded Rng. */
export class TokenBatcher {
  readonly batch: number;
  readonly context: number;
  readonly seed: number;
  private rng: Rng;
  private steps = 0;

  constructor(readonly stream: Int32Array, options: TokenBatcherOptions) {
    checkStream(stream, 'TokenBatcher');
    const o = parseWith(tokenOptionsSchema, options, 'TokenBatcher');
    checkContext(o.context, stream.length, 'TokenBatcher');
    this.batch = o.batch;
    this.context = o.context;
    this.seed = o.seed ?? 0;
    this.rng = new Rng(this.seed);
  }

  /** Batches drawn so far (restored with the state). */
  get step(): number {
    return this.steps;
  }

  /** How many distinct windows there are: stream.length - context. */
  get windowCount(): number {
    return this.stream.length - this.context;
  }

  next(): TokenBatch {
    const { batch: B, context: T, stream } = this;
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    const starts = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const s = this.rng.int(this.windowCount);
      starts[b] = s;
      x.set(stream.subarray(s, s + T), b * T);
      y.set(stream.subarray(s + 1, s + T + 1), b * T);
    }
    this.steps++;
    return { kind: 'tokens', x, y, batch: B, context: T, starts };
  }

  state(): TokenBatcherState {
    return {
      kind: 'TokenBatcher', batch: this.batch, context: this.context, streamLength: this.stream.length,
      step: this.steps, rng: this.rng.getState(),
    };
  }

  restore(state: TokenBatcherState): this {
    const s = parseWith(tokenStateSchema, state, 'TokenBatcher.restore');
    checkSame('TokenBatcher.restore', [
      ['batch', s.batch, this.batch], ['context', s.context, this.context], ['streamLength', s.streamLength, this.stream.length],
    ]);
    this.rng.setState(s.rng);
    this.steps = s.step;
    return this;
  }

  /** Deterministic evaluation windows over this batcher's stream (see evalTokenBatches); no randomness used. */
  evalBatches(maxBatches?: number): Generator<TokenBatch> {
    return evalTokenBatches(this.stream, { batch: this.batch, context: this.context, ...(maxBatches === undefined ? {} : { maxBatches }) });
  }
}

// ---------------------------------------------------------------- images

export interface ImageBatcherOptions {
  batch: number;
  seed?: number;
}

export interface ImageBatcherState {
  kind: 'ImageBatcher';
  batch: number;
  n: number;
  step: number;
  /** Epochs started so far minus one (0 during the first epoch). */
  epoch: number;
  /** Position in the current epoch's permutation. */
  cursor: number;
  /** The Rng state just before the current epoch's permutation was drawn (it is redrawn on restore). */
  epochRng: RngState;
}

const imageOptionsSchema = z.object({ batch: positiveInt, seed: seedSchema.optional() }).strict();
const imageStateSchema = z.object({
  kind: z.literal('ImageBatcher'),
  batch: positiveInt,
  n: positiveInt,
  step: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
  cursor: z.number().int().nonnegative(),
  epochRng: rngStateSchema,
}).strict();

function gatherImages(set: ImageSet, indices: Int32Array): ImageBatch {
  const size = set.height * set.width;
  const x = new Float32Array(indices.length * size);
  const y = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b]!;
    x.set(set.images.subarray(i * size, (i + 1) * size), b * size);
    y[b] = set.labels[i]!;
  }
  return { kind: 'images', x, y, batch: indices.length, height: set.height, width: set.width, indices };
}

/** Walk `set` in order in batches of `batchSize`, the last partial batch included. */
export function* evalImageBatches(set: ImageSet, batchSize: number): Generator<ImageBatch> {
  checkImageSet(set, 'evalImageBatches');
  const b = parseWith(z.object({ batchSize: positiveInt }), { batchSize }, 'evalImageBatches').batchSize;
  for (let first = 0; first < set.n; first += b) {
    const count = Math.min(b, set.n - first);
    yield gatherImages(set, Int32Array.from({ length: count }, (_, i) => first + i));
  }
}

/**
 * Epochs of seeded shuffles: each epoch is a fresh Fisher-Yates permutation of
 * 0..n-1, and batches read it in order. Batches are always full: one that crosses
 * an epoch boundary finishes with the start of the next epoch's permutation.
 */
export class ImageBatcher {
  readonly batch: number;
  readonly seed: number;
  private rng: Rng;
  private perm: Int32Array;
  private epochRng: RngState;
  private epochs = 0;
  private cursor = 0;
  private steps = 0;

  constructor(readonly set: ImageSet, options: ImageBatcherOptions) {
    checkImageSet(set, 'ImageBatcher');
    const o = parseWith(imageOptionsSchema, options, 'ImageBatcher');
    if (o.batch > set.n) {
      throw new ConfigError(`ImageBatcher: batch = ${o.batch} is invalid: larger than the set (n = ${set.n})`);
    }
    this.batch = o.batch;
    this.seed = o.seed ?? 0;
    this.rng = new Rng(this.seed);
    this.epochRng = this.rng.getState();
    this.perm = this.drawPermutation();
  }

  private drawPermutation(): Int32Array {
    const p = Int32Array.from({ length: this.set.n }, (_, i) => i);
    return this.rng.shuffle(p);
  }

  get step(): number {
    return this.steps;
  }

  /** The epoch the next image comes from (0-based). */
  get epoch(): number {
    return this.cursor === this.set.n ? this.epochs + 1 : this.epochs;
  }

  next(): ImageBatch {
    const indices = new Int32Array(this.batch);
    for (let b = 0; b < this.batch; b++) {
      if (this.cursor === this.set.n) {
        this.epochs++;
        this.epochRng = this.rng.getState();
        this.perm = this.drawPermutation();
        this.cursor = 0;
      }
      indices[b] = this.perm[this.cursor++]!;
    }
    this.steps++;
    return gatherImages(this.set, indices);
  }

  state(): ImageBatcherState {
    return {
      kind: 'ImageBatcher', batch: this.batch, n: this.set.n, step: this.steps, epoch: this.epochs,
      cursor: this.cursor, epochRng: { ...this.epochRng, s: [...this.epochRng.s] },
    };
  }

  restore(state: ImageBatcherState): this {
    const s = parseWith(imageStateSchema, state, 'ImageBatcher.restore');
    checkSame('ImageBatcher.restore', [['batch', s.batch, this.batch], ['n', s.n, this.set.n]]);
    if (s.cursor > s.n) throw new ConfigError(`ImageBatcher.restore: state.cursor = ${s.cursor} is invalid: larger than n = ${s.n}`);
    this.rng.setState(s.epochRng);
    this.epochRng = this.rng.getState();
    this.perm = this.drawPermutation(); // advances rng to where the original stood
    this.epochs = s.epoch;
    this.cursor = s.cursor;
    this.steps = s.step;
    return this;
  }

  /** The set in order, in batches of `batchSize` (default: this batcher's batch), last partial batch included. */
  evalBatches(batchSize: number = this.batch): Generator<ImageBatch> {
    return evalImageBatches(this.set, batchSize);
  }
}
