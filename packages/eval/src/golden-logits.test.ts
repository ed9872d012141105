/**
 * The forward pass against llama.cpp's own logits. llama-perplexity `--kl-divergence-base` files (made with the F32
 * models at llama.cpp c392e50) hold the tokens of 40 chunks of 256 and, for the last 127 positions of each chunk, the
 * log-probs llama.cpp computed. We evaluate the same chunks (first token replaced by BOS, as llama-perplexity does) and
 * compute llama.cpp's statistics (perplexity.cpp `log_softmax(..., base_log_prob, ..., kld)`): mean KLD and same top-1.
 *
 * Quantized files are checked the same way against the F32 base, with bounds derived from the figures llama.cpp
 * reported for those very files (results_kld40.tsv / results.tsv).
 *
 * Chunk counts: with the cpu-ref oracle (scalar JS) a subset; with a faster backend all 40. QUANTLAB_GOLDEN_CHUNKS
 * overrides the F32 count.
 */
import { describe, expect, it } from "vitest";
import { readdirSync } from "node:fs";
import { loadModel, type BackendChoice, type Model } from "@quantlab/runtime";
import { readShared, sharedPath } from "@quantlab/testing";
import { parseKldBase, type KldBase } from "./kld-base.js";

const GOLD = "golden/llamacpp-c392e50";

/**
 * Backend under test: QUANTLAB_BACKEND when set, else the optimised cpu backend when its probe passes, else cpu-ref.
 * (The GPU backend is checked op by op in packages/kernels/src/conformance.test.ts.)
 */
let chosen: Promise<BackendChoice> | undefined;
function testBackend(): Promise<BackendChoice> {
  chosen ??= (async () => {
    const env = process.env.QUANTLAB_BACKEND as BackendChoice | undefined;
    if (env) return env;
    try {
      const m = await loadModel(sharedPath("models", "stories260K.gguf"), { backend: "cpu" });
      await m.dispose();
      return "cpu";
    } catch (e) {
      if ((e as { code?: string }).code === "BACKEND_UNAVAILABLE") return "cpu-ref";
      throw e;
    }
  })();
  return chosen;
}

interface KldStats {
  count: number;
  sameTop: number;
  sumKld: number;
  maxKld: number;
  sumNll: number;
  finite: boolean;
}

/** @see log_softmax(int n_vocab, const float * logits, const uint16_t * base_log_prob, int tok, kl_divergence_result & kld) (perplexity.cpp) */
function accumulate(stats: KldStats, logits: Float32Array, lo: number, nVocab: number, base: Float32Array, tok: number): void {
  let maxLogit = logits[lo];
  let imax = 0;
  for (let i = 1; i < nVocab; i++) {
    const v = logits[lo + i];
    if (!Number.isFinite(v)) stats.finite = false;
    if (v > maxLogit) {
      maxLogit = v;
      imax = i;
    }
  }
  let sumExp = 0;
  for (let i = 0; i < nVocab; i++) sumExp += Math.fround(Math.exp(Math.fround(logits[lo + i] - maxLogit)));
  const logSumExp = Math.fround(Math.log(sumExp));
  stats.sumNll += maxLogit + logSumExp - logits[lo + tok];
  const lse = maxLogit + logSumExp;
  let sum = 0;
  let imaxBase = -1;
  let pMax = 0;
  for (let i = 0; i < nVocab; i++) {
    const pLogBase = base[i];
    if (i === 0 || pLogBase > pMax) {
      pMax = pLogBase;
      imaxBase = i;
    }
    if (pLogBase > -16) sum += Math.exp(pLogBase) * (pLogBase - logits[lo + i] + lse);
  }
  stats.sumKld += sum;
  stats.maxKld = Math.max(stats.maxKld, sum);
  stats.count++;
  if (imax === imaxBase) stats.sameTop++;
}

/** Evaluates `nChunks` chunks of the base with `model` and returns llama.cpp's KLD statistics. */
async function kldAgainstBase(model: Model, base: KldBase, nChunks: number): Promise<KldStats> {
  const { nCtx, nVocab, first, rowsPerChunk } = base;
  expect(model.nVocab).toBe(nVocab);
  const bos = model.tokenizer.bos!;
  const stats: KldStats = { count: 0, sameTop: 0, sumKld: 0, maxKld: 0, sumNll: 0, finite: true };
  const row = new Float32Array(nVocab);
  for (let c = 0; c < nChunks; c++) {
    const tokens = base.tokens.slice(c * nCtx, (c + 1) * nCtx);
    tokens[0] = bos; // perplexity(): "add BOS token for the first batch of each chunk"
    const logits = await model.evaluate(tokens);
    for (let i = 0; i < rowsPerChunk; i++) {
      base.logProbRow(c, i, row);
      const pos = first + i;
      accumulate(stats, logits, pos * nVocab, nVocab, row, tokens[pos + 1]);
    }
  }
  return stats;
}

function summary(s: KldStats) {
  return { positions: s.count, meanKld: s.sumKld / s.count, maxKld: s.maxKld, sameTopPct: (100 * s.sameTop) / s.count, ppl: Math.exp(s.sumNll / s.count) };
}

const F32_CASES = [
  { name: "tinystories-5m", model: ["models", "tinystories-5m-f32.gguf"], base: [GOLD, "tinystories-5m", "tinystories-5m-f32-kld-base.heldout_c256_40chunks.bin"], refChunks: 3 },
  { name: "stories260K", model: ["models", "stories260K.gguf"], base: [GOLD, "stories260K", "stories260K-f32-kld-base.tinystories_c256_40chunks.bin"], refChunks: 40 },
];

describe("F32 forward pass vs llama.cpp's KL-divergence base logits", () => {
  for (const cs of F32_CASES) {
    it(`${cs.name}: same top-1 ≥ 99.9% and mean KLD ≤ 1e-4`, async () => {
      const base = parseKldBase(readShared(...cs.base), cs.base.at(-1));
      const model = await loadModel(sharedPath(...cs.model), { backend: await testBackend() });
      try {
        const env = Number(process.env.QUANTLAB_GOLDEN_CHUNKS);
        const nChunks = Math.min(base.nChunk, env > 0 ? env : model.backend === "cpu-ref" ? cs.refChunks : base.nChunk);
        const t0 = performance.now();
        const s = await kldAgainstBase(model, base, nChunks);
        const sec = (performance.now() - t0) / 1000;
        const r = summary(s);
        console.log(`${cs.name} F32 [${model.backend}] ${nChunks}/${base.nChunk} chunks, ${(nChunks * base.nCtx / sec).toFixed(0)} tok/s:`, r);
        expect(s.finite).toBe(true);
        expect(r.sameTopPct).toBeGreaterThanOrEqual(99.9);
        expect(r.meanKld).toBeLessThanOrEqual(1e-4);
      } finally {
        await model.dispose();
      }
    });
  }
});

/** llama.cpp's figures for each quantized file (same chunks, 40 of them): mean KLD and same-top %. */
function llamaResults(): Map<string, { meanKld: number; sameTop: number; model: string }> {
  const out = new Map<string, { meanKld: number; sameTop: number; model: string }>();
  const parse = (text: string, fileCol: string, kldCol: string, topCol: string, model: string) => {
    const lines = text.trim().split("\n");
    const head = lines[0].split("\t");
    for (const l of lines.slice(1)) {
      const f = l.split("\t");
      const file = f[head.indexOf(fileCol)].split("/").at(-1)!;
      out.set(file, { meanKld: Number(f[head.indexOf(kldCol)]), sameTop: Number(f[head.indexOf(topCol)]), model });
    }
  };
  const dec = new TextDecoder();
  parse(dec.decode(readShared(GOLD, "tinystories-5m", "results_kld40.tsv")), "file", "mean_kld", "same_top_p", "tinystories-5m");
  parse(dec.decode(readShared(GOLD, "stories260K", "results.tsv")), "model", "mean_kld", "same_top_p_pct", "stories260K");
  return out;
}

describe("quantized GGUFs (every block type present) vs the F32 base", () => {
  const results = llamaResults();
  const files: { path: string; file: string; model: string }[] = [];
  for (const dir of ["models", `${GOLD}/tinystories-5m`, `${GOLD}/stories260K`]) {
    for (const f of readdirSync(sharedPath(dir)).sort()) {
      if (!f.endsWith(".gguf") || f.includes("f32") || f === "stories260K.gguf") continue;
      const model = f.startsWith("tinystories-5m") ? "tinystories-5m" : "stories260K";
      files.push({ path: sharedPath(dir, f), file: f, model });
    }
  }
  const bases = new Map<string, KldBase>();
  const baseFor = (m: string) => {
    let b = bases.get(m);
    if (!b) {
      const c = F32_CASES.find((x) => x.name === m)!;
      b = parseKldBase(readShared(...c.base), c.base.at(-1));
      bases.set(m, b);
    }
    return b;
  };

  it("finds the quantized files", () => {
    expect(files.length).toBeGreaterThanOrEqual(15);
  });

  for (const { path, file, model: which } of files) {
    it(`${file}: finite logits, KLD and top-1 in line with llama.cpp's figures`, async () => {
      const ref = results.get(file);
      expect(ref, `llama.cpp result row for ${file}`).toBeDefined();
      const model = await loadModel(path, { backend: await testBackend() });
      try {
        const base = baseFor(which);
        const nChunks = which === "stories260K" ? 4 : 1;
        const s = await kldAgainstBase(model, base, nChunks);
        const r = summary(s);
        console.log(`${file} [${model.backend}] ${nChunks} chunk(s): meanKld ${r.meanKld.toExponential(3)} (llama.cpp ${ref!.meanKld}), same top ${r.sameTopPct.toFixed(2)}% (llama.cpp ${ref!.sameTop}%)`);
        expect(s.finite).toBe(true);
        // Our activations stay f32 where llama.cpp rounds them to q8 for the dot products, and a chunk is a small
        // sample: allow 3x llama.cpp's mean KLD plus 0.002, and 8 points below its same-top-1 rate.
        expect(r.meanKld).toBeLessThanOrEqual(3 * ref!.meanKld + 0.002);
        expect(r.sameTopPct).toBeGreaterThanOrEqual(ref!.sameTop - 8);
        if (file.includes("Q8_0")) expect(r.sameTopPct).toBeGreaterThanOrEqual(95);
      } finally {
        await model.dispose();
      }
    });
  }
});
