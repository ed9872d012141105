/**
 * Real model vs llama.cpp: perplexity and KL-divergence of tinystories-5m (F32 and the kept quantized files) on the
 * held-out text, against the figures llama-perplexity c392e50 printed (golden/llamacpp-c392e50/tinystories-5m:
 * results_kld40.tsv for the 40-chunk base file, kld_summaries.txt for the full 155-chunk runs).
 *
 * Needs the forward pass of @quantlab/runtime (`loadModel`). Until it exists these tests are skipped with the
 * reason in their name. Options (environment):
 *   QUANTLAB_BACKEND        backend name passed to loadModel (default: the runtime's default)
 *   QUANTLAB_GOLDEN_CHUNKS  chunks to evaluate (default 40 = the whole 40-chunk base file, compared with
 *                           results_kld40.tsv figure by figure, ~5 s a model with the cpu backend; fewer chunks
 *                           give only loose checks)
 *   QUANTLAB_GOLDEN_FULL=1  also the full 155-chunk runs against kld_summaries.txt (slow)
 */
import { describe, expect, it } from "vitest";
import * as runtime from "@quantlab/runtime";
import { readShared, sharedPath } from "@quantlab/testing";
import { parseKldBase } from "./kld-base.js";
import { klDivergence, parseKldSummaryText } from "./kld.js";
import type { TokenizedModel } from "./model.js";
import { perplexity } from "./perplexity.js";
import { BaseReplayModel } from "./fake-models.test-util.js";

type LoadedModel = TokenizedModel & { close?: () => Promise<void> | void; dispose?: () => Promise<void> | void };
type LoadModel = (path: string, opts?: { backend?: string; threads?: number }) => Promise<LoadedModel>;

// a dynamic lookup, so this file compiles and runs before the runtime exports loadModel
const maybeLoad = (runtime as Record<string, unknown>)["loadModel"];
const loadModel = typeof maybeLoad === "function" ? (maybeLoad as LoadModel) : undefined;
const WAITING = "runtime forward pass not yet available";
const itRt = loadModel ? it : it.skip;
const suffix = loadModel ? "" : ` (${WAITING})`;

const G = "golden/llamacpp-c392e50/tinystories-5m";
const CHUNKS = Number(process.env.QUANTLAB_GOLDEN_CHUNKS ?? 40);
const FULL = process.env.QUANTLAB_GOLDEN_FULL === "1";
const TIMEOUT = 30 * 60 * 1000;

function heldout(): string {
  return new TextDecoder().decode(readShared("data", "tinystories", "tinystories_heldout.txt"));
}

async function open(path: string): Promise<LoadedModel> {
  const backend = process.env.QUANTLAB_BACKEND;
  return loadModel!(path, backend ? { backend } : {});
}

async function release(m: LoadedModel): Promise<void> {
  await m.close?.();
  await m.dispose?.();
}

interface Kld40Row {
  file: string;
  ppl: number;
  pplStderr: number;
  meanKld: number;
  sameTopP: number;
  rmsDp: number;
  meanLnPplRatio: number;
}

function kld40Rows(): Kld40Row[] {
  const lines = new TextDecoder().decode(readShared(G, "results_kld40.tsv")).trim().split("\n");
  const head = lines[0]!.split("\t");
  const col = (name: string) => head.indexOf(name);
  return lines.slice(1).map((l) => {
    const c = l.split("\t");
    return {
      file: c[col("file")]!,
      ppl: Number(c[col("ppl")]),
      pplStderr: Number(c[col("ppl_stderr")]),
      meanKld: Number(c[col("mean_kld")]),
      sameTopP: Number(c[col("same_top_p")]),
      rmsDp: Number(c[col("rms_dp")]),
      meanLnPplRatio: Number(c[col("mean_ln_ppl_ratio")]),
    };
  });
}

function modelPath(file: string): string {
  return file.startsWith("models/") ? sharedPath(...file.split("/")) : sharedPath(G, file);
}

describe("tinystories-5m vs llama-perplexity c392e50" + suffix, () => {
  const base = parseKldBase(readShared(G, "tinystories-5m-f32-kld-base.heldout_c256_40chunks.bin"));

  itRt(
    "F32 plain perplexity of the held-out text (c 256) within 0.5 % of golden",
    async () => {
      const m = await open(sharedPath("models", "tinystories-5m-f32.gguf"));
      try {
        const r = await perplexity(m, heldout(), { nCtx: 256, chunks: CHUNKS });
        // golden reference over the same chunks: 40 chunks -> 7.0498 (README); fewer -> PPL(base) of the base file
        // over those chunks (3.8233 / 7.0498 style figure llama.cpp itself derives from the stored log-probs)
        let ref = 7.0498;
        if (CHUNKS !== 40) ref = (await klDivergence(new BaseReplayModel(base), base, { addBos: true, bos: 1, chunks: CHUNKS })).summary.pplBase.value;
        console.log(`F32 PPL ${r.ppl.toFixed(4)} ± ${r.pplError.toFixed(5)} over ${r.nChunk} chunks; golden ${ref.toFixed(4)}`);
        expect(Math.abs(r.ppl / ref - 1)).toBeLessThan(0.005);
      } finally {
        await release(m);
      }
    },
    TIMEOUT,
  );

  for (const row of kld40Rows()) {
    itRt(
      `KLD of ${row.file} against the 40-chunk F32 base ~ results_kld40.tsv`,
      async () => {
        const m = await open(modelPath(row.file));
        try {
          const r = await klDivergence(m, base, { chunks: CHUNKS });
          const s = r.summary;
          console.log(
            `${row.file}: PPL(Q) ${s.pplQ.value.toFixed(6)} (golden ${row.ppl}), mean KLD ${s.kld.mean.toFixed(6)} (golden ${row.meanKld}), ` +
              `same top ${(100 * s.sameTopP.value).toFixed(3)} % (golden ${row.sameTopP}), RMS Δp ${(100 * s.rmsDeltaP.value).toFixed(3)} % (golden ${row.rmsDp})`,
          );
          if (CHUNKS === 40) {
            expect(Math.abs(s.pplQ.value / row.ppl - 1)).toBeLessThan(0.005);
            // KLD: within 5 % of llama.cpp's figure (2e-5 absolute for the near-lossless F16/BF16). The runtime rounds
            // matmul activations to the weight's vec_dot type as ggml does (activations.ts); with f32 activations
            // a Q8_0/Q6_K model measures ~1/3 and ~1/2 of llama.cpp's KLD.
            expect(Math.abs(s.kld.mean - row.meanKld)).toBeLessThan(Math.max(0.05 * row.meanKld, 2e-5));
            expect(Math.abs(100 * s.sameTopP.value - row.sameTopP)).toBeLessThan(0.5);
          } else {
            // a subset of chunks has no golden figure of its own: PPL(base) of the subset (from the base file) times
            // the golden 40-chunk PPL ratio, with room for the ratio to differ on the subset
            const ref = s.pplBase.value * Math.exp(row.meanLnPplRatio);
            expect(Math.abs(s.pplQ.value / ref - 1)).toBeLessThan(0.005 + 1.5 * Math.abs(row.meanLnPplRatio));
            expect(s.kld.mean).toBeLessThan(Math.max(3 * row.meanKld, 2e-4));
          }
        } finally {
          await release(m);
        }
      },
      TIMEOUT,
    );
  }

  (loadModel && FULL ? it : it.skip)(
    "full 155-chunk runs: base written by our F32 pass, quantized files vs kld_summaries.txt" + (loadModel ? " (QUANTLAB_GOLDEN_FULL=1)" : ` (${WAITING})`),
    async () => {
      const f32 = await open(sharedPath("models", "tinystories-5m-f32.gguf"));
      let baseBytes: Uint8Array;
      try {
        const r = await perplexity(f32, heldout(), { nCtx: 256, kldBase: true });
        expect(Math.abs(r.ppl / 6.8281 - 1)).toBeLessThan(0.005); // README: F32 6.8281 ± 0.10090
        baseBytes = r.kldBase!;
      } finally {
        await release(f32);
      }
      const full = parseKldBase(baseBytes);
      const text = new TextDecoder().decode(readShared(G, "kld_summaries.txt"));
      for (const file of ["tinystories-5m-Q8_0.gguf", "tinystories-5m-Q4_K_M.gguf", "tinystories-5m-Q2_K.gguf"]) {
        const block = text.slice(text.indexOf(`### ${file}\n`));
        const g = parseKldSummaryText(block.slice(0, block.indexOf("llama_perf")));
        const m = await open(sharedPath(G, file));
        try {
          const s = (await klDivergence(m, full)).summary;
          expect(Math.abs(s.pplQ.value / g["Mean PPL(Q)"]![0]! - 1)).toBeLessThan(0.005);
          expect(Math.abs(s.kld.mean - g["Mean KLD"]![0]!)).toBeLessThan(Math.max(0.2 * g["Mean KLD"]![0]!, 2e-4));
        } finally {
          await release(m);
        }
      }
    },
    4 * TIMEOUT,
  );
});
