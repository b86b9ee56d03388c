// Data for a loaded snapshot, as a trainer Task, so the notebooks' analyses
// (norm mappings, the swap test and its fine-tune) run on it unchanged.
//
// Language models: the text (a UTF-8 file, or Moby-Dick by default) tokenized
// with the snapshot's own tokenizer.json, cut into windows of T + 1 tokens
// (T = the model's context, capped by maxContext): inputs are the first T,
// targets the last T (next-token prediction). Split: Moby-Dick by chapter
// (held out: the chapters whose number is a multiple of 10, as the lab's LM);
// a text file by position (held out: its last tenth of characters; fine-tune:
// the first nine tenths). Without a tokenizer.json: seeded uniform token ids
// over the model's vocabulary (different draws for the two splits), and the
// task says so (`synthetic`, `note`).
//
// ViTs: MNIST (fine-tune: its train split, held out: its test split), or a
// folder of .npy / .json arrays (one image per file, sorted by name; every
// fifth file held out), resized (bilinear) to the model's image size,
// replicated to its channels and normalised with preprocessor_config.json's
// image_mean / image_std (else 0.5 / 0.5), as pixel_values [B, C, H, W].
// The targets are the loaded model's own outputs on those images (its classes
// are not MNIST's): top-1 class (cross-entropy; 'val/accuracy' = agreement
// with the unchanged model) for a classifier, else its output vector (MSE).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tf } from '../engine/tf.js';
import type { Scalar, Tensor } from '../engine/tf.js';
import { loadMnist } from '../data/mnist.js';
import { Rng } from '../data/rng.js';
import { mobyDickSections, mobyDickSplitOf } from '../data/text.js';
import type { HookedModel } from '../models/types.js';
import type { Batch, Task } from '../train/task.js';
import { crossEntropy } from '../train/tasks.js';
import type { PretrainedModel } from './registry.js';
import { loadTokenizer, textToBatches } from './tokenizer.js';

export interface SnapshotTaskOptions {
  /** LM: a UTF-8 text file (default: Moby-Dick). ViT: a folder of .npy / .json images (default: MNIST). */
  data?: string;
  /** Seed of the synthetic token ids. Default 0. */
  seed?: number;
  /** LM: the longest window (tokens), capped at the model's context. Default 128. */
  maxContext?: number;
  /** Examples per training batch and per evaluation batch. Default 8. */
  batchSize?: number;
  /** Held-out examples (windows or images) evaluate() reads. Default 16. */
  heldOutExamples?: number;
  /** Fine-tune examples nextBatch() cycles through. Default 64. */
  trainExamples?: number;
}

/** A Task over a snapshot's data, saying where its data came from. */
export interface SnapshotTask extends Task {
  /** True when the inputs are seeded random token ids (the snapshot has no tokenizer.json). */
  readonly synthetic: boolean;
  /** One sentence on what the inputs are. */
  readonly note: string;
  /** Which examples are held out and which fine-tune. */
  readonly splitNote: string;
  /** LM: tokens per input window. */
  readonly context?: number;
}

type Split = 'train' | 'heldOut';

function lmWindows(model: PretrainedModel, o: Required<Omit<SnapshotTaskOptions, 'data'>> & { data?: string }, T: number):
    { x: Record<Split, Int32Array>; synthetic: boolean; note: string; splitNote: string } {
  const V = model.config.vocabSize!;
  const n: Record<Split, number> = { train: o.trainExamples, heldOut: o.heldOutExamples };
  const out: Record<Split, Int32Array> = { train: new Int32Array(0), heldOut: new Int32Array(0) };
  if (!existsSync(join(model.source, 'tokenizer.json'))) {
    (['train', 'heldOut'] as const).forEach((s, k) => {
      const rng = new Rng(o.seed * 2 + k);
      out[s] = Int32Array.from({ length: n[s] * (T + 1) }, () => rng.int(V));
    });
    return {
      x: out, synthetic: true,
      note: `synthetic data: ${model.source} has no tokenizer.json, so the inputs are seeded uniform token ids over the vocabulary of ${V} ` +
        `(seed ${o.seed}), not text; the numbers say nothing about the model on real text`,
      splitNote: 'held out and fine-tune: separate seeded draws of random ids',
    };
  }
  const tok = loadTokenizer(model.source);
  let text: Record<Split, string>, what: string, splitNote: string;
  if (o.data) {
    const all = readFileSync(o.data, 'utf8'), cut = Math.floor(all.length * 0.9);
    text = { train: all.slice(0, cut), heldOut: all.slice(cut) };
    what = basename(o.data);
    splitNote = `${what}: held out = its last tenth of characters, fine-tune = the first nine tenths`;
  } else {
    const parts: Record<Split, string[]> = { train: [], heldOut: [] };
    for (const s of mobyDickSections()) {
      const split = mobyDickSplitOf(s.chapter);
      if (split !== 'excluded') parts[split === 'val' ? 'heldOut' : 'train'].push(s.text);
    }
    text = { train: parts.train.join('\n'), heldOut: parts.heldOut.join('\n') };
    what = 'Moby-Dick';
    splitNote = 'Moby-Dick by chapter: held out = the chapters whose number is a multiple of 10, fine-tune = the others';
  }
  for (const s of ['train', 'heldOut'] as const) {
    if (n[s] === 0) continue;
    // Encode only a prefix long enough for the windows (12 characters a token is ample for BPE and character vocabularies).
    const prefix = text[s].slice(0, n[s] * (T + 1) * 12 + 256);
    const opts = { context: T + 1, batch: n[s] };
    let ids: Tensor;
    try {
      ids = textToBatches(tok, prefix, opts);
    } catch {
      ids = textToBatches(tok, text[s], opts);
    }
    out[s] = ids.dataSync() as Int32Array;
    ids.dispose();
    const bad = out[s].find((id) => id >= V);
    if (bad !== undefined) throw new Error(`snapshotTask: token id ${bad} of ${model.source}/tokenizer.json is outside the model's vocabulary of ${V}`);
  }
  return { x: out, synthetic: false, note: `${what} tokenized with ${model.source}/tokenizer.json, windows of ${T} tokens`, splitNote };
}

/** A .npy file (little-endian float32/64, uint8 as /255) or a .json nested array of numbers in [0, 1], as floats and a shape. */
export function readImageArray(path: string): { data: Float32Array; shape: number[] } {
  if (path.endsWith('.json')) {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    const shape: number[] = [];
    for (let a: unknown = v; Array.isArray(a); a = a[0]) shape.push(a.length);
    const data = Float32Array.from((v as unknown[]).flat(3) as number[]);
    if (data.length !== shape.reduce((a, b) => a * b, 1) || data.some((x) => typeof x !== 'number' || Number.isNaN(x))) {
      throw new Error(`readImageArray: ${path} is not a rectangular array of numbers`);
    }
    return { data, shape };
  }
  const b = readFileSync(path);
  if (b[0] !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`readImageArray: ${path} is not a .npy file`);
  const v1 = b[6] === 1, len = v1 ? b.readUInt16LE(8) : b.readUInt32LE(8), start = v1 ? 10 : 12;
  const header = b.toString('latin1', start, start + len);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1], shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (/'fortran_order':\s*True/.test(header) || !descr || shapeText === undefined) throw new Error(`readImageArray: ${path}: unsupported .npy header ${header.trim()}`);
  const shape = shapeText.split(',').map((t) => t.trim()).filter(Boolean).map(Number);
  const body = b.subarray(start + len), n = shape.reduce((a, c) => a * c, 1);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const data = new Float32Array(n);
  if (descr === '<f4') for (let i = 0; i < n; i++) data[i] = view.getFloat32(4 * i, true);
  else if (descr === '<f8') for (let i = 0; i < n; i++) data[i] = view.getFloat64(8 * i, true);
  else if (descr === '|u1') for (let i = 0; i < n; i++) data[i] = body[i]! / 255;
  else throw new Error(`readImageArray: ${path}: dtype ${descr} is not one of <f4, <f8, |u1`);
  return { data, shape };
}

/** [H, W], [H, W, C] or [C, H, W] (C <= 4) as [H, W, C]. */
function toHWC(a: { data: Float32Array; shape: number[] }, path: string): { data: Float32Array; h: number; w: number; c: number } {
  const s = a.shape;
  if (s.length === 2) return { data: a.data, h: s[0]!, w: s[1]!, c: 1 };
  if (s.length === 3 && s[2]! <= 4) return { data: a.data, h: s[0]!, w: s[1]!, c: s[2]! };
  if (s.length === 3 && s[0]! <= 4) {
    const [c, h, w] = s as [number, number, number];
    const data = new Float32Array(a.data.length);
    for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) data[i * c + k] = a.data[k * h * w + i]!;
    return { data, h, w, c };
  }
  throw new Error(`readImageArray: ${path} has shape [${s.join(', ')}]; expected [H, W], [H, W, C] or [C, H, W] with C <= 4`);
}

/** Images [n, h, w, c] in [0, 1] as the ViT's pixel_values [n, C, S, S]: bilinear resize, channels replicated, normalised. */
function pixelValues(model: PretrainedModel, images: { data: Float32Array; h: number; w: number; c: number }[]): Tensor {
  const S = Number(model.config.imageSize), C = Number(model.config.channels);
  let mean = [0.5], std = [0.5];
  const pre = join(model.source, 'preprocessor_config.json');
  if (existsSync(pre)) {
    const p = JSON.parse(readFileSync(pre, 'utf8')) as { image_mean?: number[] | number; image_std?: number[] | number };
    if (p.image_mean !== undefined) mean = [p.image_mean].flat();
    if (p.image_std !== undefined) std = [p.image_std].flat();
  }
  const perChannel = (v: number[]) => tf.tensor1d(Array.from({ length: C }, (_, k) => v[v.length === 1 ? 0 : k] ?? v[0]!)).reshape([1, 1, 1, C]);
  return tf.tidy(() => {
    const one = images.map((im) => {
      if (im.c !== 1 && im.c !== C) throw new Error(`snapshotTask: an image has ${im.c} channels; the model takes ${C} (or give 1, replicated)`);
      const t = tf.image.resizeBilinear(tf.tensor3d(im.data, [im.h, im.w, im.c]), [S, S]);
      return im.c === C ? t : tf.tile(t, [1, 1, C]);
    });
    const x = tf.div(tf.sub(tf.stack(one), perChannel(mean)), perChannel(std));
    return tf.transpose(x, [0, 3, 1, 2]);
  });
}

function vitImages(model: PretrainedModel, o: { data?: string; trainExamples: number; heldOutExamples: number }):
    { x: Record<Split, Tensor>; note: string; splitNote: string } {
  const n: Record<Split, number> = { train: o.trainExamples, heldOut: o.heldOutExamples };
  const pick: Record<Split, { data: Float32Array; h: number; w: number; c: number }[]> = { train: [], heldOut: [] };
  let what: string, splitNote: string;
  if (o.data) {
    const files = readdirSync(o.data).filter((f) => f.endsWith('.npy') || f.endsWith('.json')).sort();
    if (!files.length) throw new Error(`snapshotTask: ${o.data} has no .npy or .json images (PNG/JPEG are not decoded: convert them to arrays first)`);
    files.forEach((f, i) => {
      const s: Split = i % 5 === 4 ? 'heldOut' : 'train';
      if (pick[s].length < n[s]) pick[s].push(toHWC(readImageArray(join(o.data!, f)), f));
    });
    for (const s of ['train', 'heldOut'] as const) {
      if (pick[s].length < n[s]) throw new Error(`snapshotTask: ${o.data} has ${pick[s].length} ${s === 'train' ? 'fine-tune' : 'held-out'} images; ${n[s]} needed`);
    }
    what = `${files.length} images from ${o.data}`;
    splitNote = 'image folder sorted by file name: every fifth file held out, the others fine-tune';
  } else {
    const m = loadMnist();
    for (const [s, set] of [['train', m.train], ['heldOut', m.test]] as const) {
      const size = set.height * set.width;
      for (let i = 0; i < n[s]; i++) pick[s].push({ data: set.images.subarray(i * size, (i + 1) * size), h: set.height, w: set.width, c: 1 });
    }
    what = 'MNIST digits';
    splitNote = 'MNIST: held out = its test split, fine-tune = its train split';
  }
  const S = Number(model.config.imageSize), C = Number(model.config.channels);
  const x = { train: pick.train.length ? pixelValues(model, pick.train) : tf.zeros([0, C, S, S]), heldOut: pixelValues(model, pick.heldOut) };
  return { x, note: `${what} resized (bilinear) to ${S}x${S}, ${C} channel(s), normalised as the snapshot's preprocessor says (else 0.5 / 0.5)`, splitNote };
}

class SnapshotTaskImpl implements SnapshotTask {
  readonly kind: 'lm' | 'vit';
  readonly unit: string;
  readonly synthetic: boolean;
  readonly note: string;
  readonly splitNote: string;
  readonly context?: number;
  readonly info: Record<string, number | string>;
  private readonly x: Record<Split, Tensor>;
  private readonly y: Record<Split, Tensor>;
  private readonly classify: boolean;
  private cursor = 0;

  constructor(model: PretrainedModel, private readonly o: Required<Omit<SnapshotTaskOptions, 'data'>> & { data?: string }) {
    this.kind = model.kind;
    this.unit = model.kind === 'lm' ? 'tokens' : 'images';
    if (model.kind === 'lm') {
      const T = Math.min(model.config.context ?? o.maxContext, o.maxContext);
      const w = lmWindows(model, o, T);
      const cut = (ids: Int32Array, from: number) => {
        const rows = ids.length / (T + 1);
        return tf.tidy(() => tf.tensor2d(ids, [rows, T + 1], 'int32').slice([0, from], [rows, T]));
      };
      this.x = { train: cut(w.x.train, 0), heldOut: cut(w.x.heldOut, 0) };
      this.y = { train: cut(w.x.train, 1), heldOut: cut(w.x.heldOut, 1) };
      this.synthetic = w.synthetic;
      this.note = w.note;
      this.splitNote = w.splitNote;
      this.context = T;
      this.classify = true;
    } else {
      const im = vitImages(model, o);
      this.x = im.x;
      this.classify = model.config.output === 'classifier';
      // The targets: what the unchanged model says about each image (computed now, before any swap).
      const teacher = (x: Tensor) => tf.tidy(() => {
        if (x.shape[0] === 0) return tf.zeros([0]);
        const parts: Tensor[] = [];
        for (let i = 0; i < x.shape[0]!; i += o.batchSize) {
          const out = model.apply(x.slice(i, Math.min(o.batchSize, x.shape[0]! - i)));
          parts.push(this.classify ? tf.argMax(out, -1).toInt() : out);
        }
        return tf.concat(parts);
      });
      this.y = { train: teacher(this.x.train), heldOut: teacher(this.x.heldOut) };
      this.synthetic = false;
      this.note = `${im.note}; targets: the loaded model's own ${this.classify ? 'top-1 classes' : 'outputs'} on them`;
      this.splitNote = im.splitNote;
    }
    this.info = { note: this.note, split: this.splitNote, heldOut: o.heldOutExamples, train: o.trainExamples };
  }

  private lossOf(out: Tensor, y: Tensor): Scalar {
    return this.classify ? crossEntropy(out, y) : tf.losses.meanSquaredError(y, out) as Scalar;
  }
  nextBatch(): Batch {
    const n = this.x.train.shape[0]!;
    if (n === 0) throw new Error('snapshotTask: no fine-tune examples (trainExamples = 0)');
    const idx = tf.tensor1d(Array.from({ length: this.o.batchSize }, (_, i) => (this.cursor * this.o.batchSize + i) % n), 'int32');
    this.cursor++;
    const x = tf.gather(this.x.train, idx), y = tf.gather(this.y.train, idx);
    idx.dispose();
    return { x, y, items: this.o.batchSize * (this.context ?? 1) };
  }
  loss(model: HookedModel, x: Tensor, y: Tensor): Scalar {
    return tf.tidy(() => this.lossOf(model.apply(x), y));
  }
  evaluate(model: HookedModel): Record<string, number> {
    const n = this.x.heldOut.shape[0]!;
    let loss = 0, hits = 0;
    for (let i = 0; i < n; i += this.o.batchSize) {
      const b = Math.min(this.o.batchSize, n - i);
      const [l, h] = tf.tidy(() => {
        const x = this.x.heldOut.slice(i, b), y = this.y.heldOut.slice(i, b), out = model.apply(x);
        const agree = this.classify && this.kind === 'vit' ? tf.sum(tf.equal(tf.argMax(out, -1), y).toInt()) : tf.scalar(0);
        return [tf.mul(this.lossOf(out, y), b), agree];
      });
      loss += l!.dataSync()[0]!; hits += h!.dataSync()[0]!;
      tf.dispose([l!, h!]);
    }
    return { 'val/loss': loss / n, ...(this.classify && this.kind === 'vit' ? { 'val/accuracy': hits / n } : {}) };
  }
  /** The first fine-tune batch (the swap test fits its DyTs here, not on the held-out examples). */
  probe(): Tensor {
    return this.x.train.shape[0] ? this.x.train.slice(0, Math.min(this.o.batchSize, this.x.train.shape[0]!)) : this.heldOut(Math.min(this.o.batchSize, this.x.heldOut.shape[0]!));
  }
  heldOut(n: number): Tensor {
    const have = this.x.heldOut.shape[0]!;
    if (!Number.isInteger(n) || n < 1 || n > have) throw new RangeError(`heldOut(${String(n)}): expected an integer in 1..${have} (heldOutExamples)`);
    return this.x.heldOut.slice(0, n);
  }
  state(): unknown {
    return { cursor: this.cursor };
  }
  restore(state: unknown): void {
    this.cursor = (state as { cursor: number }).cursor;
  }
  dispose(): void {
    tf.dispose([this.x.train, this.x.heldOut, this.y.train, this.y.heldOut]);
  }
}

/**
 * The data for a loaded snapshot as a Task (held-out and fine-tune splits, the rule at the top of this file).
 * For a ViT the targets are the model's own outputs, computed here: build the task before changing the model.
 */
export function snapshotTask(model: PretrainedModel, opts: SnapshotTaskOptions = {}): SnapshotTask {
  const o = {
    seed: opts.seed ?? 0, maxContext: opts.maxContext ?? 128, batchSize: opts.batchSize ?? 8,
    heldOutExamples: opts.heldOutExamples ?? 16, trainExamples: opts.trainExamples ?? 64,
    ...(opts.data ? { data: opts.data } : {}),
  };
  if (model.kind === 'lm' && !model.config.vocabSize) throw new Error(`snapshotTask: ${model.source} has no vocabulary size in its config`);
  return new SnapshotTaskImpl(model, o);
}
