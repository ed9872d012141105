/**
 * Ternary types for BitNet b1.58 / TriLM weights: every value is -1, 0 or +1 times one fp16 scale per 256.
 * TQ1_0 packs 5 trits per byte (1.6875 bits per weight), TQ2_0 stores 2 bits per trit (2.0625 bits per weight).
 * ggml ignores the importance matrix for both.
 *
 * @see quantize_row_tq1_0_ref, quantize_row_tq2_0_ref, dequantize_row_tq1_0, dequantize_row_tq2_0,
 *      quantize_tq1_0, quantize_tq2_0 (ggml/src/ggml-quants.c)
 */
import { GGMLQuantizationType, QK_K } from "@quantlab/gguf";
import { wasmDequantizer } from "../wasm/quants.js";
import { defineScheme, type QuantScheme } from "../scheme.js";
import { readFp16, writeFp16 } from "../math/fp16.js";

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
 * `lroundf(v) + 1` where `v = x·id` and `w` = the float32 bits of `x`, without a data-dependent branch:
 * `id >= 0`, so the sign of `v` is the sign bit of `x` (v = ±0 gives 1 either way), and `roundf(v) = trunc(v ± 0.5)`
 * (exact in double for a float32 `v`). `|v| <= 1 + 2^-23` when `id` is finite (`id` = fr(1/amax)), so `| 0` is the
 * truncation; ±inf and NaN give 0 + 1 = 1, as glibc's lroundf on x86-64 does (LONG_MIN, low 32 bits 0).
 */
function tritOf(v: number, w: number): number {
  return ((v + ((w >> 31) | 1) * 0.5) | 0) + 1;
}

/** `(uint8_t)((q*256 + (243 - 1)) / 243)` of quantize_row_tq1_0_ref for every byte q (the C's ceiling division, as a table). */
const CEIL_DIV_243 = Uint8Array.from({ length: 256 }, (_, q) => Math.trunc((q * 256 + (243 - 1)) / 243) & 0xff);

/**
 * @see quantize_row_tq1_0_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowTq1_0Ref(src: Float32Array, y: Uint8Array, k: number): void {
  const nb = k / QK_K;
  const bits = new Int32Array(src.buffer, src.byteOffset, k);
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
          const xi = tritOf(Math.fround(src[x + m + n * 32] * id), bits[x + m + n * 32]); // -1, 0, 1 -> 0, 1, 2
          q = (q * 3 + xi) & 0xff;
        }
        // ceiling division (243 == pow(3, 5))
        q = CEIL_DIV_243[q];
        y[yo + j + m] = q;
      }
      x += 5 * 32;
    }
    // along 16 bytes
    for (let j = TQ1_0_QS - (TQ1_0_QS % 32); j < TQ1_0_QS; j += 16) {
      for (let m = 0; m < 16; ++m) {
        let q = 0;
        for (let n = 0; n < 5; ++n) {
          const xi = tritOf(Math.fround(src[x + m + n * 16] * id), bits[x + m + n * 16]);
          q = (q * 3 + xi) & 0xff;
        }
        q = CEIL_DIV_243[q];
        y[yo + j + m] = q;
      }
      x += 5 * 16;
    }
    // 4 elements per byte
    for (let j = 0; j < TQ1_0_QH; ++j) {
      let q = 0;
      for (let m = 0; m < 4; ++m) {
        const xi = tritOf(Math.fround(src[x + j + m * TQ1_0_QH] * id), bits[x + j + m * TQ1_0_QH]);
        q = (q * 3 + xi) & 0xff;
      }
      // shift the first value to the most significant trit
      q = (q * 3) & 0xff;
      q = CEIL_DIV_243[q];
      y[yo + TQ1_0_QS + j] = q;
    }
    x += 4 * TQ1_0_QH;
  }
}

/** `pow3` of dequantize_row_tq1_0. */
const POW3 = Uint8Array.from([1, 3, 9, 27, 81, 243]);

/**
 * TRITS[b]: the five trits (0, 1, 2) of byte b, trit n in bits 2n..2n+1, as dequantize_row_tq1_0 extracts them:
 * `q = (uint8_t)(b * pow3[n]); xi = ((uint16_t)q * 3) >> 8`. The value is `(xi - 1) * d`. One table load per byte.
 */
const TRITS = new Uint16Array(256);
for (let b = 0; b < 256; b++) {
  for (let n = 0; n < 5; n++) TRITS[b] |= ((((b * POW3[n]) & 0xff) * 3) >> 8) << (2 * n);
}

/**
 * Per-block value table: `VAL[c] = (c - 1) * d` for c = 0..3, computed with the C expression and stored as float32,
 * read back as bits (VAL_BITS) so the output is written with int32 copies: the same bits as storing the products.
 */
const VAL = new Float32Array(4);
const VAL_BITS = new Int32Array(VAL.buffer);

/**
 * @see dequantize_row_tq1_0 (ggml/src/ggml-quants.c). Same output order as the C loops (n outer, m inner), written
 * byte by byte: byte m of a 32-byte group fills y[m + 32n] for its 5 trits.
 */
export function dequantizeRowTq1_0(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK_K;
  const out = new Int32Array(y.buffer, y.byteOffset, k);
  const v = VAL_BITS;
  for (let i = 0, xo = 0, yo = 0; i < nb; ++i, xo += TQ1_0_TYPE_SIZE, yo += QK_K) {
    const d = readFp16(x, xo + TQ1_0_QS + TQ1_0_QH);
    VAL[0] = -1 * d;
    VAL[1] = 0 * d;
    VAL[2] = 1 * d;
    // 32 bytes × 5 trits (TQ1_0_QS - TQ1_0_QS % 32 = 32), then 16 bytes × 5 trits
    for (let m = 0; m < 32; ++m) {
      const t = TRITS[x[xo + m]];
      const o = yo + m;
      out[o] = v[t & 3];
      out[o + 32] = v[(t >> 2) & 3];
      out[o + 64] = v[(t >> 4) & 3];
      out[o + 96] = v[(t >> 6) & 3];
      out[o + 128] = v[t >> 8];
    }
    for (let m = 0; m < 16; ++m) {
      const t = TRITS[x[xo + 32 + m]];
      const o = yo + 160 + m;
      out[o] = v[t & 3];
      out[o + 16] = v[(t >> 2) & 3];
      out[o + 32] = v[(t >> 4) & 3];
      out[o + 48] = v[(t >> 6) & 3];
      out[o + 64] = v[t >> 8];
    }
    // qh: 4 bytes × 4 trits, y[240 + 4n + j]
    for (let j = 0; j < TQ1_0_QH; ++j) {
      const t = TRITS[x[xo + TQ1_0_QS + j]];
      const o = yo + 240 + j;
      out[o] = v[t & 3];
      out[o + 4] = v[(t >> 2) & 3];
      out[o + 8] = v[(t >> 4) & 3];
      out[o + 12] = v[(t >> 6) & 3];
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
  const bits = new Int32Array(src.buffer, src.byteOffset, k);
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
          const xi = tritOf(Math.fround(src[x + m + n * 32] * id), bits[x + m + n * 32]);
          q += (xi & 3) << (2 * n);
        }
        y[yo + j + m] = q & 0xff;
      }
      x += 4 * 32;
    }
  }
}

/**
 * @see dequantize_row_tq2_0 (ggml/src/ggml-quants.c). Output position of byte m of group j, crumb l:
 * `j*4 + l*32 + m`, as the C's (j, l, m) loops write it; values from the per-block table `(q - 1) * d`.
 */
export function dequantizeRowTq2_0(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK_K;
  const out = new Int32Array(y.buffer, y.byteOffset, k);
  const v = VAL_BITS;
  for (let i = 0, xo = 0, yo = 0; i < nb; ++i, xo += TQ2_0_TYPE_SIZE, yo += QK_K) {
    const d = readFp16(x, xo + TQ2_0_QS);
    for (let q = 0; q < 4; ++q) VAL[q] = (q - 1) * d;
    for (let j = 0; j < TQ2_0_QS; j += 32) {
      for (let m = 0; m < 32; ++m) {
        const b = x[xo + j + m];
        const o = yo + 4 * j + m;
        out[o] = v[b & 3];
        out[o + 32] = v[(b >> 2) & 3];
        out[o + 64] = v[(b >> 4) & 3];
        out[o + 96] = v[b >> 6];
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
    dequantizeRow: wasmDequantizer("dq_tq1_0", QK_K, TQ1_0_TYPE_SIZE, dequantizeRowTq1_0),
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
    dequantizeRow: wasmDequantizer("dq_tq2_0", QK_K, TQ2_0_TYPE_SIZE, dequantizeRowTq2_0),
    quantize: (src, dst, nRows, nPerRow, options) => quantizeTq2_0(src, dst, nRows, nPerRow, options?.importance ?? null),
  }),
];
