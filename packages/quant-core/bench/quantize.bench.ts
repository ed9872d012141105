/**
 * Quantize / dequantize throughput of every built-in scheme, single thread, on the 4096-wide gaussian rows
 * ggml was timed on (../shared/golden/quants/perf-ggml.tsv), printed beside ggml's MB/s with the ratio.
 *
 *   pnpm bench quant              (all types)
 *   pnpm bench quant -- q4_K q8_0 (some types)
 *
 * Each measurement runs whole rows until at least `--seconds` (default 1) have passed (at most 4096 rows), best of 3,
 * after a warm-up pass over the 256 distinct rows.
 * `--cpu` times with this process's CPU time instead of the wall clock (use it on a loaded machine: a descheduled
 * process then does not count as slow). `--js` turns the WebAssembly kernels off (the TypeScript reference paths).
 */
import { readFileSync } from "node:fs";
import { gaussianMatrix, sharedPath, syntheticImportance } from "@quantlab/testing";
import { builtinSchemes, ensureSchemeInit, quantCoreWasmActive, setQuantCoreWasm, type QuantScheme } from "../src/index.js";

const COLS = 4096;
const args = process.argv.slice(2);
const secIdx = args.indexOf("--seconds");
const seconds = secIdx >= 0 ? Number(args[secIdx + 1]) : 1;
const only = args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--seconds");
const cpuClock = args.includes("--cpu");
if (args.includes("--js")) setQuantCoreWasm(false);
/** Milliseconds: wall clock, or this process's user + system CPU time with `--cpu`. */
const now = cpuClock
  ? () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    }
  : () => performance.now();

interface GgmlPerf { quant: number | null; quantImatrix: number | null; dequant: number | null }
function loadGgml(): Map<string, GgmlPerf> {
  const text = readFileSync(sharedPath("golden", "quants", "perf-ggml.tsv"), "utf8");
  const [head, ...lines] = text.trim().split("\n");
  const cols = head!.split("\t");
  const at = (name: string) => cols.indexOf(name);
  const num = (s: string | undefined) => (s === undefined || s === "-" || s === "" ? null : Number(s));
  const m = new Map<string, GgmlPerf>();
  for (const l of lines) {
    const c = l.split("\t");
    m.set(c[at("type")]!, {
      quant: num(c[at("quantize_MBps")]),
      quantImatrix: num(c[at("quantize_imatrix_MBps")]),
      dequant: num(c[at("dequantize_MBps")]),
    });
  }
  return m;
}

const maxRows = 4096;
const x = gaussianMatrix(256, COLS); // 256 distinct rows, reused cyclically (4 MiB, stays in cache like ggml's 64 MiB does not; see note)
const imp = syntheticImportance(COLS, 0x1a7a9e2f);

function timeRows(fn: (row: number) => void): number {
  // warm-up: one pass over the distinct rows, so the timed reps run optimized code (JIT / WebAssembly tier-up)
  for (let r = 0; r < 256; r++) fn(r);
  let best = 0;
  for (let rep = 0; rep < 3; rep++) {
    let rows = 0;
    const t0 = now();
    let t = t0;
    while (t - t0 < seconds * 1000 && rows < maxRows) {
      fn(rows % 256);
      rows++;
      if ((rows & 3) === 0) t = now();
    }
    t = now();
    const mbps = (rows * COLS * 4) / 1e6 / ((t - t0) / 1000);
    best = Math.max(best, mbps);
  }
  return best;
}

function bench(s: QuantScheme): { quant: number | null; quantImatrix: number | null; dequant: number | null } {
  ensureSchemeInit(s);
  const rowBytes = (COLS / s.layout.blockSize) * s.layout.typeSize;
  const q = new Uint8Array(rowBytes * 256);
  const y = new Float32Array(COLS);
  const src = (r: number) => x.subarray(r * COLS, (r + 1) * COLS);
  const dst = (r: number) => q.subarray(r * rowBytes, (r + 1) * rowBytes);
  let quant: number | null = null;
  let quantImatrix: number | null = null;
  if (s.needs.importance !== "required") quant = timeRows((r) => s.quantize(src(r), dst(r), 1, COLS, { importance: null }));
  // fill q with valid blocks for the dequantize timing
  for (let r = 0; r < 256; r++) s.quantize(src(r), dst(r), 1, COLS, { importance: s.needs.importance === "unused" ? null : imp });
  if (s.needs.importance !== "unused") quantImatrix = timeRows((r) => s.quantize(src(r), dst(r), 1, COLS, { importance: imp }));
  const dequant = timeRows((r) => s.dequantizeRow(dst(r), y, COLS));
  return { quant, quantImatrix, dequant };
}

const ggml = loadGgml();
const fmt = (v: number | null) => (v === null ? "-" : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (a: number | null, b: number | null | undefined) => (a === null || b === null || b === undefined ? null : a / b);
const fr = (r: number | null) => (r === null ? "-" : `${r.toFixed(2)}x`);
const rows: string[][] = [];
const ratios: number[] = [];
let below = 0;
for (const s of builtinSchemes) {
  if (only.length && !only.includes(s.name)) continue;
  const r = bench(s);
  const g = ggml.get(s.name);
  const rq = ratio(r.quant, g?.quant);
  const rqi = ratio(r.quantImatrix, g?.quantImatrix);
  const rd = ratio(r.dequant, g?.dequant);
  for (const v of [rq, rqi, rd]) {
    if (v !== null) {
      ratios.push(v);
      if (v < 0.5) below++;
    }
  }
  rows.push([s.name, fmt(r.quant), fmt(g?.quant ?? null), fr(rq), fmt(r.quantImatrix), fmt(g?.quantImatrix ?? null), fr(rqi), fmt(r.dequant), fmt(g?.dequant ?? null), fr(rd)]);
  process.stderr.write(`  ${s.name} done\n`);
}
const head = ["type", "quant MB/s", "ggml", "ratio", "quant+imatrix", "ggml", "ratio", "dequant MB/s", "ggml", "ratio"];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
console.log(line(head));
console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
for (const r of rows) console.log(line(r));
const geo = ratios.length ? Math.exp(ratios.reduce((a, b) => a + Math.log(b), 0) / ratios.length) : NaN;
console.log(`\ngeomean ratio vs ggml (single thread, this run vs perf-ggml.tsv): ${geo.toFixed(2)}x over ${ratios.length} figures; ${below} below the 0.5x bar`);
console.log("note: ggml's figures come from its own run on this machine class (../shared/golden/quants/perf-ggml.tsv); ours from this run.");
console.log(`clock: ${cpuClock ? "process CPU time (--cpu)" : "wall clock"}; kernels: ${quantCoreWasmActive() ? "WebAssembly where available" : "TypeScript only"}`);
