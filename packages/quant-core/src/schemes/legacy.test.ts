import { arrayRmse } from "@quantlab/testing";
/**
 * Legacy block types (q4_0, q4_1, q5_0, q5_1, q8_0, q8_1): round-trip error the way llama.cpp's
 * tests/test-quantize-fns.cpp measures it, plus edge rows. Byte-exactness against ggml is in golden.test.ts.
 *
 * Error measure: test-quantize-fns' `array_rmse` = sqrt(Σ(a−b)²) / n (note: divided by n, not sqrt(n)), on
 * `0.1 + 2·cos(i + offset)`, 4096 values, threshold MAX_QUANTIZATION_TOTAL_ERROR = 0.002 (the general one;
 * none of these types is 2-bit, 3-bit or ternary).
 */
import { describe, expect, it } from "vitest";
import { dequantizeTensor, quantizeTensor } from "../registry.js";
import type { QuantScheme } from "../scheme.js";
import { fp16ToFp32 } from "../math/fp16.js";
import { legacySchemes } from "./legacy.js";

function generateData(offset: number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 0.1 + 2 * Math.cos(i + offset);
  return a;
}


function roundTrip(s: QuantScheme, x: Float32Array, nRows: number, nPerRow: number, importance: Float32Array | null = null): Float32Array {
  const q = quantizeTensor(s, x, nRows, nPerRow, { importance });
  return dequantizeTensor(s, q, nRows * nPerRow);
}

const N = 4096;
const optional = legacySchemes.filter((s) => s.needs.importance === "optional");

describe("legacy schemes", () => {
  it("registers the six legacy types in ggml id order", () => {
    expect(legacySchemes.map((s) => s.name)).toEqual(["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q8_1"]);
    expect(optional.map((s) => s.name)).toEqual(["q4_0", "q4_1", "q5_0", "q5_1"]);
  });

  for (const s of legacySchemes) {
    describe(s.name, () => {
      it("round trip error below 0.002 on 0.1 + 2cos(i + offset) (test-quantize-fns)", () => {
        for (const offset of [0, 1]) {
          const x = generateData(offset, N);
          expect(arrayRmse(x, roundTrip(s, x, 1, N))).toBeLessThan(0.002);
        }
      });

      it("quantizeRowRef equals quantize without importance", () => {
        const x = generateData(0.5, 1024);
        const a = new Uint8Array((1024 / 32) * s.layout.typeSize);
        s.quantizeRowRef(x, a, 1024);
        const b = quantizeTensor(s, x, 4, 256);
        expect(b).toEqual(a);
      });

      it("all-zero row decodes to zeros", () => {
        const y = roundTrip(s, new Float32Array(256), 1, 256);
        expect([...y].every((v) => v === 0)).toBe(true);
      });

      it("constant row decodes within fp16 precision", () => {
        for (const c of [1, -0.3, 1000]) {
          const y = roundTrip(s, new Float32Array(256).fill(c), 1, 256);
          for (const v of y) expect(Math.abs(v - c)).toBeLessThanOrEqual(Math.abs(c) * 2e-3);
        }
      });

      it("one huge outlier: the outlier survives, the rest of its block collapses towards 0 or the min", () => {
        const x = generateData(0, 256).map((v) => v * 1e-3);
        x[5] = 1e4;
        const y = roundTrip(s, x, 1, 256);
        expect(Math.abs(y[5]! - 1e4) / 1e4).toBeLessThan(2e-3);
        // other blocks are unaffected by the outlier
        expect(arrayRmse(x.subarray(32), y.subarray(32))).toBeLessThan(1e-5);
      });

      it("tiny values: 1e-3 scale keeps relative accuracy; 1e-8 underflows the fp16 scale to 0 as in ggml", () => {
        const x = generateData(0, 256).map((v) => v * 1e-3);
        const y = roundTrip(s, x, 1, 256);
        expect(arrayRmse(x, y) / 1e-3).toBeLessThan(0.01);
        const t = generateData(0, 256).map((v) => v * 1e-8);
        const z = roundTrip(s, t, 1, 256);
        for (const v of z) expect(Math.abs(v)).toBeLessThanOrEqual(3e-8);
      });
    });
  }

  for (const s of optional) {
    it(`${s.name}: the importance path (quantize_row_${s.name}_impl) also meets 0.002 and differs from _ref`, () => {
      const x = generateData(0, N);
      const w = new Float32Array(1024).map((_, i) => 0.5 + (i % 7));
      const y = roundTrip(s, x, 4, 1024, w);
      expect(arrayRmse(x, y)).toBeLessThan(0.002);
      const plain = quantizeTensor(s, x, 4, 1024);
      const weighted = quantizeTensor(s, x, 4, 1024, { importance: w });
      expect(weighted).not.toEqual(plain);
    });
  }

  it("q8_0 rounds halves away from zero like C roundf", () => {
    const s = legacySchemes.find((x) => x.name === "q8_0")!;
    // amax 127 -> d = 1, id = 1: every x is its own x*id
    const x = new Float32Array(32);
    const halves = [127, -126.5, -0.5, 0.5, 1.5, 2.5, -2.5, -1.5, 0.49999997, -0.49999997, 3.4999998, -0, 1e-30, 126.5];
    halves.forEach((v, i) => (x[i] = v));
    const q = new Uint8Array(34);
    s.quantizeRowRef(x, q, 32);
    const got = [...q.subarray(2, 2 + halves.length)].map((b) => (b << 24) >> 24);
    expect(got).toEqual([127, -127, -1, 1, 2, 3, -3, -2, 0, 0, 3, 0, 0, 127]);
  });

  it("q8_1 stores s = fp16(d * sum(qs)) and decodes as qs*d", () => {
    const s = legacySchemes.find((x) => x.name === "q8_1")!;
    const x = generateData(0, 64);
    const q = quantizeTensor(s, x, 1, 64);
    for (let b = 0; b < 2; b++) {
      const o = b * 36;
      const d = fp16ToFp32(q[o]! | (q[o + 1]! << 8));
      const sv = fp16ToFp32(q[o + 2]! | (q[o + 3]! << 8));
      let sum = 0;
      for (let j = 0; j < 32; j++) sum += (q[o + 4 + j]! << 24) >> 24;
      expect(Math.abs(sv - sum * d)).toBeLessThanOrEqual(Math.abs(sum * d) * 1e-3);
    }
  });
});
