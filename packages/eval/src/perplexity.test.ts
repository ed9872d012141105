import { describe, expect, it } from "vitest";
import { QuantlabError, openGguf } from "@quantlab/gguf";
import { loadTokenizer } from "@quantlab/runtime";
import { readShared, sharedPath } from "@quantlab/testing";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openKldBase, parseKldBase } from "./kld-base.js";
import { klDivergence } from "./kld.js";
import type { LogitsModel } from "./model.js";
import { formatChunkPpl, formatPerplexityFinal, perplexity, perplexityFromTokens } from "./perplexity.js";
import { BaseReplayModel } from "./fake-models.test-util.js";

const G = "golden/llamacpp-c392e50";
const TS5M_BASE = readShared(G, "tinystories-5m", "tinystories-5m-f32-kld-base.heldout_c256_40chunks.bin");
const TS5M = parseKldBase(TS5M_BASE);

/** Logits that depend only on the position: row p puts logit `a` on token (p+1) % nVocab, 0 elsewhere. */
class PatternModel implements LogitsModel {
  inputs: number[][] = [];
  constructor(readonly nVocab: number, private readonly a: number) {}
  async evaluate(tokens: ArrayLike<number>): Promise<Float32Array> {
    this.inputs.push(Array.from(tokens));
    const out = new Float32Array(tokens.length * this.nVocab);
    for (let p = 0; p < tokens.length; p++) out[p * this.nVocab + ((tokens[p]! + 1) % this.nVocab)] = this.a;
    return out;
  }
}

describe("perplexityFromTokens (fake models)", () => {
  it("uniform logits give PPL = n_vocab with zero uncertainty", async () => {
    const toks = Array.from({ length: 100 }, (_, i) => i % 7);
    const r = await perplexityFromTokens(new PatternModel(7, 0), toks, { nCtx: 16 });
    expect(r.nChunk).toBe(6);
    expect(r.count).toBe(6 * (16 - 1 - 8));
    expect(r.ppl).toBeCloseTo(7, 10);
    expect(Number.isNaN(r.pplError) || r.pplError < 1e-6).toBe(true);
  });

  it("scores only the second half: a model right exactly there gets the analytic PPL", async () => {
    // tokens i % 5, model puts logit a on (tok+1)%5 = the next token: p = e^a / (e^a + 4)
    const a = 2;
    const toks = Array.from({ length: 64 }, (_, i) => i % 5);
    const progress: number[] = [];
    const r = await perplexityFromTokens(new PatternModel(5, a), toks, { nCtx: 16, chunks: 3, onChunk: (p) => progress.push(p.chunk) });
    expect(r.nChunk).toBe(3);
    expect(progress).toEqual([1, 2, 3]);
    expect(r.ppl).toBeCloseTo((Math.exp(a) + 4) / Math.exp(a), 6);
    expect(formatChunkPpl(r.chunkPpl)).toMatch(/^\[1\]\d+\.\d{4},\[2\]\d+\.\d{4},\[3\]\d+\.\d{4},$/);
  });

  it("replaces the first token of each chunk by BOS (and only that token)", async () => {
    const m = new PatternModel(10, 1);
    const toks = Array.from({ length: 40 }, (_, i) => 2 + (i % 8));
    await perplexityFromTokens(m, toks, { nCtx: 8, addBos: true, bos: 1 });
    expect(m.inputs.length).toBe(5);
    for (let c = 0; c < 5; c++) expect(m.inputs[c]).toEqual([1, ...toks.slice(c * 8 + 1, c * 8 + 8)]);
  });

  it("needs 2·n_ctx tokens (PPL_TOO_FEW_TOKENS), checks the logits size (EVAL_BAD_LOGITS)", async () => {
    await expect(perplexityFromTokens(new PatternModel(4, 0), [1, 2, 3], { nCtx: 8 })).rejects.toSatisfy(
      (e: unknown) => QuantlabError.isInstance(e) && e.code === "PPL_TOO_FEW_TOKENS",
    );
    const bad: LogitsModel = { nVocab: 4, evaluate: async () => new Float32Array(3) };
    await expect(perplexityFromTokens(bad, new Array(32).fill(1), { nCtx: 8 })).rejects.toSatisfy(
      (e: unknown) => QuantlabError.isInstance(e) && e.code === "EVAL_BAD_LOGITS",
    );
  });

  it("formats the final line like llama-perplexity", () => {
    expect(formatPerplexityFinal({ ppl: 7.04977, pplError: 0.203581 })).toBe("Final estimate: PPL = 7.0498 +/- 0.20358");
  });
});

describe("with the golden tinystories-5m data", () => {
  it("the runtime tokenizer reproduces the base file's 40 x 256 tokens of the held-out text (BOS first)", async () => {
    const f = await openGguf(sharedPath("models", "tinystories-5m-f32.gguf"));
    const tok = loadTokenizer(f);
    await f.close();
    const text = new TextDecoder().decode(readShared("data", "tinystories", "tinystories_heldout.txt"));
    const ids = tok.encode(text, { addBos: true });
    expect(ids.length).toBe(39752); // README: 39,752 tokens incl. BOS
    expect(Array.from(ids.slice(0, 40 * 256))).toEqual(Array.from(TS5M.tokens));

    // full pipeline from text: tokenizer + base-replay "model" -> same PPL as from the tokens
    const model = Object.assign(new BaseReplayModel(TS5M), { tokenizer: tok });
    const r = await perplexity(model, text, { nCtx: 256, chunks: 40 });
    const r2 = await perplexityFromTokens(new BaseReplayModel(TS5M), TS5M.tokens, { nCtx: 256, addBos: true, bos: 1 });
    expect(r.ppl).toBe(r2.ppl);
    expect(r.nChunk).toBe(40);
  });

  it("writing a base file from a model: same header and tokens, rows re-packed within 1 unit, KLD vs original ~ 0", async () => {
    const r = await perplexityFromTokens(new BaseReplayModel(TS5M), TS5M.tokens, { nCtx: 256, chunks: 40, addBos: true, bos: 1, kldBase: true });
    const bytes = r.kldBase!;
    expect(bytes.length).toBe(TS5M_BASE.length);
    const tokenEnd = 20 + 4 * 40 * 256;
    expect(Buffer.compare(Buffer.from(bytes.subarray(0, tokenEnd)), Buffer.from(TS5M_BASE.subarray(0, tokenEnd)))).toBe(0);
    const again = parseKldBase(bytes);
    let maxDiff = 0;
    for (let k = 0; k < again.packed.length; k++) {
      if (k % again.rowStride < 4) continue;
      maxDiff = Math.max(maxDiff, Math.abs(again.packed[k]! - TS5M.packed[k]!));
    }
    expect(maxDiff).toBeLessThanOrEqual(1);
    // the float NLL of the packing path ~ the double path
    expect(Math.abs(r.ppl / 7.0498 - 1)).toBeLessThan(1e-4);
    const k = await klDivergence(new BaseReplayModel(TS5M), again, { addBos: true, bos: 1 });
    expect(Math.abs(k.summary.kld.mean)).toBeLessThan(1e-4);
    expect(k.summary.sameTopP.value).toBeGreaterThan(0.999);
  });

  it("streaming: onKldBaseBytes emits the same bytes; openKldBase reads chunks lazily with the same KLD result", async () => {
    const parts: Uint8Array[] = [];
    await perplexityFromTokens(new BaseReplayModel(TS5M), TS5M.tokens, {
      nCtx: 256, chunks: 40, addBos: true, bos: 1, onKldBaseBytes: (b) => void parts.push(b),
    });
    expect(parts.length).toBe(41);
    const whole = (await perplexityFromTokens(new BaseReplayModel(TS5M), TS5M.tokens, { nCtx: 256, addBos: true, bos: 1, kldBase: true })).kldBase!;
    expect(Buffer.compare(Buffer.concat(parts), Buffer.from(whole))).toBe(0);

    const dir = mkdtempSync(join(tmpdir(), "quantlab-eval-"));
    try {
      const path = join(dir, "base.bin");
      writeFileSync(path, TS5M_BASE);
      const reader = await openKldBase(path);
      try {
        expect([reader.nCtx, reader.nVocab, reader.nChunk, reader.rowsPerChunk]).toEqual([256, 512, 40, 127]);
        expect(Array.from(await reader.chunkRows(7))).toEqual(Array.from(TS5M.chunkRows(7)));
        const a = await klDivergence(new BaseReplayModel(TS5M), reader, { addBos: true, bos: 1, chunks: 5 });
        const b = await klDivergence(new BaseReplayModel(TS5M), TS5M, { addBos: true, bos: 1, chunks: 5 });
        expect(a.summary).toEqual(b.summary);
      } finally {
        await reader.close();
      }
      writeFileSync(path, TS5M_BASE.subarray(0, TS5M_BASE.length - 10));
      await expect(openKldBase(path)).rejects.toSatisfy((e: unknown) => QuantlabError.isInstance(e) && e.code === "KLD_TRUNCATED" && e.file === path);
      writeFileSync(path, new Uint8Array(40));
      await expect(openKldBase(path)).rejects.toSatisfy((e: unknown) => QuantlabError.isInstance(e) && e.code === "KLD_BAD_MAGIC");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
