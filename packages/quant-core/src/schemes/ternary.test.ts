import { arrayRmse } from "@quantlab/testing";
/**
 * TQ1_0 / TQ2_0: round-trip error on llama.cpp's synthetic data (test-quantize-fns.cpp threshold
 * MAX_QUANTIZATION_TOTAL_ERROR_TERNARY = 0.01), exact ternary round trips, edge rows, ignored importance.
 * Byte-exactness against ggml is golden.test.ts's job.
 */
import { describe, expect, it } from "vitest";
import { builtinRegistry } from "../builtin.js";
import type { QuantScheme } from "../scheme.js";

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

const N = 32 * 128;
const registry = builtinRegistry();

for (const name of ["tq1_0", "tq2_0"]) {
  describe(name, () => {
    const s = registry.get(name);

    it("ignores the importance vector (declared unused, same bytes with one)", () => {
      expect(s.needs.importance).toBe("unused");
      const x = generateData(0, N);
      const q = new Uint8Array((N / 256) * s.layout.typeSize);
      s.quantize(x, q, 1, N, { importance: filled(N, (i) => 1 + (i % 5)) });
      expect(q).toEqual(roundTrip(s, x).q);
    });

    for (const offset of [0, 1]) {
      it(`round-trip RMSE on 0.1 + 2cos(i + ${offset}) is below 0.01`, () => {
        const x = generateData(offset, N);
        expect(arrayRmse(x, roundTrip(s, x).y)).toBeLessThan(0.01);
        expect(roundTrip(s, x, "ref").q).toEqual(roundTrip(s, x).q);
      });
    }

    it("ternary data {-a, 0, a} round-trips exactly (a a power of two)", () => {
      const x = filled(N, (i) => ((i * 7) % 3) - 1).map((v) => v * 0.5);
      expect(maxAbsErr(x, roundTrip(s, x).y)).toBe(0);
    });

    it("an all-zero row decodes to zeros, a constant row to the constant (fp16-rounded)", () => {
      expect(maxAbsErr(new Float32Array(N), roundTrip(s, new Float32Array(N)).y)).toBe(0);
      for (const c of [1, -0.3, 1234.5]) {
        const x = filled(N, () => c);
        expect(maxAbsErr(x, roundTrip(s, x).y)).toBeLessThanOrEqual(Math.abs(c) * 2 ** -11);
      }
    });

    it("one huge outlier is kept (fp16-rounded); everything else in its block rounds to 0", () => {
      const x = filled(N, (i) => (i === 37 ? 1e4 : 0.01 * Math.cos(i)));
      const { y } = roundTrip(s, x);
      expect(Math.abs(y[37]! - 1e4)).toBeLessThanOrEqual(1e4 * 2 ** -11);
      for (let i = 0; i < 256; i++) if (i !== 37) expect(y[i]).toBe(0);
    });

    it("tiny values (1e-8, 1e-30) give finite output no larger than the input scale", () => {
      for (const m of [1e-8, 1e-30]) {
        const x = filled(N, (i) => m * Math.cos(i));
        const { y } = roundTrip(s, x);
        expect(y.every(Number.isFinite)).toBe(true);
        expect(maxAbsErr(x, y)).toBeLessThanOrEqual(2 * m);
      }
    });
  });
}
