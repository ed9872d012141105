import { describe, expect, it } from "vitest";
import { collectImatrix, logSoftmaxOf, type ImatrixHooks, type ImatrixModel } from "./collect.js";
import { ImatrixCollector, isImatrixWeight } from "./collector.js";
import { imatrixToDatData } from "./dat-format.js";
import { createImatrix } from "./imatrix.js";

const BOS = 1;
const N_VOCAB = 8;

/**
 * A fake model: token t gives the input row [t, t/2] to `blk.0.attn_q.weight`, [1, t, 0] to `output.weight` and
 * [t] to `token_embd.weight` (never collected); logits are all zero (PPL = n_vocab).
 */
function fakeModel(addBos = true): ImatrixModel & { seen: number[][] } {
  const seen: number[][] = [];
  return {
    seen,
    nVocab: N_VOCAB,
    tokenizer: {
      bos: BOS,
      addBosToken: addBos,
      encode(text, options) {
        const ids = [...text].map((c) => 2 + (c.charCodeAt(0) % 6));
        return options?.addSpecial && addBos ? [BOS, ...ids] : ids;
      },
    },
    async evaluate(tokens: number[], options: { logits?: "all" | "last"; hooks?: ImatrixHooks }) {
      seen.push([...tokens]);
      const n = tokens.length;
      const buf = new Float32Array(3 * n + 8); // a reused-buffer-like view, larger than needed
      for (let i = 0; i < n; i++) [buf[2 * i], buf[2 * i + 1]] = [tokens[i]!, tokens[i]! / 2];
      options.hooks?.onMatmulInput?.("token_embd.weight", buf, n, 1);
      options.hooks?.onMatmulInput?.("blk.0.attn_q.weight", buf, n, 2);
      for (let i = 0; i < n; i++) [buf[3 * i], buf[3 * i + 1], buf[3 * i + 2]] = [1, tokens[i]!, 0];
      options.hooks?.onMatmulInput?.("output.weight", buf, n, 3);
      return new Float32Array(options.logits === "last" ? N_VOCAB : n * N_VOCAB);
    },
  };
}

const TEXT = "the quick brown fox jumps over the lazy dog ".repeat(4); // 176 chars + BOS

describe("collectImatrix", () => {
  it("chunks the tokens like compute_imatrix: BOS first in every chunk, Σx² and counts per weight", async () => {
    const m = fakeModel();
    const tokens = m.tokenizer.encode(TEXT, { addSpecial: true });
    const r = await collectImatrix(m, TEXT, { nCtx: 32, dataset: "text.txt" });
    const nChunk = Math.floor(tokens.length / 32);
    expect(r.nChunks).toBe(nChunk);
    expect(m.seen.length).toBe(nChunk);
    for (let i = 0; i < nChunk; i++) expect(m.seen[i]).toEqual([BOS, ...tokens.slice(i * 32 + 1, i * 32 + 32)]);
    expect([...r.imatrix.entries.keys()]).toEqual(["blk.0.attn_q.weight"]);
    const e = r.imatrix.entries.get("blk.0.attn_q.weight")!;
    let s0 = 0;
    let s1 = 0;
    let a0 = 0;
    for (const row of m.seen) for (const t of row) [s0, s1, a0] = [s0 + t * t, s1 + (t / 2) ** 2, a0 + t];
    expect([...e.sums]).toEqual([s0, s1]); // small integers and quarters: exact in float
    expect(e.activationSums![0]).toBe(a0);
    expect([...e.counts]).toEqual([nChunk * 32]);
    expect(r.imatrix.chunkCount).toBe(nChunk);
    expect(r.imatrix.chunkSize).toBe(32);
    expect(r.imatrix.datasets).toEqual(["text.txt"]);
    expect(r.tokens).toBe(nChunk * 32);
    // all logits zero: every token has probability 1/8
    expect(r.ppl!.value).toBeCloseTo(N_VOCAB, 10);
    expect(r.chunkPpl.length).toBe(nChunk);
    // the .dat llama.cpp would write: mean x² × ncall, ncall = chunks
    const d = imatrixToDatData(r.imatrix).entries.get("blk.0.attn_q.weight")!;
    expect(d.ncall).toBe(nChunk);
    expect(d.importance[0]).toBeCloseTo(s0 / (nChunk * 32), 5);
  });

  it("--process-output adds output.weight; --chunks, --from-chunk; no BOS when the vocab adds none", async () => {
    const m = fakeModel(false);
    const tokens = m.tokenizer.encode(TEXT);
    const r = await collectImatrix(m, TEXT, { nCtx: 32, processOutput: true, chunks: 2, fromChunk: 1, computePpl: false });
    expect([...r.imatrix.entries.keys()].sort()).toEqual(["blk.0.attn_q.weight", "output.weight"]);
    expect(m.seen).toEqual([tokens.slice(32, 64), tokens.slice(64, 96)]);
    expect(r.ppl).toBeUndefined();
    expect(r.imatrix.entries.get("output.weight")!.sums[0]).toBe(64);
  });

  it("ignores matmuls with fewer than 16 rows, as llama-imatrix does (so -c 8 collects nothing)", async () => {
    const r = await collectImatrix(fakeModel(), TEXT, { nCtx: 8, chunks: 3 });
    expect(r.imatrix.entries.size).toBe(0);
    expect(r.nChunks).toBe(3);
  });

  it("refuses fewer than 2 × n_ctx tokens, and a from-chunk that leaves too few", async () => {
    await expect(collectImatrix(fakeModel(), TEXT, { nCtx: 128 })).rejects.toMatchObject({ code: "IMATRIX_TOO_FEW_TOKENS" });
    await expect(collectImatrix(fakeModel(), TEXT, { nCtx: 32, fromChunk: 4 })).rejects.toMatchObject({ code: "IMATRIX_TOO_FEW_TOKENS" });
    await expect(collectImatrix(fakeModel(), TEXT, { nCtx: 0 })).rejects.toMatchObject({ code: "IMATRIX_BAD_ARGUMENT" });
  });

  it("calls onSave every outputFrequency chunks and reports progress", async () => {
    const saves: [number, boolean][] = [];
    const progress: number[] = [];
    const r = await collectImatrix(fakeModel(), TEXT, {
      nCtx: 16,
      outputFrequency: 4,
      saveFrequency: 5,
      onSave: (im, n, snap) => {
        expect(im.chunkCount).toBe(n);
        saves.push([n, snap]);
      },
      onProgress: (p) => {
        expect(p.nChunks).toBe(11);
        expect(p.tokensPerSecond).toBeGreaterThan(0);
        progress.push(p.chunk);
      },
    });
    expect(r.nChunks).toBe(11);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(saves).toEqual([
      [4, false],
      [5, true],
      [8, false],
      [10, true],
    ]);
  });

  it("continues from an initial imatrix (--in-file): sums and counts add, datasets kept", async () => {
    const first = await collectImatrix(fakeModel(), TEXT, { nCtx: 32, chunks: 2, dataset: "a" });
    const second = await collectImatrix(fakeModel(), TEXT, { nCtx: 32, chunks: 2, dataset: "b", initial: first.imatrix });
    expect(second.imatrix.datasets).toEqual(["a", "b"]);
    expect(second.imatrix.chunkCount).toBe(4);
    const a = first.imatrix.entries.get("blk.0.attn_q.weight")!;
    const b = second.imatrix.entries.get("blk.0.attn_q.weight")!;
    expect(b.sums[0]).toBe(2 * a.sums[0]!);
    expect(b.counts[0]).toBe(128);
  });
});

describe("ImatrixCollector", () => {
  it("accumulates x² in float, one rounding per add (values[j] += x*x)", () => {
    const c = new ImatrixCollector({ chunkSize: 16, activations: false });
    const x = new Float32Array(16 * 1);
    x.fill(Math.fround(0.1));
    c.addMatmulInput("blk.0.w", x, 16, 1);
    let ref = 0;
    const sq = Math.fround(Math.fround(0.1) * Math.fround(0.1));
    for (let i = 0; i < 16; i++) ref = Math.fround(ref + sq);
    expect(c.snapshot().entries.get("blk.0.w")!.sums[0]).toBe(ref);
    expect(c.snapshot().entries.get("blk.0.w")!.activationSums).toBeUndefined();
  });

  it("expert matmuls: per-expert rows and counts (MUL_MAT_ID), unused experts stay at zero", () => {
    const c = new ImatrixCollector({ chunkSize: 2 });
    // 3 tokens, 2 experts used per token out of 4, shared input row per token ([2 cols, 1, 3 tokens])
    const x = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const ids = Int32Array.from([0, 2, 2, 1, 0, 2]);
    c.addMatmulIdInput("blk.0.ffn_up_exps.weight", x, ids, 2, 1, 3, 2, 4);
    const e = c.snapshot().entries.get("blk.0.ffn_up_exps.weight")!;
    expect([e.nPerRow, e.nMat]).toEqual([2, 4]);
    expect([...e.counts]).toEqual([2, 1, 3, 0]);
    expect([...e.sums]).toEqual([1 + 25, 4 + 36, 9, 16, 1 + 9 + 25, 4 + 16 + 36, 0, 0]);
    expect(c.chunkCount).toBe(1); // floor(3 / 2)
    expect(() => c.addMatmulIdInput("blk.0.ffn_up_exps.weight", x, Int32Array.from([0, 9, 0, 0, 0, 0]), 2, 1, 3, 2, 4)).toThrow(
      expect.objectContaining({ code: "IMATRIX_BAD_ARGUMENT" }),
    );
  });

  it("aborts on non-finite sums and on a size change", () => {
    const c = new ImatrixCollector({ chunkSize: 16 });
    expect(() => c.addMatmulInput("blk.0.w", Float32Array.from([Number.NaN, 1]), 1, 2)).toThrow(expect.objectContaining({ code: "IMATRIX_NON_FINITE" }));
    const d = new ImatrixCollector({ chunkSize: 16, initial: createImatrix(16) });
    d.addMatmulInput("blk.0.w", new Float32Array(2), 1, 2);
    expect(() => d.addMatmulInput("blk.0.w", new Float32Array(3), 1, 3)).toThrow(expect.objectContaining({ code: "IMATRIX_MISMATCH" }));
  });

  it("name filter", () => {
    expect(isImatrixWeight("blk.3.ffn_down.weight")).toBe(true);
    expect(isImatrixWeight("output.weight")).toBe(false);
    expect(isImatrixWeight("output.weight", true)).toBe(true);
    expect(isImatrixWeight("token_embd.weight", true)).toBe(false);
  });
});

describe("logSoftmaxOf", () => {
  it("matches log(softmax) in double", () => {
    const l = Float32Array.from([0.5, -1, 2, 0]);
    const ref = 2 - Math.log(l.reduce((s, v) => s + Math.exp(v), 0));
    expect(logSoftmaxOf(l, 0, 4, 2)).toBeCloseTo(ref, 6);
  });
});
