/**
 * Ternary types for BitNet b1.58 / TriLM weights: every value is -1, 0 or +1 times one fp16 scale per 256.
 * TQ1_0 packs 5 trits per byte (1.6875 bits per weight), TQ2_0 stores 2 bits per trit (2.0625 bits per weight).
 * ggml ignores the importance matrix for both.
 *
 * @see quantize_row_tq1_0_ref, quantize_row_tq2_0_ref, dequantize_row_tq1_0, dequantize_row_tq2_0,
 *      quantize_tq1_0, quantize_tq2_0 (ggml/src/ggml-quants.c)
 */
import { GGMLQuantizationType, QK_K } from "@quantlab/gguf";
import { defineScheme, type QuantScheme } from "../scheme.js";
import { readFp16, writeFp16 } from "../math/fp16.js";
import { roundf } from "../math/round.js";

/**
 * block_tq1_0 (ggml/src/ggml-common.h): `uint8_t qs[(QK_K - 4*QK_K/64)/5]; uint8_t qh[QK_K/64]; ggml_half d;`
 */
const TQ1_0_QS = (QK_K - (4 * QK_K) / 64) / 5; // 48
const TQ1_0_QH = QK_K / 64; // 4
const TQ1_0_TYPE_SIZE = TQ1_0_QS + TQ1_0_QH + 2; // 54
/** block_tq2_0: `uint8_t qs[QK_K/4]; ggml_half d;` */
const TQ2_0_QS = QK_K / 4; // 64
const TQ2_0_TYPE_SIZE = TQ2_0_QS + 2; // 66

/**
 * `(int)lroundf(v)` as glibc on x86-64 computes it. `v` is in [-1, 1] for real data; a non-finite `v`
 * (when `1/amax` overflows to inf) makes lroundf return LONG_MIN, whose low 32 bits are 0.
 */
function lroundfInt(v: number): number {
  if (!(Math.abs(v) < 2147483648)) return 0;
  return roundf(v);
}

/**
 * `lroundf(v) + 1` for the trit code: the common cases (|v| < 1.5) inline, the rest through {@link lroundfInt}
 * (NaN gives 1, as lroundf's LONG_MIN does).
 */
function tritCode(v: number): number {
  if (v >= 0.5) return v < 1.5 ? 2 : lroundfInt(v) + 1;
  if (v <= -0.5) return v > -1.5 ? 0 : lroundfInt(v) + 1;
  return 1;
}

/**
 * @see quantize_row_tq1_0_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowTq1_0Ref(src: Float32Array, y: Uint8Array, k: number): void {
  const nb = k / QK_K;
  let x = 0; // read offset into src, advanced as the C advances its pointer
  for (let i = 0; i < nb; i++) {
    const yo = i * TQ1_0_TYPE_SIZE;
    let amax = 0; // absolute max
    for (let j = 0; j < QK_K; j++) {
      const v = src[x + j];
      const av = Math.abs(v);
      amax = amax > av ? amax : av; // MAX(amax, fabsf(v))
    }
    const d = amax;
    const id = d ? Math.fround(1 / d) : 0;
    writeFp16(y, yo + TQ1_0_QS + TQ1_0_QH, d);

    // 5 elements per byte, along 32 bytes
    for (let j = 0; j < TQ1_0_QS - (TQ1_0_QS % 32); j += 32) {
      for (let m = 0; m < 32; ++m) {
        let q = 0;
        for (let n = 0; n < 5; ++n) {
          const xi = tritCode(Math.fround(src[x + m + n * 32] * id)); // -1, 0, 1 -> 0, 1, 2
          q = (q * 3 + xi) & 0xff;
        }
        // ceiling division (243 == pow(3, 5))
        q = Math.trunc((q * 256 + (243 - 1)) / 243) & 0xff;
        y[yo + j + m] = q;
      }
      x += 5 * 32;
    }
    // along 16 bytes
    for (let j = TQ1_0_QS - (TQ1_0_QS % 32); j < TQ1_0_QS; j += 16) {
      for (let m = 0; m < 16; ++m) {
        let q = 0;
        for (let n = 0; n < 5; ++n) {
          const xi = tritCode(Math.fround(src[x + m + n * 16] * id));
          q = (q * 3 + xi) & 0xff;
        }
        q = Math.trunc((q * 256 + (243 - 1)) / 243) & 0xff;
        y[yo + j + m] = q;
      }
      x += 5 * 16;
    }
    // 4 elements per byte
    for (let j = 0; j < TQ1_0_QH; ++j) {
      let q = 0;
      for (let m = 0; m < 4; ++m) {
        const xi = tritCode(Math.fround(src[x + j + m * TQ1_0_QH] * id));
        q = (q * 3 + xi) & 0xff;
      }
      // shift the first value to the most significant trit
      q = (q * 3) & 0xff;
      q = Math.trunc((q * 256 + (243 - 1)) / 243) & 0xff;
      y[yo + TQ1_0_QS + j] = q;
    }
    x += 4 * TQ1_0_QH;
  }
}

/** `pow3` of dequantize_row_tq1_0. */
const POW3 = Uint8Array.from([1, 3, 9, 27, 81, 243]);

/**
 * TRIT[5·b + n] = the n-th trit of byte b minus 1, as dequantize_row_tq1_0 extracts it:
 * `q = (uint8_t)(b * pow3[n]); xi = ((uint16_t)q * 3) >> 8; xi - 1`.
 */
const TRIT = new Int8Array(256 * 5);
for (let b = 0; b < 256; b++) {
  for (let n = 0; n < 5; n++) TRIT[5 * b + n] = (((b * POW3[n]) & 0xff) * 3 >> 8) - 1;
}

/**
 * @see dequantize_row_tq1_0 (ggml/src/ggml-quants.c)
 */
export function dequantizeRowTq1_0(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK_K;
  let yo = 0;
  for (let i = 0; i < nb; ++i) {
    const xo = i * TQ1_0_TYPE_SIZE;
    const d = readFp16(x, xo + TQ1_0_QS + TQ1_0_QH);
    for (let j = 0; j < TQ1_0_QS - (TQ1_0_QS % 32); j += 32) {
      for (let n = 0; n < 5; ++n) {
        for (let m = 0; m < 32; ++m) y[yo++] = TRIT[5 * x[xo + j + m] + n] * d;
      }
    }
    for (let j = TQ1_0_QS - (TQ1_0_QS % 32); j < TQ1_0_QS; j += 16) {
      for (let n = 0; n < 5; ++n) {
        for (let m = 0; m < 16; ++m) y[yo++] = TRIT[5 * x[xo + j + m] + n] * d;
      }
    }
    for (let n = 0; n < 4; ++n) {
      for (let j = 0; j < TQ1_0_QH; ++j) y[yo++] = TRIT[5 * x[xo + TQ1_0_QS + j] + n] * d;
    }
  }
}

/**
 * `ggml_quantize_chunk` path for TQ1_0: the importance is ignored.
 * @see quantize_tq1_0 (ggml/src/ggml-quants.c)
 */
export function quantizeTq1_0(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, _importance: Float32Array | null): number {
  quantizeRowTq1_0Ref(src, dst, nrows * nPerRow);
  return nrows * (nPerRow / QK_K) * TQ1_0_TYPE_SIZE;
}

/**
 * @see quantize_row_tq2_0_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowTq2_0Ref(src: Float32Array, y: Uint8Array, k: number): void {
  const nb = k / QK_K;
  let x = 0;
  for (let i = 0; i < nb; i++) {
    const yo = i * TQ2_0_TYPE_SIZE;
    let amax = 0; // absolute max
    for (let j = 0; j < QK_K; j++) {
      const av = Math.abs(src[x + j]);
      amax = amax > av ? amax : av;
    }
    const d = amax;
    const id = d ? Math.fround(1 / d) : 0;
    writeFp16(y, yo + TQ2_0_QS, d);
    for (let j = 0; j < TQ2_0_QS; j += 32) {
      for (let m = 0; m < 32; ++m) {
        let q = 0;
        for (let n = 0; n < 4; ++n) {
          // -1, 0, 1 -> 0, 1, 2
          const xi = tritCode(Math.fround(src[x + m + n * 32] * id));
          q += (xi & 3) << (2 * n);
        }
        y[yo + j + m] = q & 0xff;
      }
      x += 4 * 32;
    }
  }
}

/**
 * @see dequantize_row_tq2_0 (ggml/src/ggml-quants.c)
 */
export function dequantizeRowTq2_0(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK_K;
  let yo = 0;
  for (let i = 0; i < nb; ++i) {
    const xo = i * TQ2_0_TYPE_SIZE;
    const d = readFp16(x, xo + TQ2_0_QS);
    for (let j = 0; j < TQ2_0_QS; j += 32) {
      for (let l = 0; l < 4; ++l) {
        for (let m = 0; m < 32; ++m) {
          const q = (x[xo + j + m] >> (l * 2)) & 3;
          y[yo++] = (q - 1) * d;
        }
      }
    }
  }
}

/**
 * `ggml_quantize_chunk` path for TQ2_0: the importance is ignored.
 * @see quantize_tq2_0 (ggml/src/ggml-quants.c)
 */
export function quantizeTq2_0(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, _importance: Float32Array | null): number {
  quantizeRowTq2_0Ref(src, dst, nrows * nPerRow);
  return nrows * (nPerRow / QK_K) * TQ2_0_TYPE_SIZE;
}

/** Built-in schemes of this family. */
export const ternarySchemes: readonly QuantScheme[] = [
  defineScheme({
    name: "tq1_0",
    ggmlType: GGMLQuantizationType.TQ1_0,
    description: "ternary {-1, 0, 1} x fp16 scale per 256, 5 trits per byte (1.6875 bits per weight)",
    layout: {
      blockSize: QK_K,
      typeSize: TQ1_0_TYPE_SIZE,
      fields: [
        { name: "qs", type: "u8", count: TQ1_0_QS, doc: "5 trits per byte (base 3, scaled to 0..255)" },
        { name: "qh", type: "u8", count: TQ1_0_QH, doc: "4 trits per byte" },
        { name: "d", type: "f16", count: 1, doc: "scale (block absmax)" },
      ],
    },
    needs: { importance: "unused" },
    quantizeRowRef: quantizeRowTq1_0Ref,
    dequantizeRow: dequantizeRowTq1_0,
    quantize: (src, dst, nRows, nPerRow, options) => quantizeTq1_0(src, dst, nRows, nPerRow, options?.importance ?? null),
  }),
  defineScheme({
    name: "tq2_0",
    ggmlType: GGMLQuantizationType.TQ2_0,
    description: "ternary {-1, 0, 1} x fp16 scale per 256, 2 bits per trit (2.0625 bits per weight)",
    layout: {
      blockSize: QK_K,
      typeSize: TQ2_0_TYPE_SIZE,
      fields: [
        { name: "qs", type: "u8", count: TQ2_0_QS, doc: "2-bit codes (trit + 1)" },
        { name: "d", type: "f16", count: 1, doc: "scale (block absmax)" },
      ],
    },
    needs: { importance: "unused" },
    quantizeRowRef: quantizeRowTq2_0Ref,
    dequantizeRow: dequantizeRowTq2_0,
    quantize: (src, dst, nRows, nPerRow, options) => quantizeTq2_0(src, dst, nRows, nPerRow, options?.importance ?? null),
  }),
];
