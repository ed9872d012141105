/**
 * Header-parse benchmark: @quantlab/gguf vs @huggingface/gguf on the same local files, in the same run.
 *
 *   node --conditions=source --import tsx packages/gguf/bench/header.bench.ts [--quick]
 *
 * Both parse from disk through their local-file APIs (ours: `openGguf(path)`; HF: `gguf(path, { allowLocalFile: true })`)
 * and produce typed metadata plus tensor infos. Each file is parsed a few times after a warm-up; the table shows the
 * median per parse and the ratio (HF time / our time: above 1 means we are faster).
 */
import { statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gguf } from "@huggingface/gguf";
import { openGguf } from "@quantlab/gguf";

const here = dirname(fileURLToPath(import.meta.url));
const shared = process.env.QUANTLAB_SHARED ?? resolve(here, "../../../../shared");
const quick = process.argv.includes("--quick");

const files = [
  "models/stories260K.gguf",
  "golden/llamacpp-c392e50/stories260K/stories260K-Q4_K_M.gguf",
  "models/tinystories-5m-f32.gguf",
  "golden/llamacpp-c392e50/tinystories-5m/tinystories-5m-Q8_0.gguf",
  "models/vocab/ggml-vocab-bert-bge.gguf",
  "models/vocab/ggml-vocab-llama-spm.gguf",
  "models/vocab/ggml-vocab-gpt-2.gguf",
  "models/vocab/ggml-vocab-deepseek-llm.gguf",
];

async function ours(path: string): Promise<number> {
  const f = await openGguf(path);
  const n = f.metadata.size + f.tensors.length;
  await f.close();
  return n;
}

async function hf(path: string): Promise<number> {
  const r = await gguf(path, { allowLocalFile: true, typedMetadata: true });
  return Object.keys(r.typedMetadata).length + r.tensorInfos.length;
}

async function time(fn: (p: string) => Promise<number>, path: string, runs: number): Promise<number> {
  for (let i = 0; i < 2; i++) await fn(path);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn(path);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const rows: string[][] = [];
let sumOurs = 0;
let sumHf = 0;
for (const rel of files) {
  const path = join(shared, rel);
  const size = statSync(path).size;
  const runs = quick ? 3 : size > 3e6 ? 7 : 15;
  // Interleave to share any background load fairly.
  const a = await time(ours, path, runs);
  const b = await time(hf, path, runs);
  sumOurs += a;
  sumHf += b;
  rows.push([rel.split("/").pop()!, (size / 1e6).toFixed(1), a.toFixed(2), b.toFixed(2), (b / a).toFixed(2)]);
}
rows.push(["total", "", sumOurs.toFixed(2), sumHf.toFixed(2), (sumHf / sumOurs).toFixed(2)]);
const head = ["file", "MB", "quantlab ms", "@huggingface/gguf ms", "ratio (hf/ours)"];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
console.log(line(head));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
