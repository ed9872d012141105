/**
 * The K-quants: ggml's 256-value super-block types q2_K, q3_K, q4_K, q5_K, q6_K and q8_K, byte-identical to
 * ggml d99724f (ggml/src/ggml-quants.c). Each type has the reference quantizer (`quantize_row_<t>_ref`), the
 * importance-weighted one (`quantize_row_<t>_impl`, used by `quantize_<t>` when an imatrix is given), the
 * dequantizer and `quantize_<t>`. q8_K is an intermediate format of ggml's dot products: it has only a reference
 * quantizer and a dequantizer.
 *
 * Block layouts (ggml-common.h), byte offsets in brackets:
 * - block_q2_K (84):  scales[16] [0], qs[64] [16], d [80], dmin [82]
 * - block_q3_K (110): hmask[32] [0], qs[64] [32], scales[12] [96], d [108]
 * - block_q4_K (144): d [0], dmin [2], scales[12] [4], qs[128] [16]
 * - block_q5_K (176): d [0], dmin [2], scales[12] [4], qh[32] [16], qs[128] [48]
 * - block_q6_K (210): ql[128] [0], qh[64] [128], scales[16] int8 [192], d [208]
 * - block_q8_K (292): d f32 [0], qs[256] int8 [4], bsums[16] int16 [260]
 *
 * Float semantics follow kquants-helpers.ts: every C float operation is a `Math.fround`.
 */
import { GGMLQuantizationType } from "@quantlab/gguf";
import { fp32FromBits, fp32ToBits, readFp16, writeFp16 } from "../math/fp16.js";
import { defineScheme, type QuantScheme } from "../scheme.js";
import {
  GROUP_MAX_EPS,
  QK_K,
  getScaleMinK4,
  makeQ3Quants,
  makeQkx2Quants,
  makeQkx3Quants,
  makeQpQuants,
  makeQxQuants,
  nearestInt,
} from "./kquants-helpers.js";
import { runWasmRows, wasmDequantizer, wasmQuantizer } from "../wasm/quants.js";

const fr = Math.fround;

/** 1.5·2^52: `(t + MAGIC) - MAGIC` rounds a double to an integer, half to even, for |t| < 2^51. */
const MAGIC = 6755399441055744;

/** Float constants of the C source (`0.1f`, `-0.9f`, `0.05f`). */
const F_0_1 = fr(0.1);
const F_M0_9 = fr(-0.9);
const F_0_05 = fr(0.05);

export const BLOCK_Q2_K_SIZE = 84;
export const BLOCK_Q3_K_SIZE = 110;
export const BLOCK_Q4_K_SIZE = 144;
export const BLOCK_Q5_K_SIZE = 176;
export const BLOCK_Q6_K_SIZE = 210;
export const BLOCK_Q8_K_SIZE = 292;

// Module-level scratch (the C stack arrays), sized for one super-block. Not re-entrant, like every
// single-threaded caller here.
const L_U8 = new Uint8Array(QK_K);
const L_I8 = new Int8Array(QK_K);
const LAUX = new Uint8Array(32);
const WEIGHTS = new Float32Array(32);
const MINS = new Float32Array(QK_K / 16);
const SCALES = new Float32Array(QK_K / 16);
const SW = new Float32Array(QK_K / 16);
const LS_U8 = new Uint8Array(QK_K / 16);
const LM_U8 = new Uint8Array(QK_K / 16);
const LS_I8 = new Int8Array(QK_K / 16);

/** One super-block of input values, and of q8_K quants (int8, and the same bytes as uint8). */
const XB = new Float64Array(QK_K);
const Q8B = new Int8Array(QK_K);
const Q8B_U8 = new Uint8Array(Q8B.buffer);

/** Table of the possible outputs of one dequantized sub-block (up to 64), and its bits. */
const DQ_F32 = new Float32Array(64);
const DQ_U32 = new Uint32Array(DQ_F32.buffer);

/** The bits of a float32 output row: dequantizers copy table entries by bits, not through a double. */
function u32View(y: Float32Array, k: number): Uint32Array {
  return new Uint32Array(y.buffer, y.byteOffset, k);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A little-endian 32-bit view of the bytes `x` when they start 4-byte aligned, else null. */
function u32ViewOf(x: Uint8Array): Uint32Array | null {
  return LITTLE_ENDIAN && (x.byteOffset & 3) === 0 ? new Uint32Array(x.buffer, x.byteOffset, x.length >> 2) : null;
}

/**
 * nearest_int(t) for a float32 t, as an int32: for |t| <= 4194303 the double `(t + MAGIC) - MAGIC` rounds half to
 * even exactly as the C float trick does; outside, math/round.ts's bit-exact version.
 */
function nint(t: number): number {
  return (t >= -4194303 && t <= 4194303 ? t + MAGIC - MAGIC : nearestInt(t)) | 0;
}

/** C `(int8_t)v` for an int. */
function toInt8(v: number): number {
  return (v << 24) >> 24;
}

// ---------------------------------------------------------------------------------------------------------
// shared packing steps

/** Packs 2-bit levels `L[0..255]` into 64 bytes at `y[qo..]` (q2_K and q3_K `qs`). */
function pack2Bit(L: Uint8Array | Int8Array, y: Uint8Array, qo: number): void {
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; ++l) {
      y[qo + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
    }
  }
}

/** Writes the 6-bit scale `ls` and min `lm` of sub-block j into the 12 packed bytes at `y[so..]` (q4_K/q5_K). */
function packScaleMinK4(j: number, ls: number, lm: number, y: Uint8Array, so: number): void {
  if (j < 4) {
    y[so + j] = ls;
    y[so + j + 4] = lm;
  } else {
    y[so + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
    y[so + j - 4] |= (ls >> 4) << 6;
    y[so + j] |= (lm >> 4) << 6;
  }
}

/** Sets the 6-bit q3_K scale `l` (0..63) of sub-block j in the 12 bytes at `y[so..]` (zeroed beforehand). */
function packScaleQ3(j: number, l: number, y: Uint8Array, so: number): void {
  if (j < 8) {
    y[so + j] = l & 0xf;
  } else {
    y[so + j - 8] |= (l & 0xf) << 4;
  }
  l >>= 4;
  y[so + (j % 4) + 8] |= l << (2 * (j >> 2));
}

/** The signed q3_K scale of sub-block j (-32..31) from the 12 bytes at `y[so..]`. */
function unpackScaleQ3(j: number, y: Uint8Array, so: number): number {
  const sc = j < 8 ? y[so + j] & 0xf : y[so + j - 8] >> 4;
  return (sc | (((y[so + 8 + (j % 4)] >> (2 * (j >> 2))) & 3) << 4)) - 32;
}

/**
 * The common tail of q3_K quantization (ref and impl): requantize with the fp16-rounded scales, then write
 * `hmask` and `qs`. `L` holds the levels of make_q3_quants/make_qx_quants (kept where a scale is 0).
 */
function q3KFinish(x: Float32Array, xo: number, y: Uint8Array, yo: number, L: Int8Array): void {
  const so = yo + 96;
  const dAll = readFp16(y, yo + 108);
  for (let j = 0; j < QK_K / 16; ++j) {
    const sc = unpackScaleQ3(j, y, so);
    const d = fr(dAll * sc);
    if (d === 0) continue;
    for (let ii = 0; ii < 16; ++ii) {
      let l = nint(fr(x[xo + 16 * j + ii] / d));
      l = l > 3 ? 3 : l < -4 ? -4 : l;
      L[16 * j + ii] = l + 4;
    }
  }
  // We put the high-bit for the 1st 8 quants into bit 0, the next 8 into bit 1, etc.
  // (quant j goes to byte j % 32, bit j / 32; levels are 0..7, so `L[j] > 3` is bit 2)
  for (let m = 0; m < QK_K / 8; ++m) {
    let h = 0;
    for (let bit = 0; bit < 8; ++bit) {
      const v = L[32 * bit + m];
      h |= (v >> 2) << bit;
      L[32 * bit + m] = v & 3;
    }
    y[yo + m] = h;
  }
  pack2Bit(L, y, yo + 32);
}

/** Requantizes to [0, nmax] with the fp16-rounded q4_K/q5_K scales and mins of the block at `y[yo..]`. */
function requantizeK4(x: Float32Array, xo: number, y: Uint8Array, yo: number, nmax: number, L: Uint8Array): void {
  const dAll = readFp16(y, yo);
  const dminAll = readFp16(y, yo + 2);
  for (let j = 0; j < QK_K / 32; ++j) {
    const scm = getScaleMinK4(j, y, yo + 4);
    const d = fr(dAll * (scm & 0xff));
    if (d === 0) continue;
    const dm = fr(dminAll * (scm >> 8));
    for (let ii = 0; ii < 32; ++ii) {
      let l = nint(fr(fr(x[xo + 32 * j + ii] + dm) / d));
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      L[32 * j + ii] = l;
    }
  }
}

/** Writes q5_K `qh` and `qs` from 5-bit levels. */
function packQ5K(y: Uint8Array, yo: number, L: Uint8Array): void {
  const qh = yo + 16;
  let ql = yo + 48;
  y.fill(0, qh, qh + QK_K / 8);
  let m1 = 1;
  let m2 = 2;
  for (let n = 0; n < QK_K; n += 64) {
    for (let j = 0; j < 32; ++j) {
      let l1 = L[n + j];
      if (l1 > 15) {
        l1 -= 16;
        y[qh + j] |= m1;
      }
      let l2 = L[n + j + 32];
      if (l2 > 15) {
        l2 -= 16;
        y[qh + j] |= m2;
      }
      y[ql + j] = l1 | (l2 << 4);
    }
    m1 <<= 2;
    m2 <<= 2;
    ql += 32;
  }
}

/** The common tail of q6_K quantization: requantize with the fp16 scale and int8 sub-scales, pack ql/qh. */
function q6KFinish(x: Float32Array, xo: number, y: Uint8Array, yo: number, L: Int8Array): void {
  const dAll = readFp16(y, yo + 208);
  for (let j = 0; j < QK_K / 16; ++j) {
    const d = fr(dAll * toInt8(y[yo + 192 + j]));
    if (d === 0) continue;
    for (let ii = 0; ii < 16; ++ii) {
      let l = nint(fr(x[xo + 16 * j + ii] / d));
      l = l > 31 ? 31 : l < -32 ? -32 : l;
      L[16 * j + ii] = l + 32;
    }
  }
  let ql = yo;
  let qh = yo + 128;
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; ++l) {
      const q1 = L[j + l + 0] & 0xf;
      const q2 = L[j + l + 32] & 0xf;
      const q3 = L[j + l + 64] & 0xf;
      const q4 = L[j + l + 96] & 0xf;
      y[ql + l] = q1 | (q3 << 4);
      y[ql + l + 32] = q2 | (q4 << 4);
      y[qh + l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6);
    }
    ql += 64;
    qh += 32;
  }
}

// ---------------------------------------------------------------------------------------------------------
// q2_K

/**
 * Reference 2-bit quantization: per 16-value sub-block a 4-bit scale and 4-bit min (make_qkx2_quants,
 * MAD metric), super-block fp16 `d` and `dmin`.
 * @see quantize_row_q2_K_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ2_KRef(x: Float32Array, y: Uint8Array, k: number): void {
  const nb = k / QK_K;
  const L = L_U8;
  const weights = WEIGHTS;
  const mins = MINS;
  const scales = SCALES;
  const q4scale = 15;
  let xo = 0;
  let yo = 0;
  for (let i = 0; i < nb; i++, xo += QK_K, yo += BLOCK_Q2_K_SIZE) {
    let maxScale = 0; // as we are deducting the min, scales are always positive
    let maxMin = 0;
    for (let j = 0; j < QK_K / 16; ++j) {
      for (let l = 0; l < 16; ++l) weights[l] = Math.abs(x[xo + 16 * j + l]);
      scales[j] = makeQkx2Quants(16, 3, x, xo + 16 * j, weights, 0, L, 16 * j, mins, j, LAUX, -0.5, F_0_1, 15, true);
      const scale = scales[j];
      if (scale > maxScale) maxScale = scale;
      const min = mins[j];
      if (min > maxMin) maxMin = min;
    }
    if (maxScale > 0) {
      const iscale = fr(q4scale / maxScale);
      for (let j = 0; j < QK_K / 16; ++j) y[yo + j] = nearestInt(fr(iscale * scales[j]));
      writeFp16(y, yo + 80, fr(maxScale / q4scale));
    } else {
      for (let j = 0; j < QK_K / 16; ++j) y[yo + j] = 0;
      writeFp16(y, yo + 80, 0);
    }
    if (maxMin > 0) {
      const iscale = fr(q4scale / maxMin);
      for (let j = 0; j < QK_K / 16; ++j) y[yo + j] |= nearestInt(fr(iscale * mins[j])) << 4;
      writeFp16(y, yo + 82, fr(maxMin / q4scale));
    } else {
      writeFp16(y, yo + 82, 0);
    }
    const dAll = readFp16(y, yo + 80);
    const dminAll = readFp16(y, yo + 82);
    for (let j = 0; j < QK_K / 16; ++j) {
      const d = fr(dAll * (y[yo + j] & 0xf));
      if (d === 0) continue;
      const dm = fr(dminAll * (y[yo + j] >> 4));
      for (let ii = 0; ii < 16; ++ii) {
        let l = nint(fr(fr(x[xo + 16 * j + ii] + dm) / d));
        l = l < 0 ? 0 : l > 3 ? 3 : l;
        L[16 * j + ii] = l;
      }
    }
    pack2Bit(L, y, yo + 16);
  }
}

/**
 * Importance-weighted 2-bit quantization of one row (`nPerRow` values): make_qkx3_quants per sub-block with
 * weights `qw * sqrt(sigma2 + x²)`, then make_qp_quants for the 4-bit scales and mins.
 * @see quantize_row_q2_K_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ2_KImpl(x: Float32Array, y: Uint8Array, nPerRow: number, quantWeights: Float32Array): void {
  const nb = nPerRow / QK_K;
  const L = L_U8;
  const weight = WEIGHTS;
  const mins = MINS;
  const scales = SCALES;
  const sw = SW;
  const Ls = LS_U8;
  const Lm = LM_U8;
  let xo = 0;
  let yo = 0;
  for (let i = 0; i < nb; i++, xo += QK_K, yo += BLOCK_Q2_K_SIZE) {
    sw.fill(0);
    let sumx2 = 0;
    for (let j = 0; j < QK_K; ++j) sumx2 = fr(sumx2 + fr(x[xo + j] * x[xo + j]));
    const sigma2 = fr(sumx2 / QK_K);
    for (let j = 0; j < QK_K / 16; ++j) {
      const qo = QK_K * i + 16 * j;
      for (let l = 0; l < 16; ++l) {
        const xl = x[xo + 16 * j + l];
        weight[l] = fr(quantWeights[qo + l] * fr(Math.sqrt(fr(sigma2 + fr(xl * xl)))));
      }
      for (let l = 0; l < QK_K / 16; ++l) sw[j] += weight[l];
      scales[j] = makeQkx3Quants(16, 3, x, xo + 16 * j, weight, 0, L, 16 * j, mins, j, LAUX, F_M0_9, F_0_05, 36, false);
    }
    let dm = makeQpQuants(QK_K / 16, 15, scales, 0, Ls, 0, sw, 0);
    let mm = makeQpQuants(QK_K / 16, 15, mins, 0, Lm, 0, sw, 0);
    writeFp16(y, yo + 80, dm);
    writeFp16(y, yo + 82, mm);
    dm = readFp16(y, yo + 80);
    mm = readFp16(y, yo + 82);
    for (let j = 0; j < QK_K / 16; ++j) y[yo + j] = Ls[j] | (Lm[j] << 4);
    // requantize
    for (let j = 0; j < QK_K / 16; ++j) {
      const d = fr(dm * (y[yo + j] & 0xf));
      if (d === 0) continue;
      const m = fr(mm * (y[yo + j] >> 4));
      for (let ii = 0; ii < 16; ++ii) {
        let l = nint(fr(fr(x[xo + 16 * j + ii] + m) / d));
        l = l < 0 ? 0 : l > 3 ? 3 : l;
        L[16 * j + ii] = l;
      }
    }
    pack2Bit(L, y, yo + 16);
  }
}

/**
 * Each 16-value sub-block has 4 possible outputs `fr(dl*q) - ml` (q = 0..3); they are formed once in a table and
 * copied by bits into the output, the same floats as the C loop stores.
 * @see dequantize_row_q2_K (ggml/src/ggml-quants.c)
 */
export function dequantizeRowQ2_K(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK_K;
  const yu = u32View(y, k);
  const x32 = u32ViewOf(x); // qs is 4-byte aligned in every 84-byte block when x is
  const T = DQ_F32;
  const TU = DQ_U32;
  let yo = 0;
  for (let i = 0, xo = 0; i < nb; i++, xo += BLOCK_Q2_K_SIZE) {
    const d = readFp16(x, xo + 80);
    const min = readFp16(x, xo + 82);
    let q = xo + 16;
    let is = 0;
    for (let n = 0; n < QK_K; n += 128) {
      let shift = 0;
      for (let j = 0; j < 4; ++j) {
        for (let h = 0; h < 32; h += 16) {
          const sc = x[xo + is++];
          const dl = fr(d * (sc & 0xf));
          const ml = fr(min * (sc >> 4));
          T[0] = fr(dl * 0) - ml;
          T[1] = fr(dl * 1) - ml;
          T[2] = fr(dl * 2) - ml;
          T[3] = fr(dl * 3) - ml;
          const qh = q + h;
          if (x32 !== null) {
            for (let l = 0, w4 = qh >> 2; l < 16; l += 4, ++w4) {
              const b = x32[w4] >>> shift;
              yu[yo + l] = TU[b & 3];
              yu[yo + l + 1] = TU[(b >>> 8) & 3];
              yu[yo + l + 2] = TU[(b >>> 16) & 3];
              yu[yo + l + 3] = TU[(b >>> 24) & 3];
            }
            yo += 16;
          } else {
            for (let l = 0; l < 16; ++l) yu[yo++] = TU[(x[qh + l] >> shift) & 3];
          }
        }
        shift += 2;
      }
      q += 32;
    }
  }
}

/**
 * Quantizes `nrow` rows: the reference path without importance, else the weighted path row by row.
 * Returns the bytes written.
 * @see quantize_q2_K (ggml/src/ggml-quants.c)
 */
export function quantizeQ2_K(src: Float32Array, dst: Uint8Array, nrow: number, nPerRow: number, importance: Float32Array | null): number {
  const rowSize = (nPerRow / QK_K) * BLOCK_Q2_K_SIZE;
  if (!importance) {
    quantizeRowQ2_KRef(src, dst, nrow * nPerRow);
  } else {
    for (let row = 0; row < nrow; ++row) {
      quantizeRowQ2_KImpl(src.subarray(row * nPerRow), dst.subarray(row * rowSize), nPerRow, importance);
    }
  }
  return nrow * rowSize;
}

// ---------------------------------------------------------------------------------------------------------
// q3_K

/**
 * Reference 3-bit quantization: make_q3_quants per 16-value sub-block, 6-bit signed sub-scales, fp16 `d`,
 * the third bit in `hmask`.
 * @see quantize_row_q3_K_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ3_KRef(x: Float32Array, y: Uint8Array, k: number): void {
  const nb = k / QK_K;
  const L = L_I8;
  const scales = SCALES;
  let xo = 0;
  let yo = 0;
  for (let i = 0; i < nb; i++, xo += QK_K, yo += BLOCK_Q3_K_SIZE) {
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < QK_K / 16; ++j) {
      scales[j] = makeQ3Quants(16, 4, x, xo + 16 * j, L, 16 * j, true);
      const scale = Math.abs(scales[j]);
      if (scale > amax) {
        amax = scale;
        maxScale = scales[j];
      }
    }
    const so = yo + 96;
    y.fill(0, so, so + 12);
    if (maxScale !== 0) {
      const iscale = fr(-32 / maxScale);
      for (let j = 0; j < QK_K / 16; ++j) {
        let l = toInt8(nearestInt(fr(iscale * scales[j])));
        l = (l > 31 ? 31 : l < -32 ? -32 : l) + 32;
        packScaleQ3(j, l, y, so);
      }
      writeFp16(y, yo + 108, fr(1 / iscale));
    } else {
      writeFp16(y, yo + 108, 0);
    }
    q3KFinish(x, xo, y, yo, L);
  }
}

/**
 * Importance-weighted 3-bit quantization of one row: make_qx_quants per sub-block with weights
 * `qw * sqrt(sigma2 + x²)` (x² without importance), then make_qx_quants for the 6-bit sub-scales.
 * @see quantize_row_q3_K_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ3_KImpl(x: Float32Array, y: Uint8Array, nPerRow: number, quantWeights: Float32Array | null): void {
  const nb = nPerRow / QK_K;
  const L = L_I8;
  const scales = SCALES;
  const weight = WEIGHTS;
  const sw = SW;
  const Ls = LS_I8;
  let xo = 0;
  let yo = 0;
  for (let i = 0; i < nb; i++, xo += QK_K, yo += BLOCK_Q3_K_SIZE) {
    let sumx2 = 0;
    for (let j = 0; j < QK_K; ++j) sumx2 = fr(sumx2 + fr(x[xo + j] * x[xo + j]));
    const sigma2 = fr(fr(2 * sumx2) / QK_K);
    for (let j = 0; j < QK_K / 16; ++j) {
      if (quantWeights) {
        const qo = QK_K * i + 16 * j;
        for (let l = 0; l < 16; ++l) {
          const xl = x[xo + 16 * j + l];
          weight[l] = fr(quantWeights[qo + l] * fr(Math.sqrt(fr(sigma2 + fr(xl * xl)))));
        }
      } else {
        for (let l = 0; l < 16; ++l) {
          const xl = x[xo + 16 * j + l];
          weight[l] = fr(xl * xl);
        }
      }
      let sumw = 0;
      for (let l = 0; l < 16; ++l) sumw = fr(sumw + weight[l]);
      sw[j] = sumw;
      scales[j] = makeQxQuants(16, 4, x, xo + 16 * j, L, 16 * j, 1, weight, 0);
    }
    const so = yo + 96;
    y.fill(0, so, so + 12);
    const dBlock = makeQxQuants(QK_K / 16, 32, scales, 0, Ls, 0, 1, sw, 0);
    for (let j = 0; j < QK_K / 16; ++j) packScaleQ3(j, Ls[j], y, so);
    writeFp16(y, yo + 108, dBlock);
    q3KFinish(x, xo, y, yo, L);
  }
}

/**
 * Each 16-value sub-block has 8 possible outputs `dl * v` (v = -4..3; table index v + 4 = the 2 low bits | the hmask
 * bit << 2). The 8 tables of a 128-value half are formed first; then each byte of `qs` and `hmask` is read once
 * for its four outputs (shifts 0, 2, 4, 6), copied by bits. Same floats, same positions as the C loop.
 * @see dequantize_row_q3_K (ggml/src/ggml-quants.c)
 */
export function dequantizeRowQ3_K(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK_K;
  const yu = u32View(y, k);
  const T = DQ_F32;
  const TU = DQ_U32;
  let yo = 0;
  for (let i = 0, xo = 0; i < nb; i++, xo += BLOCK_Q3_K_SIZE) {
    const dAll = readFp16(x, xo + 108);
    let q = xo + 32;
    const hm = xo;
    let mb = 0; // hmask bit of shift 0 in this half (C's m = 1 << mb)
    let is = 0;
    for (let n = 0; n < QK_K; n += 128) {
      // table t = 2*j + (l >= 16) holds sub-block `is + t` (j = shift / 2)
      for (let t = 0; t < 8; ++t) {
        const dl = fr(dAll * unpackScaleQ3(is + t, x, xo + 96));
        for (let v = 0; v < 8; ++v) T[8 * t + v] = dl * (v - 4);
      }
      for (let l = 0; l < 32; ++l) {
        const b = x[q + l];
        const h = x[hm + l] >> mb;
        const t0 = l < 16 ? 0 : 8;
        yu[yo + l] = TU[t0 + ((b & 3) | ((h & 1) << 2))];
        yu[yo + l + 32] = TU[t0 + 16 + (((b >> 2) & 3) | ((h & 2) << 1))];
        yu[yo + l + 64] = TU[t0 + 32 + (((b >> 4) & 3) | (((h >> 2) & 1) << 2))];
        yu[yo + l + 96] = TU[t0 + 48 + ((b >> 6) | (((h >> 3) & 1) << 2))];
      }
      yo += 128;
      is += 8;
      mb += 4;
      q += 32;
    }
  }
}

/** @see quantize_q3_K (ggml/src/ggml-quants.c) */
export function quantizeQ3_K(src: Float32Array, dst: Uint8Array, nrow: number, nPerRow: number, importance: Float32Array | null): number {
  const rowSize = (nPerRow / QK_K) * BLOCK_Q3_K_SIZE;
  if (!importance) {
    quantizeRowQ3_KRef(src, dst, nrow * nPerRow);
  } else {
    for (let row = 0; row < nrow; ++row) {
      quantizeRowQ3_KImpl(src.subarray(row * nPerRow), dst.subarray(row * rowSize), nPerRow, importance);
    }
  }
  return nrow * rowSize;
}

// ---------------------------------------------------------------------------------------------------------
// q4_K and q5_K

/**
 * Reference 4-bit quantization: make_qkx2_quants per 32-value sub-block (weights `av_x + |x|`), 6-bit
 * scales and mins, fp16 `d` and `dmin`.
 * @see quantize_row_q4_K_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ4_KRef(x: Float32Array, y: Uint8Array, k: number): void {
  quantizeRowQxKRef(x, y, k, 15, -1, 20, BLOCK_Q4_K_SIZE);
}

/**
 * Reference 5-bit quantization; as q4_K with levels 0..31 and the fifth bit in `qh`.
 * @see quantize_row_q5_K_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ5_KRef(x: Float32Array, y: Uint8Array, k: number): void {
  quantizeRowQxKRef(x, y, k, 31, -0.5, 15, BLOCK_Q5_K_SIZE);
}

/** The shared body of quantize_row_q4_K_ref / quantize_row_q5_K_ref (they differ in nmax, rmin, nstep, packing). */
function quantizeRowQxKRef(x: Float32Array, y: Uint8Array, k: number, nmax: number, rmin: number, nstep: number, blockSize: number): void {
  const nb = k / QK_K;
  const L = L_U8;
  const weights = WEIGHTS;
  const mins = MINS;
  const scales = SCALES;
  let xo = 0;
  let yo = 0;
  for (let i = 0; i < nb; i++, xo += QK_K, yo += blockSize) {
    let maxScale = 0; // as we are deducting the min, scales are always positive
    let maxMin = 0;
    for (let j = 0; j < QK_K / 32; ++j) {
      const xj = xo + 32 * j;
      let sumX2 = 0;
      for (let l = 0; l < 32; ++l) sumX2 = fr(sumX2 + fr(x[xj + l] * x[xj + l]));
      const avX = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; ++l) weights[l] = avX + Math.abs(x[xj + l]);
      scales[j] = makeQkx2Quants(32, nmax, x, xj, weights, 0, L, 32 * j, mins, j, LAUX, rmin, F_0_1, nstep, false);
      const scale = scales[j];
      if (scale > maxScale) maxScale = scale;
      const min = mins[j];
      if (min > maxMin) maxMin = min;
    }
    const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
    for (let j = 0; j < QK_K / 32; ++j) {
      let ls = nearestInt(fr(invScale * scales[j])) & 0xff;
      let lm = nearestInt(fr(invMin * mins[j])) & 0xff;
      ls = ls < 63 ? ls : 63;
      lm = lm < 63 ? lm : 63;
      packScaleMinK4(j, ls, lm, y, yo + 4);
    }
    writeFp16(y, yo, fr(maxScale / 63));
    writeFp16(y, yo + 2, fr(maxMin / 63));
    requantizeK4(x, xo, y, yo, nmax, L);
    if (nmax === 15) packQ4K(y, yo, L);
    else packQ5K(y, yo, L);
  }
}

/** Writes q4_K `qs` from 4-bit levels. */
function packQ4K(y: Uint8Array, yo: number, L: Uint8Array): void {
  let q = yo + 16;
  for (let j = 0; j < QK_K; j += 64) {
    for (let l = 0; l < 32; ++l) y[q + l] = L[j + l] | (L[j + l + 32] << 4);
    q += 32;
  }
}

/**
 * Importance-weighted 4-bit quantization of one row: make_qkx3_quants per sub-block with weights
 * `qw * sqrt(sigma2 + x²)` (`av_x + |x|` without importance), make_qp_quants for the 6-bit scales and mins.
 * @see quantize_row_q4_K_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ4_KImpl(x: Float32Array, y: Uint8Array, nPerRow: number, quantWeights: Float32Array | null): void {
  quantizeRowQxKImpl(x, y, nPerRow, quantWeights, 15, BLOCK_Q4_K_SIZE);
}

/**
 * Importance-weighted 5-bit quantization of one row; as q4_K with levels 0..31.
 * @see quantize_row_q5_K_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ5_KImpl(x: Float32Array, y: Uint8Array, nPerRow: number, quantWeights: Float32Array | null): void {
  quantizeRowQxKImpl(x, y, nPerRow, quantWeights, 31, BLOCK_Q5_K_SIZE);
}

/** The shared body of quantize_row_q4_K_impl / quantize_row_q5_K_impl. */
function quantizeRowQxKImpl(x: Float32Array, y: Uint8Array, nPerRow: number, quantWeights: Float32Array | null, nmax: number, blockSize: number): void {
  const nb = nPerRow / QK_K;
  const L = L_U8;
  const weights = WEIGHTS;
  const mins = MINS;
  const scales = SCALES;
  const sw = SW;
  const Ls = LS_U8;
  const Lm = LM_U8;
  let xo = 0;
  let yo = 0;
  for (let i = 0; i < nb; i++, xo += QK_K, yo += blockSize) {
    let sumX2 = 0;
    for (let l = 0; l < QK_K; ++l) sumX2 = fr(sumX2 + fr(x[xo + l] * x[xo + l]));
    const sigma2 = fr(fr(2 * sumX2) / QK_K);
    const avX = fr(Math.sqrt(sigma2));
    for (let j = 0; j < QK_K / 32; ++j) {
      const xj = xo + 32 * j;
      if (quantWeights) {
        const qo = QK_K * i + 32 * j;
        for (let l = 0; l < 32; ++l) weights[l] = fr(quantWeights[qo + l] * fr(Math.sqrt(fr(sigma2 + fr(x[xj + l] * x[xj + l])))));
      } else {
        for (let l = 0; l < 32; ++l) weights[l] = avX + Math.abs(x[xj + l]);
      }
      let sumw = 0;
      for (let l = 0; l < 32; ++l) sumw = fr(sumw + weights[l]);
      sw[j] = sumw;
      scales[j] = makeQkx3Quants(32, nmax, x, xj, weights, 0, L, 32 * j, mins, j, LAUX, F_M0_9, F_0_05, 36, false);
    }
    const dBlock = makeQpQuants(QK_K / 32, 63, scales, 0, Ls, 0, sw, 0);
    const mBlock = makeQpQuants(QK_K / 32, 63, mins, 0, Lm, 0, sw, 0);
    for (let j = 0; j < QK_K / 32; ++j) {
      let ls = Ls[j];
      let lm = Lm[j];
      if (nmax === 31) {
        // only quantize_row_q5_K_impl clamps here
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
      }
      packScaleMinK4(j, ls, lm, y, yo + 4);
    }
    writeFp16(y, yo, dBlock);
    writeFp16(y, yo + 2, mBlock);
    requantizeK4(x, xo, y, yo, nmax, L);
    if (nmax === 15) packQ4K(y, yo, L);
    else packQ5K(y, yo, L);
  }
}

/**
 * Each 32-value sub-block has 16 possible outputs `fr(d1*q) - m1`, formed once and copied by bits into the output.
 * @see dequantize_row_q4_K (ggml/src/ggml-quants.c)
 */
export function dequantizeRowQ4_K(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK_K;
  const yu = u32View(y, k);
  const x32 = u32ViewOf(x); // qs is 4-byte aligned in every 144-byte block when x is
  const T = DQ_F32;
  const TU = DQ_U32;
  let yo = 0;
  for (let i = 0, xo = 0; i < nb; i++, xo += BLOCK_Q4_K_SIZE) {
    let q = xo + 16;
    const d = readFp16(x, xo);
    const min = readFp16(x, xo + 2);
    let is = 0;
    for (let j = 0; j < QK_K; j += 64) {
      let scm = getScaleMinK4(is + 0, x, xo + 4);
      const d1 = fr(d * (scm & 0xff));
      const m1 = fr(min * (scm >> 8));
      scm = getScaleMinK4(is + 1, x, xo + 4);
      const d2 = fr(d * (scm & 0xff));
      const m2 = fr(min * (scm >> 8));
      for (let v = 0; v < 16; ++v) {
        T[v] = fr(d1 * v) - m1;
        T[16 + v] = fr(d2 * v) - m2;
      }
      if (x32 !== null) {
        for (let l = 0, w4 = q >> 2; l < 32; l += 4, ++w4) {
          const b = x32[w4];
          yu[yo + l] = TU[b & 0xf];
          yu[yo + l + 1] = TU[(b >>> 8) & 0xf];
          yu[yo + l + 2] = TU[(b >>> 16) & 0xf];
          yu[yo + l + 3] = TU[(b >>> 24) & 0xf];
          yu[yo + l + 32] = TU[16 + ((b >>> 4) & 0xf)];
          yu[yo + l + 33] = TU[16 + ((b >>> 12) & 0xf)];
          yu[yo + l + 34] = TU[16 + ((b >>> 20) & 0xf)];
          yu[yo + l + 35] = TU[16 + (b >>> 28)];
        }
      } else {
        for (let l = 0; l < 32; ++l) {
          const b = x[q + l];
          yu[yo + l] = TU[b & 0xf];
          yu[yo + 32 + l] = TU[16 + (b >> 4)];
        }
      }
      yo += 64;
      q += 32;
      is += 2;
    }
  }
}

/**
 * Each 32-value sub-block has 32 possible outputs `fr(d1*q) - m1` (q = 4 low bits + 16·high bit), formed once and
 * copied by bits into the output.
 * @see dequantize_row_q5_K (ggml/src/ggml-quants.c)
 */
export function dequantizeRowQ5_K(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK_K;
  const yu = u32View(y, k);
  const x32 = u32ViewOf(x); // qh and qs are 4-byte aligned in every 176-byte block when x is
  const T = DQ_F32;
  const TU = DQ_U32;
  let yo = 0;
  for (let i = 0, xo = 0; i < nb; i++, xo += BLOCK_Q5_K_SIZE) {
    let ql = xo + 48;
    const qh = xo + 16;
    const d = readFp16(x, xo);
    const min = readFp16(x, xo + 2);
    let is = 0;
    let b1 = 0; // bit of qh for the first 32 (u1 = 1 << b1), the second uses b1 + 1
    for (let j = 0; j < QK_K; j += 64) {
      let scm = getScaleMinK4(is + 0, x, xo + 4);
      const d1 = fr(d * (scm & 0xff));
      const m1 = fr(min * (scm >> 8));
      scm = getScaleMinK4(is + 1, x, xo + 4);
      const d2 = fr(d * (scm & 0xff));
      const m2 = fr(min * (scm >> 8));
      for (let v = 0; v < 32; ++v) {
        T[v] = fr(d1 * v) - m1;
        T[32 + v] = fr(d2 * v) - m2;
      }
      const b2 = b1 + 1;
      if (x32 !== null) {
        for (let l = 0, wl = ql >> 2, wh = qh >> 2; l < 32; l += 4, ++wl, ++wh) {
          const a = x32[wl];
          const h = x32[wh];
          const h1 = h >>> b1; // bit b1 of byte t is bit 8t of h1
          const h2 = h >>> b2;
          yu[yo + l] = TU[(a & 0xf) | ((h1 & 1) << 4)];
          yu[yo + l + 1] = TU[((a >>> 8) & 0xf) | (((h1 >>> 8) & 1) << 4)];
          yu[yo + l + 2] = TU[((a >>> 16) & 0xf) | (((h1 >>> 16) & 1) << 4)];
          yu[yo + l + 3] = TU[((a >>> 24) & 0xf) | (((h1 >>> 24) & 1) << 4)];
          yu[yo + l + 32] = TU[32 + (((a >>> 4) & 0xf) | ((h2 & 1) << 4))];
          yu[yo + l + 33] = TU[32 + (((a >>> 12) & 0xf) | (((h2 >>> 8) & 1) << 4))];
          yu[yo + l + 34] = TU[32 + (((a >>> 20) & 0xf) | (((h2 >>> 16) & 1) << 4))];
          yu[yo + l + 35] = TU[32 + ((a >>> 28) | (((h2 >>> 24) & 1) << 4))];
        }
      } else {
        for (let l = 0; l < 32; ++l) {
          const a = x[ql + l];
          const h = x[qh + l];
          yu[yo + l] = TU[(a & 0xf) | (((h >> b1) & 1) << 4)];
          yu[yo + l + 32] = TU[32 + ((a >> 4) | (((h >> b2) & 1) << 4))];
        }
      }
      yo += 64;
      ql += 32;
      is += 2;
      b1 += 2;
    }
  }
}

/** @see quantize_q4_K (ggml/src/ggml-quants.c) */
export function quantizeQ4_K(src: Float32Array, dst: Uint8Array, nrow: number, nPerRow: number, importance: Float32Array | null): number {
  const rowSize = (nPerRow / QK_K) * BLOCK_Q4_K_SIZE;
  if (!importance) {
    quantizeRowQ4_KRef(src, dst, nrow * nPerRow);
  } else {
    for (let row = 0; row < nrow; ++row) {
      quantizeRowQ4_KImpl(src.subarray(row * nPerRow), dst.subarray(row * rowSize), nPerRow, importance);
    }
  }
  return nrow * rowSize;
}

/** @see quantize_q5_K (ggml/src/ggml-quants.c) */
export function quantizeQ5_K(src: Float32Array, dst: Uint8Array, nrow: number, nPerRow: number, importance: Float32Array | null): number {
  const rowSize = (nPerRow / QK_K) * BLOCK_Q5_K_SIZE;
  if (!importance) {
    quantizeRowQ5_KRef(src, dst, nrow * nPerRow);
  } else {
    for (let row = 0; row < nrow; ++row) {
      quantizeRowQ5_KImpl(src.subarray(row * nPerRow), dst.subarray(row * rowSize), nPerRow, importance);
    }
  }
  return nrow * rowSize;
}

// ---------------------------------------------------------------------------------------------------------
// q6_K

/**
 * Reference 6-bit quantization: make_qx_quants (x²-weighted) per 16-value sub-block, int8 sub-scales,
 * fp16 `d`.
 * @see quantize_row_q6_K_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ6_KRef(x: Float32Array, y: Uint8Array, k: number): void {
  quantizeRowQ6_KImpl(x, y, k, null);
}

/**
 * Importance-weighted 6-bit quantization of one row: make_qx_quants with the raw importance as weights (x²
 * without importance, which is then exactly quantize_row_q6_K_ref).
 * @see quantize_row_q6_K_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ6_KImpl(x: Float32Array, y: Uint8Array, nPerRow: number, quantWeights: Float32Array | null): void {
  const nb = nPerRow / QK_K;
  const L = L_I8;
  const scales = SCALES;
  let xo = 0;
  let yo = 0;
  for (let i = 0; i < nb; i++, xo += QK_K, yo += BLOCK_Q6_K_SIZE) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < QK_K / 16; ++ib) {
      const scale = quantWeights
        ? makeQxQuants(16, 32, x, xo + 16 * ib, L, 16 * ib, 1, quantWeights, QK_K * i + 16 * ib)
        : makeQxQuants(16, 32, x, xo + 16 * ib, L, 16 * ib, 1, null);
      scales[ib] = scale;
      const absScale = Math.abs(scale);
      if (absScale > maxAbsScale) {
        maxAbsScale = absScale;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      y.fill(0, yo, yo + BLOCK_Q6_K_SIZE);
      writeFp16(y, yo + 208, 0);
      continue;
    }
    const iscale = fr(-128 / maxScale);
    writeFp16(y, yo + 208, fr(1 / iscale));
    for (let ib = 0; ib < QK_K / 16; ++ib) {
      const l = nearestInt(fr(iscale * scales[ib]));
      y[yo + 192 + ib] = l < 127 ? l : 127;
    }
    q6KFinish(x, xo, y, yo, L);
  }
}

/**
 * The four sub-block scales `fr(d*sc)` of each 16 positions are formed once; the products `ds*q` are the C floats.
 * @see dequantize_row_q6_K (ggml/src/ggml-quants.c)
 */
export function dequantizeRowQ6_K(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK_K;
  let yo = 0;
  for (let i = 0, xo = 0; i < nb; i++, xo += BLOCK_Q6_K_SIZE) {
    const d = readFp16(x, xo + 208);
    let ql = xo;
    let qh = xo + 128;
    let sc = xo + 192;
    for (let n = 0; n < QK_K; n += 128) {
      for (let half = 0; half < 32; half += 16) {
        const is = half >> 4;
        const s1 = fr(d * ((x[sc + is] << 24) >> 24));
        const s2 = fr(d * ((x[sc + is + 2] << 24) >> 24));
        const s3 = fr(d * ((x[sc + is + 4] << 24) >> 24));
        const s4 = fr(d * ((x[sc + is + 6] << 24) >> 24));
        for (let l = half; l < half + 16; ++l) {
          const h = x[qh + l];
          const a = x[ql + l];
          const b = x[ql + l + 32];
          y[yo + l] = s1 * (((a & 0xf) | ((h & 3) << 4)) - 32);
          y[yo + l + 32] = s2 * (((b & 0xf) | (((h >> 2) & 3) << 4)) - 32);
          y[yo + l + 64] = s3 * (((a >> 4) | (((h >> 4) & 3) << 4)) - 32);
          y[yo + l + 96] = s4 * (((b >> 4) | (((h >> 6) & 3) << 4)) - 32);
        }
      }
      yo += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

/** @see quantize_q6_K (ggml/src/ggml-quants.c) */
export function quantizeQ6_K(src: Float32Array, dst: Uint8Array, nrow: number, nPerRow: number, importance: Float32Array | null): number {
  const rowSize = (nPerRow / QK_K) * BLOCK_Q6_K_SIZE;
  if (!importance) {
    quantizeRowQ6_KRef(src, dst, nrow * nPerRow);
  } else {
    for (let row = 0; row < nrow; ++row) {
      quantizeRowQ6_KImpl(src.subarray(row * nPerRow), dst.subarray(row * rowSize), nPerRow, importance);
    }
  }
  return nrow * rowSize;
}

// ---------------------------------------------------------------------------------------------------------
// q8_K

/**
 * Reference 8-bit quantization with a float32 scale and per-16 sums of the quants (`bsums`).
 * Faithful to ggml: for an all-zero super-block only `d` and `qs` are written; `bsums` keeps whatever the
 * destination held (ggml leaves it unwritten).
 * @see quantize_row_q8_K_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowQ8_KRef(x: Float32Array, y: Uint8Array, k: number): void {
  const nb = k / QK_K;
  const xb = XB; // the block's values (exact copies), read from a fixed scratch array in the loops below
  const qb = Q8B;
  let xo = 0;
  let yo = 0;
  for (let i = 0; i < nb; i++, xo += QK_K, yo += BLOCK_Q8_K_SIZE) {
    let max = 0;
    let amax = 0;
    for (let j = 0; j < QK_K; ++j) {
      const v = x[xo + j];
      xb[j] = v;
      const ax = Math.abs(v);
      if (ax > amax) {
        amax = ax;
        max = v;
      }
    }
    if (amax === 0) {
      writeF32(y, yo, 0);
      y.fill(0, yo + 4, yo + 4 + QK_K);
      continue;
    }
    // We need this change for IQ2_XXS, else the AVX implementation becomes very awkward
    const iscale = fr(-127 / max);
    const qs = yo + 4;
    // quants and bsums in one pass: bsums[j] sums the stored int8 values, (int8_t)MIN(127, v)
    for (let j = 0; j < QK_K / 16; ++j) {
      let sum = 0;
      for (let ii = 16 * j; ii < 16 * j + 16; ++ii) {
        let v = nint(fr(iscale * xb[ii]));
        v = v < 127 ? v : 127;
        v = (v << 24) >> 24; // the stored int8_t
        qb[ii] = v;
        sum += v;
      }
      y[yo + 260 + 2 * j] = sum & 0xff;
      y[yo + 261 + 2 * j] = (sum >> 8) & 0xff;
    }
    y.set(Q8B_U8, qs);
    writeF32(y, yo, fr(1 / iscale));
  }
}

/** @see dequantize_row_q8_K (ggml/src/ggml-quants.c) */
export function dequantizeRowQ8_K(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK_K;
  const x32 = u32ViewOf(x); // d and qs are 4-byte aligned in every 292-byte block when x is
  const xs = new Int8Array(x.buffer, x.byteOffset, x.length);
  let yo = 0;
  for (let i = 0, xo = 0; i < nb; i++, xo += BLOCK_Q8_K_SIZE) {
    const d = fp32FromBits(x[xo] | (x[xo + 1] << 8) | (x[xo + 2] << 16) | (x[xo + 3] << 24));
    const qs = xo + 4;
    if (x32 !== null) {
      for (let j = 0, w4 = qs >> 2; j < QK_K; j += 4, ++w4) {
        const b = x32[w4];
        y[yo + j] = d * ((b << 24) >> 24);
        y[yo + j + 1] = d * ((b << 16) >> 24);
        y[yo + j + 2] = d * ((b << 8) >> 24);
        y[yo + j + 3] = d * (b >> 24);
      }
      yo += QK_K;
    } else {
      for (let j = 0; j < QK_K; ++j) y[yo++] = d * xs[qs + j];
    }
  }
}

/**
 * Quantizes `nrow` rows to q8_K. ggml has no `quantize_q8_K` (q8_K is not in `ggml_quantize_chunk`): this is
 * `quantize_row_q8_K_ref` over the whole matrix, as the golden outputs were made. `importance` is ignored.
 * @see quantize_row_q8_K_ref (ggml/src/ggml-quants.c)
 */
export function quantizeQ8_K(src: Float32Array, dst: Uint8Array, nrow: number, nPerRow: number, _importance: Float32Array | null): number {
  quantizeRowQ8_KRef(src, dst, nrow * nPerRow);
  return nrow * (nPerRow / QK_K) * BLOCK_Q8_K_SIZE;
}

/** Writes a float32 little-endian at byte offset `o`. */
function writeF32(b: Uint8Array, o: number, v: number): void {
  const bits = fp32ToBits(v);
  b[o] = bits & 0xff;
  b[o + 1] = (bits >>> 8) & 0xff;
  b[o + 2] = (bits >>> 16) & 0xff;
  b[o + 3] = bits >>> 24;
}

// ---------------------------------------------------------------------------------------------------------
// schemes

/** quantize_row_q3_K_ref on the WebAssembly kernel when available. */
const q3KRefW = wasmQuantizer("q_q3_K", QK_K, BLOCK_Q3_K_SIZE, quantizeRowQ3_KRef);

/** quantize_row_q8_K_ref on the WebAssembly kernel when available (it leaves an all-zero block's bsums unwritten). */
const q8KRefW = wasmQuantizer("q_q8_K", QK_K, BLOCK_Q8_K_SIZE, quantizeRowQ8_KRef, true);

const K_SCALES_DOC = "6-bit scales and mins of the 8 sub-blocks, packed (get_scale_min_k4)";

/** The K-quant schemes, in ggml type id order. */
export const kquantsSchemes: readonly QuantScheme[] = [
  defineScheme({
    name: "q2_K",
    ggmlType: GGMLQuantizationType.Q2_K,
    description: "2-bit super-block quantization: 16 sub-blocks of 16 with 4-bit scales and mins (2.625 bpw)",
    layout: {
      blockSize: QK_K,
      typeSize: BLOCK_Q2_K_SIZE,
      fields: [
        { name: "scales", type: "u8", count: 16, doc: "low nibble: scale, high nibble: min, per 16 values" },
        { name: "qs", type: "u8", count: 64, doc: "2-bit quants" },
        { name: "d", type: "f16", count: 1, doc: "super-block scale of the scales" },
        { name: "dmin", type: "f16", count: 1, doc: "super-block scale of the mins" },
      ],
    },
    needs: { importance: "optional" },
    quantizeRowRef: (src, dst, n) => {
      if (!runWasmRows("q_q2_K_ref", QK_K, BLOCK_Q2_K_SIZE, src, dst, 1, n, null, 0, 0)) quantizeRowQ2_KRef(src, dst, n);
    },
    dequantizeRow: wasmDequantizer("dq_q2_K", QK_K, BLOCK_Q2_K_SIZE, dequantizeRowQ2_K),
    quantize: (src, dst, nRows, nPerRow, options) => {
      const importance = options?.importance ?? null;
      const ok = importance === null
        ? runWasmRows("q_q2_K_ref", QK_K, BLOCK_Q2_K_SIZE, src, dst, nRows, nPerRow, null, 0, 0)
        : runWasmRows("q_q2_K_impl", QK_K, BLOCK_Q2_K_SIZE, src, dst, nRows, nPerRow, importance, nPerRow / QK_K, 0);
      if (ok) return nRows * (nPerRow / QK_K) * BLOCK_Q2_K_SIZE;
      return quantizeQ2_K(src, dst, nRows, nPerRow, importance);
    },
  }),
  defineScheme({
    name: "q3_K",
    ggmlType: GGMLQuantizationType.Q3_K,
    description: "3-bit super-block quantization: 16 sub-blocks of 16 with 6-bit signed scales (3.4375 bpw)",
    layout: {
      blockSize: QK_K,
      typeSize: BLOCK_Q3_K_SIZE,
      fields: [
        { name: "hmask", type: "u8", count: 32, doc: "high bit of each quant" },
        { name: "qs", type: "u8", count: 64, doc: "low 2 bits of each quant" },
        { name: "scales", type: "u8", count: 12, doc: "16 6-bit scales, packed" },
        { name: "d", type: "f16", count: 1, doc: "super-block scale" },
      ],
    },
    needs: { importance: "optional" },
    quantizeRowRef: q3KRefW,
    dequantizeRow: wasmDequantizer("dq_q3_K", QK_K, BLOCK_Q3_K_SIZE, dequantizeRowQ3_K),
    quantize: (src, dst, nRows, nPerRow, options) => {
      const importance = options?.importance ?? null;
      if (importance === null) {
        q3KRefW(src, dst, nRows * nPerRow);
        return nRows * (nPerRow / QK_K) * BLOCK_Q3_K_SIZE;
      }
      if (runWasmRows("q_q3_K_impl", QK_K, BLOCK_Q3_K_SIZE, src, dst, nRows, nPerRow, importance, nPerRow / QK_K)) {
        return nRows * (nPerRow / QK_K) * BLOCK_Q3_K_SIZE;
      }
      return quantizeQ3_K(src, dst, nRows, nPerRow, importance);
    },
  }),
  defineScheme({
    name: "q4_K",
    ggmlType: GGMLQuantizationType.Q4_K,
    description: "4-bit super-block quantization: 8 sub-blocks of 32 with 6-bit scales and mins (4.5 bpw)",
    layout: {
      blockSize: QK_K,
      typeSize: BLOCK_Q4_K_SIZE,
      fields: [
        { name: "d", type: "f16", count: 1, doc: "super-block scale of the scales" },
        { name: "dmin", type: "f16", count: 1, doc: "super-block scale of the mins" },
        { name: "scales", type: "u8", count: 12, doc: K_SCALES_DOC },
        { name: "qs", type: "u8", count: 128, doc: "4-bit quants" },
      ],
    },
    needs: { importance: "optional" },
    quantizeRowRef: (src, dst, n) => {
      if (!runWasmRows("q_qxK_ref", QK_K, BLOCK_Q4_K_SIZE, src, dst, 1, n, null, 0, 15)) quantizeRowQ4_KRef(src, dst, n);
    },
    dequantizeRow: wasmDequantizer("dq_q4_K", QK_K, BLOCK_Q4_K_SIZE, dequantizeRowQ4_K),
    quantize: (src, dst, nRows, nPerRow, options) => {
      const importance = options?.importance ?? null;
      const ok = importance === null
        ? runWasmRows("q_qxK_ref", QK_K, BLOCK_Q4_K_SIZE, src, dst, nRows, nPerRow, null, 0, 15)
        : runWasmRows("q_qxK_impl", QK_K, BLOCK_Q4_K_SIZE, src, dst, nRows, nPerRow, importance, nPerRow / QK_K, 15);
      if (ok) return nRows * (nPerRow / QK_K) * BLOCK_Q4_K_SIZE;
      return quantizeQ4_K(src, dst, nRows, nPerRow, importance);
    },
  }),
  defineScheme({
    name: "q5_K",
    ggmlType: GGMLQuantizationType.Q5_K,
    description: "5-bit super-block quantization: 8 sub-blocks of 32 with 6-bit scales and mins (5.5 bpw)",
    layout: {
      blockSize: QK_K,
      typeSize: BLOCK_Q5_K_SIZE,
      fields: [
        { name: "d", type: "f16", count: 1, doc: "super-block scale of the scales" },
        { name: "dmin", type: "f16", count: 1, doc: "super-block scale of the mins" },
        { name: "scales", type: "u8", count: 12, doc: K_SCALES_DOC },
        { name: "qh", type: "u8", count: 32, doc: "fifth bit of each quant" },
        { name: "qs", type: "u8", count: 128, doc: "low 4 bits of each quant" },
      ],
    },
    needs: { importance: "optional" },
    quantizeRowRef: (src, dst, n) => {
      if (!runWasmRows("q_qxK_ref", QK_K, BLOCK_Q5_K_SIZE, src, dst, 1, n, null, 0, 31)) quantizeRowQ5_KRef(src, dst, n);
    },
    dequantizeRow: wasmDequantizer("dq_q5_K", QK_K, BLOCK_Q5_K_SIZE, dequantizeRowQ5_K),
    quantize: (src, dst, nRows, nPerRow, options) => {
      const importance = options?.importance ?? null;
      const ok = importance === null
        ? runWasmRows("q_qxK_ref", QK_K, BLOCK_Q5_K_SIZE, src, dst, nRows, nPerRow, null, 0, 31)
        : runWasmRows("q_qxK_impl", QK_K, BLOCK_Q5_K_SIZE, src, dst, nRows, nPerRow, importance, nPerRow / QK_K, 31);
      if (ok) return nRows * (nPerRow / QK_K) * BLOCK_Q5_K_SIZE;
      return quantizeQ5_K(src, dst, nRows, nPerRow, importance);
    },
  }),
  defineScheme({
    name: "q6_K",
    ggmlType: GGMLQuantizationType.Q6_K,
    description: "6-bit super-block quantization: 16 sub-blocks of 16 with int8 scales (6.5625 bpw)",
    layout: {
      blockSize: QK_K,
      typeSize: BLOCK_Q6_K_SIZE,
      fields: [
        { name: "ql", type: "u8", count: 128, doc: "low 4 bits of each quant" },
        { name: "qh", type: "u8", count: 64, doc: "high 2 bits of each quant" },
        { name: "scales", type: "i8", count: 16, doc: "8-bit sub-block scales" },
        { name: "d", type: "f16", count: 1, doc: "super-block scale" },
      ],
    },
    needs: { importance: "optional" },
    quantizeRowRef: (src, dst, n) => {
      if (!runWasmRows("q_q6_K", QK_K, BLOCK_Q6_K_SIZE, src, dst, 1, n, null, 0)) quantizeRowQ6_KRef(src, dst, n);
    },
    dequantizeRow: wasmDequantizer("dq_q6_K", QK_K, BLOCK_Q6_K_SIZE, dequantizeRowQ6_K),
    quantize: (src, dst, nRows, nPerRow, options) => {
      const importance = options?.importance ?? null;
      if (runWasmRows("q_q6_K", QK_K, BLOCK_Q6_K_SIZE, src, dst, nRows, nPerRow, importance, nPerRow / QK_K)) {
        return nRows * (nPerRow / QK_K) * BLOCK_Q6_K_SIZE;
      }
      return quantizeQ6_K(src, dst, nRows, nPerRow, importance);
    },
  }),
  defineScheme({
    name: "q8_K",
    ggmlType: GGMLQuantizationType.Q8_K,
    description: "8-bit super-block quantization with a float32 scale and block sums (ggml's dot-product intermediate)",
    layout: {
      blockSize: QK_K,
      typeSize: BLOCK_Q8_K_SIZE,
      fields: [
        { name: "d", type: "f32", count: 1, doc: "scale" },
        { name: "qs", type: "i8", count: 256, doc: "quants" },
        { name: "bsums", type: "i16", count: 16, doc: "sum of the quants of each group of 16" },
      ],
    },
    needs: { importance: "unused" },
    quantizeRowRef: q8KRefW,
    dequantizeRow: wasmDequantizer("dq_q8_K", QK_K, BLOCK_Q8_K_SIZE, dequantizeRowQ8_K),
    quantize: (src, dst, nRows, nPerRow) => {
      q8KRefW(src, dst, nRows * nPerRow);
      return nRows * (nPerRow / QK_K) * BLOCK_Q8_K_SIZE;
    },
  }),
];
