import { arrayRmse } from "@quantlab/testing";
/**
 * IQ4_NL / IQ4_XS: round-trip error on llama.cpp's synthetic data (test-quantize-fns.cpp, threshold
 * MAX_QUANTIZATION_TOTAL_ERROR = 0.002 for both), edge rows, and the importance contract.
 * Byte-exactness against ggml is golden.test.ts's job.
 */
import { describe, expect, it } from "vitest";
import { builtinRegistry } from "../builtin.js";
import type { QuantScheme } from "../scheme.js";
import { bestIndexInt8, kvaluesIq4nl, quantizeIq4Nl, quantizeIq4Xs, quantizeRowIq4XsRef } from "./iq4.js";

/** llama.cpp tests/test-quantize-fns.cpp `generate_data`: 0.1 + 2·cosf(i + offset). */
function generateData(offset: number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 0.1 + 2 * Math.fround(Math.cos(Math.fround(i + offset)));
  return a;
}


/** Quantizes `x` as one row (through `quantize`, or `quantizeRowRef`) and decodes it back. */
function roundTrip(s: QuantScheme, x: Float32Array, via: "quantize" | "ref" = "quantize"): { q: Uint8Array; y: Float32Array } {
  const q = new Uint8Array((x.length / s.layout.blockSize) * s.layout.typeSize);
  if (via === "ref") s.quantizeRowRef(x, q, x.length);
  else expect(s.quantize(x, q, 1, x.length)).toBe(q.length);
  const y = new Float32Array(x.length);
  s.dequantizeRow(q, y, x.length);
  return { q, y };
}

function maxAbsErr(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function filled(n: number, f: (i: number) => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = f(i);
  return a;
}

const N = 32 * 128; // test-quantize-fns.cpp test_size
const registry = builtinRegistry();

describe("bestIndexInt8", () => {
  it("clamps at both ends and picks the nearest level (the upper one on a tie)", () => {
    expect(bestIndexInt8(16, kvaluesIq4nl, -1000)).toBe(0);
    expect(bestIndexInt8(16, kvaluesIq4nl, 1000)).toBe(15);
    for (let l = 0; l < 16; l++) expect(bestIndexInt8(16, kvaluesIq4nl, kvaluesIq4nl[l]!)).toBe(l);
    expect(bestIndexInt8(16, kvaluesIq4nl, -4.5)).toBe(8); // midway between -10 and 1: upper
    expect(bestIndexInt8(16, kvaluesIq4nl, -4.6)).toBe(7);
  });
});

for (const name of ["iq4_nl", "iq4_xs"]) {
  describe(name, () => {
    const s = registry.get(name);

    it("declares an optional importance vector", () => {
      expect(s.needs.importance).toBe("optional");
    });

    for (const offset of [0, 1]) {
      it(`round-trip RMSE on 0.1 + 2cos(i + ${offset}) is below 0.002 (quantize and reference paths)`, () => {
        const x = generateData(offset, N);
        expect(arrayRmse(x, roundTrip(s, x).y)).toBeLessThan(0.002);
        expect(arrayRmse(x, roundTrip(s, x, "ref").y)).toBeLessThan(0.002);
      });
    }

    it("an all-zero row decodes to zeros", () => {
      const { y } = roundTrip(s, new Float32Array(N));
      expect(maxAbsErr(y, new Float32Array(N))).toBe(0);
    });

    it("constant rows come back within 1e-3 relative", () => {
      for (const c of [1, -0.3, 1234.5]) {
        const x = filled(N, () => c);
        expect(maxAbsErr(x, roundTrip(s, x).y)).toBeLessThan(Math.abs(c) * 1e-3);
      }
    });

    it("one huge outlier is kept within 1%, and the rest of its block stays finite", () => {
      const x = filled(N, (i) => (i === 37 ? 1e4 : 0.01 * Math.cos(i)));
      const { y } = roundTrip(s, x);
      expect(Math.abs(y[37]! - 1e4)).toBeLessThan(100);
      expect(y.every(Number.isFinite)).toBe(true);
    });

    it("tiny values (1e-8, 1e-30) give finite output no larger than the input scale", () => {
      for (const m of [1e-8, 1e-30]) {
        const x = filled(N, (i) => m * Math.cos(i));
        const { y } = roundTrip(s, x);
        expect(y.every(Number.isFinite)).toBe(true);
        expect(maxAbsErr(x, y)).toBeLessThanOrEqual(2 * m);
      }
    });

    it("with an importance vector the error stays within the bound", () => {
      const x = generateData(0, N);
      const w = filled(N, (i) => 1 + (i % 7));
      const q = new Uint8Array((N / s.layout.blockSize) * s.layout.typeSize);
      s.quantize(x, q, 1, N, { importance: w });
      const y = new Float32Array(N);
      s.dequantizeRow(q, y, N);
      expect(arrayRmse(x, y)).toBeLessThan(0.002);
    });

    it("rows are independent: quantizing 2 rows at once equals quantizing each row", () => {
      const a = generateData(0, 1024);
      const b = generateData(1, 1024);
      const both = new Float32Array(2048);
      both.set(a);
      both.set(b, 1024);
      const rs = (1024 / s.layout.blockSize) * s.layout.typeSize;
      const q = new Uint8Array(2 * rs);
      s.quantize(both, q, 2, 1024);
      expect(q.subarray(0, rs)).toEqual(roundTrip(s, a).q);
      expect(q.subarray(rs)).toEqual(roundTrip(s, b).q);
    });
  });
}

describe("iq4_xs reference path", () => {
  it("quantize_row_iq4_xs_ref is quantize_iq4_xs on one row without importance", () => {
    const x = generateData(0.5, 1024);
    const a = new Uint8Array(4 * 136);
    const b = new Uint8Array(4 * 136);
    quantizeRowIq4XsRef(x, a, 1024);
    expect(quantizeIq4Xs(x, b, 1, 1024, null)).toBe(a.length);
    expect(a).toEqual(b);
  });

  it("returns the bytes written", () => {
    expect(quantizeIq4Nl(new Float32Array(256), new Uint8Array(8 * 18), 2, 128, null)).toBe(8 * 18);
  });
});
