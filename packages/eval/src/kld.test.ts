import { describe, expect, it } from "vitest";
import { readShared } from "@quantlab/testing";
import { parseKldBase } from "./kld-base.js";
import { KldAccumulator, cFixed, formatKldSummary, klDivergence, parseKldSummaryText, percentileF32, type KldSummary } from "./kld.js";
import { perplexityFromTokens } from "./perplexity.js";
import { BaseReplayModel } from "./fake-models.test-util.js";

const G = "golden/llamacpp-c392e50";
const S260K = parseKldBase(readShared(G, "stories260K", "stories260K-f32-kld-base.tinystories_c256_40chunks.bin"));
const TS5M = parseKldBase(readShared(G, "tinystories-5m", "tinystories-5m-f32-kld-base.heldout_c256_40chunks.bin"));

function goldenBlock(folder: string, name: string): string {
  const text = new TextDecoder().decode(readShared(G, folder, "kld_summaries.txt"));
  const start = text.indexOf(`### ${name}\n`);
  if (start < 0) throw new Error(`no block ${name}`);
  const body = text.slice(start + name.length + 5);
  const end = body.search(/\n(### |llama_perf)/);
  return end < 0 ? body : body.slice(0, end + 1);
}

describe("KLD statistics against the golden base files", () => {
  it("stories260K: PPL(base) from the base file's own log-probs = llama.cpp's 'Mean PPL(base)' 3.823272 ± 0.096862", async () => {
    const r = await klDivergence(new BaseReplayModel(S260K), S260K, { addBos: true, bos: 1 });
    expect(r.summary.count).toBe(40 * 127);
    console.log(`stories260K PPL(base): ${r.summary.pplBase.value.toFixed(6)} ± ${r.summary.pplBase.error.toFixed(6)}; replayed PPL(Q) ${r.summary.pplQ.value.toFixed(6)}, mean KLD ${r.summary.kld.mean.toExponential(3)}`);
    expect(r.summary.pplBase.value.toFixed(6)).toBe("3.823272");
    expect(r.summary.pplBase.error.toFixed(6)).toBe("0.096862");
    // the model replays the same (decoded) log-probs: Q == base up to the renormalisation of the packed row
    // not exactly 0: the decoded rows are re-normalised by the log-softmax of the "model" (packing error ~1e-5)
    expect(Math.abs(r.summary.kld.mean)).toBeLessThan(1e-4);
    expect(r.summary.sameTopP.value).toBe(1);
    expect(Math.abs(r.summary.lnPplRatio.value)).toBeLessThan(1e-4);
  });

  it("tinystories-5m 40 chunks: PPL(base) = golden PPL(Q) of F32 / exp(mean ln ratio) = 7.049771 / e^0.000001", async () => {
    const r = await klDivergence(new BaseReplayModel(TS5M), TS5M, { addBos: true, bos: 1 });
    const expected = 7.049771 / Math.exp(0.000001);
    console.log(`tinystories-5m 40-chunk PPL(base): ${r.summary.pplBase.value.toFixed(6)} ± ${r.summary.pplBase.error.toFixed(6)}; replayed PPL(Q) ${r.summary.pplQ.value.toFixed(6)}, mean KLD ${r.summary.kld.mean.toExponential(3)}`);
    expect(Math.abs(r.summary.pplBase.value - expected)).toBeLessThan(2e-5);
    // golden plain-run F32 PPL on the same 40 chunks: 7.0498 ± 0.20358
    expect(Math.abs(r.summary.pplBase.value - 7.0498)).toBeLessThan(1e-4);
    expect(Math.abs(r.summary.pplBase.error - 0.20358)).toBeLessThan(2e-5);
  });

  it("plain perplexity from the base file's log-probs (the 'model' = the base) ~ golden F32 7.0498 ± 0.20358", async () => {
    const r = await perplexityFromTokens(new BaseReplayModel(TS5M), TS5M.tokens, { nCtx: 256, addBos: true, bos: 1 });
    expect(r.nChunk).toBe(40);
    expect(r.count).toBe(40 * 127);
    // uint16 packing of the log-probs: |ΔPPL| well under 0.01 % (measured value printed below)
    expect(Math.abs(r.ppl / 7.0498 - 1)).toBeLessThan(1e-4);
    expect(Math.abs(r.pplError - 0.20358)).toBeLessThan(5e-5);
    console.log(`PPL from base-file log-probs: ${r.ppl.toFixed(6)} ± ${r.pplError.toFixed(6)} (golden 7.0498 ± 0.20358)`);
  });

  it("identical inputs: KLD 0, Δp 0, 100 % same top (accumulator fed exact log-softmax of the logits)", () => {
    const acc = new KldAccumulator(4);
    const nVocab = 50;
    const logits = new Float32Array(nVocab);
    const base = new Float32Array(nVocab);
    for (let r = 0; r < 300; r++) {
      let mx = -Infinity;
      for (let i = 0; i < nVocab; i++) {
        logits[i] = Math.fround(Math.sin(r * 7 + i * 1.3) * 4);
        mx = Math.max(mx, logits[i]!);
      }
      let s = 0;
      for (let i = 0; i < nVocab; i++) s += Math.exp(logits[i]! - mx);
      for (let i = 0; i < nVocab; i++) base[i] = Math.fround(logits[i]! - mx - Math.log(s));
      acc.addRow(logits, 0, nVocab, base, 0, r % nVocab);
    }
    const s = acc.summary();
    expect(s.count).toBe(300);
    expect(Math.abs(s.kld.mean)).toBeLessThan(1e-6);
    expect(Math.abs(s.kld.max)).toBeLessThan(1e-5);
    expect(s.sameTopP.value).toBe(1);
    expect(Math.abs(s.deltaP.mean)).toBeLessThan(1e-6);
    expect(Math.abs(s.lnPplRatio.value)).toBeLessThan(1e-6);
    expect(s.pplQ.value).toBeCloseTo(s.pplBase.value, 5);
  });

  it("known perturbation: +δ on the correct token's logit shifts ln PPL by the exact expected amount", async () => {
    const delta = 0.5;
    const r = await klDivergence(new BaseReplayModel(TS5M, (row, t) => { row[t] = Math.fround(row[t]! + delta); }), TS5M, { addBos: true, bos: 1, chunks: 10 });
    // expected, in double from the decoded base rows: nll_Q = -(lp_t + δ - log(1 - p_t + p_t e^δ)), lse of the row ~ 0
    const row = new Float32Array(TS5M.nVocab);
    let sumQ = 0;
    let sumB = 0;
    let sumKl = 0;
    for (let c = 0; c < 10; c++) {
      for (let i = 0; i < TS5M.rowsPerChunk; i++) {
        TS5M.logProbRow(c, i, row);
        const t = TS5M.tokens[c * 256 + 128 + i + 1]!;
        let z = 0;
        for (const v of row) z += Math.exp(v);
        const lz = Math.log(z);
        const pt = Math.exp(row[t]! - lz);
        const lq = Math.log(1 - pt + pt * Math.exp(delta));
        sumQ += -(row[t]! - lz + delta - lq);
        sumB += -row[t]!;
        // KL(P||Q) over tokens with log p > -16: Σ p (lp - lq_i) with lq_i = lp_i + δ[i==t] - lq
        let kl = 0;
        for (let k = 0; k < row.length; k++) {
          if (row[k]! <= -16) continue;
          const p = Math.exp(row[k]!);
          kl += p * (lz + lq - (k === t ? delta : 0)); // lp_k - lq_k with lq_k = row[k] + δ[k=t] - (lz + lq)
        }
        sumKl += kl;
      }
    }
    const n = 10 * TS5M.rowsPerChunk;
    expect(r.summary.count).toBe(n);
    expect(r.summary.lnPplRatio.value).toBeCloseTo(sumQ / n - sumB / n, 5);
    expect(r.summary.kld.mean).toBeCloseTo(sumKl / n, 5);
    expect(r.summary.lnPplRatio.value).toBeLessThan(0); // boosting the right token lowers PPL
    expect(r.summary.deltaP.mean).toBeGreaterThan(0);
  });

  it("adding a constant to every logit changes nothing (softmax shift invariance)", async () => {
    const a = await klDivergence(new BaseReplayModel(S260K), S260K, { addBos: true, bos: 1, chunks: 5 });
    const b = await klDivergence(new BaseReplayModel(S260K, (row) => { for (let k = 0; k < row.length; k++) row[k] = Math.fround(row[k]! + 3); }), S260K, { addBos: true, bos: 1, chunks: 5 });
    expect(b.summary.pplQ.value).toBeCloseTo(a.summary.pplQ.value, 4);
    expect(b.summary.kld.mean).toBeCloseTo(a.summary.kld.mean, 6);
    expect(b.summary.sameTopP.value).toBe(a.summary.sameTopP.value);
  });

  it("replaces the first token of each chunk by BOS only when asked", async () => {
    const m = new BaseReplayModel(S260K);
    await klDivergence(m, S260K, { addBos: true, bos: 1, chunks: 3 });
    expect(m.bosSeen).toEqual([1, 1, 1]);
    const m2 = new BaseReplayModel(S260K);
    await klDivergence(m2, S260K, { addBos: false, chunks: 3 });
    expect(m2.bosSeen).toEqual([S260K.tokens[0], S260K.tokens[256], S260K.tokens[512]]);
  });
});

describe("percentiles and formatting", () => {
  it("percentileF32 interpolates like the C lambda", () => {
    const v = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(percentileF32(v, 0)).toBe(0);
    expect(percentileF32(v, 1)).toBe(10);
    expect(percentileF32(v, 0.5)).toBe(5);
    expect(percentileF32(v, 0.99)).toBeCloseTo(9.9, 5);
  });

  it("cFixed prints like printf %W.Pf", () => {
    expect(cFixed(6.8280741, 6, 10)).toBe("  6.828074");
    expect(cFixed(-0.0000001, 3, 6)).toBe("-0.000");
    expect(cFixed(-0, 3, 6)).toBe("-0.000");
    expect(cFixed(99.995, 2, 6)).toBe("100.00"); // 99.995 is 99.995000000000004547 in binary
    expect(cFixed(0.125, 2)).toBe("0.12"); // exact tie: printf rounds to even, toFixed would give 0.13
    expect(cFixed(0.375, 2)).toBe("0.38");
    expect(cFixed(2.5, 0)).toBe("2");
    expect(cFixed(-2.5, 0, 4)).toBe("  -2");
  });

  it("formatKldSummary reproduces golden blocks byte for byte from their numbers (c392e50 layout)", () => {
    for (const [folder, name] of [
      ["tinystories-5m", "tinystories-5m-f32.gguf"],
      ["tinystories-5m", "tinystories-5m-IQ2_S-imatrix.gguf"],
      ["tinystories-5m", "tinystories-5m-TQ1_0.gguf"],
      ["stories260K", "stories260K-Q4_K_M.gguf"],
    ] as const) {
      const block = goldenBlock(folder, name).trimEnd() + "\n";
      const g = parseKldSummaryText(block);
      const v = (k: string, i = 0) => g[k]![i]!;
      const s: KldSummary = {
        count: 1000,
        pplQ: { value: v("Mean PPL(Q)"), error: v("Mean PPL(Q)", 1) },
        pplBase: { value: v("Mean PPL(base)"), error: v("Mean PPL(base)", 1) },
        corLnPpl: v("Cor(ln(PPL(Q)), ln(PPL(base)))") / 100,
        lnPplRatio: { value: v("Mean ln(PPL(Q)/PPL(base))"), error: v("Mean ln(PPL(Q)/PPL(base))", 1) },
        pplRatio: { value: v("Mean PPL(Q)/PPL(base)"), error: v("Mean PPL(Q)/PPL(base)", 1) },
        pplDiff: { value: v("Mean PPL(Q)-PPL(base)"), error: v("Mean PPL(Q)-PPL(base)", 1) },
        kld: {
          mean: v("Mean KLD"), error: v("Mean KLD", 1), max: v("Maximum KLD"), p999: v("99.9% KLD"), p99: v("99.0% KLD"),
          p95: NaN, p90: NaN, median: v("Median KLD"), p10: v("10.0% KLD"), p5: v("5.0% KLD"), p1: v("1.0% KLD"), p01: NaN, min: v("Minimum KLD"),
        },
        deltaP: {
          mean: v("Mean Δp") / 100, error: v("Mean Δp", 1) / 100, max: v("Maximum Δp") / 100, p999: v("99.9% Δp") / 100,
          p99: v("99.0% Δp") / 100, p95: v("95.0% Δp") / 100, p90: v("90.0% Δp") / 100, p75: v("75.0% Δp") / 100,
          median: v("Median Δp") / 100, p25: v("25.0% Δp") / 100, p10: v("10.0% Δp") / 100, p5: v("5.0% Δp") / 100,
          p1: v("1.0% Δp") / 100, p01: v("0.1% Δp") / 100, min: v("Minimum Δp") / 100,
        },
        rmsDeltaP: { value: v("RMS Δp") / 100, error: v("RMS Δp", 1) / 100 },
        sameTopP: { value: v("Same top p") / 100, error: v("Same top p", 1) / 100 },
      };
      expect(formatKldSummary(s)).toBe(block);
    }
  });

  it("the current layout has the 95/90/0.1 % KLD lines", () => {
    const acc = new KldAccumulator();
    const l = new Float32Array([1, 2, 3]);
    const b = new Float32Array([-2.5, -1.5, -0.4]);
    for (let i = 0; i < 20; i++) acc.addRow(l, 0, 3, b, 0, i % 3);
    const text = formatKldSummary(acc.summary(), { style: "current" });
    expect(text).toContain("95.0%   KLD:");
    expect(text).toContain(" 0.1%   KLD:");
    expect(text.match(/99\.0% {3}KLD/g)!.length).toBe(1);
  });
});
