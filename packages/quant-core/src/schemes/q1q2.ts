/**
 * Q1_0 and Q2_0: the 1-bit and 2-bit "plain" types of 2026 ggml.
 *
 * - Q1_0: 128 values as sign bits, scale = mean |x| (1.125 bits per weight); bit 1 → +d, bit 0 → -d.
 * - Q2_0: 64 values as 2-bit codes q with value (q - 1)·d, d = block absmax (2.25 bits per weight).
 *
 * ggml ignores the importance matrix for both (with one, `quantize_<type>` goes row by row through the
 * same `_ref` function, which gives the same bytes).
 *
 * @see quantize_row_q1_0_ref, dequantize_row_q1_0, quantize_row_q2_0_ref, dequantize_row_q2_0,
 *      quantize_q1_0, quantize_q2_0 (ggml/src/ggml-quants.c)
 */
import { GGMLQuantizationType } from "@quantlab/gguf";
import { defineScheme, type QuantScheme } from "../scheme.js";
import { readFp16, writeFp16 } from "../math/fp16.js";
import { roundf } from "../math/round.js";

/** `QK1_0` (ggml/src/ggml-common.h); block_q1_0 = `ggml_half d; uint8_t qs[QK1_0/8];` */
export const QK1_0 = 128;
const Q1_0_TYPE_SIZE = 2 + QK1_0 / 8; // 18
/** `QK2_0`; block_q2_0 = `ggml_half d; uint8_t qs[QK2_0/4];` */
export const QK2_0 = 64;
const Q2_0_TYPE_SIZE = 2 + QK2_0 / 4; // 18

/**
 * @see quantize_row_q1_0_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ1_0Ref(x: Float32Array, y: Uint8Array, k: number): void {
  const qk = QK1_0;
  const nb = k / qk;
  for (let i = 0; i < nb; i++) {
    const xo = i * qk;
    const yo = i * Q1_0_TYPE_SIZE;
    let sumAbs = 0;
    for (let j = 0; j < qk; j++) sumAbs = Math.fround(sumAbs + Math.abs(x[xo + j]));
    const d = Math.fround(sumAbs / qk);
    writeFp16(y, yo, d);
    // clear all bits, then store the sign of each weight directly (no normalization)
    for (let j = 0; j < qk / 8; ++j) y[yo + 2 + j] = 0;
    for (let j = 0; j < qk; ++j) {
      if (x[xo + j] >= 0) y[yo + 2 + (j >> 3)] |= 1 << (j & 7);
    }
  }
}

/**
 * @see dequantize_row_q1_0 (ggml/src/ggml-quants.c)
 */
export function dequantizeRowQ1_0(x: Uint8Array, y: Float32Array, k: number): void {
  const qk = QK1_0;
  const nb = k / qk;
  for (let i = 0; i < nb; i++) {
    const xo = i * Q1_0_TYPE_SIZE;
    const yo = i * qk;
    const d = readFp16(x, xo);
    const negD = -d;
    for (let j = 0; j < qk; ++j) {
      const bit = (x[xo + 2 + (j >> 3)] >> (j & 7)) & 1;
      y[yo + j] = bit ? d : negD;
    }
  }
}

/**
 * `ggml_quantize_chunk` path for Q1_0: row by row through the reference function (importance ignored).
 * @see quantize_q1_0 (ggml/src/ggml-quants.c)
 */
export function quantizeQ1_0(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, _importance: Float32Array | null): number {
  const rowSize = (nPerRow / QK1_0) * Q1_0_TYPE_SIZE;
  for (let row = 0; row < nrows; ++row) {
    quantizeRowQ1_0Ref(src.subarray(row * nPerRow, (row + 1) * nPerRow), dst.subarray(row * rowSize, (row + 1) * rowSize), nPerRow);
  }
  return nrows * rowSize;
}

/**
 * Codes are `clamp(roundf(x·id), -1, 2) + 1` with d the block absmax and `id = d ? 1/d : 0`, 4 codes per byte,
 * low bits first. (Checked byte for byte against ggml d99724f's output on all golden inputs.)
 * @see quantize_row_q2_0_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ2_0Ref(x: Float32Array, y: Uint8Array, k: number): void {
  const qk = QK2_0;
  const nb = k / qk;
  for (let i = 0; i < nb; i++) {
    const xo = i * qk;
    const yo = i * Q2_0_TYPE_SIZE;
    let amax = 0; // absolute max
    for (let j = 0; j < qk; j++) {
      const av = Math.abs(x[xo + j]);
      if (amax < av) amax = av;
    }
    const d = amax;
    const id = d ? Math.fround(1 / d) : 0;
    writeFp16(y, yo, d);
    for (let j = 0; j < qk / 4; ++j) y[yo + 2 + j] = 0;
    for (let j = 0; j < qk; ++j) {
      // MAX(-1, MIN(2, roundf(x*id))), with the common |v| < 1.5 cases inline
      const v = Math.fround(x[xo + j] * id);
      let q = v >= 0.5 ? (v < 1.5 ? 1 : roundf(v)) : v <= -0.5 ? -1 : 0;
      q = q < -1 ? -1 : q > 2 ? 2 : q;
      y[yo + 2 + (j >> 2)] |= (q + 1) << (2 * (j & 3));
    }
  }
}

/**
 * @see dequantize_row_q2_0 (ggml/src/ggml-quants.c)
 */
export function dequantizeRowQ2_0(x: Uint8Array, y: Float32Array, k: number): void {
  const qk = QK2_0;
  const nb = k / qk;
  for (let i = 0; i < nb; i++) {
    const xo = i * Q2_0_TYPE_SIZE;
    const yo = i * qk;
    const d = readFp16(x, xo);
    for (let j = 0; j < qk; ++j) {
      const q = (x[xo + 2 + (j >> 2)] >> (2 * (j & 3))) & 0x03;
      y[yo + j] = (q - 1) * d;
    }
  }
}

/**
 * `ggml_quantize_chunk` path for Q2_0: row by row through the reference function (importance ignored).
 * @see quantize_q2_0 (ggml/src/ggml-quants.c)
 */
export function quantizeQ2_0(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, _importance: Float32Array | null): number {
  const rowSize = (nPerRow / QK2_0) * Q2_0_TYPE_SIZE;
  for (let row = 0; row < nrows; ++row) {
    quantizeRowQ2_0Ref(src.subarray(row * nPerRow, (row + 1) * nPerRow), dst.subarray(row * rowSize, (row + 1) * rowSize), nPerRow);
  }
  return nrows * rowSize;
}

/** Built-in schemes of this family. */
export const q1q2Schemes: readonly QuantScheme[] = [
  defineScheme({
    name: "q1_0",
    ggmlType: GGMLQuantizationType.Q1_0,
    description: "1-bit: sign bits x fp16 mean |x| per 128 (1.125 bits per weight)",
    layout: {
      blockSize: QK1_0,
      typeSize: Q1_0_TYPE_SIZE,
      fields: [
        { name: "d", type: "f16", count: 1, doc: "scale (mean |x| of the block)" },
        { name: "qs", type: "u8", count: QK1_0 / 8, doc: "sign bits, 1 = +d, 0 = -d, LSB first" },
      ],
    },
    needs: { importance: "unused" },
    quantizeRowRef: quantizeRowQ1_0Ref,
    dequantizeRow: dequantizeRowQ1_0,
    quantize: (src, dst, nRows, nPerRow, options) => quantizeQ1_0(src, dst, nRows, nPerRow, options?.importance ?? null),
  }),
  defineScheme({
    name: "q2_0",
    ggmlType: GGMLQuantizationType.Q2_0,
    description: "2-bit: codes {-1, 0, 1, 2} x fp16 absmax per 64 (2.25 bits per weight)",
    layout: {
      blockSize: QK2_0,
      typeSize: Q2_0_TYPE_SIZE,
      fields: [
        { name: "d", type: "f16", count: 1, doc: "scale (block absmax)" },
        { name: "qs", type: "u8", count: QK2_0 / 4, doc: "2-bit codes (value + 1), low bits first" },
      ],
    },
    needs: { importance: "unused" },
    quantizeRowRef: quantizeRowQ2_0Ref,
    dequantizeRow: dequantizeRowQ2_0,
    quantize: (src, dst, nRows, nPerRow, options) => quantizeQ2_0(src, dst, nRows, nPerRow, options?.importance ?? null),
  }),
];
