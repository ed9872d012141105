import fc from "fast-check";
import { openGguf } from "@quantlab/gguf";
import { sharedPath } from "@quantlab/testing/fixtures";
import { describe, expect, it } from "vitest";
import { BYTE_TO_UNICODE, loadTokenizer, preTokenizerConfig, preTokenizerRegexes, regexSplit, wpmPreprocess, type PreTokenizerKind } from "./index.js";

const KINDS: PreTokenizerKind[] = ["default", "llama3", "deepseek-llm", "deepseek-coder", "falcon", "starcoder", "gpt2", "qwen2", "chatglm4", "poro", "viking"];

describe("BPE pre-tokenizers", () => {
  it("every regex list compiles and its pieces concatenate back to the input", () => {
    for (const kind of KINDS) {
      const res = preTokenizerRegexes(kind);
      fc.assert(
        fc.property(fc.string({ unit: "grapheme-composite", maxLength: 40 }), (s) => {
          const parts = regexSplit(s, res);
          expect(parts.join("")).toBe(s);
          expect(parts.every((p) => p.length > 0)).toBe(true);
        }),
        { numRuns: 150 },
      );
    }
  });

  it("`\\s` means llama.cpp's whitespace: U+0085 is whitespace, U+FEFF is not", () => {
    const gpt2 = preTokenizerRegexes("gpt2");
    // JS \s would miss U+0085 and glue both into one "other" piece; llama.cpp splits them like spaces
    expect(regexSplit("a\u0085\u0085b", gpt2)).toEqual(["a", "\u0085", "\u0085", "b"]);
    expect(regexSplit("a \uFEFF", gpt2)).toEqual(["a", " \uFEFF"]); // U+FEFF is "other", taken with its leading space
  });

  it("the GPT-2 pattern splits contractions, words, digits and whitespace runs", () => {
    expect(regexSplit("I'll  go 123!!", preTokenizerRegexes("gpt2"))).toEqual(["I", "'ll", " ", " go", " 123", "!!"]);
    expect(regexSplit("x 12345", preTokenizerRegexes("llama3"))).toEqual(["x", " ", "123", "45"]);
    expect(regexSplit("x 12345", preTokenizerRegexes("starcoder"))).toEqual(["x", " ", "1", "2", "3", "4", "5"]);
  });

  it("maps tokenizer.ggml.pre names like llama.cpp", () => {
    expect(preTokenizerConfig("llama-bpe")).toEqual({ kind: "llama3", cleanSpaces: true, ignoreMerges: true, addBos: true });
    expect(preTokenizerConfig("qwen2")?.kind).toBe("qwen2");
    expect(preTokenizerConfig("refact")?.kind).toBe("starcoder");
    expect(preTokenizerConfig("mpt")?.kind).toBe("gpt2");
    expect(preTokenizerConfig(undefined)?.kind).toBe("default");
    expect(preTokenizerConfig("nope")).toBeUndefined();
  });

  it("the byte-level map covers all 256 bytes with distinct printable code points", () => {
    expect(new Set(BYTE_TO_UNICODE).size).toBe(256);
    expect(BYTE_TO_UNICODE[0x20]).toBe("\u0120"); // "Ġ"
    expect(BYTE_TO_UNICODE[0x0a]).toBe("\u010a"); // "Ċ"
    expect(BYTE_TO_UNICODE[0x41]).toBe("A");
  });
});

describe("byte-level BPE round trip (deepseek-coder: no clean_spaces)", () => {
  it("decode(encode(x)) === x for arbitrary Unicode text", async () => {
    const f = await openGguf(sharedPath("models", "vocab", "ggml-vocab-deepseek-coder.gguf"));
    const tok = loadTokenizer(f);
    await f.close();
    fc.assert(
      fc.property(fc.string({ unit: "grapheme-composite", maxLength: 60 }), (s) => {
        expect(tok.decode(tok.encode(s))).toBe(s);
      }),
      { numRuns: 200 },
    );
  });
});

describe("WPM (bert-bge)", () => {
  it("lower-cases, strips accents and splits punctuation before WordPiece", async () => {
    expect(wpmPreprocess("Hello, Führer!  x")).toEqual(["hello", ",", "fuhrer", "!", "x"]);
    const f = await openGguf(sharedPath("models", "vocab", "ggml-vocab-bert-bge.gguf"));
    const tok = loadTokenizer(f);
    await f.close();
    const id = (t: string): number => tok.textToToken(t)!;
    expect(tok.encode("Hello World!")).toEqual([id("▁hello"), id("▁world"), id("▁!")]);
    expect(tok.encode("Hello", { addSpecial: true })).toEqual([101, id("▁hello"), 102]); // CLS … SEP
  });
});
