/**
 * Matmul throughput of the optimised CPU backend vs a plain-JS baseline measured in the same run.
 *
 *   node --conditions=source --import tsx packages/kernels/bench/matmul.ts [--big] [--threads=1,2]
 *
 * Shapes: prefill 256 tokens × [768 × 256] (tinystories-5m's FFN), matvec 1 × [4096 × 4096] (decode), and with
 * `--big` prefill 512 × [4096 × 4096]. Weights f32, q8_0, q4_K, q6_K (quantized from random data). The baseline
 * dequantizes the same panels with quant-core and multiplies with a 4 × 2 register-tiled JS dot kernel.
 * Each cell is the best of a few runs within a small time budget (the machine is shared: keep it short).
 */
import { builtinSchemes } from "@quantlab/quant-core";
import type { QuantMatrix } from "../src/types.js";
import { createCpuBackend } from "../src/cpu/index.js";

const args = process.argv.slice(2);
const big = args.includes("--big");
const threadList = (args.find((a) => a.startsWith("--threads="))?.slice(10) ?? "1,2").split(",").map(Number);
const budgetMs = Number(args.find((a) => a.startsWith("--budget="))?.slice(9) ?? 400);

function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return a;
}

function makeMatrix(name: string, rows: number, cols: number): QuantMatrix {
  const s = builtinSchemes.find((x) => x.name === name)!;
  s.init?.();
  const rowBytes = (cols / s.layout.blockSize) * s.layout.typeSize;
  const data = new Uint8Array(new SharedArrayBuffer(rows * rowBytes));
  s.quantize(random(rows * cols, rows + cols), data, rows, cols, {});
  return { name: `bench.${name}`, scheme: name, typeId: s.ggmlType ?? -1, rows, cols, data, rowBytes };
}

/** Plain JS: dequantize 16-row panels with quant-core, 4 tokens × 2 rows register tile, dot form. */
function jsMatmul(x: Float32Array, nT: number, w: QuantMatrix, out: Float32Array, panel: Float32Array): void {
  const s = builtinSchemes.find((q) => q.name === w.scheme)!;
  const { rows, cols, rowBytes } = w;
  const P = panel.length / cols;
  for (let r0 = 0; r0 < rows; r0 += P) {
    const n = Math.min(P, rows - r0);
    s.dequantizeRow(w.data.subarray(r0 * rowBytes, (r0 + n) * rowBytes), panel, n * cols);
    let t = 0;
    for (; t + 4 <= nT; t += 4) {
      const x0 = t * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
      let r = 0;
      for (; r + 2 <= n; r += 2) {
        const w0 = r * cols, w1 = w0 + cols;
        let a00 = 0, a01 = 0, a10 = 0, a11 = 0, a20 = 0, a21 = 0, a30 = 0, a31 = 0;
        for (let c = 0; c < cols; c++) {
          const b0 = panel[w0 + c]!, b1 = panel[w1 + c]!;
          const v0 = x[x0 + c]!, v1 = x[x1 + c]!, v2 = x[x2 + c]!, v3 = x[x3 + c]!;
          a00 += v0 * b0; a01 += v0 * b1; a10 += v1 * b0; a11 += v1 * b1;
          a20 += v2 * b0; a21 += v2 * b1; a30 += v3 * b0; a31 += v3 * b1;
        }
        const o = t * rows + r0 + r;
        out[o] = a00; out[o + 1] = a01; out[o + rows] = a10; out[o + rows + 1] = a11;
        out[o + 2 * rows] = a20; out[o + 2 * rows + 1] = a21; out[o + 3 * rows] = a30; out[o + 3 * rows + 1] = a31;
      }
      for (; r < n; r++) for (let tt = t; tt < t + 4; tt++) out[tt * rows + r0 + r] = dot(x, tt * cols, panel, r * cols, cols);
    }
    for (; t < nT; t++) for (let r = 0; r < n; r++) out[t * rows + r0 + r] = dot(x, t * cols, panel, r * cols, cols);
  }
}

function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    s0 += a[ao + c]! * b[bo + c]!;
    s1 += a[ao + c + 1]! * b[bo + c + 1]!;
    s2 += a[ao + c + 2]! * b[bo + c + 2]!;
    s3 += a[ao + c + 3]! * b[bo + c + 3]!;
  }
  for (; c < n; c++) s0 += a[ao + c]! * b[bo + c]!;
  return s0 + s1 + s2 + s3;
}

/** Best GFLOP/s of `fn` within the time budget (at least 2 runs, the first one a warm-up). */
function gflops(flops: number, fn: () => void): number {
  fn();
  let best = Infinity;
  const end = performance.now() + budgetMs;
  let runs = 0;
  while (runs < 2 || (performance.now() < end && runs < 50)) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
    runs++;
  }
  return flops / (best * 1e6);
}

const shapes: [string, number, number, number][] = [
  ["prefill", 256, 768, 256],
  ["matvec", 1, 4096, 4096],
];
if (big) shapes.push(["prefill-big", 512, 4096, 4096]);

const backends = threadList.map((t) => ({ threads: t, backend: createCpuBackend({ threads: t }) }));
for (const b of backends) {
  const eff = b.backend.effectiveThreads();
  if (eff !== b.threads) console.warn(`cpu backend asked for ${b.threads} threads runs on ${eff}`);
}
const header = ["scheme", "shape", "plain JS", ...backends.map((b) => `cpu ${b.threads}t`), ...backends.map((b) => `× JS (${b.threads}t)`)];
const rowsOut: string[][] = [];
for (const [label, nT, rows, cols] of shapes) {
  for (const name of ["f32", "q8_0", "q4_K", "q6_K"]) {
    const w = makeMatrix(name, rows, cols);
    const x = random(nT * cols, 7);
    const out = new Float32Array(nT * rows);
    const flops = 2 * nT * rows * cols;
    const panel = new Float32Array(16 * cols);
    const skipJs = big && label === "prefill-big";
    const js = skipJs ? NaN : gflops(flops, () => jsMatmul(x, nT, w, out, panel));
    const res = backends.map(({ backend }) => {
      const run = backend.kernels.find((k) => k.op === "matmul")!.run as (x: Float32Array, n: number, w: QuantMatrix, o: Float32Array) => void;
      return gflops(flops, () => run(x, nT, w, out));
    });
    const row = [name, `${label} ${nT}×[${rows}×${cols}]`, skipJs ? "-" : js.toFixed(2), ...res.map((g) => g.toFixed(2)), ...res.map((g) => (skipJs ? "-" : `${(g / js).toFixed(1)}×`))];
    rowsOut.push(row);
    console.log(row.join("\t"));
  }
}
console.log();
const widths = header.map((h, i) => Math.max(h.length, ...rowsOut.map((r) => r[i]!.length)));
const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log(line(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const r of rowsOut) console.log(line(r));
console.log("\nGFLOP/s (2·nTokens·rows·cols / time), best of runs.");
for (const b of backends) await b.backend.dispose?.();
