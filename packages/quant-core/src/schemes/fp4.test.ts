import { arrayRmse } from "@quantlab/testing";
/**
 * MXFP4 / NVFP4 and their 8-bit scale formats: round-trip error on llama.cpp's synthetic data
 * (test-quantize-fns.cpp threshold MAX_QUANTIZATION_TOTAL_ERROR_FP4 = 0.003), E2M1 values exactly
 * representable, edge rows (saturation included), conversions of every scale byte.
 * Byte-exactness against ggml is golden.test.ts's job.
 */
import { describe, expect, it } from "vitest";
import { builtinRegistry } from "../builtin.js";
import type { QuantScheme } from "../scheme.js";
import { e8m0ToFp32, e8m0ToFp32Half, fp32ToUe4m3, ue4m3ToFp32 } from "../math/fp8.js";
import { bestIndexMxfp4, bestIndexMxfp4Fast, kvaluesMxfp4, quantizeRowMxfp4Ref } from "./fp4.js";
import { Lcg64 } from "@quantlab/testing";

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

describe("E8M0 / UE4M3 scale conversions (math/fp8.ts)", () => {
  it("e8m0: 2^(x-127), the half variant is exactly half, x = 0 and 1 are subnormal", () => {
    expect(e8m0ToFp32(127)).toBe(1);
    expect(e8m0ToFp32(0)).toBe(2 ** -127);
    expect(e8m0ToFp32(254)).toBe(2 ** 127);
    for (let x = 0; x < 255; x++) expect(e8m0ToFp32Half(x)).toBe(e8m0ToFp32(x) / 2);
  });

  it("ue4m3: 0x00 and 0x7F read as 0, max code 0x7E is 448/2, the smallest subnormal is 2^-9/2", () => {
    expect(ue4m3ToFp32(0)).toBe(0);
    expect(ue4m3ToFp32(0x7f)).toBe(0);
    expect(ue4m3ToFp32(0x7e)).toBe(224);
    expect(ue4m3ToFp32(1)).toBe(2 ** -10);
    expect(ue4m3ToFp32(0x38)).toBe(0.5); // exp 7, man 0: 1.0, halved
  });

  it("codes 1..0x77 round-trip through their (doubled) value; exponent 15 always encodes as 0x7E", () => {
    for (let c = 1; c <= 0x7e; c++) {
      expect(fp32ToUe4m3(2 * ue4m3ToFp32(c))).toBe(c < 0x78 ? c : 0x7e);
      expect(ue4m3ToFp32(c)).toBeGreaterThan(ue4m3ToFp32(c - 1));
    }
  });

  it("fp32 -> ue4m3 saturates at 0x7E, and maps zero, negatives and NaN to 0", () => {
    expect(fp32ToUe4m3(448)).toBe(0x7e);
    expect(fp32ToUe4m3(1e30)).toBe(0x7e);
    expect(fp32ToUe4m3(Infinity)).toBe(0x7e);
    for (const v of [0, -0, -1, Number.NaN, 2 ** -12]) expect(fp32ToUe4m3(v)).toBe(0);
  });

  it("fp32 -> ue4m3 rounds half up on the mantissa", () => {
    // 1.0625 lies halfway between 1.0 (0x38) and 1.125 (0x39)
    expect(fp32ToUe4m3(1.0625)).toBe(0x39);
    expect(fp32ToUe4m3(1.06)).toBe(0x38);
    // 1.9375 rounds up into the next binade: 2.0 = 0x40
    expect(fp32ToUe4m3(1.9375)).toBe(0x40);
  });
});

describe("bestIndexMxfp4", () => {
  it("the fast neighbour search gives the loop's index for every scale kind (e8m0 halves, every ue4m3 code, 0)", () => {
    const rng = new Lcg64(12345n);
    const scales: number[] = [0];
    for (let e = 0; e < 255; e += 3) scales.push(e8m0ToFp32Half(e));
    for (let c = 1; c < 0x7f; c++) scales.push(ue4m3ToFp32(c));
    for (const d of scales) {
      for (let t = 0; t < 200; t++) {
        // values around the grid: random, exact grid points, and exact midpoints between grid points
        const k = kvaluesMxfp4[t % 16]!;
        const k2 = kvaluesMxfp4[(t * 7) % 16]!;
        const u = rng.u01() * 2 - 1;
        const x = Math.fround(t % 3 === 0 ? u * 14 * d : t % 3 === 1 ? k * d : ((k + k2) / 2) * d);
        expect(bestIndexMxfp4Fast(x, d)).toBe(bestIndexMxfp4(x, d));
        expect(bestIndexMxfp4Fast(-x, d)).toBe(bestIndexMxfp4(-x, d));
      }
    }
    for (const x of [Infinity, -Infinity, Number.NaN, 0, -0, 3e38, -1e30, 1e10]) expect(bestIndexMxfp4Fast(x, 0.5)).toBe(bestIndexMxfp4(x, 0.5));
  });

  it("the inlined row search of quantize_row_mxfp4_ref gives the loop's indices (grid points, midpoints, ±ulp, tiny, specials)", () => {
    const rng = new Lcg64(777n);
    const nb = 4000;
    const x = new Float32Array(nb * 32);
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let b = 0; b < nb; b++) {
      // amax = 1.9·2^E makes d = 2^(E-3) (half of the e8m0 scale), so k·d and the midpoints stay below amax
      const E = Math.floor(rng.u01() * 60 - 30);
      const amax = Math.fround(1.9 * 2 ** E);
      const d = 2 ** (E - 3);
      for (let j = 0; j < 32; j++) {
        const r = rng.u01();
        const k = kvaluesMxfp4[Math.floor(rng.u01() * 16)]!;
        const k2 = kvaluesMxfp4[Math.floor(rng.u01() * 16)]!;
        let v = r < 0.3 ? (rng.u01() * 2 - 1) * amax : r < 0.6 ? k * d : r < 0.9 ? ((k + k2) / 2) * d : amax * 1e-9;
        f[0] = v;
        if (rng.u01() < 0.3) u[0] += rng.u01() < 0.5 ? 1 : -1; // one ulp off a grid point or midpoint
        v = f[0]!;
        x[b * 32 + j] = j === 0 ? amax : v;
      }
    }
    x.set([Number.NaN, Infinity, -Infinity, -0], 32 * 7);
    const y = new Uint8Array(nb * 17);
    quantizeRowMxfp4Ref(x, y, nb * 32);
    let bad = 0;
    for (let b = 0; b < nb; b++) {
      const d = e8m0ToFp32Half(y[b * 17]!);
      for (let j = 0; j < 16; j++) {
        const q = y[b * 17 + 1 + j]!;
        if ((q & 15) !== bestIndexMxfp4(x[b * 32 + j]!, d) || q >> 4 !== bestIndexMxfp4(x[b * 32 + 16 + j]!, d)) bad++;
      }
    }
    expect(bad).toBe(0);
  });

  it("finds every E2M1 value exactly (the first index on ties, so +0 not -0)", () => {
    for (let i = 0; i < 16; i++) {
      const v = kvaluesMxfp4[i]!;
      const want = v === 0 ? 0 : i;
      expect(bestIndexMxfp4(v * 0.25, 0.25)).toBe(want);
    }
  });
});

for (const name of ["mxfp4", "nvfp4"]) {
  describe(name, () => {
    const s = registry.get(name);

    it("ignores the importance vector (declared unused, same bytes with one)", () => {
      expect(s.needs.importance).toBe("unused");
      const x = generateData(0, 1024);
      const q = new Uint8Array((1024 / s.layout.blockSize) * s.layout.typeSize);
      s.quantize(x, q, 4, 256, { importance: filled(256, (i) => 1 + (i % 5)) });
      expect(q).toEqual(roundTrip(s, x).q);
    });

    for (const offset of [0, 1]) {
      it(`round-trip RMSE on 0.1 + 2cos(i + ${offset}) is below 0.003`, () => {
        const x = generateData(offset, N);
        expect(arrayRmse(x, roundTrip(s, x).y)).toBeLessThan(0.003);
        expect(roundTrip(s, x, "ref").q).toEqual(roundTrip(s, x).q);
      });
    }

    it("an all-zero row decodes to zeros", () => {
      expect(maxAbsErr(new Float32Array(N), roundTrip(s, new Float32Array(N)).y)).toBe(0);
    });

    it(`constant rows come back within the E2M1 grid's 1/5 relative${name === "mxfp4" ? " (powers of two exactly)" : ""}`, () => {
      for (const c of [1, -0.3, 12.5, -64]) {
        const x = filled(N, () => c);
        const err = maxAbsErr(x, roundTrip(s, x).y);
        if (name === "mxfp4" && Number.isInteger(Math.log2(Math.abs(c)))) expect(err).toBe(0);
        else expect(err).toBeLessThanOrEqual(Math.abs(c) * 0.2 * (1 + 2 ** -20));
      }
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

describe("fp4 outliers", () => {
  it("mxfp4 keeps a 1e4 outlier on its power-of-two grid (8192 is the nearest E2M1 multiple of 1024)", () => {
    const x = filled(N, (i) => (i === 37 ? 1e4 : 0.01 * Math.cos(i)));
    const { y, q } = roundTrip(registry.get("mxfp4"), x);
    expect(q[17]).toBe(127 + 13 - 2); // floor(log2 1e4) = 13
    expect(y[37]).toBe(8192);
  });

  it("nvfp4 saturates: a sub-block scale above 448 clamps to code 0x7E, so 1e4 decodes to 6·448", () => {
    const x = filled(N, (i) => (i === 37 ? 1e4 : 0.01 * Math.cos(i)));
    const { y, q } = roundTrip(registry.get("nvfp4"), x);
    expect(q[2]).toBe(0x7e); // element 37 is in sub-block 2 of block 0
    expect(y[37]).toBe(12 * 224);
  });
});
