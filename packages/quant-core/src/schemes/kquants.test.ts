import { arrayRmse } from "@quantlab/testing";
/**
 * K-quants (q2_K, q3_K, q4_K, q5_K, q6_K, q8_K): round-trip error the way llama.cpp's
 * tests/test-quantize-fns.cpp measures it, edge rows, the shared helpers, and the q8_K all-zero block.
 * Byte-exactness against ggml is in golden.test.ts.
 *
 * Error measure: test-quantize-fns' `array_rmse` = sqrt(Σ(a−b)²) / n (divided by n, not sqrt(n)) on its
 * `test_data` (`0.1 + 2·cosf(i)`, 4096 values) and `test_data2` (offset 1), read from the golden synth-cos input
 * (rows 0-3 and 4-7: exactly that data, made with C cosf). Thresholds as in test-quantize-fns:
 * q2_K MAX_QUANTIZATION_TOTAL_ERROR_2BITS = 0.0075, q3_K _3BITS = 0.004, all others the general 0.002.
 */
import { describe, expect, it } from "vitest";
import { readShared, readSharedF32, syntheticImportance } from "@quantlab/testing";
import { dequantizeTensor, quantizeTensor } from "../registry.js";
import type { QuantScheme } from "../scheme.js";
import { readFp16 } from "../math/fp16.js";
import { kquantsSchemes, quantizeRowQ8_KRef, BLOCK_Q8_K_SIZE } from "./kquants.js";
import { getScaleMinK4, makeQpQuants, makeQxQuants, nearestInt, GROUP_MAX_EPS } from "./kquants-helpers.js";


function roundTrip(s: QuantScheme, x: Float32Array, nRows: number, nPerRow: number, importance: Float32Array | null = null): Float32Array {
  const q = quantizeTensor(s, x, nRows, nPerRow, { importance, skipFiniteCheck: true });
  return dequantizeTensor(s, q, nRows * nPerRow);
}

const N = 4096;
const synthCos = readSharedF32("golden", "quants", "inputs", "synth-cos.f32");
const testData = synthCos.subarray(0, N);
const testData2 = synthCos.subarray(N, 2 * N);

const THRESHOLD: Record<string, number> = {
  q2_K: 0.0075,
  q3_K: 0.004,
  q4_K: 0.002,
  q5_K: 0.002,
  q6_K: 0.002,
  q8_K: 0.002,
};

const byName = (n: string): QuantScheme => kquantsSchemes.find((s) => s.name === n)!;

describe("kquants schemes", () => {
  it("registers the six K-quant types in ggml id order with the ggml layouts", () => {
    expect(kquantsSchemes.map((s) => [s.name, s.ggmlType, s.layout.typeSize])).toEqual([
      ["q2_K", 10, 84],
      ["q3_K", 11, 110],
      ["q4_K", 12, 144],
      ["q5_K", 13, 176],
      ["q6_K", 14, 210],
      ["q8_K", 15, 292],
    ]);
    for (const s of kquantsSchemes) {
      expect(s.layout.blockSize).toBe(256);
      expect(s.needs.importance).toBe(s.name === "q8_K" ? "unused" : "optional");
    }
  });

  for (const s of kquantsSchemes) {
    const thr = THRESHOLD[s.name]!;
    describe(s.name, () => {
      it(`test-quantize-fns total error on test_data and test_data2 < ${thr}`, () => {
        for (const data of [testData, testData2]) {
          const e = arrayRmse(data, roundTrip(s, data, 1, N));
          expect(e).toBeLessThan(thr);
        }
      });

      it("quantizeRowRef equals quantize without importance (one call over all rows)", () => {
        const viaRef = new Uint8Array((N / 256) * s.layout.typeSize);
        s.quantizeRowRef(testData, viaRef, N);
        const viaQuantize = quantizeTensor(s, testData, 4, N / 4);
        expect(Buffer.from(viaQuantize).equals(Buffer.from(viaRef))).toBe(true);
      });

      it("dequantizes the same bits from a byte-aligned and an unaligned buffer (32-bit and byte paths)", () => {
        const q = quantizeTensor(s, testData, 1, N);
        const unaligned = new Uint8Array(q.length + 1).subarray(1);
        unaligned.set(q);
        const a = new Float32Array(N);
        const b = new Float32Array(N);
        s.dequantizeRow(q, a, N);
        s.dequantizeRow(unaligned, b, N);
        expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
      });

      if (s.needs.importance === "optional") {
        it("the importance-weighted path stays under the same error bound and gives other bytes", () => {
          const w = syntheticImportance(1024, 0x1a7a0001);
          const e = arrayRmse(testData, roundTrip(s, testData, 4, 1024, w));
          expect(e).toBeLessThan(thr);
          const plain = quantizeTensor(s, testData, 4, 1024);
          const weighted = quantizeTensor(s, testData, 4, 1024, { importance: w });
          expect(Buffer.from(plain).equals(Buffer.from(weighted))).toBe(false);
        });
      }

      it("edge rows: zeros decode to zero, constants and tiny values stay finite and close, an outlier survives", () => {
        const n = 512;
        const zeros = new Float32Array(n);
        const outZ = roundTrip(s, zeros, 1, n);
        // ±0: q6_K levels are stored +32, so a zero block decodes as 0·(0 − 32) = −0, as in ggml
        expect(outZ.every((v) => Object.is(v, s.name === "q6_K" ? -0 : 0))).toBe(true);

        for (const c of [1, -0.3, 0.5]) {
          const x = new Float32Array(n).fill(c);
          const y = roundTrip(s, x, 1, n);
          for (const v of y) expect(Math.abs(v - c)).toBeLessThan(Math.abs(c) * 0.15);
        }

        const tiny = new Float32Array(n);
        for (let i = 0; i < n; i++) tiny[i] = 1e-8 * Math.cos(i);
        const yt = roundTrip(s, tiny, 1, n);
        expect(yt.every((v) => Number.isFinite(v) && Math.abs(v) < 1e-7)).toBe(true);

        const outlier = new Float32Array(n);
        for (let i = 0; i < n; i++) outlier[i] = 0.01 * Math.sin(i);
        outlier[77] = 1e4;
        const yo = roundTrip(s, outlier, 1, n);
        expect(yo.every((v) => Number.isFinite(v))).toBe(true);
        expect(Math.abs(yo[77]! - 1e4)).toBeLessThan(1e4 * 0.1);
      });
    });
  }
});

describe("q8_K", () => {
  it("an all-zero super-block writes d = 0 and zero quants but leaves bsums as ggml does (unwritten)", () => {
    const x = new Float32Array(256);
    const y = new Uint8Array(BLOCK_Q8_K_SIZE).fill(0x5a);
    quantizeRowQ8_KRef(x, y, 256);
    expect(Array.from(y.subarray(0, 260)).every((b) => b === 0)).toBe(true);
    expect(Array.from(y.subarray(260)).every((b) => b === 0x5a)).toBe(true);
  });

  it("bsums are the int16 sums of each 16 quants, d the float32 1/iscale", () => {
    const x = new Float32Array(256);
    for (let i = 0; i < 256; i++) x[i] = i % 7 === 0 ? -3 : Math.sin(i);
    const y = new Uint8Array(BLOCK_Q8_K_SIZE);
    quantizeRowQ8_KRef(x, y, 256);
    const qs = new Int8Array(y.buffer, 4, 256);
    const dv = new DataView(y.buffer);
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let i = 0; i < 16; i++) sum += qs[16 * j + i]!;
      expect(dv.getInt16(260 + 2 * j, true)).toBe(sum);
    }
    expect(dv.getFloat32(0, true)).toBe(Math.fround(1 / Math.fround(-127 / -3)));
  });

  it("matches ggml's edge output byte for byte when the destination starts as the reference harness's (0xA5)", () => {
    // The golden harness pre-filled its output with 0xA5; ggml does not write bsums of all-zero blocks.
    const s = byName("q8_K");
    const x = readSharedF32("golden", "quants", "inputs", "edge.f32");
    const dst = new Uint8Array((x.length / 256) * BLOCK_Q8_K_SIZE).fill(0xa5);
    const got = quantizeTensor(s, x, 16, 512, { dst, skipFiniteCheck: true });
    const want = readShared("golden", "quants", "q8_K", "edge.q.bin");
    expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
    const deq = dequantizeTensor(s, want, x.length);
    const wantDeq = readShared("golden", "quants", "q8_K", "edge.deq.f32");
    expect(Buffer.from(deq.buffer, deq.byteOffset, deq.byteLength).equals(Buffer.from(wantDeq))).toBe(true);
  });
});

describe("kquants helpers", () => {
  it("nearestInt rounds half to even and follows the C bit trick outside its range", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 3.49, -3.51].map(nearestInt)).toEqual([0, 2, 2, 0, -2, 3, -4]);
    expect(nearestInt(NaN)).toBe(0);
    expect(nearestInt(Infinity)).toBe(-4194304);
    expect(nearestInt(4194303)).toBe(4194303);
  });

  it("GROUP_MAX_EPS is the float 1e-15f", () => {
    expect(GROUP_MAX_EPS).toBe(Math.fround(1e-15));
  });

  it("getScaleMinK4 unpacks the 6-bit scales and mins of q4_K", () => {
    // sub-blocks 0-3: low 6 bits of bytes 0-3 / 4-7; 4-7: nibbles of bytes 8-11 plus the top 2 bits of 0-7
    const q = new Uint8Array([0x41, 0x02, 0x03, 0xc4, 0x05, 0x06, 0x47, 0x08, 0x21, 0x43, 0x65, 0x87]);
    const got = [];
    for (let j = 0; j < 8; j++) {
      const v = getScaleMinK4(j, q, 0);
      got.push([v & 0xff, v >> 8]);
    }
    expect(got).toEqual([
      [1, 5],
      [2, 6],
      [3, 7],
      [4, 8],
      [0x11, 0x02],
      [0x03, 0x04],
      [0x05, 0x16],
      [0x37, 0x08],
    ]);
  });

  it("makeQxQuants and makeQpQuants return 0 and zero levels for an all-zero group", () => {
    const x = new Float32Array(16);
    const L = new Int8Array(16).fill(9);
    expect(makeQxQuants(16, 4, x, 0, L, 0, 1, null)).toBe(0);
    expect(L.every((v) => v === 0)).toBe(true);
    const Lu = new Uint8Array(16).fill(9);
    const tiny = new Float32Array(16).fill(1e-30);
    expect(makeQpQuants(16, 15, tiny, 0, Lu, 0, new Float32Array(16).fill(1), 0)).toBe(0);
    expect(Lu.every((v) => v === 0)).toBe(true);
  });

  it("q4_K stores fp16 super-block scales that dequantize consistently", () => {
    const s = byName("q4_K");
    const q = quantizeTensor(s, testData, 1, N);
    for (let b = 0; b < N / 256; b++) {
      expect(Number.isFinite(readFp16(q, b * 144))).toBe(true);
      expect(readFp16(q, b * 144 + 2)).toBeGreaterThanOrEqual(0);
    }
  });
});
