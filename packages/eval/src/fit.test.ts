import { describe, expect, it } from "vitest";
import { QuantlabError, openGguf, parseGgufBytes } from "@quantlab/gguf";
import { GGUF_T, buildGguf, sharedPath } from "@quantlab/testing";
import { estimateMemory, fitModels, formatBytes, kvBytesPerElement, largestContext, memoryModelInfo, parseSize, type MemoryModelInfo } from "./fit.js";

/** A hand-made config (no GGUF needed). */
function cfg(p: Partial<MemoryModelInfo> & { nLayer: number; nHeadKvAll: number; headDim: number }): MemoryModelInfo {
  return {
    architecture: "llama",
    nEmbd: 4096,
    nHead: 32,
    nFf: 14336,
    nVocab: 128256,
    nCtxTrain: 131072,
    slidingWindow: 0,
    weightBytes: 0,
    nTensors: 0,
    ...p,
    nHeadKv: p.nHeadKv ?? new Array(p.nLayer).fill(p.nHeadKvAll),
    headDimK: p.headDimK ?? p.headDim,
    headDimV: p.headDimV ?? p.headDim,
    swaLayers: p.swaLayers ?? new Array(p.nLayer).fill(false),
  };
}

describe("KV cache size", () => {
  it("64 layers x 4 KV heads x head dim 256 x 8192 ctx at f16 = 2 GiB", () => {
    // 2 (K and V) · 64 layers · 4 heads · 256 dims · 8192 cells · 2 bytes
    //   = 2·64 = 128; ·4 = 512; ·256 = 131,072; ·8192 = 1,073,741,824; ·2 bytes = 2,147,483,648 (= 2 GiB exactly)
    const e = estimateMemory(cfg({ nLayer: 64, nHeadKvAll: 4, headDim: 256 }), { ctx: 8192, kvType: "f16" });
    expect(e.kvCache).toBe(2_147_483_648);
    expect(e.kvPerLayer[0]).toBe(2_147_483_648 / 64);
  });

  it("Llama-3-8B shape (32 layers, GQA 8 x 128) at 8192: f16 1 GiB, q8_0 544 MiB, q4_0 288 MiB", () => {
    const c = cfg({ nLayer: 32, nHeadKvAll: 8, headDim: 128 });
    // f16: 2·32·8·128·8192·2 = 1,073,741,824
    expect(estimateMemory(c, { ctx: 8192 }).kvCache).toBe(1_073_741_824);
    // q8_0: 34 bytes per 32 values: 2·32·8192 rows of 1024 values -> 1024/32·34 = 1088 bytes a row: 524,288·1088
    expect(estimateMemory(c, { ctx: 8192, kvType: "q8_0" }).kvCache).toBe(2 * 32 * 8192 * 1088);
    expect(estimateMemory(c, { ctx: 8192, kvType: "q8_0" }).kvCache).toBe(570_425_344); // 544 MiB
    // q4_0: 18 bytes per 32: 1024/32·18 = 576 bytes a row
    expect(estimateMemory(c, { ctx: 8192, kvType: "q4_0" }).kvCache).toBe(2 * 32 * 8192 * 576); // 288 MiB
    // mixed K/V types
    expect(estimateMemory(c, { ctx: 8192, kvTypeK: "q8_0", kvTypeV: "f16" }).kvCache).toBe(32 * 8192 * (1088 + 2048));
  });

  it("bytes per element of each cache type", () => {
    expect(kvBytesPerElement("f32")).toBe(4);
    expect(kvBytesPerElement("bf16")).toBe(2);
    expect(kvBytesPerElement("q8_0")).toBe(34 / 32);
    expect(kvBytesPerElement("q4_1")).toBe(20 / 32);
    expect(kvBytesPerElement("iq4_nl")).toBe(18 / 32);
    expect(kvBytesPerElement("q5_0")).toBe(22 / 32);
    expect(kvBytesPerElement("q5_1")).toBe(24 / 32);
    expect(() => estimateMemory(cfg({ nLayer: 1, nHeadKvAll: 1, headDim: 32 }), { ctx: 16, kvType: "q3_K" })).toThrow(/unknown KV cache type/);
  });

  it("sliding-window layers use min(ctx, window); --swa-full keeps them full", () => {
    // gemma2-9b shape: 42 layers, 8 KV heads x 256, window 4096, every other layer local
    const swa = Array.from({ length: 42 }, (_, il) => il % 2 === 0);
    const c = cfg({ architecture: "gemma2", nLayer: 42, nHeadKvAll: 8, headDim: 256, slidingWindow: 4096, swaLayers: swa });
    const perCell = 2 * 8 * 256 * 2; // K+V bytes per cell per layer at f16 = 8192
    const e = estimateMemory(c, { ctx: 8192 });
    expect(e.kvPerLayer[0]).toBe(4096 * perCell);
    expect(e.kvPerLayer[1]).toBe(8192 * perCell);
    expect(e.kvCache).toBe(21 * 4096 * perCell + 21 * 8192 * perCell);
    expect(estimateMemory(c, { ctx: 2048 }).kvPerLayer[0]).toBe(2048 * perCell);
    expect(estimateMemory(c, { ctx: 8192, swaFull: true }).kvCache).toBe(42 * 8192 * perCell);
  });
});

describe("memoryModelInfo from GGUF metadata", () => {
  it("tinystories-5m: weights = the tensor data size (4,984,064 F32 parameters = 19,936,256 bytes)", async () => {
    const f = await openGguf(sharedPath("models", "tinystories-5m-f32.gguf"));
    try {
      const info = memoryModelInfo(f);
      expect(info.weightBytes).toBe(4 * 4_984_064);
      // the data section holds exactly those bytes plus alignment padding between tensors
      const dataSection = f.fileSize! - f.dataOffset;
      expect(dataSection - info.weightBytes).toBeGreaterThanOrEqual(0);
      expect(dataSection - info.weightBytes).toBeLessThan(32 * f.tensors.length);
      const last = f.tensors.reduce((a, t) => (t.offset > a.offset ? t : a));
      expect(last.absoluteOffset + last.nBytes).toBe(f.fileSize);
      expect(info).toMatchObject({ architecture: "llama", nLayer: 6, nEmbd: 256, nHead: 8, headDimK: 32, nFf: 768, nVocab: 512, nCtxTrain: 256 });
      expect(info.nHeadKv).toEqual([4, 4, 4, 4, 4, 4]);
      // KV at 256 ctx, f16: 2·6·4·32·256·2 = 786,432
      expect(estimateMemory(info, { ctx: 256 }).kvCache).toBe(786_432);
    } finally {
      await f.close();
    }
  });

  it("gemma2 metadata: SWA pattern 2 and per-layer head_count_kv arrays", () => {
    const bytes = buildGguf({
      kvs: [
        { key: "general.architecture", type: GGUF_T.STRING, value: "gemma2" },
        { key: "gemma2.block_count", type: GGUF_T.UINT32, value: 4 },
        { key: "gemma2.context_length", type: GGUF_T.UINT32, value: 8192 },
        { key: "gemma2.embedding_length", type: GGUF_T.UINT32, value: 256 },
        { key: "gemma2.feed_forward_length", type: GGUF_T.UINT32, value: 512 },
        { key: "gemma2.attention.head_count", type: GGUF_T.UINT32, value: 4 },
        { key: "gemma2.attention.head_count_kv", type: GGUF_T.ARRAY, value: { elementType: GGUF_T.UINT32, values: [2, 2, 1, 1] } },
        { key: "gemma2.attention.key_length", type: GGUF_T.UINT32, value: 128 },
        { key: "gemma2.attention.value_length", type: GGUF_T.UINT32, value: 128 },
        { key: "gemma2.attention.sliding_window", type: GGUF_T.UINT32, value: 1024 },
      ],
      tensors: [{ name: "token_embd.weight", dims: [256, 1000] }],
    });
    const info = memoryModelInfo(parseGgufBytes(bytes, { name: "g.gguf" }));
    expect(info.swaLayers).toEqual([true, false, true, false]);
    expect(info.nHeadKv).toEqual([2, 2, 1, 1]);
    expect(info.nVocab).toBe(1000);
    expect(info.weightBytes).toBe(256 * 1000 * 4);
    const e = estimateMemory(info, { ctx: 4096 });
    const row = (h: number) => 2 * h * 128 * 2; // K+V bytes per cell at f16
    expect(e.kvPerLayer).toEqual([1024 * row(2), 4096 * row(2), 1024 * row(1), 4096 * row(1)]);
  });

  it("missing metadata is a typed error naming the file", () => {
    const bytes = buildGguf({ kvs: [{ key: "general.architecture", type: GGUF_T.STRING, value: "llama" }] });
    try {
      memoryModelInfo(parseGgufBytes(bytes, { name: "bad.gguf" }));
      throw new Error("no throw");
    } catch (e) {
      expect((e as QuantlabError).code).toBe("FIT_BAD_MODEL");
      expect((e as QuantlabError).file).toBe("bad.gguf");
    }
  });
});

describe("compute estimate, sizes and fitting", () => {
  it("compute buffer formula: 4·u·(4·n_embd + max(n_head·ctx, 3·n_ff) + n_vocab); flash attention drops the scores", () => {
    const c = cfg({ nLayer: 32, nHeadKvAll: 8, headDim: 128 });
    const e = estimateMemory(c, { ctx: 8192 });
    expect(e.compute).toBe(4 * 512 * (4 * 4096 + 32 * 8192 + 128256));
    expect(estimateMemory(c, { ctx: 8192, flashAttention: true }).compute).toBe(4 * 512 * (4 * 4096 + 3 * 14336 + 128256));
    expect(e.output).toBe(4 * 128256);
    expect(e.total).toBe(e.weights + e.kvCache + e.compute + e.output);
  });

  it("parseSize", () => {
    expect(parseSize("12GiB")).toBe(12 * 1024 ** 3);
    expect(parseSize("12GB")).toBe(12e9);
    expect(parseSize("800MiB")).toBe(800 * 1024 ** 2);
    expect(parseSize("1.5 gib")).toBe(1.5 * 1024 ** 3);
    expect(parseSize("12G")).toBe(12 * 1024 ** 3);
    expect(parseSize("4096")).toBe(4096);
    expect(parseSize(100)).toBe(100);
    for (const bad of ["", "12 parsecs", "-1GB", "GB"]) {
      expect(() => parseSize(bad)).toThrow(expect.objectContaining({ code: "FIT_BAD_SIZE" }));
    }
    expect(formatBytes(2_147_483_648)).toBe("2.00 GiB");
  });

  it("largestContext is the largest multiple of 256 that fits, monotone in the budget", () => {
    const c = cfg({ nLayer: 32, nHeadKvAll: 8, headDim: 128, weightBytes: 4_000_000_000 });
    const at = (ctx: number) => estimateMemory(c, { ctx }).total;
    const budget = at(8192) + 1;
    expect(largestContext(c, budget, {}, 131072)).toBe(8192);
    expect(largestContext(c, at(8192) - 1, {}, 131072)).toBe(7936);
    expect(largestContext(c, 1000, {}, 131072)).toBe(0);
    expect(largestContext(c, 1e15, {}, 131072)).toBe(131072);
  });

  it("fitModels on the real files: which fit and the largest context", async () => {
    const files = [sharedPath("models", "tinystories-5m-f32.gguf"), sharedPath("models", "tinystories-5m-f16.gguf")];
    const r = await fitModels(files, { vram: "15MiB", ctx: 256 });
    expect(r.map((x) => x.fits)).toEqual([false, true]);
    expect(r[0]!.maxCtx).toBe(0);
    expect(r[1]!.maxCtx).toBe(256); // capped at the training context
    expect(r[1]!.estimate.weights).toBe(r[1]!.info.weightBytes);
    const big = await fitModels(files, { vram: "1GiB" });
    expect(big.every((x) => x.fits && x.maxCtx === 256)).toBe(true);
  });
});
