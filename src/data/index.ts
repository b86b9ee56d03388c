// Datasets (MNIST, Moby-Dick, synthetic) and seeded, resumable batching.
// Everything except tensors.ts is pure TypeScript and needs no tfjs backend.
export {
  dataSpecSchema, parseDataSpec, dataModelKind, dataShape, BYTE_VOCAB_SIZE, SYNTHETIC_IMAGE_SHAPE,
} from './spec.js';
export type { DataSpec, DatasetName, DataShape } from './spec.js';
export { Rng, RNG_ALGORITHM, checkSeed } from './rng.js';
export type { RngState } from './rng.js';
export { checkImageSet, labelCounts } from './image-set.js';
export type { ImageSet } from './image-set.js';
export { DatasetMissingError, requireDatasetPackage, datasetPackageVersion } from './package.js';
export {
  loadMnist, mnistPixelStats, MNIST_TRAIN_MEAN, MNIST_TRAIN_STD, MNIST_SPLIT_NOTE, MNIST_TRAIN_FRACTION,
  MNIST_HEIGHT, MNIST_WIDTH, MNIST_CLASSES, MNIST_PACKAGE,
} from './mnist.js';
export type { MnistOptions, MnistSplits } from './mnist.js';
export { buildCharVocab, byteVocab, countUnknown, UNK_TOKEN, UNK_ID } from './vocab.js';
export type { Vocab, TextLevel } from './vocab.js';
export { unigramCrossEntropy } from './unigram.js';
export {
  loadMobyDick, mobyDickSections, mobyDickSplitOf, corpusUnigramBaseline,
  MOBY_DICK_PACKAGE, MOBY_DICK_VAL_EVERY, MOBY_DICK_EXCLUDED,
} from './text.js';
export type { TextCorpus, MobyDickOptions, MobyDickSection } from './text.js';
export { markovChainTask, CopyTask, COPY_SEPARATOR, syntheticImageTask } from './synthetic.js';
export type {
  MarkovTask, MarkovTaskOptions, CopyTaskOptions, CopyTaskState, SyntheticImageOptions, SyntheticImageTask,
} from './synthetic.js';
export { TokenBatcher, ImageBatcher, evalTokenBatches, evalImageBatches } from './batching.js';
export type {
  TokenBatch, ImageBatch, TokenBatcherOptions, TokenBatcherState, ImageBatcherOptions, ImageBatcherState,
} from './batching.js';
export { toTensors, tokenTensors, imageTensors } from './tensors.js';
export type { TokenTensors, ImageTensors } from './tensors.js';
