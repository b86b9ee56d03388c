// The data spec of a run config ({ dataset, ... }, validated at the edge), and
// its vocabulary rule: what a data spec fixes about the model that reads it
// (an LM's vocabSize, a ViT's classes, image size and channels). The rule is
// the one place that says it: run configs are resolved with it (resolveRun),
// sweeps expand with it, and createTask's tasks agree with it.
//
// No tensors and no backend: a Markov chain, byte-level text and the image
// datasets give their sizes from the spec alone; char-level Moby-Dick reads its
// corpus (loadMobyDick, cached per process, so the task built afterwards reuses
// it rather than loading it again).
import { z } from 'zod';
import { parseWith } from '../util/schema.js';
import { MNIST_CLASSES, MNIST_HEIGHT } from './mnist.js';
import { markovVocabSchema } from './synthetic.js';
import { loadMobyDick } from './text.js';

const posInt = z.number().int().positive();
/**
 * Opt-in test split (default off): the held-out data is split into validation
 * and test (data/README.md gives each dataset's rule), the trainer evaluates
 * val/* as usual and test/* at the final step. The training split is unchanged.
 */
const testSplit = z.boolean().optional();
export const dataSpecSchema = z.discriminatedUnion('dataset', [
  z.object({ dataset: z.literal('moby-dick'), level: z.enum(['char', 'byte']).optional(), testSplit }).strict(),
  z.object({
    dataset: z.literal('mnist'), normalize: z.boolean().optional(),
    /** Random translations of up to this many pixels in training batches (0 = none). */
    shift: z.number().int().min(0).max(8).optional(),
    testSplit,
  }).strict(),
  z.object({ dataset: z.literal('markov'), vocabSize: markovVocabSchema, branching: posInt, length: posInt.optional(), testSplit }).strict(),
  z.object({
    dataset: z.literal('synthetic-images'), nTrain: posInt.optional(), nTest: posInt.optional(),
    noise: z.number().nonnegative().optional(), shift: z.number().int().min(0).max(8).optional(),
    testSplit,
  }).strict(),
]);
export type DataSpec = z.input<typeof dataSpecSchema>;
export type DatasetName = DataSpec['dataset'];

/** Validated; `testSplit: false` is the default and is dropped, so it resolves (and hashes) like a spec without it. */
export function parseDataSpec(input: unknown, label = 'data'): DataSpec {
  const spec = parseWith(dataSpecSchema, input, label);
  if (spec.testSplit === false) delete spec.testSplit;
  return spec;
}

/** Whether a data spec asks for a test split distinct from validation (data.testSplit). */
export function hasTestSplit(spec: DataSpec): boolean {
  return spec.testSplit === true;
}

/** The model kind a dataset is for: token streams train an LM, images a ViT. */
export function dataModelKind(spec: Pick<DataSpec, 'dataset'>): 'lm' | 'vit' {
  return spec.dataset === 'moby-dick' || spec.dataset === 'markov' ? 'lm' : 'vit';
}

/** What a data spec fixes about its model (the vocabulary rule). */
export type DataShape =
  | { modelKind: 'lm'; vocabSize: number }
  | { modelKind: 'vit'; classes: number; imageSize: number; channels: number };

/** The byte-level text vocabulary (UTF-8 bytes, no <unk>). */
export const BYTE_VOCAB_SIZE = 256;
/** The synthetic images createTask draws: syntheticImageTask's defaults (10 classes of 28x28 grayscale). */
export const SYNTHETIC_IMAGE_SHAPE = { classes: 10, imageSize: 28, channels: 1 } as const;

/**
 * The vocabulary rule: the sizes a data spec gives its model. Markov: its
 * vocabSize; Moby-Dick: 256 bytes, or the char vocabulary of its train text
 * (read once per process); MNIST and the synthetic images: 10 classes of 28x28
 * grayscale.
 */
export function dataShape(spec: DataSpec): DataShape {
  switch (spec.dataset) {
    case 'markov': return { modelKind: 'lm', vocabSize: spec.vocabSize };
    case 'moby-dick': {
      const level = spec.level ?? 'char';
      return { modelKind: 'lm', vocabSize: level === 'byte' ? BYTE_VOCAB_SIZE : loadMobyDick({ level }).vocab.size };
    }
    case 'mnist': return { modelKind: 'vit', classes: MNIST_CLASSES, imageSize: MNIST_HEIGHT, channels: 1 };
    case 'synthetic-images': return { modelKind: 'vit', ...SYNTHETIC_IMAGE_SHAPE };
  }
}
