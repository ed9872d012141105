/**
 * Collects an imatrix with @quantlab/runtime and compares it with llama-imatrix's golden output (llama.cpp c392e50).
 *
 *   node --conditions=source --import tsx packages/imatrix/bench/golden-check.ts [--model tinystories-5m|stories260K]
 *        [--chunks N] [--threads N] [--backend auto|cpu|...] [--out file.gguf|file.dat]
 *
 * Defaults reproduce the golden runs exactly:
 * - tinystories-5m: `llama-imatrix -m tinystories-5m-f32.gguf -f tinystories_train_split.txt -c 256` (all 1379
 *   chunks; llama.cpp printed PPL 3.6465 ± 0.0132 and took 74 s on 2 threads);
 * - stories260K: `llama-imatrix -m stories260K.gguf -f wikitext2_train_5k.txt -c 256 --chunks 20`.
 * With fewer chunks than the golden the values are means over another sample: the errors printed are then a
 * measure of sampling noise, not of correctness.
 *
 * Prints per entry: max and mean relative error of sums/count against the golden, cosine similarity; then totals,
 * tokens/s and the perplexity.
 */
import { parseArgs } from "node:util";
import { readShared, sharedPath } from "@quantlab/testing";
import { collectImatrix, compareImatrix, parseImatrixDatFile, saveImatrix, type ImatrixModel } from "../src/index.js";

const MODELS = {
  "tinystories-5m": {
    model: ["models", "tinystories-5m-f32.gguf"],
    text: ["data", "tinystories", "tinystories_train_split.txt"],
    golden: ["golden", "llamacpp-c392e50", "tinystories-5m", "imatrix.dat"],
    chunks: 1379,
    ppl: "3.6465 ± 0.0132",
  },
  stories260K: {
    model: ["models", "stories260K.gguf"],
    text: ["data", "calibration", "wikitext2_train_5k.txt"],
    golden: ["golden", "llamacpp-c392e50", "stories260K", "stories260K.imatrix.dat"],
    chunks: 20,
    ppl: "(not recorded)",
  },
} as const;

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "tinystories-5m" },
    chunks: { type: "string" },
    threads: { type: "string" },
    backend: { type: "string" },
    out: { type: "string" },
  },
});
const cfg = MODELS[values.model as keyof typeof MODELS];
if (!cfg) throw new Error(`--model must be one of ${Object.keys(MODELS).join(", ")}`);
const chunks = values.chunks === undefined ? cfg.chunks : Number(values.chunks);

const runtime = (await import("@quantlab/runtime")) as unknown as Record<string, unknown>;
if (typeof runtime.loadModel !== "function") throw new Error("@quantlab/runtime has no loadModel yet");
type LoadModel = (p: string, o?: { threads?: number; backend?: string }) => Promise<ImatrixModel & { dispose?(): Promise<void>; backend?: string }>;
const loadModel = runtime.loadModel as LoadModel;

const model = await loadModel(sharedPath(...cfg.model), {
  ...(values.threads === undefined ? {} : { threads: Number(values.threads) }),
  ...(values.backend === undefined ? {} : { backend: values.backend }),
});
const text = new TextDecoder().decode(readShared(...cfg.text));
console.log(`model ${values.model} (backend ${model.backend ?? "?"}), ${chunks} of ${cfg.chunks} golden chunks, n_ctx 256`);
let lastPrint = 0;
const r = await collectImatrix(model, text, {
  nCtx: 256,
  chunks,
  dataset: cfg.text[cfg.text.length - 1],
  onProgress: (p) => {
    const now = performance.now();
    if (now - lastPrint > 5000 || p.chunk === p.nChunks) {
      lastPrint = now;
      console.log(`  chunk ${p.chunk}/${p.nChunks}  ${p.tokensPerSecond.toFixed(0)} tok/s  ETA ${p.etaSeconds.toFixed(0)} s  ppl ${p.ppl?.toFixed(4)}`);
    }
  },
});
await model.dispose?.();
const golden = parseImatrixDatFile(readShared(...cfg.golden), { chunkSize: 256 });
const d = compareImatrix(r.imatrix, golden);
console.log("");
console.log(["entry".padEnd(28), "values".padStart(6), "max rel err".padStart(12), "mean rel err".padStart(13), "cosine".padStart(10)].join(" "));
for (const e of d.entries) {
  console.log([e.name.padEnd(28), String(e.values).padStart(6), e.maxRelError.toExponential(3).padStart(12), e.meanRelError.toExponential(3).padStart(13), e.cosine.toFixed(6).padStart(10)].join(" "));
}
console.log("");
console.log(`entries: ours ${r.imatrix.entries.size}, golden ${golden.entries.size}; missing ${JSON.stringify(d.missing)}, extra ${JSON.stringify(d.extra)}, size mismatch ${JSON.stringify(d.sizeMismatch)}`);
console.log(`chunks: ours ${r.imatrix.chunkCount}, golden ${golden.chunkCount}`);
console.log(`all values: max rel err ${d.maxRelError.toExponential(3)}, mean rel err ${d.meanRelError.toExponential(3)}${chunks === cfg.chunks ? " (target ≤ 1e-3)" : " (subset of chunks: sampling noise, not an error)"}`);
console.log(`speed: ${r.tokens} tokens in ${r.seconds.toFixed(1)} s = ${r.tokensPerSecond.toFixed(0)} tokens/s`);
console.log(`PPL: ours ${r.ppl ? `${r.ppl.value.toFixed(4)} ± ${r.ppl.stderr.toFixed(4)}` : "-"}, llama-imatrix ${chunks === cfg.chunks ? cfg.ppl : "(full run only)"}`);
if (values.out) console.log(`wrote ${values.out} (${await saveImatrix(values.out, r.imatrix)})`);
