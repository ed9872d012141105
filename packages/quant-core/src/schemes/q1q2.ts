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

/** Per-block value table of the dequantizers (float32), read as bits to copy values with int32 loads/stores. */
const VAL = new Float32Array(4);
const VAL_BITS = new Int32Array(VAL.buffer);

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
    // clear all bits, then store the sign of each weight directly (no normalization); each byte is built from
    // `x >= 0` as 0/1 (no data-dependent branch) and stored once: the same bits
    for (let j = 0; j < qk; j += 8) {
      const b = xo + j;
      y[yo + 2 + (j >> 3)] =
        +(x[b] >= 0) |
        (+(x[b + 1] >= 0) << 1) |
        (+(x[b + 2] >= 0) << 2) |
        (+(x[b + 3] >= 0) << 3) |
        (+(x[b + 4] >= 0) << 4) |
        (+(x[b + 5] >= 0) << 5) |
        (+(x[b + 6] >= 0) << 6) |
        (+(x[b + 7] >= 0) << 7);
    }
  }
}

/**
 * @see dequantize_row_q1_0 (ggml/src/ggml-quants.c)
 */
export function dequantizeRowQ1_0(x: Uint8Array, y: Float32Array, k: number): void {
  const qk = QK1_0;
  const nb = k / qk;
  const out = new Int32Array(y.buffer, y.byteOffset, k);
  for (let i = 0; i < nb; i++) {
    const xo = i * Q1_0_TYPE_SIZE;
    const yo = i * qk;
    const d = readFp16(x, xo);
    // VAL = [-d, d] as float32 bits: the output is copied as int32 (same bits as storing `bit ? d : -d`)
    VAL[0] = -d;
    VAL[1] = d;
    for (let j = 0; j < qk; j += 8) {
      const b = x[xo + 2 + (j >> 3)];
      const o = yo + j;
      out[o] = VAL_BITS[b & 1];
      out[o + 1] = VAL_BITS[(b >> 1) & 1];
      out[o + 2] = VAL_BITS[(b >> 2) & 1];
      out[o + 3] = VAL_BITS[(b >> 3) & 1];
      out[o + 4] = VAL_BITS[(b >> 4) & 1];
      out[o + 5] = VAL_BITS[(b >> 5) & 1];
      out[o + 6] = VAL_BITS[(b >> 6) & 1];
      out[o + 7] = VAL_BITS[b >> 7];
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
  const bits = new Int32Array(x.buffer, x.byteOffset, k);
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
    if (id < Infinity) {
      // id finite: |v| <= 1 + 2^-23 (or NaN), so MAX(-1, MIN(2, roundf(v))) = roundf(v) = trunc(v ± 0.5), the sign
      // of v being the sign bit of x (id >= 0; v = ±0 gives 0 either way); NaN gives 0 as below. No branch on data.
      for (let j = 0; j < qk; j += 4) {
        const b = xo + j;
        const q0 = (Math.fround(x[b] * id) + ((bits[b] >> 31) | 1) * 0.5) | 0;
        const q1 = (Math.fround(x[b + 1] * id) + ((bits[b + 1] >> 31) | 1) * 0.5) | 0;
        const q2 = (Math.fround(x[b + 2] * id) + ((bits[b + 2] >> 31) | 1) * 0.5) | 0;
        const q3 = (Math.fround(x[b + 3] * id) + ((bits[b + 3] >> 31) | 1) * 0.5) | 0;
        y[yo + 2 + (j >> 2)] = (q0 + 1) | ((q1 + 1) << 2) | ((q2 + 1) << 4) | ((q3 + 1) << 6);
      }
      continue;
    }
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
  const out = new Int32Array(y.buffer, y.byteOffset, k);
  for (let i = 0; i < nb; i++) {
    const xo = i * Q2_0_TYPE_SIZE;
    const yo = i * qk;
    const d = readFp16(x, xo);
    for (let q = 0; q < 4; ++q) VAL[q] = (q - 1) * d;
    for (let j = 0; j < qk; j += 4) {
      const b = x[xo + 2 + (j >> 2)];
      const o = yo + j;
      out[o] = VAL_BITS[b & 3];
      out[o + 1] = VAL_BITS[(b >> 2) & 3];
      out[o + 2] = VAL_BITS[(b >> 4) & 3];
      out[o + 3] = VAL_BITS[b >> 6];
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
