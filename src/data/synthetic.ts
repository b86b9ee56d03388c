// Synthetic tasks with known answers, deterministic from a seed, for tests and
// quick experiments:
//  - markovChainTask: a token stream whose best possible next-token loss is known
//    exactly (log branching), usable with TokenBatcher like real text;
//  - CopyTask: batches of "a1..aL SEP a1..aL" (or reversed) that only attention
//    can solve, with a known optimal loss;
//  - syntheticImageTask: class templates plus noise, 28x28 by default, that a tiny
//    ViT separates within tens of steps.
import { z } from 'zod';
import { ConfigError, parseWith } from '../util/schema.js';
import type { TokenBatch } from './batching.js';
import type { ImageSet } from './image-set.js';
import { positiveInt, rngStateSchema, seedSchema } from './options.js';
import { Rng, type RngState } from './rng.js';

// ---------------------------------------------------------------- Markov chain

export interface MarkovTaskOptions {
  vocabSize: number;
  /** Each token has this many distinct successors, each equally likely. */
  branching: number;
  /** Stream length in tokens. */
  length: number;
  seed?: number;
}

export interface MarkovTask {
  tokens: Int32Array;
  vocabSize: number;
  branching: number;
  /** successors[v * branching + j]: the j-th allowed successor of token v. */
  successors: Int32Array;
  /** Best achievable next-token cross-entropy, nats/token: log(branching) (each step is uniform over its successors). */
  optimalCrossEntropy: number;
}

/**
 * The largest Markov vocabulary: the chain is drawn with one shuffle of the whole
 * vocabulary per token (vocabSize^2 random draws: about 80 s at this size).
 */
export const MARKOV_MAX_VOCAB = 65_536;
export const markovVocabSchema = positiveInt.max(MARKOV_MAX_VOCAB, {
  message: `must be <= ${MARKOV_MAX_VOCAB} (drawing the chain shuffles the whole vocabulary once per token: vocabSize^2 work)`,
});

const markovSchema = z.object({
  vocabSize: markovVocabSchema.min(2),
  branching: positiveInt,
  length: positiveInt.min(2),
  seed: seedSchema.optional(),
}).strict();

/** A random sparse Markov chain and a stream sampled from it. */
export function markovChainTask(options: MarkovTaskOptions): MarkovTask {
  const o = parseWith(markovSchema, options, 'markovChainTask');
  if (o.branching > o.vocabSize) {
    throw new ConfigError(`markovChainTask: branching = ${o.branching} is invalid: at most vocabSize = ${o.vocabSize}`);
  }
  const rng = new Rng(o.seed ?? 0);
  const V = o.vocabSize, k = o.branching;
  const successors = new Int32Array(V * k);
  const ids = Int32Array.from({ length: V }, (_, i) => i);
  for (let v = 0; v < V; v++) successors.set(rng.shuffle(ids).subarray(0, k), v * k);
  const tokens = new Int32Array(o.length);
  tokens[0] = rng.int(V);
  for (let i = 1; i < o.length; i++) tokens[i] = successors[tokens[i - 1]! * k + rng.int(k)]!;
  return { tokens, vocabSize: V, branching: k, successors, optimalCrossEntropy: Math.log(k) };
}

// ---------------------------------------------------------------- copy / reverse

export interface CopyTaskOptions {
  /** Including the separator (id 0); content tokens are 1..vocabSize-1. */
  vocabSize: number;
  /** L: tokens to copy. Each sequence is 2L + 1 tokens; context = 2L. */
  length: number;
  batch: number;
  /** 'copy' repeats the tokens after the separator, 'reverse' mirrors them. Default 'copy'. */
  mode?: 'copy' | 'reverse';
  seed?: number;
}

export interface CopyTaskState { kind: 'CopyTask'; step: number; rng: RngState }

const copySchema = z.object({
  vocabSize: positiveInt.min(3),
  length: positiveInt,
  batch: positiveInt,
  mode: z.enum(['copy', 'reverse']).optional(),
  seed: seedSchema.optional(),
}).strict();
const copyStateSchema = z.object({ kind: z.literal('CopyTask'), step: z.number().int().nonnegative(), rng: rngStateSchema }).strict();

export const COPY_SEPARATOR = 0;

/**
 * Sequences s = [a1..aL, SEP, copy] with a_i uniform over 1..V-1; x = s[0..2L-1],
 * y = s[1..2L]. The first L-1 targets are unpredictable (log(V-1) each), the
 * separator and the L copied tokens are certain, so the optimal mean loss is
 * (L-1) * log(V-1) / (2L) nats/token.
 */
export class CopyTask {
  readonly vocabSize: number;
  readonly length: number;
  readonly batch: number;
  readonly mode: 'copy' | 'reverse';
  readonly context: number;
  readonly optimalCrossEntropy: number;
  private rng: Rng;
  private steps = 0;

  constructor(options: CopyTaskOptions) {
    const o = parseWith(copySchema, options, 'CopyTask');
    this.vocabSize = o.vocabSize;
    this.length = o.length;
    this.batch = o.batch;
    this.mode = o.mode ?? 'copy';
    this.context = 2 * o.length;
    this.optimalCrossEntropy = ((o.length - 1) * Math.log(o.vocabSize - 1)) / (2 * o.length);
    this.rng = new Rng(o.seed ?? 0);
  }

  get step(): number {
    return this.steps;
  }

  next(): TokenBatch {
    const L = this.length, T = this.context, B = this.batch;
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    const s = new Int32Array(T + 1);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < L; i++) s[i] = 1 + this.rng.int(this.vocabSize - 1);
      s[L] = COPY_SEPARATOR;
      for (let i = 0; i < L; i++) s[L + 1 + i] = s[this.mode === 'copy' ? i : L - 1 - i]!;
      x.set(s.subarray(0, T), b * T);
      y.set(s.subarray(1, T + 1), b * T);
    }
    this.steps++;
    return { kind: 'tokens', x, y, batch: B, context: T, starts: new Int32Array(B) };
  }

  state(): CopyTaskState {
    return { kind: 'CopyTask', step: this.steps, rng: this.rng.getState() };
  }

  restore(state: CopyTaskState): this {
    const s = parseWith(copyStateSchema, state, 'CopyTask.restore');
    this.rng.setState(s.rng);
    this.steps = s.step;
    return this;
  }
}

// ---------------------------------------------------------------- images

export interface SyntheticImageOptions {
  nTrain: number;
  nTest: number;
  classes?: number;
  height?: number;
  width?: number;
  /** Standard deviation of the Gaussian pixel noise added to the template (before clipping to [0, 1]). Default 0.3. */
  noise?: number;
  /** Templates are grid x grid blocks, each on (1) or off (0). Default 4 (7x7-pixel blocks at 28x28). */
  grid?: number;
  seed?: number;
  /** Also draw this many images as a separate test set (after train and test, so those are unchanged). Default none. */
  nHeldOutTest?: number;
}

export interface SyntheticImageTask {
  train: ImageSet;
  test: ImageSet;
  /** The separate test draw (nHeldOutTest), absent without it. */
  heldOutTest?: ImageSet;
  /** classes * height * width: the noise-free image of each class. */
  templates: Float32Array;
}

const imageSchema = z.object({
  nTrain: positiveInt,
  nTest: positiveInt,
  classes: positiveInt.min(2).optional(),
  height: positiveInt.optional(),
  width: positiveInt.optional(),
  noise: z.number().nonnegative().finite().optional(),
  grid: positiveInt.optional(),
  seed: seedSchema.optional(),
  nHeldOutTest: positiveInt.optional(),
}).strict();

/** Per class a random on/off block pattern, at least 3 blocks away from every other class's (so noise rarely confuses them). */
function drawPatterns(rng: Rng, classes: number, cells: number): Uint8Array[] {
  const patterns: Uint8Array[] = [];
  for (let attempts = 0; patterns.length < classes; attempts++) {
    if (attempts > 100 * classes + 1000) {
      throw new ConfigError(`syntheticImageTask: classes = ${classes} is invalid: too many distinct patterns for ${cells} blocks; raise grid`);
    }
    const p = Uint8Array.from({ length: cells }, () => rng.int(2));
    const far = patterns.every((q) => {
      let d = 0;
      for (let i = 0; i < cells; i++) d += p[i] !== q[i] ? 1 : 0;
      return d >= 3;
    });
    if (far) patterns.push(p);
  }
  return patterns;
}

/** Class-template images plus noise; labels are i mod classes (balanced). Templates first, then train, then test (then heldOutTest), from one seed. */
export function syntheticImageTask(options: SyntheticImageOptions): SyntheticImageTask {
  const o = parseWith(imageSchema, options, 'syntheticImageTask');
  const classes = o.classes ?? 10, H = o.height ?? 28, W = o.width ?? 28, g = o.grid ?? 4, noise = o.noise ?? 0.3;
  if (g > H || g > W) throw new ConfigError(`syntheticImageTask: grid = ${g} is invalid: larger than the image (${H}x${W})`);
  const rng = new Rng(o.seed ?? 0);
  const patterns = drawPatterns(rng, classes, g * g);
  const size = H * W;
  const templates = new Float32Array(classes * size);
  for (let c = 0; c < classes; c++) {
    for (let r = 0; r < H; r++) {
      for (let q = 0; q < W; q++) {
        templates[c * size + r * W + q] = patterns[c]![Math.floor((r * g) / H) * g + Math.floor((q * g) / W)]!;
      }
    }
  }
  const sample = (n: number): ImageSet => {
    const images = new Float32Array(n * size);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % classes;
      labels[i] = c;
      for (let p = 0; p < size; p++) {
        const v = templates[c * size + p]! + noise * rng.normal();
        images[i * size + p] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
    return { images, labels, n, height: H, width: W, classes };
  };
  const train = sample(o.nTrain);
  const test = sample(o.nTest);
  return { train, test, templates, ...(o.nHeldOutTest !== undefined ? { heldOutTest: sample(o.nHeldOutTest) } : {}) };
}
