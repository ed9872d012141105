import { afterAll, describe, expect, it } from "vitest";
import { builtinSchemes, type QuantScheme } from "@quantlab/quant-core";
import type { Backend, KernelDef, OpName, OpSignatures, QuantMatrix } from "../types.js";
import { createCpuBackend, type CpuBackend } from "./index.js";

// ------------------------------------------------------------------------------------------------ helpers

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 4294967296) * 2 - 1;
  };
}

function randomF32(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r();
  return a;
}

const byName = new Map(builtinSchemes.map((s) => [s.name, s]));

function scheme(name: string): QuantScheme {
  const s = byName.get(name);
  if (!s) throw new Error(`no scheme ${name}`);
  s.init?.();
  return s;
}

function makeMatrix(name: string, rows: number, cols: number, seed: number, shared = false): QuantMatrix {
  const s = scheme(name);
  const rowBytes = (cols / s.layout.blockSize) * s.layout.typeSize;
  const src = randomF32(rows * cols, seed);
  const buf = shared ? new SharedArrayBuffer(rows * rowBytes + 16) : new ArrayBuffer(rows * rowBytes + 16);
  // an offset into a bigger buffer, as a tensor inside a GGUF file is
  const data = new Uint8Array(buf, 16, rows * rowBytes);
  s.quantize(src, data, rows, cols, { importance: new Float32Array(cols).fill(1) });
  return { name: `w.${name}`, scheme: name, typeId: s.ggmlType ?? -1, rows, cols, data, rowBytes };
}

function dequantAll(w: QuantMatrix): Float32Array {
  const out = new Float32Array(w.rows * w.cols);
  scheme(w.scheme).dequantizeRow(w.data, out, w.rows * w.cols);
  return out;
}

/** Straightforward reference in double; also returns Σ|x||w| per output for the error bound. */
function refMatmul(x: Float32Array, nTokens: number, w: QuantMatrix): { ref: Float64Array; mag: Float64Array } {
  const wf = dequantAll(w);
  const ref = new Float64Array(nTokens * w.rows);
  const mag = new Float64Array(nTokens * w.rows);
  for (let t = 0; t < nTokens; t++) {
    for (let r = 0; r < w.rows; r++) {
      let s = 0;
      let m = 0;
      for (let c = 0; c < w.cols; c++) {
        const p = x[t * w.cols + c]! * wf[r * w.cols + c]!;
        s += p;
        m += Math.abs(p);
      }
      ref[t * w.rows + r] = s;
      mag[t * w.rows + r] = m;
    }
  }
  return { ref, mag };
}

function kernel<O extends OpName>(b: Backend, op: O, schemeName = "*"): OpSignatures[O] {
  const k = b.kernels.find((k) => k.op === op && (k.schemes === "*" || k.schemes.includes(schemeName))) as KernelDef<O> | undefined;
  if (!k) throw new Error(`no ${op} kernel for ${schemeName}`);
  return k.run;
}

function matmul(b: Backend, x: Float32Array, nTokens: number, w: QuantMatrix): Float32Array {
  const out = new Float32Array(nTokens * w.rows);
  void kernel(b, "matmul", w.scheme)(x, nTokens, w, out);
  return out;
}

function expectClose(out: Float32Array, ref: Float64Array, mag: Float64Array, rel = 2e-6): void {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(out[i]! - ref[i]!) / (mag[i]! + 1e-30);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  if (!(worst <= rel)) throw new Error(`element ${at}: got ${out[at]}, expected ${ref[at]} (relative error ${worst})`);
}

const backends: Backend[] = [];
function backend(threads: number, residentF32Bytes?: number): CpuBackend {
  const b = createCpuBackend(residentF32Bytes === undefined ? { threads } : { threads, residentF32Bytes });
  backends.push(b);
  return b;
}
afterAll(async () => {
  for (const b of backends) await b.dispose?.();
});

// ------------------------------------------------------------------------------------------------ tests

describe("cpu backend", () => {
  const b1 = backend(1);

  it("probes WebAssembly SIMD and lists a kernel for every op", async () => {
    expect(await b1.probe()).toBe(true);
    const ops: OpName[] = ["dequantize", "matmul", "rmsnorm", "rope", "softmax", "swiglu", "attention"];
    for (const op of ops) expect(b1.kernels.some((k) => k.op === op && k.backend === "cpu")).toBe(true);
    const mm = b1.kernels.find((k) => k.op === "matmul")!;
    for (const s of builtinSchemes) expect(mm.schemes).toContain(s.name);
  });

  describe("matmul vs a plain JS reference", () => {
    const shapes: [string, number, number, number][] = [];
    for (const name of ["f32", "q8_0", "q4_K", "q6_K"]) {
      for (const nTokens of [1, 3, 17]) for (const [rows, cols] of [[5, 256], [67, 512], [130, 256]] as const) shapes.push([name, nTokens, rows, cols]);
    }
    shapes.push(["f32", 256, 70, 256], ["q4_K", 256, 33, 256], ["q8_0", 4, 9, 4096], ["f32", 2, 3, 4096], ["f32", 1, 600, 32]);
    shapes.push(["f32", 5, 7, 33], ["f32", 17, 3, 7], ["f16", 3, 5, 31], ["f16", 4, 66, 128], ["bf16", 3, 5, 10]);
    it.each(shapes)("%s: %i tokens × [%i × %i]", (name, nTokens, rows, cols) => {
      const w = makeMatrix(name, rows, cols, rows * 31 + cols);
      const x = randomF32(nTokens * cols, nTokens + 7);
      const { ref, mag } = refMatmul(x, nTokens, w);
      expectClose(matmul(b1, x, nTokens, w), ref, mag);
    });

    it.each([1, 2])("f32 through panels (no resident weights), %i threads, equals the resident path", (threads) => {
      const bp = backend(threads, 0);
      for (const [nTokens, rows, cols] of [[1, 300, 512], [3, 67, 256], [40, 130, 256]] as const) {
        const w = makeMatrix("f32", rows, cols, 77);
        const x = randomF32(nTokens * cols, 5);
        const { ref, mag } = refMatmul(x, nTokens, w);
        const o = matmul(bp, x, nTokens, w);
        expectClose(o, ref, mag);
        expect(Array.from(o)).toEqual(Array.from(matmul(b1, x, nTokens, w)));
      }
    });

    it("resident f32 weights: many matrices, interleaved with growing scratch, stay correct", () => {
      const ws = [makeMatrix("f32", 50, 256, 1), makeMatrix("f32", 20, 512, 2), makeMatrix("f32", 64, 128, 3)];
      const b = backend(2, 200_000); // room for the first two only
      for (let round = 0; round < 2; round++) {
        for (const [i, w] of ws.entries()) {
          const nTokens = 1 + 37 * ((i + round) % 3);
          const x = randomF32(nTokens * w.cols, i + 10 * round);
          const { ref, mag } = refMatmul(x, nTokens, w);
          expectClose(matmul(b, x, nTokens, w), ref, mag);
        }
      }
    });

    it.each(builtinSchemes.map((s) => s.name))("every scheme: %s", (name) => {
      const w = makeMatrix(name, 9, 256, 5);
      const x = randomF32(3 * 256, 11);
      const { ref, mag } = refMatmul(x, 3, w);
      expectClose(matmul(b1, x, 3, w), ref, mag);
    });

    it("reads f32/f16 weights at an unaligned byte offset (threads 1 and 2)", () => {
      for (const name of ["f32", "f16"]) {
        const w0 = makeMatrix(name, 40, 96, 8);
        const buf = new Uint8Array(w0.data.length + 3);
        buf.set(w0.data, 3);
        const w = { ...w0, data: buf.subarray(3) };
        const x = randomF32(9 * 96, 2);
        const { ref, mag } = refMatmul(x, 9, w0);
        const o1 = matmul(b1, x, 9, w);
        expectClose(o1, ref, mag);
        expect(Array.from(matmul(backend(2), x, 9, w))).toEqual(Array.from(o1));
      }
    });

    it("handles empty shapes and writes only its output range", () => {
      const w = makeMatrix("f32", 4, 8, 1);
      const out = new Float32Array(4 * 2 + 3).fill(7);
      void kernel(b1, "matmul", "f32")(randomF32(16, 3), 2, w, out);
      expect(Array.from(out.subarray(8))).toEqual([7, 7, 7]);
      void kernel(b1, "matmul", "f32")(new Float32Array(0), 0, w, new Float32Array(0));
    });

    it("rejects short buffers and unknown schemes with typed errors", () => {
      const w = makeMatrix("f32", 4, 8, 1);
      expect(() => kernel(b1, "matmul", "f32")(new Float32Array(3), 1, w, new Float32Array(4))).toThrow(/x has/);
      expect(() => kernel(b1, "matmul", "f32")(new Float32Array(8), 1, { ...w, scheme: "nope" }, new Float32Array(4))).toThrow(
        expect.objectContaining({ code: "KERNEL_NOT_FOUND" }),
      );
    });
  });

  it("is bit-identical for threads 1, 2 and 3 (and for weights in a SharedArrayBuffer or not)", () => {
    const b2 = backend(2);
    const b3 = backend(3);
    // the workers really start (no silent fallback to one thread)
    expect(b2.effectiveThreads()).toBe(2);
    expect(b3.effectiveThreads()).toBe(3);
    expect(b1.effectiveThreads()).toBe(1);
    for (const [name, nTokens, rows, cols] of [
      ["f32", 64, 260, 512],
      ["q4_K", 17, 130, 768],
      ["q8_0", 1, 2052, 512],
      ["q6_K", 3, 1000, 256],
      ["iq4_xs", 40, 100, 256],
    ] as const) {
      const w = makeMatrix(name, rows, cols, 3, name === "q4_K");
      const x = randomF32(nTokens * cols, 9);
      const o1 = matmul(b1, x, nTokens, w);
      const o2 = matmul(b2, x, nTokens, w);
      const o3 = matmul(b3, x, nTokens, w);
      const o3again = matmul(b3, x, nTokens, w);
      expect(Buffer.from(o2.buffer).equals(Buffer.from(o1.buffer))).toBe(true);
      expect(Buffer.from(o3.buffer).equals(Buffer.from(o1.buffer))).toBe(true);
      expect(Buffer.from(o3again.buffer).equals(Buffer.from(o1.buffer))).toBe(true);
    }
  });

  it("dequantize returns the scheme's rows", () => {
    const w = makeMatrix("q4_K", 10, 512, 4);
    const all = dequantAll(w);
    const out = new Float32Array(3 * 512);
    void kernel(b1, "dequantize", "q4_K")(w, 4, 3, out);
    expect(Array.from(out)).toEqual(Array.from(all.subarray(4 * 512, 7 * 512)));
  });
});

// ------------------------------------------------------------------------------------------------ attention

function refAttention(
  q: Float32Array, nTokens: number, positions: Int32Array, k: Float32Array, v: Float32Array,
  nHead: number, nKvHead: number, headDim: number, scale: number,
): Float64Array {
  const out = new Float64Array(nTokens * nHead * headDim);
  const group = nHead / nKvHead;
  for (let t = 0; t < nTokens; t++) {
    for (let h = 0; h < nHead; h++) {
      const kvh = Math.floor(h / group);
      const n = positions[t]! + 1;
      const s = new Float64Array(n);
      let mx = -Infinity;
      for (let j = 0; j < n; j++) {
        let d = 0;
        for (let c = 0; c < headDim; c++) d += q[(t * nHead + h) * headDim + c]! * k[(j * nKvHead + kvh) * headDim + c]!;
        s[j] = d * scale;
        mx = Math.max(mx, s[j]!);
      }
      let sum = 0;
      for (let j = 0; j < n; j++) sum += s[j] = Math.exp(s[j]! - mx);
      for (let j = 0; j < n; j++) {
        for (let c = 0; c < headDim; c++) out[(t * nHead + h) * headDim + c] += (s[j]! / sum) * v[(j * nKvHead + kvh) * headDim + c]!;
      }
    }
  }
  return out;
}

describe("cpu attention", () => {
  const cases: [number, number, number, number, number][] = [
    // nTokens, startPos, nHead, nKvHead, headDim
    [1, 0, 4, 4, 32],
    [1, 40, 8, 2, 64],
    [17, 0, 6, 3, 16],
    [5, 9, 4, 1, 6],
    [64, 0, 8, 8, 32],
  ];
  it.each(cases)("%i tokens from position %i, %i heads / %i kv heads × %i", (nTokens, start, nHead, nKvHead, headDim) => {
    const nCtx = start + nTokens + 3;
    const q = randomF32(nTokens * nHead * headDim, 1);
    const k = randomF32(nCtx * nKvHead * headDim, 2);
    const v = randomF32(nCtx * nKvHead * headDim, 3);
    const pos = Int32Array.from({ length: nTokens }, (_, i) => start + i);
    const scale = 1 / Math.sqrt(headDim);
    const ref = refAttention(q, nTokens, pos, k, v, nHead, nKvHead, headDim, scale);
    const outs: Float32Array[] = [];
    for (const threads of [1, 2, 3]) {
      const b = backend(threads);
      const out = new Float32Array(nTokens * nHead * headDim);
      void kernel(b, "attention")(q, nTokens, pos, k, v, nHead, nKvHead, headDim, scale, out);
      outs.push(out);
    }
    for (let i = 0; i < ref.length; i++) expect(Math.abs(outs[0]![i]! - ref[i]!)).toBeLessThan(1e-5);
    expect(Array.from(outs[1]!)).toEqual(Array.from(outs[0]!));
    expect(Array.from(outs[2]!)).toEqual(Array.from(outs[0]!));
  });
});

// ------------------------------------------------------------------------------------------------ light ops

describe("cpu light ops", () => {
  const b = backend(1);
  it("rmsnorm", () => {
    const x = randomF32(3 * 10, 1);
    const wt = randomF32(10, 2);
    const out = new Float32Array(30);
    void kernel(b, "rmsnorm")(x, 3, 10, wt, 1e-5, out);
    for (let t = 0; t < 3; t++) {
      let ss = 0;
      for (let i = 0; i < 10; i++) ss += x[t * 10 + i]! ** 2;
      const sc = 1 / Math.sqrt(ss / 10 + 1e-5);
      for (let i = 0; i < 10; i++) expect(out[t * 10 + i]).toBeCloseTo(x[t * 10 + i]! * sc * wt[i]!, 5);
    }
  });
  it("softmax", () => {
    const x = randomF32(2 * 7, 3).map((v) => v * 20);
    const ref = Array.from(x);
    void kernel(b, "softmax")(x, 2, 7);
    for (let r = 0; r < 2; r++) {
      const row = ref.slice(r * 7, r * 7 + 7);
      const m = Math.max(...row);
      const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
      for (let i = 0; i < 7; i++) expect(x[r * 7 + i]).toBeCloseTo(Math.exp(row[i]! - m) / s, 6);
    }
  });
  it("swiglu (in place allowed)", () => {
    const g = randomF32(9, 4).map((v) => v * 8);
    const u = randomF32(9, 5);
    const ref = Array.from(g, (v, i) => (v / (1 + Math.exp(-v))) * u[i]!);
    void kernel(b, "swiglu")(g, u, 9, g);
    for (let i = 0; i < 9; i++) expect(g[i]).toBeCloseTo(ref[i]!, 6);
  });
  it.each([0, 2] as const)("rope mode %i", (mode) => {
    const nTokens = 3, nHeads = 2, headDim = 8, nRot = 6;
    const x = randomF32(nTokens * nHeads * headDim, 6);
    const src = Float64Array.from(x);
    const pos = Int32Array.from([0, 5, 77]);
    void kernel(b, "rope")(x, nTokens, nHeads, headDim, pos, { mode, nRot, freqBase: 10000, freqScale: 0.5 });
    for (let t = 0; t < nTokens; t++) {
      for (let h = 0; h < nHeads; h++) {
        const o = (t * nHeads + h) * headDim;
        for (let i = 0; i < nRot / 2; i++) {
          const th = pos[t]! * 0.5 * Math.pow(10000, (-2 * i) / nRot);
          const [a, bb] = mode === 0 ? [o + 2 * i, o + 2 * i + 1] : [o + i, o + i + nRot / 2];
          expect(x[a]).toBeCloseTo(src[a]! * Math.cos(th) - src[bb]! * Math.sin(th), 4);
          expect(x[bb]).toBeCloseTo(src[a]! * Math.sin(th) + src[bb]! * Math.cos(th), 4);
        }
        for (let i = nRot; i < headDim; i++) expect(x[o + i]).toBe(Math.fround(src[o + i]!));
      }
    }
  });
});
