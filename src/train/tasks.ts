// Datasets + objectives as trainer Tasks: next-token prediction on text
// (Moby-Dick, or a synthetic Markov chain), classification on images (MNIST, or
// synthetic templates). The data spec (its schema and vocabulary rule) is data/spec.ts.
import { tf } from '../engine/tf.js';
import type { Scalar, Tensor } from '../engine/tf.js';
import {
  evalImageBatches, evalTokenBatches, ImageBatcher, TokenBatcher, type ImageBatcherState, type TokenBatcherState,
} from '../data/batching.js';
import type { ImageSet } from '../data/image-set.js';
import { loadMnist, MNIST_TEST_SPLIT_NOTE, mnistValTestSplit } from '../data/mnist.js';
import { dataModelKind, hasTestSplit, type DataSpec } from '../data/spec.js';
import { markovChainTask, syntheticImageTask } from '../data/synthetic.js';
import { imageTensors, tokenTensors } from '../data/tensors.js';
import { corpusUnigramBaseline, loadMobyDick, mobyDickValTestSplit } from '../data/text.js';
import { unigramCrossEntropy } from '../data/unigram.js';
import { randomShift } from '../data/augment.js';
import { Rng, type RngState } from '../data/rng.js';
import type { Model } from '../models/types.js';
import type { Task, TaskBaseline } from './task.js';
import { crossEntropyOp } from '../engine/ops/train-ops.js';
import type { KernelImpl } from '../engine/ops/types.js';

// The data spec and its vocabulary rule live in data/spec.ts; re-exported here for existing imports.
export { dataSpecSchema, parseDataSpec, type DataSpec } from '../data/spec.js';

/**
 * Mean token cross-entropy of logits [B, T, V] against int32 targets [B, T] (or [B, V] vs [B]).
 * On wasm + SIMD, log-softmax and the loss are one kernel forward and one backward
 * (engine/ops/train-ops.ts); elsewhere log-softmax, one-hot and mean as tfjs ops.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, impl: KernelImpl = 'auto'): Scalar {
  return crossEntropyOp(logits, targets, impl);
}

function checkCount(n: number, available: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || n > available) throw new RangeError(`heldOut(${String(n)}): expected an integer in 1..${available} (${what} available)`);
}

/**
 * Next-token prediction. Without a test stream, evaluate() scores the first
 * evalBatches batches of non-overlapping windows of val (today's behaviour);
 * with one (data.testSplit), val/loss and test/loss are each over every
 * non-overlapping window of their whole split (evalBatches is not used).
 */
class TokenTask implements Task {
  readonly kind = 'lm' as const;
  readonly unit = 'tokens';
  private readonly batcher: TokenBatcher;
  private readonly probeIds: Tensor;
  readonly baseline?: TaskBaseline;
  readonly evaluateTest?: (model: Model) => Record<string, number>;
  constructor(train: Int32Array, private readonly val: Int32Array, private readonly batch: number, private readonly context: number,
      seed: number, private readonly evalBatches: number, readonly info: Record<string, number | string>, private readonly test?: Int32Array) {
    this.batcher = new TokenBatcher(train, { batch, context, seed });
    if (test) this.evaluateTest = (model) => ({ 'test/loss': this.meanLoss(model, test, undefined) });
    const u = info.unigramValLoss;
    if (typeof u === 'number') this.baseline = { metric: 'val/loss', value: u, higherIsBetter: false, label: 'unigram val loss' };
    const first = evalTokenBatches(val, { batch: Math.min(batch, 8), context, maxBatches: 1 }).next().value!;
    const t = tokenTensors(first);
    t.y.dispose();
    this.probeIds = t.x;
  }
  nextBatch() {
    const b = this.batcher.next();
    const { x, y } = tokenTensors(b);
    return { x, y, items: b.batch * b.context };
  }
  loss(model: Model, x: Tensor, y: Tensor): Scalar {
    return crossEntropy(model.apply(x), y);
  }
  evaluate(model: Model): Record<string, number> {
    return { 'val/loss': this.meanLoss(model, this.val, this.test ? undefined : this.evalBatches) };
  }
  private meanLoss(model: Model, stream: Int32Array, maxBatches: number | undefined): number {
    let sum = 0, n = 0;
    for (const b of evalTokenBatches(stream, { batch: this.batch, context: this.context, ...(maxBatches !== undefined ? { maxBatches } : {}) })) {
      const { x, y } = tokenTensors(b);
      const l = tf.tidy(() => crossEntropy(model.apply(x), y));
      sum += l.dataSync()[0]! * b.batch * b.context;
      n += b.batch * b.context;
      tf.dispose([x, y, l]);
    }
    return sum / n;
  }
  probe(): Tensor {
    return this.probeIds.clone();
  }
  heldOut(n: number): Tensor {
    checkCount(n, Math.floor((this.val.length - 1) / this.context), 'validation sequences');
    const b = evalTokenBatches(this.val, { batch: n, context: this.context, maxBatches: 1 }).next().value!;
    const t = tokenTensors(b);
    t.y.dispose();
    return t.x;
  }
  state(): TokenBatcherState {
    return this.batcher.state();
  }
  restore(state: unknown): void {
    this.batcher.restore(state as TokenBatcherState);
  }
  dispose(): void {
    this.probeIds.dispose();
  }
}

class ImageTask implements Task {
  readonly kind = 'vit' as const;
  readonly unit = 'images';
  private readonly batcher: ImageBatcher;
  private readonly probeImages: Tensor;
  private readonly augRng: Rng;
  readonly baseline: TaskBaseline;
  readonly evaluateTest?: (model: Model) => Record<string, number>;
  /** `test` is the held-out set evaluate() scores as val/*; `finalTest` (data.testSplit) the separate one evaluateTest scores as test/*. */
  constructor(train: ImageSet, private readonly test: ImageSet, private readonly batch: number, seed: number,
      private readonly shift: number, readonly info: Record<string, number | string>, finalTest?: ImageSet) {
    if (finalTest) this.evaluateTest = (model) => this.scores(model, finalTest, 'test');
    this.batcher = new ImageBatcher(train, { batch, seed });
    this.baseline = { metric: 'val/accuracy', value: 1 / train.classes, higherIsBetter: true, label: `chance accuracy (1/${train.classes})` };
    this.augRng = new Rng(seed + 1);
    const first = evalImageBatches(test, Math.min(batch, 16)).next().value!;
    const t = imageTensors(first);
    t.y.dispose();
    this.probeImages = t.x;
  }
  nextBatch() {
    const raw = this.batcher.next();
    const b = this.shift > 0 ? randomShift(raw, this.shift, this.augRng) : raw;
    const { x, y } = imageTensors(b);
    return { x, y, items: b.batch };
  }
  loss(model: Model, x: Tensor, y: Tensor): Scalar {
    return crossEntropy(model.apply(x), y);
  }
  evaluate(model: Model): Record<string, number> {
    return this.scores(model, this.test, 'val');
  }
  private scores(model: Model, set: ImageSet, prefix: 'val' | 'test'): Record<string, number> {
    let loss = 0, correct = 0, n = 0;
    for (const b of evalImageBatches(set, Math.max(this.batch, 100))) {
      const { x, y } = imageTensors(b);
      const [l, c] = tf.tidy(() => {
        const logits = model.apply(x);
        return [crossEntropy(logits, y), tf.sum(tf.equal(tf.argMax(logits, 1), y).toInt())];
      });
      loss += l!.dataSync()[0]! * b.batch;
      correct += c!.dataSync()[0]!;
      n += b.batch;
      tf.dispose([x, y, l!, c!]);
    }
    return { [`${prefix}/loss`]: loss / n, [`${prefix}/accuracy`]: correct / n };
  }
  probe(): Tensor {
    return this.probeImages.clone();
  }
  heldOut(n: number): Tensor {
    checkCount(n, this.test.n, 'test images');
    const t = imageTensors(evalImageBatches(this.test, n).next().value!);
    t.y.dispose();
    return t.x;
  }
  state(): { batcher: ImageBatcherState; augment: RngState } {
    return { batcher: this.batcher.state(), augment: this.augRng.getState() };
  }
  restore(state: unknown): void {
    const s = state as { batcher: ImageBatcherState; augment: RngState };
    this.batcher.restore(s.batcher);
    this.augRng.setState(s.augment);
  }
  dispose(): void {
    this.probeImages.dispose();
  }
}

/** How many tasks createTask has built in this process (tests check that one run builds its dataset once). */
export const taskCounters = { built: 0 };

export interface TaskSetup {
  task: Task;
  /** What the model config must agree with: vocabulary size (LM) or classes (ViT). */
  vocabSize?: number;
  classes?: number;
}

/**
 * Build the task for a data spec. `modelKind` says which objective the model
 * needs; a text dataset with a ViT (or images with an LM) is an error.
 */
export function createTask(spec: DataSpec, opts: { modelKind: 'lm' | 'vit'; batchSize: number; context?: number; seed: number; evalBatches: number }): TaskSetup {
  if (dataModelKind(spec) !== opts.modelKind) {
    throw new Error(`data.dataset = "${spec.dataset}" does not fit a ${opts.modelKind === 'lm' ? 'language model' : 'ViT'}`);
  }
  taskCounters.built++;
  const split = hasTestSplit(spec);
  switch (spec.dataset) {
    case 'moby-dick': {
      const c = loadMobyDick({ level: spec.level ?? 'char' });
      if (split) {
        const h = mobyDickValTestSplit({ level: c.level });
        return {
          task: new TokenTask(c.train, h.val, opts.batchSize, opts.context!, opts.seed, opts.evalBatches, {
            dataset: 'moby-dick', level: c.level, trainTokens: c.train.length, valTokens: h.val.length, testTokens: h.test.length,
            vocabSize: c.vocab.size, unigramValLoss: corpusUnigramBaseline({ ...c, val: h.val }),
            unigramTestLoss: corpusUnigramBaseline({ ...c, val: h.test }), split: `${c.splitNote} With testSplit: ${h.note}.`,
          }, h.test),
          vocabSize: c.vocab.size,
        };
      }
      return {
        task: new TokenTask(c.train, c.val, opts.batchSize, opts.context!, opts.seed, opts.evalBatches, {
          dataset: 'moby-dick', level: c.level, trainTokens: c.train.length, valTokens: c.val.length,
          vocabSize: c.vocab.size, unigramValLoss: corpusUnigramBaseline(c), split: c.splitNote,
        }),
        vocabSize: c.vocab.size,
      };
    }
    case 'markov': {
      // With testSplit the seeded walk runs on for another (length - cut) tokens: its first `length` are the same stream.
      const length = spec.length ?? 200_000;
      const cut = Math.floor(length * 0.9);
      const m = markovChainTask({ vocabSize: spec.vocabSize, branching: spec.branching, length: split ? 2 * length - cut : length, seed: opts.seed });
      const train = m.tokens.subarray(0, cut), val = m.tokens.subarray(cut, length);
      const test = split ? m.tokens.subarray(length) : undefined;
      return {
        task: new TokenTask(train, val, opts.batchSize, opts.context!, opts.seed, opts.evalBatches, {
          dataset: 'markov', vocabSize: m.vocabSize, optimalValLoss: m.optimalCrossEntropy,
          unigramValLoss: unigramCrossEntropy(train, val, m.vocabSize),
          ...(test ? { testTokens: test.length, unigramTestLoss: unigramCrossEntropy(train, test, m.vocabSize) } : {}),
        }, test),
        vocabSize: m.vocabSize,
      };
    }
    case 'mnist': {
      const d = loadMnist({ normalize: spec.normalize ?? true });
      if (split) {
        const h = mnistValTestSplit(d.test);
        return {
          task: new ImageTask(d.train, h.val, opts.batchSize, opts.seed, spec.shift ?? 0,
            { dataset: 'mnist', train: d.train.n, val: h.val.n, test: h.test.n, split: `${d.source.split}; ${MNIST_TEST_SPLIT_NOTE}` }, h.test),
          classes: 10,
        };
      }
      return {
        task: new ImageTask(d.train, d.test, opts.batchSize, opts.seed, spec.shift ?? 0,
          { dataset: 'mnist', train: d.train.n, test: d.test.n, split: d.source.split }),
        classes: 10,
      };
    }
    case 'synthetic-images': {
      // With testSplit a separate test set of nTest images is drawn after the others (train and validation unchanged).
      const nTest = spec.nTest ?? 500;
      const d = syntheticImageTask({
        nTrain: spec.nTrain ?? 2000, nTest, ...(spec.noise !== undefined ? { noise: spec.noise } : {}), seed: opts.seed,
        ...(split ? { nHeldOutTest: nTest } : {}),
      });
      return {
        task: new ImageTask(d.train, d.test, opts.batchSize, opts.seed, spec.shift ?? 0,
          split ? { dataset: 'synthetic-images', train: d.train.n, val: d.test.n, test: d.heldOutTest!.n }
            : { dataset: 'synthetic-images', train: d.train.n, test: d.test.n }, d.heldOutTest),
        classes: d.train.classes,
      };
    }
  }
}
