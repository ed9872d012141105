/**
 * The oracle against plain double-precision formulas (independent of ggml's float rounding), and its matmul against
 * quant-core's dequantizeTensor. The oracle's agreement with llama.cpp itself is checked on real models in
 * packages/eval/src/golden-logits.test.ts.
 */
import { describe, expect, it } from "vitest";
import { builtinSchemes, dequantizeTensor, quantizeTensor, rowSize } from "@quantlab/quant-core";
import { Lcg64, gaussianMatrix, syntheticImportance } from "@quantlab/testing";
import type { OpSignatures, QuantMatrix } from "../types.js";
import { cpuRefBackend } from "./index.js";

const op = <O extends keyof OpSignatures>(name: O) => cpuRefBackend.kernels.find((k) => k.op === name)!.run as OpSignatures[O];
const gauss = (n: number, seed: number) => {
  const g = new Lcg64(seed);
  return Float32Array.from({ length: n }, () => g.gauss());
};

describe("cpu-ref", () => {
  it("probes true and has every op", () => {
    expect(cpuRefBackend.probe()).toBe(true);
    expect(new Set(cpuRefBackend.kernels.map((k) => k.op))).toEqual(new Set(["dequantize", "matmul", "rmsnorm", "rope", "softmax", "swiglu", "attention"]));
  });

  it("matmul equals dequantizeTensor + double dot for every scheme", () => {
    const rows = 3;
    const cols = 256;
    for (const s of builtinSchemes) {
      const src = gaussianMatrix(rows, cols, 77);
      const data = quantizeTensor(s, src, rows, cols, { importance: s.needs.importance === "required" ? syntheticImportance(cols, 3) : null });
      const w: QuantMatrix = { name: s.name, scheme: s.name, typeId: s.ggmlType ?? -1, rows, cols, data, rowBytes: rowSize(s, cols) };
      const wf = dequantizeTensor(s, data, rows * cols);
      const x = gauss(2 * cols, 5);
      const out = new Float32Array(2 * rows);
      op("matmul")(x, 2, w, out);
      for (let t = 0; t < 2; t++)
        for (let r = 0; r < rows; r++) {
          let acc = 0;
          for (let c = 0; c < cols; c++) acc += x[t * cols + c]! * wf[r * cols + c]!;
          expect(out[t * rows + r], s.name).toBeCloseTo(acc, 4);
        }
      const dq = new Float32Array(cols);
      op("dequantize")(w, 1, 1, dq);
      expect(Array.from(dq)).toEqual(Array.from(wf.subarray(cols, 2 * cols)));
    }
  });

  it("rmsnorm, softmax, swiglu match their formulas", () => {
    const x = gauss(2 * 64, 9);
    const wt = gauss(64, 10);
    const out = new Float32Array(128);
    op("rmsnorm")(x, 2, 64, wt, 1e-5, out);
    for (let t = 0; t < 2; t++) {
      let ss = 0;
      for (let i = 0; i < 64; i++) ss += x[t * 64 + i]! ** 2;
      const sc = 1 / Math.sqrt(ss / 64 + 1e-5);
      for (let i = 0; i < 64; i++) expect(out[t * 64 + i]).toBeCloseTo(x[t * 64 + i]! * sc * wt[i]!, 5);
    }
    const y = x.slice();
    op("softmax")(y, 2, 64);
    for (let t = 0; t < 2; t++) {
      const m = Math.max(...x.subarray(t * 64, t * 64 + 64));
      let s = 0;
      for (let i = 0; i < 64; i++) s += Math.exp(x[t * 64 + i]! - m);
      for (let i = 0; i < 64; i++) expect(y[t * 64 + i]).toBeCloseTo(Math.exp(x[t * 64 + i]! - m) / s, 7);
    }
    const g = gauss(100, 11);
    const u = gauss(100, 12);
    const o = new Float32Array(100);
    op("swiglu")(g, u, 100, o);
    for (let i = 0; i < 100; i++) expect(o[i]).toBeCloseTo((g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!, 6);
  });

  it("rope rotates adjacent pairs (mode 0) or half-split pairs (NeoX) by pos·base^(-2i/n)", () => {
    const headDim = 16;
    for (const mode of [0, 2] as const) {
      for (const nRot of [16, 8]) {
        const x = gauss(2 * headDim, 13);
        const y = x.slice();
        op("rope")(y, 1, 2, headDim, Int32Array.from([7]), { mode, nRot, freqBase: 10000, freqScale: 0.5 });
        for (let h = 0; h < 2; h++) {
          const o = h * headDim;
          for (let i = 0; i < nRot / 2; i++) {
            const th = 0.5 * 7 * Math.pow(10000, (-2 * i) / nRot);
            const a = mode === 0 ? o + 2 * i : o + i;
            const b = mode === 0 ? a + 1 : a + nRot / 2;
            expect(y[a]).toBeCloseTo(x[a]! * Math.cos(th) - x[b]! * Math.sin(th), 4);
            expect(y[b]).toBeCloseTo(x[a]! * Math.sin(th) + x[b]! * Math.cos(th), 4);
          }
          for (let i = nRot; i < headDim; i++) expect(y[o + i]).toBe(x[o + i]);
        }
      }
    }
  });

  it("attention: causal softmax(q·k·scale)·v with GQA", () => {
    const nHead = 4;
    const nKv = 2;
    const hd = 8;
    const nCtx = 6;
    const k = gauss(nCtx * nKv * hd, 20);
    const v = gauss(nCtx * nKv * hd, 21);
    const q = gauss(2 * nHead * hd, 22);
    const pos = Int32Array.from([2, 5]);
    const out = new Float32Array(2 * nHead * hd);
    op("attention")(q, 2, pos, k, v, nHead, nKv, hd, 0.3, out);
    for (let t = 0; t < 2; t++)
      for (let h = 0; h < nHead; h++) {
        const kvh = Math.floor(h / 2);
        const s: number[] = [];
        for (let j = 0; j <= pos[t]!; j++) {
          let d = 0;
          for (let i = 0; i < hd; i++) d += q[(t * nHead + h) * hd + i]! * k[(j * nKv + kvh) * hd + i]!;
          s.push(d * 0.3);
        }
        const m = Math.max(...s);
        const e = s.map((z) => Math.exp(z - m));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < hd; i++) {
          let acc = 0;
          for (let j = 0; j < e.length; j++) acc += (e[j]! / sum) * v[(j * nKv + kvh) * hd + i]!;
          expect(out[(t * nHead + h) * hd + i]).toBeCloseTo(acc, 5);
        }
      }
  });
});
