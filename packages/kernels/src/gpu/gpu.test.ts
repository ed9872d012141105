/**
 * The gpu backend against plain JS references on small shapes. Needs a WebGPU adapter (on CI: a software Vulkan
 * driver installed by .ci/setup-gpu.sh); without one every test is skipped visibly, named after the reason.
 */
import { QuantlabError } from "@quantlab/gguf";
import { builtinRegistry } from "@quantlab/quant-core";
import { afterAll, describe, expect, it } from "vitest";
import type { KernelDef, OpName, OpSignatures, QuantMatrix, RopeOptions } from "../types.js";
import { GPU_SCHEMES, createGpuBackend, type GpuBackend } from "./index.js";

const backend = createGpuBackend();
const available = await backend.probe();
const status = backend.status();
const SKIP_NAME = `no WebGPU adapter: run .ci/setup-gpu.sh (${status.reason})`;
const gpuIt = available ? it : it.skip;
/** Test name: the reason first when skipped, so the skip is visible in every reporter line. */
const name = (s: string): string => (available ? s : `no WebGPU adapter: run .ci/setup-gpu.sh: ${s}`);

afterAll(async () => {
  await backend.dispose?.();
});

function kernel<O extends OpName>(b: GpuBackend, op: O): OpSignatures[O] {
  const k = b.kernels.find((d): d is KernelDef<O> => d.op === op);
  if (!k) throw new Error(`no ${op} kernel`);
  return k.run;
}

/** Deterministic pseudo-random floats in [-1, 1) (xorshift32). */
function rand(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    a[i] = (s / 4294967296 - 0.5) * 2 * scale;
  }
  return a;
}

/** A quantized matrix of `rows × cols` random weights, plus its reference dequantization (quant-core, golden-exact). */
function makeWeight(scheme: string, rows: number, cols: number, seed: number): { w: QuantMatrix; ref: Float32Array } {
  const s = builtinRegistry().get(scheme);
  s.init?.();
  const src = rand(rows * cols, seed, 2);
  const rowBytes = (cols / s.layout.blockSize) * s.layout.typeSize;
  const data = new Uint8Array(rows * rowBytes);
  s.quantize(src, data, rows, cols);
  const ref = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) s.dequantizeRow(data.subarray(r * rowBytes, (r + 1) * rowBytes), ref.subarray(r * cols, (r + 1) * cols), cols);
  return { w: { name: `test.${scheme}`, scheme, typeId: s.ggmlType ?? -1, rows, cols, data, rowBytes }, ref };
}

/** Max over outputs of |gpu − exact| / Σ|x·w| (the error relative to the magnitude of the dot product's terms). */
function matmulError(x: Float32Array, nTokens: number, ref: Float32Array, rows: number, cols: number, out: Float32Array): number {
  let worst = 0;
  for (let t = 0; t < nTokens; t++) {
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      let mag = 0;
      for (let c = 0; c < cols; c++) {
        const p = x[t * cols + c]! * ref[r * cols + c]!;
        acc += p;
        mag += Math.abs(p);
      }
      worst = Math.max(worst, Math.abs(out[t * rows + r]! - acc) / (mag || 1));
    }
  }
  return worst;
}

describe(available ? `gpu backend on ${status.adapter}` : `gpu backend: ${SKIP_NAME}`, () => {
  it("probe() resolves to a boolean and never throws", async () => {
    expect(typeof available).toBe("boolean");
    if (!available) expect(status.reason).not.toBe("");
  });

  gpuIt(name("declares matmul and dequantize for its schemes and every weight-less op"), () => {
    const ops = backend.kernels.map((k) => k.op).sort();
    expect(ops).toEqual(["attention", "dequantize", "matmul", "rmsnorm", "rope", "softmax", "swiglu"]);
    for (const s of ["f32", "f16", "q8_0", "q4_0", "q4_K", "q6_K", "q5_K", "q3_K", "q2_K", "iq4_nl", "iq4_xs"]) expect(GPU_SCHEMES).toContain(s);
  });

  describe("dequantize (bit-exact vs quant-core dequantizeRow)", () => {
    for (const scheme of GPU_SCHEMES) {
      gpuIt(name(scheme), async () => {
        const cols = scheme.endsWith("_K") || scheme === "iq4_xs" ? 512 : 96;
        const { w, ref } = makeWeight(scheme, 5, cols, 11);
        const got = new Float32Array(5 * cols);
        await kernel(backend, "dequantize")(w, 0, 5, got);
        expect(got).toEqual(ref);
        const part = new Float32Array(2 * cols);
        await kernel(backend, "dequantize")(w, 2, 2, part);
        expect(part).toEqual(ref.subarray(2 * cols, 4 * cols));
      });
    }
  });

  describe("matmul vs a plain JS matmul of the dequantized weight (1, 3, 37 tokens; 37 rows)", () => {
    for (const scheme of GPU_SCHEMES) {
      gpuIt(name(scheme), async () => {
        const cols = scheme.endsWith("_K") || scheme === "iq4_xs" ? 256 : 96;
        const rows = 37;
        const { w, ref } = makeWeight(scheme, rows, cols, 23);
        for (const nTokens of [1, 3, 37]) {
          const x = rand(nTokens * cols, 5 + nTokens);
          const out = new Float32Array(nTokens * rows).fill(Number.NaN);
          await kernel(backend, "matmul")(x, nTokens, w, out);
          expect(matmulError(x, nTokens, ref, rows, cols, out)).toBeLessThan(1e-5);
        }
      });
    }
  });

  gpuIt(name("matmul uploads each weight once and splits work into many dispatches and buffers"), async () => {
    // Tiny limits force: weight split over several buffers (3 rows each), several row dispatches and token groups.
    const small = createGpuBackend({ maxBindingBytes: 3 * 144 * 2, workPerDispatch: 4096, useGpuJs: false });
    try {
      expect(await small.probe()).toBe(true);
      const rows = 70;
      const cols = 512;
      const { w, ref } = makeWeight("q4_K", rows, cols, 3);
      const mm = kernel(small, "matmul");
      for (const nTokens of [1, 6]) {
        const x = rand(nTokens * cols, 9);
        const out = new Float32Array(nTokens * rows);
        await mm(x, nTokens, w, out);
        expect(matmulError(x, nTokens, ref, rows, cols, out)).toBeLessThan(1e-5);
      }
      const got = new Float32Array(5 * cols);
      await kernel(small, "dequantize")(w, 4, 5, got);
      expect(got).toEqual(ref.subarray(4 * cols, 9 * cols));
      expect(small.stats().weightUploads).toBe(1);
      expect(small.stats().dispatches).toBeGreaterThan(20);
    } finally {
      await small.dispose?.();
    }
  });

  gpuIt(name("matmul: the workgroup-per-row matvec (the shape for real GPUs) matches too"), async () => {
    const wg = createGpuBackend({ matvec: "workgroup", useGpuJs: false });
    try {
      expect(await wg.probe()).toBe(true);
      for (const scheme of ["f16", "q8_0", "q4_K", "q6_K"]) {
        const cols = scheme === "f16" || scheme === "q8_0" ? 160 : 512;
        const { w, ref } = makeWeight(scheme, 19, cols, 41);
        for (const nTokens of [1, 4]) {
          const x = rand(nTokens * cols, 2);
          const out = new Float32Array(nTokens * 19);
          await kernel(wg, "matmul")(x, nTokens, w, out);
          expect(matmulError(x, nTokens, ref, 19, cols, out)).toBeLessThan(1e-5);
        }
      }
    } finally {
      await wg.dispose?.();
    }
  });

  gpuIt(name("matmul: repeated calls reuse the uploaded weight"), async () => {
    const { w } = makeWeight("q8_0", 8, 64, 4);
    const before = backend.stats().weightUploads;
    const out = new Float32Array(8);
    for (let i = 0; i < 3; i++) await kernel(backend, "matmul")(rand(64, i + 1), 1, w, out);
    expect(backend.stats().weightUploads - before).toBe(1);
  });

  gpuIt(name("unsupported scheme rejects with GPU_UNSUPPORTED_SCHEME"), async () => {
    const w: QuantMatrix = { name: "x", scheme: "iq2_xxs", typeId: 16, rows: 1, cols: 256, data: new Uint8Array(66), rowBytes: 66 };
    const e = await Promise.resolve(kernel(backend, "matmul")(new Float32Array(256), 1, w, new Float32Array(1))).catch((err: unknown) => err);
    expect(QuantlabError.isInstance(e) && e.code).toBe("GPU_UNSUPPORTED_SCHEME");
  });

  // Element-wise ops, through gpu.js (default backend) and through WGSL (useGpuJs: false).
  const wgsl = createGpuBackend({ useGpuJs: false });
  afterAll(async () => {
    await wgsl.dispose?.();
  });
  const variants: [string, GpuBackend][] = [
    ["gpu.js", backend],
    ["wgsl", wgsl],
  ];

  for (const [label, b] of variants) {
    gpuIt(name(`rmsnorm (${label})`), async () => {
      const nTokens = 3;
      const dim = 100;
      const x = rand(nTokens * dim, 7, 3);
      const weight = rand(dim, 8);
      const out = new Float32Array(nTokens * dim);
      await kernel(b, "rmsnorm")(x, nTokens, dim, weight, 1e-6, out);
      for (let t = 0; t < nTokens; t++) {
        let ss = 0;
        for (let i = 0; i < dim; i++) ss += x[t * dim + i]! ** 2;
        const scale = 1 / Math.sqrt(ss / dim + 1e-6);
        for (let i = 0; i < dim; i++) expect(out[t * dim + i]).toBeCloseTo(x[t * dim + i]! * scale * weight[i]!, 5);
      }
      if (label === "gpu.js") expect(b.status().elementwise).toBe("gpu.js");
    });

    gpuIt(name(`swiglu (${label}), in place into gate`), async () => {
      const n = 1000;
      const gate = rand(n, 3, 6);
      const up = rand(n, 4);
      const expected = Array.from(gate, (g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      await kernel(b, "swiglu")(gate, up, n, gate);
      for (let i = 0; i < n; i++) expect(gate[i]).toBeCloseTo(expected[i]!, 5);
    });
  }

  gpuIt(name("softmax rows (cols not a multiple of the workgroup)"), async () => {
    const rows = 5;
    const cols = 77;
    const x = rand(rows * cols, 12, 8);
    const ref = Float64Array.from(x);
    await kernel(backend, "softmax")(x, rows, cols);
    for (let r = 0; r < rows; r++) {
      const row = ref.subarray(r * cols, (r + 1) * cols);
      const m = Math.max(...row);
      const sum = row.reduce((a, v) => a + Math.exp(v - m), 0);
      for (let c = 0; c < cols; c++) expect(x[r * cols + c]).toBeCloseTo(Math.exp(row[c]! - m) / sum, 6);
    }
  });

  for (const mode of [0, 2] as const) {
    gpuIt(name(`rope mode ${mode} (nRot < headDim)`), async () => {
      const nTokens = 3;
      const nHeads = 2;
      const headDim = 16;
      const opts: RopeOptions = { mode, nRot: 12, freqBase: 10000, freqScale: 0.5 };
      const positions = Int32Array.from([0, 7, 40]);
      const x = rand(nTokens * nHeads * headDim, 21);
      const expected = Float64Array.from(x);
      for (let t = 0; t < nTokens; t++) {
        for (let h = 0; h < nHeads; h++) {
          const o = (t * nHeads + h) * headDim;
          for (let i = 0; i < opts.nRot / 2; i++) {
            const theta = positions[t]! * opts.freqScale * Math.pow(opts.freqBase, (-2 * i) / opts.nRot);
            const [i0, i1] = mode === 0 ? [o + 2 * i, o + 2 * i + 1] : [o + i, o + i + opts.nRot / 2];
            const a = x[i0]!;
            const b2 = x[i1]!;
            expected[i0] = a * Math.cos(theta) - b2 * Math.sin(theta);
            expected[i1] = a * Math.sin(theta) + b2 * Math.cos(theta);
          }
        }
      }
      await kernel(backend, "rope")(x, nTokens, nHeads, headDim, positions, opts);
      for (let i = 0; i < x.length; i++) expect(x[i]).toBeCloseTo(expected[i]!, 5);
    });
  }

  gpuIt(name("attention: causal, GQA (4 heads over 2 kv heads), 3 tokens at positions 4..6"), async () => {
    const nTokens = 3;
    const nHead = 4;
    const nKvHead = 2;
    const headDim = 8;
    const nCtx = 10;
    const positions = Int32Array.from([4, 5, 6]);
    const q = rand(nTokens * nHead * headDim, 31);
    const k = rand(nCtx * nKvHead * headDim, 32);
    const v = rand(nCtx * nKvHead * headDim, 33);
    const scale = 1 / Math.sqrt(headDim);
    const out = new Float32Array(nTokens * nHead * headDim);
    await kernel(backend, "attention")(q, nTokens, positions, k, v, nHead, nKvHead, headDim, scale, out);
    for (let t = 0; t < nTokens; t++) {
      for (let h = 0; h < nHead; h++) {
        const kvh = Math.floor(h / (nHead / nKvHead));
        const scores: number[] = [];
        for (let j = 0; j <= positions[t]!; j++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[(t * nHead + h) * headDim + d]! * k[(j * nKvHead + kvh) * headDim + d]!;
          scores.push(dot * scale);
        }
        const m = Math.max(...scores);
        const p = scores.map((s) => Math.exp(s - m));
        const sum = p.reduce((a, b) => a + b, 0);
        for (let d = 0; d < headDim; d++) {
          let acc = 0;
          for (let j = 0; j < p.length; j++) acc += (p[j]! / sum) * v[(j * nKvHead + kvh) * headDim + d]!;
          expect(out[(t * nHead + h) * headDim + d]).toBeCloseTo(acc, 5);
        }
      }
    }
  });
});
