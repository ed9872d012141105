/**
 * The SchemeTester on a plugin-style experimental scheme (ggmlType null), as a plugin author would use it,
 * plus the bound table. The built-in schemes run through it in packages/quant-core/src/scheme-tester.test.ts.
 */
import { describe, expect, it } from "vitest";
import { defineScheme } from "@quantlab/quant-core";
import { defaultRmseBound, describeSchemeConformance } from "./scheme-tester.js";

/** A toy 8-bit absmax scheme over blocks of 16: { f32 d; i8 qs[16] } = 20 bytes. */
const toy = defineScheme({
  name: "toy_q8_16",
  ggmlType: null,
  description: "test fixture",
  layout: { blockSize: 16, typeSize: 20, fields: [{ name: "d", type: "f32", count: 1 }, { name: "qs", type: "i8", count: 16 }] },
  needs: { importance: "unused" },
  quantizeRowRef(src, dst, n) {
    const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
    for (let b = 0; b < n / 16; b++) {
      let amax = 0;
      for (let j = 0; j < 16; j++) amax = Math.max(amax, Math.abs(src[b * 16 + j]!));
      const d = amax / 127;
      view.setFloat32(b * 20, d, true);
      for (let j = 0; j < 16; j++) view.setInt8(b * 20 + 4 + j, d ? Math.round(src[b * 16 + j]! / d) : 0);
    }
  },
  dequantizeRow(src, dst, n) {
    const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
    for (let b = 0; b < n / 16; b++) {
      const d = view.getFloat32(b * 20, true);
      for (let j = 0; j < 16; j++) dst[b * 16 + j] = view.getInt8(b * 20 + 4 + j) * d;
    }
  },
  quantize(src, dst, nRows, nPerRow) {
    this.quantizeRowRef(src, dst, nRows * nPerRow);
    return ((nRows * nPerRow) / 16) * 20;
  },
});

// 16 ones: d = 1/127 as float32 (0x3c010204), every q = 127
const onesExpected = new Uint8Array(20);
new DataView(onesExpected.buffer).setFloat32(0, 1 / 127, true);
onesExpected.fill(127, 4);

describeSchemeConformance(toy, {
  golden: [{ name: "ones", input: new Float32Array(16).fill(1), nRows: 1, nPerRow: 16, expected: onesExpected }],
});

describe("defaultRmseBound", () => {
  it("uses llama.cpp's thresholds for ggml types and the bit width otherwise", () => {
    const layout = (blockSize: number, typeSize: number) => ({ blockSize, typeSize, fields: [] });
    expect(defaultRmseBound({ name: "q2_K", ggmlType: 10, layout: layout(256, 84) })).toBe(0.0075);
    expect(defaultRmseBound({ name: "q4_0", ggmlType: 2, layout: layout(32, 18) })).toBe(0.002);
    expect(defaultRmseBound({ name: "x", ggmlType: null, layout: layout(16, 20) })).toBe(0.002);
    expect(defaultRmseBound({ name: "x", ggmlType: null, layout: layout(256, 50) })).toBe(0.025);
  });
});
