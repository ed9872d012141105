/**
 * Perplexity speed: tinystories-5m F32 on the held-out text at -c 256 (all 155 chunks, or --chunks N), tokens/s
 * beside llama-perplexity's figure from shared/golden/llamacpp-c392e50/tinystories-5m/PERF.md (1429 t/s, 1 thread).
 *
 *   pnpm bench perplexity [-- --chunks 40 --threads 1,2 --backend cpu]
 */
import { readFileSync } from "node:fs";
import { perplexity } from "@quantlab/eval";
import { loadModel, type BackendChoice } from "@quantlab/runtime";
import { sharedPath } from "@quantlab/testing";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const chunks = Number(opt("chunks", "-1"));
const threads = opt("threads", "1,2").split(",").map(Number);
const backend = opt("backend", "cpu") as BackendChoice;
const LLAMA_TPS: Record<number, number> = { 1: 1429 }; // PERF.md; the 2-thread figure there was taken on a contended core
const text = readFileSync(sharedPath("data", "tinystories", "tinystories_heldout.txt"), "utf8");

console.log("| threads | chunks | PPL | tokens/s | llama-perplexity t/s | ratio |");
console.log("|---|---|---|---|---|---|");
for (const t of threads) {
  const model = await loadModel(sharedPath("models", "tinystories-5m-f32.gguf"), { backend, threads: t });
  try {
    const t0 = performance.now();
    const r = await perplexity(model, text, { nCtx: 256, ...(chunks > 0 ? { chunks } : {}) });
    const s = (performance.now() - t0) / 1000;
    const tps = (r.nChunk * r.nCtx) / s;
    const ref = LLAMA_TPS[t];
    console.log(`| ${t} | ${r.nChunk} | ${r.ppl.toFixed(4)} ± ${r.pplError.toFixed(5)} | ${tps.toFixed(0)} | ${ref ?? "–"} | ${ref ? `${(tps / ref).toFixed(2)}×` : "–"} |`);
  } finally {
    await model.dispose();
  }
}
