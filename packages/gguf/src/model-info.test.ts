import { describe, expect, it } from "vitest";
import { readShared, readSharedJson } from "@quantlab/testing/fixtures";
import { getNumber, getString, modelInfo } from "./model-info.js";
import { parseGgufBytes } from "./open.js";

interface GoldenKv {
  key: string;
  value?: unknown;
  length?: number;
  first?: unknown[];
}
const golden = (name: string) => new Map(readSharedJson<{ kv: GoldenKv[] }>("golden", "gguf", name).kv.map((k) => [k.key, k]));

describe("modelInfo", () => {
  it("reads the llama hyper-parameters of stories260K (values from the gguf-py golden)", () => {
    const g = golden("stories260K.gguf.json");
    const info = modelInfo(parseGgufBytes(readShared("models", "stories260K.gguf")));
    const v = (k: string) => g.get(k)!.value;
    expect(info).toMatchObject({
      architecture: "llama",
      name: v("general.name"),
      alignment: 32,
      blockCount: v("llama.block_count"),
      contextLength: v("llama.context_length"),
      embeddingLength: v("llama.embedding_length"),
      feedForwardLength: v("llama.feed_forward_length"),
      headCount: v("llama.attention.head_count"),
      headCountKv: v("llama.attention.head_count_kv"),
      layerNormRmsEpsilon: v("llama.attention.layer_norm_rms_epsilon"),
      ropeDimensionCount: v("llama.rope.dimension_count"),
      vocabSize: g.get("tokenizer.ggml.tokens")!.length,
    });
    expect(info.embeddingLength).toBe(64);
    expect(info.headCountKv).toBe(4);
    expect(info.tokenizer).toMatchObject({ model: "llama", vocabSize: 512, bosTokenId: 1, eosTokenId: 2, unknownTokenId: 0, separatorTokenId: 0xffffffff });
    expect(info.tokenizer.tokens?.slice(0, 8)).toEqual((g.get("tokenizer.ggml.tokens") as { first: string[] }).first);
  });

  it("reads tokenizer settings of a vocab-only file", () => {
    const g = golden("vocab__ggml-vocab-phi-3.gguf.json");
    const f = parseGgufBytes(readShared("models", "vocab", "ggml-vocab-phi-3.gguf"));
    const info = modelInfo(f);
    expect(info.architecture).toBe("phi3");
    expect(info.contextLength).toBe(g.get("phi3.context_length")!.value);
    expect(info.ropeFreqBase).toBe(g.get("phi3.rope.freq_base")!.value);
    expect(info.fileType).toBe(g.get("general.file_type")!.value);
    expect(info.tokenizer).toMatchObject({ model: "llama", pre: "default", vocabSize: 32064, addBosToken: true, addEosToken: false, paddingTokenId: 32000 });
    expect(info.tokenizer.tokens?.[30143]).toBe("\uFEFF"); // the BOM token survives decoding
    expect(info.tokenizer.chatTemplate).toBe(g.get("tokenizer.chat_template")!.value);
    expect(getString(f, "missing")).toBeUndefined();
    expect(() => getNumber(f, "general.architecture")).toThrow(expect.objectContaining({ code: "GGUF_INVALID_VALUE" }));
  });
});
