/**
 * GFLOP/s of the gpu backend's matmul (dequantize-on-the-fly WGSL) against a plain JS matmul of the same f32 values,
 * in the same run. GPU times include the activation upload and the readback (what an op call costs); the weight is
 * uploaded by the warm-up call and cached. Best of N.
 *
 *   node --conditions=source --import tsx packages/kernels/bench/gpu.ts [--quick] [--json]
 */
import { builtinRegistry } from "@quantlab/quant-core";
import type { QuantMatrix } from "../src/types.js";
import { createGpuBackend } from "../src/gpu/index.js";

const quick = process.argv.includes("--quick");
const asJson = process.argv.includes("--json");
const REPS = quick ? 2 : 4;

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

/** Plain JS: out[t, r] = Σ_c x[t, c] · w[r, c] over an f32 weight (dot form, one accumulator). */
function jsMatmul(x: Float32Array, nTokens: number, w: Float32Array, rows: number, cols: number, out: Float32Array): void {
  for (let t = 0; t < nTokens; t++) {
    const xo = t * cols;
    for (let r = 0; r < rows; r++) {
      const wo = r * cols;
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += x[xo + c]! * w[wo + c]!;
      out[t * rows + r] = acc;
    }
  }
}

async function best(reps: number, f: () => unknown): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

const backend = createGpuBackend();
if (!(await backend.probe())) {
  console.log(`gpu bench: no WebGPU adapter (${backend.status().reason}); run .ci/setup-gpu.sh`);
  process.exit(0);
}
const matmul = backend.kernels.find((k) => k.op === "matmul")!.run as (x: Float32Array, n: number, w: QuantMatrix, o: Float32Array) => Promise<void>;

const shapes = quick
  ? [
      { rows: 1024, cols: 1024, nTokens: 1 },
      { rows: 512, cols: 512, nTokens: 64 },
    ]
  : [
      { rows: 2048, cols: 2048, nTokens: 1 },
      { rows: 1024, cols: 1024, nTokens: 4 },
      { rows: 1024, cols: 1024, nTokens: 128 },
    ];
const schemes = ["f32", "q8_0", "q4_K", "q6_K"];
const results: { scheme: string; rows: number; cols: number; nTokens: number; gpuMs: number; gpuGflops: number; jsMs: number; jsGflops: number }[] = [];

for (const { rows, cols, nTokens } of shapes) {
  const src = rand(rows * cols, 7);
  const x = rand(nTokens * cols, 9);
  const out = new Float32Array(nTokens * rows);
  const flops = 2 * rows * cols * nTokens;
  for (const scheme of schemes) {
    const s = builtinRegistry().get(scheme);
    s.init?.();
    const rowBytes = (cols / s.layout.blockSize) * s.layout.typeSize;
    const data = new Uint8Array(rows * rowBytes);
    s.quantize(src, data, rows, cols);
    const deq = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) s.dequantizeRow(data.subarray(r * rowBytes), deq.subarray(r * cols, (r + 1) * cols), cols);
    const w: QuantMatrix = { name: `bench.${scheme}`, scheme, typeId: s.ggmlType ?? -1, rows, cols, data, rowBytes };
    await matmul(x, nTokens, w, out); // warm-up: pipeline compile + weight upload
    const gpuMs = await best(REPS, () => matmul(x, nTokens, w, out));
    const jsMs = await best(REPS, () => jsMatmul(x, nTokens, deq, rows, cols, out));
    const row = { scheme, rows, cols, nTokens, gpuMs, gpuGflops: flops / gpuMs / 1e6, jsMs, jsGflops: flops / jsMs / 1e6 };
    results.push(row);
    if (!asJson) {
      console.log(
        `${scheme.padEnd(5)} ${rows}x${cols} x ${String(nTokens).padStart(3)} tok: gpu ${gpuMs.toFixed(1).padStart(7)} ms ${row.gpuGflops.toFixed(2).padStart(6)} GFLOP/s | plain JS ${jsMs.toFixed(1).padStart(7)} ms ${row.jsGflops.toFixed(2).padStart(6)} GFLOP/s`,
      );
    }
  }
}
if (asJson) console.log(JSON.stringify({ adapter: backend.status().adapter, results }, null, 2));
else console.log(`adapter: ${backend.status().adapter}`);
await backend.dispose?.();
