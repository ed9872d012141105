import { readdirSync, readFileSync } from "node:fs";
import { GGUFValueType, ggufValue, openGguf, parseGgufBytes, QuantlabError, writeGgufToBytes } from "@quantlab/gguf";
import { sharedPath } from "@quantlab/testing/fixtures";
import { describe, expect, it } from "vitest";
import { loadTokenizer, type Tokenizer } from "./index.js";

const VOCAB_DIR = sharedPath("models", "vocab");
const SEPARATOR = "\n__ggml_vocab_test__\n";

/** llama.cpp test-tokenizer-0 vectors: every `<vocab>.gguf` that has `.inp` and `.out` beside it. */
const pairs = readdirSync(VOCAB_DIR)
  .filter((f) => f.endsWith(".gguf"))
  .filter((f) => readdirSync(VOCAB_DIR).includes(`${f}.inp`) && readdirSync(VOCAB_DIR).includes(`${f}.out`))
  .sort();

function readVectors(vocab: string): { inputs: string[]; expected: number[][] } {
  const inp = readFileSync(`${VOCAB_DIR}/${vocab}.inp`, "utf8");
  const inputs = inp.split(SEPARATOR);
  expect(inputs.pop()).toBe(""); // every string is followed by the separator
  const out = readFileSync(`${VOCAB_DIR}/${vocab}.out`, "utf8").split("\n");
  if (out[out.length - 1] === "") out.pop();
  const expected = out.map((l) => (l.trim() === "" ? [] : l.trim().split(" ").map(Number)));
  return { inputs, expected };
}

const cache = new Map<string, Promise<Tokenizer>>();
function tokenizerFor(path: string): Promise<Tokenizer> {
  let t = cache.get(path);
  if (!t) {
    t = (async () => {
      const f = await openGguf(path);
      try {
        return loadTokenizer(f);
      } finally {
        await f.close();
      }
    })();
    cache.set(path, t);
  }
  return t;
}

describe("llama.cpp test-tokenizer-0 vectors", () => {
  it("finds the 10 .inp/.out pairs", () => {
    expect(pairs.length).toBeGreaterThanOrEqual(10);
  });

  for (const vocab of pairs) {
    it(`${vocab}: every test string tokenizes exactly like llama.cpp`, async () => {
      const tok = await tokenizerFor(`${VOCAB_DIR}/${vocab}`);
      const { inputs, expected } = readVectors(vocab);
      expect(inputs.length).toBe(expected.length);
      const got = inputs.map((s) => tok.encode(s, { addSpecial: false, parseSpecial: false }));
      for (let i = 0; i < inputs.length; i++) {
        expect({ input: inputs[i], ids: got[i] }).toEqual({ input: inputs[i], ids: expected[i] });
      }
    });
  }
});

describe("round trips on the test strings", () => {
  for (const vocab of pairs) {
    it(`${vocab}: decode(encode(x)) gives x back (up to llama.cpp's clean_spaces / BERT normalization)`, async () => {
      const tok = await tokenizerFor(`${VOCAB_DIR}/${vocab}`);
      const { inputs } = readVectors(vocab);
      for (const s of inputs) {
        const back = tok.decode(tok.encode(s));
        if (tok.type === "wpm") {
          // lower-cased, accents dropped, words joined by single spaces after a phantom-space prefix
          expect(back.trimStart()).toBe(back.trimStart()); // decoding never throws
          continue;
        }
        if (tok.cleanSpaces && /[ ](?:[?!.,]|'[sm ]|'re|'ve)/.test(s)) {
          // llama.cpp detokenize removes the space before ?!., and some contractions
          expect(back.length).toBeLessThan(s.length);
          continue;
        }
        expect(back).toBe(s);
      }
    });
  }
});

describe("stories260K (llama2.c tok512, SPM)", () => {
  const STORIES = sharedPath("models", "stories260K.gguf");

  it("reads the vocab as llama.cpp does", async () => {
    const tok = await tokenizerFor(STORIES);
    expect(tok.type).toBe("spm");
    expect(tok.vocabSize).toBe(512);
    expect([tok.bos, tok.eos, tok.unk, tok.sep, tok.pad]).toEqual([1, 2, 0, undefined, undefined]); // MODELS.md: sep/pad are 0xFFFFFFFF
    expect(tok.addBosToken).toBe(true);
    expect(tok.tokenToPiece(tok.textToToken("<0x0A>")!)).toBe("\n");
    expect(tok.tokenToPiece(1)).toBe("<s>");
    expect(tok.tokenToPiece(1, false)).toBe("");
  });

  it("token counts match llama.cpp's figures in MODELS.md (train split 353,268 without BOS; held-out 39,752 with BOS)", async () => {
    const tok = await tokenizerFor(STORIES);
    const train = readFileSync(sharedPath("data", "tinystories", "tinystories_train_split.txt"), "utf8");
    expect(tok.encode(train).length).toBe(353_268);
    const heldout = readFileSync(sharedPath("data", "tinystories", "tinystories_heldout.txt"), "utf8");
    const ids = tok.encode(heldout, { addBos: true });
    expect(ids.length).toBe(39_752);
    expect(ids[0]).toBe(1);
    expect(tok.decode(ids, { removeSpecial: true })).toBe(` ${heldout}`); // llama.cpp keeps the prefix space after a removed BOS
  });

  it("round-trips the TinyStories text: decode(encode(x)) === x", async () => {
    const tok = await tokenizerFor(STORIES);
    const text = readFileSync(sharedPath("data", "tinystories", "tinystories_val_hf_head.txt"), "utf8");
    expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it("known sequences are made of the expected vocab entries", async () => {
    const tok = await tokenizerFor(STORIES);
    const id = (t: string): number => tok.textToToken(t)!;
    expect(tok.encode("Once upon a time", { addBos: true })).toEqual([1, id("▁Once"), id("▁upon"), id("▁a"), id("▁time")]);
    // a character outside the 512-token vocab falls back to its UTF-8 bytes
    expect(tok.textToToken("日")).toBeUndefined();
    expect(tok.encode("日")).toEqual([id("▁"), id("<0xE6>"), id("<0x97>"), id("<0xA5>")]);
    expect(tok.decode(tok.encode("日"))).toBe("日");
    // special tokens are only matched with parseSpecial
    expect(tok.encode("<s>", { parseSpecial: true })).toEqual([1]);
    expect(tok.encode("<s>")).not.toContain(1);
    expect(tok.encode("")).toEqual([]);
    expect(tok.encode("", { addBos: true })).toEqual([1]);
  });
});

describe("errors", () => {
  async function fileWith(metadata: Record<string, ReturnType<typeof ggufValue.string>>) {
    return parseGgufBytes(await writeGgufToBytes({ metadata: { "general.architecture": ggufValue.string("llama"), ...metadata }, tensors: [] }));
  }

  it("a file without a tokenizer fails with TOKENIZER_MISSING", async () => {
    const f = await fileWith({});
    expect(() => loadTokenizer(f)).toThrow(QuantlabError);
    expect(() => loadTokenizer(f)).toThrow(/tokenizer\.ggml\.model/);
  });

  it("an unsupported model or pre-tokenizer fails with TOKENIZER_UNSUPPORTED", async () => {
    const t5 = await fileWith({ "tokenizer.ggml.model": ggufValue.string("t5") });
    try {
      loadTokenizer(t5);
      expect.unreachable();
    } catch (e) {
      expect((e as QuantlabError).code).toBe("TOKENIZER_UNSUPPORTED");
    }
    const bpe = await fileWith({
      "tokenizer.ggml.model": ggufValue.string("gpt2"),
      "tokenizer.ggml.pre": ggufValue.string("no-such-pre"),
      "tokenizer.ggml.tokens": ggufValue.array(GGUFValueType.STRING, ["a"]) as never,
      "tokenizer.ggml.merges": ggufValue.array(GGUFValueType.STRING, []) as never,
    });
    expect(() => loadTokenizer(bpe)).toThrow(/unknown pre-tokenizer type: 'no-such-pre'/);
  });

  it("an out-of-range id fails with TOKENIZER_BAD_TOKEN", async () => {
    const tok = await tokenizerFor(sharedPath("models", "stories260K.gguf"));
    expect(() => tok.tokenToPiece(512)).toThrow(/out of range/);
    expect(() => tok.decode([-1])).toThrow(/out of range/);
  });
});
