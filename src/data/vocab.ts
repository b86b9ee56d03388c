// Tokenisers for the text datasets: a character vocabulary built from training
// text (with <unk> for characters it never saw) or the fixed 256-symbol byte
// vocabulary (UTF-8 bytes, nothing unknown).
import { ConfigError } from '../util/schema.js';

export type TextLevel = 'char' | 'byte';

export interface Vocab {
  level: TextLevel;
  size: number;
  /** id -> display string; char level: itos[0] = '<unk>'; byte level: printable ASCII or '<0xNN>'. */
  itos: readonly string[];
  /** The id unseen characters map to (char level), or null (byte level has none). */
  unkId: number | null;
  encode(text: string): Int32Array;
  /** ids -> text; char level decodes <unk> as U+FFFD, byte level decodes invalid UTF-8 as U+FFFD. */
  decode(ids: ArrayLike<number>): string;
}

export const UNK_TOKEN = '<unk>';
export const UNK_ID = 0;

function checkId(id: number, i: number, size: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= size) {
    throw new ConfigError(`Vocab.decode: ids[${i}] = ${id} is invalid: expected an integer in [0, ${size})`);
  }
}

/** Char vocabulary of `text`: id 0 is <unk>, then every distinct code point in code-point order. */
export function buildCharVocab(text: string): Vocab {
  const chars = [...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  const itos = [UNK_TOKEN, ...chars];
  const stoi = new Map<string, number>(chars.map((c, i) => [c, i + 1]));
  const size = itos.length;
  return {
    level: 'char',
    size,
    itos,
    unkId: UNK_ID,
    encode(s: string): Int32Array {
      const out = new Int32Array(s.length); // code points <= UTF-16 units
      let n = 0;
      for (const ch of s) out[n++] = stoi.get(ch) ?? UNK_ID;
      return out.slice(0, n);
    },
    decode(ids: ArrayLike<number>): string {
      let s = '';
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        checkId(id, i, size);
        s += id === UNK_ID ? '\uFFFD' : itos[id];
      }
      return s;
    },
  };
}

function byteName(b: number): string {
  if (b === 0x0a) return '\n';
  if (b === 0x09) return '\t';
  return b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** The byte vocabulary: 256 ids, one per UTF-8 byte value. */
export function byteVocab(): Vocab {
  const itos = Array.from({ length: 256 }, (_, b) => byteName(b));
  const encoder = new TextEncoder();
  const decoder = new TextDecoder('utf-8');
  return {
    level: 'byte',
    size: 256,
    itos,
    unkId: null,
    encode: (s: string): Int32Array => Int32Array.from(encoder.encode(s)),
    decode(ids: ArrayLike<number>): string {
      const bytes = new Uint8Array(ids.length);
      for (let i = 0; i < ids.length; i++) {
        checkId(ids[i]!, i, 256);
        bytes[i] = ids[i]!;
      }
      return decoder.decode(bytes);
    },
  };
}

/** How many of `ids` are `unkId` (0 when the vocabulary has no <unk>). */
export function countUnknown(ids: ArrayLike<number>, unkId: number | null): number {
  if (unkId === null) return 0;
  let n = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] === unkId) n++;
  return n;
}
