// loadTokenizer on hand-made tokenizer.json fixtures (test/fixtures/tokenizers/,
// written by make.mjs there): ids checked against values worked out BY HAND
// from each fixture's merges (the derivations are in the comments), never
// against the library's own output; round trips; bytes outside the merges;
// errors naming the folder and the file; textToBatches' windows.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTokenizer, textToBatches, textWindows } from '../src/pretrained/tokenizer.js';

const FIX = join(__dirname, 'fixtures', 'tokenizers');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-tok-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

const gpt2 = loadTokenizer(join(FIX, 'gpt2'));
const llama3 = loadTokenizer(join(FIX, 'llama3'));
const llama2 = loadTokenizer(join(FIX, 'llama2'));

// Byte ids of the gpt2 fixture follow GPT-2's bytes_to_unicode order: printable
// bytes 33..126 are ids 0..93 (id = byte - 33), 161..172 are 94..105, 174..255
// are 106..187, then the 68 others in byte order from 188 (byte 10 -> 198, byte
// 32 'Ġ' -> 220): the same ids as the real GPT-2 ('h' 71, '\n' 198, 'Ġ' 220).
describe('GPT-2 byte-level BPE', () => {
  test('"hello world" -> [259, 264], merged by rank', () => {
    // Pre-tokenizer (GPT-2 regex): "hello", " world" -> bytes as chars: "hello", "Ġworld".
    // Merges (rank: pair -> id): 0 h e->he 256, 1 l l->ll 257, 2 he ll->hell 258, 3 hell o->hello 259,
    //   4 Ġ w->Ġw 260, 5 o r->or 261, 6 Ġw or->Ġwor 262, 7 l d->ld 263, 8 Ġwor ld->Ġworld 264.
    // "hello": h e l l o -(0)-> he l l o -(1)-> he ll o -(2)-> hell o -(3)-> hello = 259.
    // "Ġworld": pairs Ġw(4) wo(-) or(5) rl(-) ld(7): -(4)-> Ġw o r l d -(5)-> Ġw or l d
    //   -(6)-> Ġwor l d -(7)-> Ġwor ld -(8)-> Ġworld = 264.
    assert.deepEqual(gpt2.encode('hello world'), [259, 264]);
  });

  test('merges stop where no pair is listed; single bytes take their byte ids', () => {
    // "held": h e l d -(0)-> he l d; (he,l) is no merge, (l,d) is rank 7 -> he ld = [256, 263].
    assert.deepEqual(gpt2.encode('held'), [256, 263]);
    // "hi": no merge has (h,i): 'h' = 104 - 33 = 71, 'i' = 105 - 33 = 72.
    assert.deepEqual(gpt2.encode('hi'), [71, 72]);
    // " 2024": GPT-2's regex keeps " ?\p{N}+" as one piece "Ġ2024", no merges: Ġ 220, '2' = 50-33 = 17, '0' 15, '4' 19.
    assert.deepEqual(gpt2.encode(' 2024'), [220, 17, 15, 17, 19]);
  });

  test('bytes outside the merges: every UTF-8 byte has its own id', () => {
    // "é" is UTF-8 C3 A9: byte 0xC3 = 195 (in 174..255) -> 106 + 21 = 127; 0xA9 = 169 (in 161..172) -> 94 + 8 = 102.
    assert.deepEqual(gpt2.encode('é'), [127, 102]);
    // "\n" is byte 10, not printable: the 11th of the others -> 188 + 10 = 198.
    assert.deepEqual(gpt2.encode('\n'), [198]);
    // An emoji, F0 9F 98 80: 0xF0 = 240 -> 106 + 66 = 172; 0x9F = 159 and 0x98 = 152 and 0x80 = 128 are
    // non-printable: others below them are 0..32 (33), 127..159 -> 33 + (b - 127): 159 -> 65, 152 -> 58, 128 -> 34; ids 188 + n.
    assert.deepEqual(gpt2.encode('😀'), [172, 188 + 65, 188 + 58, 188 + 34]);
    assert.equal(gpt2.decode([127, 102]), 'é');
  });

  test('round trip decode(encode(x)) === x, spaces and newlines included', () => {
    for (const x of ['hello world', ' hello  world ', 'held\n\nhi', "it's 2024 — é😀", '\t<|x|>', '']) {
      assert.equal(gpt2.decode(gpt2.encode(x)), x, JSON.stringify(x));
    }
  });

  test('vocabSize counts the added token; specials are known by content', () => {
    assert.equal(gpt2.vocabSize, 266); // 256 bytes + 9 merges + <|endoftext|>
    assert.deepEqual(gpt2.specialTokens, { '<|endoftext|>': 265 });
    assert.equal(gpt2.tokenToId('Ġworld'), 264);
    assert.equal(gpt2.idToToken(220), 'Ġ');
    // An added token in the text is matched whole.
    assert.deepEqual(gpt2.encode('hello<|endoftext|>'), [259, 265]);
  });
});

// llama3 fixture: id = byte value for the 256 byte tokens ('Ġ' = 32, 'h' = 104).
describe('LLaMA-3 / SmolLM-style BPE (Split regex, then ByteLevel)', () => {
  test('"This is the 2024" -> [263, 32, 261, 258, 32, 260, 52]; numbers split in runs of 3', () => {
    // Split (LLaMA-3's regex): "This", " is", " the", " ", "202", "4"
    //   (" 2024": the space is not followed by a letter, so it is its own \s+ piece; \p{N}{1,3} gives 202, 4).
    // Merges: 0 Ġ t->Ġt 256, 1 h e->he 257, 2 Ġt he->Ġthe 258, 3 2 0->20 259, 4 20 2->202 260,
    //   5 i s->is 261, 6 T h->Th 262, 7 Th is->This 263.
    // "This": pairs Th(6) hi(-) is(5) -(5)-> T h is -(6)-> Th is -(7)-> This = 263.
    // "Ġis": Ġ i s -(5)-> Ġ is; (Ġ,is) none -> [32, 261].
    // "Ġthe": Ġt(0) th(-) he(1) -(0)-> Ġt h e -(1)-> Ġt he -(2)-> Ġthe = 258.
    // "Ġ" = 32; "202": 20(3) 02(-) -(3)-> 20 2 -(4)-> 202 = 260; "4" = 52.
    assert.deepEqual(llama3.encode('This is the 2024'), [263, 32, 261, 258, 32, 260, 52]);
  });

  test('the post-processor adds <|begin_of_text|> only when asked', () => {
    assert.deepEqual(llama3.encode('held', { specialTokens: true }), [264, 257, 108, 100]); // BOS, he, l, d
    assert.deepEqual(llama3.encode('held'), [257, 108, 100]);
    assert.equal(llama3.decode([264, 257, 108, 100]), '<|begin_of_text|>held');
    assert.equal(llama3.decode([264, 257, 108, 100], { skipSpecial: true }), 'held');
  });

  test('bytes outside the merges and round trips', () => {
    assert.deepEqual(llama3.encode('é'), [0xc3, 0xa9]);
    for (const x of ['This is the 2024', '  two  spaces \n', 'é😀 ü', "I'LL 12345678"]) {
      assert.equal(llama3.decode(llama3.encode(x)), x, JSON.stringify(x));
    }
    assert.equal(llama3.vocabSize, 266);
  });
});

// llama2 fixture: <unk> 0, <s> 1, </s> 2, <0x00>..<0xFF> 3..258, then ▁ h e l o w r d 259..266, merges 267...
describe('LLaMA-2-style Metaspace BPE with byte fallback', () => {
  test('"hello world" -> [271, 276]', () => {
    // Metaspace (prepend first, no split): one word "▁hello▁world".
    // Merges: 0 ▁ h->▁h 267, 1 l l->ll 268, 2 ▁h e->▁he 269, 3 ▁he ll->▁hell 270, 4 ▁hell o->▁hello 271,
    //   5 ▁ w->▁w 272, 6 o r->or 273, 7 ▁w or->▁wor 274, 8 l d->ld 275, 9 ▁wor ld->▁world 276.
    // ▁ h e l l o ▁ w o r l d -(0)-> ▁h e l l o ... -(1)-> ▁h e ll o -(2)-> ▁he ll o -(3)-> ▁hell o
    //   -(4)-> ▁hello ▁ w o r l d -(5)-> ▁hello ▁w o r l d -(6)-> ... ▁w or l d -(7)-> ▁wor l d
    //   -(8)-> ▁wor ld -(9)-> ▁hello ▁world = [271, 276].
    assert.deepEqual(llama2.encode('hello world'), [271, 276]);
    assert.deepEqual(llama2.encode('hello world', { specialTokens: true }), [1, 271, 276]);
  });

  test('characters not in the vocabulary fall back to their UTF-8 bytes', () => {
    // "hé" -> "▁hé": ▁ h -(0)-> ▁h; 'é' is not a token: bytes C3 A9 -> <0xC3> = 3 + 195 = 198, <0xA9> = 3 + 169 = 172.
    assert.deepEqual(llama2.encode('hé'), [267, 198, 172]);
    // 'i' is not a token either: <0x69> = 3 + 105 = 108.
    assert.deepEqual(llama2.encode('hi'), [267, 108]);
    assert.equal(llama2.decode([267, 198, 172]), 'hé');
  });

  test('round trips (a leading space is dropped, as by the Rust tokenizer)', () => {
    for (const x of ['hello world', 'held  hi\né😀', 'world ']) assert.equal(llama2.decode(llama2.encode(x)), x, JSON.stringify(x));
    assert.equal(llama2.decode(llama2.encode(' hello')), 'hello');
    assert.equal(llama2.vocabSize, 277);
  });
});

describe('errors name the folder and the file', () => {
  const folder = (name: string, files: Record<string, string>) => {
    const d = join(TMP, name);
    mkdirSync(d, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
    return d;
  };

  test('missing folder, missing tokenizer.json (legacy files named)', () => {
    const none = join(TMP, 'nope');
    assert.throws(() => loadTokenizer(none), (e: Error) => e.message.includes(none) && /no such folder/.test(e.message));
    const legacy = folder('legacy', { 'vocab.json': '{}', 'merges.txt': '' });
    assert.throws(() => loadTokenizer(legacy), (e: Error) =>
      e.message.includes(legacy) && /missing tokenizer\.json/.test(e.message) && /vocab\.json, merges\.txt/.test(e.message));
  });

  test('malformed tokenizer.json or tokenizer_config.json', () => {
    const broken = folder('broken', { 'tokenizer.json': '{"model": {"type": "BPE",' });
    assert.throws(() => loadTokenizer(broken), (e: Error) => e.message.includes(broken) && /tokenizer\.json is not valid JSON/.test(e.message));
    const noModel = folder('no-model', { 'tokenizer.json': '{"version": "1.0"}' });
    assert.throws(() => loadTokenizer(noModel), (e: Error) => e.message.includes(noModel) && /tokenizer\.json has no model/.test(e.message));
    const badConfig = folder('bad-config', { 'tokenizer.json': '{"model": {"type": "BPE", "vocab": {}, "merges": []}}', 'tokenizer_config.json': '[1' });
    assert.throws(() => loadTokenizer(badConfig), (e: Error) => e.message.includes(badConfig) && /tokenizer_config\.json is not valid JSON/.test(e.message));
  });

  test('decode refuses ids outside the vocabulary', () => {
    assert.throws(() => gpt2.decode([266]), /tokenizer .*gpt2: decode: id 266 is not in the vocabulary \(0\.\.265\)/);
  });
});

describe('textToBatches', () => {
  // "hello world" repeated: gpt2 ids 259 ("hello"), 264 ("Ġworld"), then "Ġhello" is not merged whole:
  // Ġ h e l l o -> Ġ he l l o -> Ġ he ll o -> Ġ hell o -> Ġ hello = [220, 259] (no merge has (Ġ, hello)).
  const text = 'hello world hello world hello world';
  const ids = [259, 264, 220, 259, 264, 220, 259, 264];

  test('fixed windows from an offset, adjacent by default', () => {
    assert.deepEqual(gpt2.encode(text), ids);
    const w = textWindows(gpt2, text, { context: 3, batch: 2, offset: 1 });
    assert.deepEqual(w.shape, [2, 3]);
    assert.deepEqual(w.starts, [1, 4]);
    assert.deepEqual([...w.ids], [264, 220, 259, 264, 220, 259]);
    const s = textWindows(gpt2, text, { context: 4, batch: 3, stride: 2 });
    assert.deepEqual(s.starts, [0, 2, 4]);
    assert.deepEqual([...s.ids], [...ids.slice(0, 4), ...ids.slice(2, 6), ...ids.slice(4, 8)]);
  });

  test('an int32 [B, T] tensor, the same every time', async () => {
    const a = textToBatches(gpt2, text, { context: 4, batch: 2 });
    const b = textToBatches(gpt2, text, { context: 4, batch: 2 });
    try {
      assert.equal(a.dtype, 'int32');
      assert.deepEqual(a.shape, [2, 4]);
      assert.deepEqual(await a.array(), [ids.slice(0, 4), ids.slice(4, 8)]);
      assert.deepEqual(await b.array(), await a.array());
    } finally {
      a.dispose(); b.dispose();
    }
  });

  test('a text too short, or bad sizes, fail naming the numbers', () => {
    assert.throws(() => textWindows(gpt2, text, { context: 4, batch: 2, offset: 1 }),
      /the text has 8 tokens \(tokenizer .*gpt2\); 2 window\(s\) of 4 from offset 1 with stride 4 need 9/);
    assert.throws(() => textWindows(gpt2, text, { context: 0, batch: 1 }), /context = 0 must be an integer >= 1/);
    assert.throws(() => textWindows(gpt2, text, { context: 2, batch: 1, offset: -1 }), /offset = -1 must be an integer >= 0/);
  });
});
