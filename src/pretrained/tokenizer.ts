// A snapshot's own tokenizer: tokenizer.json (and tokenizer_config.json when
// present) read from the folder, never the network, and run by Hugging Face's
// pure-JavaScript tokenizers.js (@huggingface/tokenizers), which implements the
// same pipeline as the Rust `tokenizers` (normalizer, pre-tokenizer, BPE /
// WordPiece / Unigram model, post-processor, decoder): GPT-2's byte-level BPE,
// LLaMA-3 / SmolLM's split-then-byte-level BPE and LLaMA-2's Metaspace BPE with
// byte fallback alike.
//
// encode() gives the text's own ids, no special tokens (what a window of a text
// file wants); { specialTokens: true } adds what the tokenizer's post-processor
// adds (LLaMA's BOS, for instance). decode() is the inverse without the
// "clean-up" of spaces before punctuation, so for byte-level tokenizers
// decode(encode(x)) === x for every string x. (A Metaspace tokenizer drops a
// leading space, as the Rust one does.)
//
// textToBatches() cuts a text into fixed [batch, context] windows of ids.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../engine/tf.js';

/** What this module uses of tokenizers.js's Tokenizer (its own .d.ts is an ES module that a CommonJS build cannot import). */
interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
  decode(ids: number[], options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
  get_added_tokens_decoder(): Map<number, { content: string; special: boolean }>;
}
type HfTokenizerClass = new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizer;

let hfTokenizer: HfTokenizerClass | undefined;
function tokenizerClass(): HfTokenizerClass {
  // The package's CommonJS build (its "require" export).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (hfTokenizer ??= (require('@huggingface/tokenizers') as { Tokenizer: HfTokenizerClass }).Tokenizer);
}

export interface EncodeOptions {
  /** Add the special tokens of the tokenizer's post-processor (e.g. LLaMA's BOS). Default false. */
  specialTokens?: boolean;
}
export interface DecodeOptions {
  /** Leave special tokens (BOS, EOS, ...) out of the text. Default false. */
  skipSpecial?: boolean;
}

export interface TextTokenizer {
  /** The snapshot folder it was read from. */
  readonly dir: string;
  /** Largest id (vocabulary and added tokens) + 1: the rows an embedding needs. */
  readonly vocabSize: number;
  /** Ids of the special tokens (added tokens marked special), by content. */
  readonly specialTokens: Readonly<Record<string, number>>;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string;
  /** The id of a token string ('Ġthe', '<|endoftext|>'), or undefined. */
  tokenToId(token: string): number | undefined;
  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function readJson(dir: string, file: string, bad: (why: string) => Error): unknown {
  const path = join(dir, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw bad(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw bad(`${file} is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * The tokenizer of a snapshot folder: its tokenizer.json (required) and
 * tokenizer_config.json (optional). Errors name the folder and the file.
 */
export function loadTokenizer(dir: string): TextTokenizer {
  const bad = (why: string) => new Error(`tokenizer ${dir}: ${why}`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw bad('no such folder');
  if (!existsSync(join(dir, 'tokenizer.json'))) {
    const legacy = ['vocab.json', 'merges.txt', 'tokenizer.model'].filter((f) => existsSync(join(dir, f)));
    throw bad(`missing tokenizer.json${legacy.length ? ` (found ${legacy.join(', ')}: only the tokenizer.json form is read; ` +
      'save the tokenizer with a recent transformers to get one)' : ''}`);
  }
  const json = readJson(dir, 'tokenizer.json', bad);
  if (!isObject(json)) throw bad('tokenizer.json must be a JSON object');
  if (!isObject(json.model) || typeof json.model.type !== 'string') {
    throw bad(`tokenizer.json has no model {type: "BPE" | "WordPiece" | "Unigram", ...}; found model = ${JSON.stringify(json.model)?.slice(0, 80)}`);
  }
  const config = existsSync(join(dir, 'tokenizer_config.json')) ? readJson(dir, 'tokenizer_config.json', bad) : {};
  if (!isObject(config)) throw bad('tokenizer_config.json must be a JSON object');
  let tok: HfTokenizer;
  try {
    tok = new (tokenizerClass())(json, config);
  } catch (e) {
    throw bad(`tokenizer.json cannot be read: ${(e as Error).message}`);
  }

  let maxId = -1;
  for (const id of tok.get_vocab(true).values()) maxId = Math.max(maxId, id);
  const specialTokens: Record<string, number> = {};
  for (const [id, t] of tok.get_added_tokens_decoder()) if (t.special) specialTokens[t.content] = id;

  return {
    dir,
    vocabSize: maxId + 1,
    specialTokens,
    encode: (text, opts = {}) => {
      if (typeof text !== 'string') throw new Error(`tokenizer ${dir}: encode takes a string; found ${typeof text}`);
      return tok.encode(text, { add_special_tokens: opts.specialTokens ?? false }).ids;
    },
    decode: (ids, opts = {}) => {
      const list = Array.from(ids);
      const badId = list.find((i) => !Number.isInteger(i) || i < 0 || i > maxId);
      if (badId !== undefined) throw new Error(`tokenizer ${dir}: decode: id ${badId} is not in the vocabulary (0..${maxId})`);
      if (list.length === 0) return '';
      return tok.decode(list, { skip_special_tokens: opts.skipSpecial ?? false, clean_up_tokenization_spaces: false });
    },
    tokenToId: (token) => tok.token_to_id(token),
    idToToken: (id) => tok.id_to_token(id),
  };
}

export interface TextBatchOptions {
  /** Tokens per window (T). */
  context: number;
  /** Windows (B). */
  batch: number;
  /** Token index where the first window starts (default 0). */
  offset?: number;
  /** Tokens from one window's start to the next (default context: adjacent, non-overlapping windows). */
  stride?: number;
  /** Add the tokenizer's special tokens when encoding the text (once, at its start). Default false. */
  specialTokens?: boolean;
}

/** The ids of textToBatches, without tfjs: row-major [batch, context]. */
export function textWindows(tokenizer: Pick<TextTokenizer, 'encode' | 'dir'>, text: string, opts: TextBatchOptions):
    { ids: Int32Array; shape: [number, number]; starts: number[]; tokens: number } {
  const { context: T, batch: B, offset = 0 } = opts;
  const stride = opts.stride ?? T;
  for (const [k, v, min] of [['context', T, 1], ['batch', B, 1], ['stride', stride, 1], ['offset', offset, 0]] as const) {
    if (!Number.isSafeInteger(v) || v < min) throw new Error(`textToBatches: ${k} = ${JSON.stringify(v)} must be an integer >= ${min}`);
  }
  const all = tokenizer.encode(text, { specialTokens: opts.specialTokens ?? false });
  const need = offset + (B - 1) * stride + T;
  if (all.length < need) {
    throw new Error(`textToBatches: the text has ${all.length} tokens (tokenizer ${tokenizer.dir}); ` +
      `${B} window(s) of ${T} from offset ${offset} with stride ${stride} need ${need}`);
  }
  const ids = new Int32Array(B * T), starts: number[] = [];
  for (let b = 0; b < B; b++) {
    const s = offset + b * stride;
    starts.push(s);
    for (let t = 0; t < T; t++) ids[b * T + t] = all[s + t]!;
  }
  return { ids, shape: [B, T], starts, tokens: all.length };
}

/**
 * A text as int32 ids [batch, context]: encoded once (no special tokens unless
 * asked), window b is tokens [offset + b*stride, offset + b*stride + context).
 * Deterministic: the same text, tokenizer and options give the same windows.
 * Fails naming the numbers when the text is too short. The caller disposes the tensor.
 */
export function textToBatches(tokenizer: Pick<TextTokenizer, 'encode' | 'dir'>, text: string, opts: TextBatchOptions): tf.Tensor2D {
  const { ids, shape } = textWindows(tokenizer, text, opts);
  return tf.tensor2d(ids, shape, 'int32');
}
