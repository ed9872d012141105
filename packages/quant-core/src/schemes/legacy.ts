/**
 * The legacy 32-element block types: q4_0, q4_1, q5_0, q5_1, q8_0, q8_1.
 *
 * Each has the imatrix-free reference path (`quantize_row_<t>_ref`) and, for q4_0/q4_1/q5_0/q5_1, the
 * importance-weighted search that `quantize_<t>` switches to when given quant weights
 * (`quantize_row_<t>_impl`). C float semantics throughout: every float operation is rounded with
 * Math.fround, no FMA, C's left-to-right evaluation.
 *
 * Block layouts (ggml/src/ggml-common.h, little-endian, no padding):
 *   block_q4_0 { ggml_half d; uint8_t qs[16]; }                      18 bytes
 *   block_q4_1 { ggml_half d; ggml_half m; uint8_t qs[16]; }         20 bytes
 *   block_q5_0 { ggml_half d; uint8_t qh[4]; uint8_t qs[16]; }       22 bytes
 *   block_q5_1 { ggml_half d; ggml_half m; uint8_t qh[4]; qs[16]; }  24 bytes
 *   block_q8_0 { ggml_half d; int8_t qs[32]; }                       34 bytes
 *   block_q8_1 { ggml_half d; ggml_half s; int8_t qs[32]; }          36 bytes
 */
import { GGMLQuantizationType } from "@quantlab/gguf";
import { defineScheme, type QuantScheme } from "../scheme.js";
import { FP16_TABLE, writeFp16 } from "../math/fp16.js";
import { makeQkx3Quants, makeQxQuants } from "./kquants-helpers.js";
import { runWasmRows, wasmDequantizer, wasmQuantizer } from "../wasm/quants.js";

const fr = Math.fround;

const QK4_0 = 32;
const QK4_1 = 32;
const QK5_0 = 32;
const QK5_1 = 32;
const QK8_0 = 32;
const QK8_1 = 32;

const TS_Q4_0 = 18;
const TS_Q4_1 = 20;
const TS_Q5_0 = 22;
const TS_Q5_1 = 24;
const TS_Q8_0 = 34;
const TS_Q8_1 = 36;

/** `FLT_MAX` */
const FLT_MAX = 3.4028234663852886e38;
const HALF = 0.5;
const C8_5 = 8.5;
const C16_5 = 16.5;
/** `-0.9f`, `0.05f`: the search range of quantize_row_q4_1_impl / q5_1_impl. */
const RMIN_X3 = fr(-0.9);
const RDELTA_X3 = fr(0.05);

/** float32 bit patterns of every fp16 value (view of math/fp16.ts's exact table). */
const FP16_BITS = new Uint32Array(FP16_TABLE.buffer, FP16_TABLE.byteOffset, FP16_TABLE.length);

// Module-level scratch for one block (no allocation per block or row).
const weight = new Float32Array(32);
const Ls = new Int8Array(32);
const Lu = new Uint8Array(32);
const Laux = new Uint8Array(32);
const theMin = new Float32Array(1);

/**
 * C's float → int8_t/uint8_t conversion as gcc emits it on x86-64 (cvttss2si to int32, keep the low byte):
 * truncation toward zero; NaN and values outside int32 give 0x80000000, whose low byte is 0. Returns the byte.
 */
function cvtByte(v: number): number {
  return (v >= -2147483648 && v < 2147483648 ? v | 0 : 0) & 0xff;
}

/**
 * C `roundf` (halves away from zero) for a float32 value, branch-light: `floor(|x| + 0.5)` with the sign put
 * back. Exact for every float32 (|x| + 0.5 is exact in double for |x| >= 2^-29; below that it cannot reach 1).
 * -0 gives +0 and NaN stays NaN, which convert to the same byte as C's results.
 */
function roundfToInt(x: number): number {
  return x < 0 ? -Math.floor(0.5 - x) : Math.floor(x + 0.5);
}

/**
 * TRUNC_NOTE: in the reference quantizers the scaled value `v = x·id (+ offset)` is bounded: with `id` finite,
 * `|d| >= 2^-128` (else `1/d` overflows), so `d` carries a relative error below 2^-21 and `|x·id| <= nmax·(1 + 2^-20)`;
 * with `id` infinite (or an inf/NaN input) `v` is ±inf or NaN. JS `v | 0` truncates toward zero like cvttss2si on
 * every finite value in int32 range and gives 0 for ±inf/NaN, where `cvtByte` gives the low byte of
 * 0x80000000 = 0; so for these bounded values `v | 0` equals `sbyte(cvtByte(v))` / `cvtByte(v)`.
 */

/** Byte → int8 value. */
function sbyte(b: number): number {
  return (b << 24) >> 24;
}

/** Writes a uint32 little-endian. */
function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function readHalfBits(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

/**
 * The float32 bits ggml's dequantizer stores when `q*d (+ m)` is NaN (x86 SSE): a NaN operand propagates
 * (quieted); an invalid operation (0·inf, inf−inf) gives the default NaN 0xFFC00000.
 */
function nanResultBits(dBits: number, mBits: number): number {
  if ((dBits & 0x7fffffff) > 0x7f800000) return (dBits | 0x400000) >>> 0;
  if ((mBits & 0x7fffffff) > 0x7f800000) return (mBits | 0x400000) >>> 0;
  return 0xffc00000;
}

/** Rewrites the NaN entries of `y[o..o+n)` with ggml's NaN bits (only called for blocks with a non-finite scale). */
function fixNaNs(y: Float32Array, o: number, n: number, dBits: number, mBits: number): void {
  const bits = new Uint32Array(y.buffer, y.byteOffset, y.length);
  const nanBits = nanResultBits(dBits, mBits);
  for (let j = 0; j < n; j++) if (y[o + j] !== y[o + j]) bits[o + j] = nanBits;
}

// ============================================================================================== q4_0

function quantizeBlocksQ4_0Ref(x: Float32Array, xo: number, y: Uint8Array, yo: number, nb: number): void {
  const qk = QK4_0;
  for (let i = 0; i < nb; i++, xo += qk, yo += TS_Q4_0) {
    let amax = 0; // absolute max
    let max = 0;
    for (let j = 0; j < qk; j++) {
      const v = x[xo + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    writeFp16(y, yo, d);
    for (let j = 0; j < qk / 2; ++j) {
      const x0 = fr(x[xo + j]! * id);
      const x1 = fr(x[xo + qk / 2 + j]! * id);
      // `| 0` is (int8_t) here: see TRUNC_NOTE
      const xi0 = Math.min(15, fr(x0 + C8_5) | 0);
      const xi1 = Math.min(15, fr(x1 + C8_5) | 0);
      y[yo + 2 + j] = (xi0 | (xi1 << 4)) & 0xff;
    }
  }
}

/** @see quantize_row_q4_0_ref (ggml/src/ggml-quants.c) */
export function quantizeRowQ4_0Ref(src: Float32Array, dst: Uint8Array, k: number): void {
  quantizeBlocksQ4_0Ref(src, 0, dst, 0, k / QK4_0);
}

/** @see dequantize_row_q4_0 (ggml/src/ggml-quants.c) */
export function dequantizeRowQ4_0(src: Uint8Array, dst: Float32Array, k: number): void {
  const qk = QK4_0;
  const nb = k / qk;
  for (let i = 0, xo = 0, yo = 0; i < nb; i++, xo += TS_Q4_0, yo += qk) {
    const dBits = readHalfBits(src, xo);
    const d = FP16_TABLE[dBits]!;
    for (let j = 0, q0 = xo + 2; j < 16; j += 2, q0 += 2) {
      const q = src[q0]!;
      const r = src[q0 + 1]!;
      dst[yo + j] = ((q & 0x0f) - 8) * d;
      dst[yo + j + 1] = ((r & 0x0f) - 8) * d;
      dst[yo + j + 16] = ((q >> 4) - 8) * d;
      dst[yo + j + 17] = ((r >> 4) - 8) * d;
    }
    if (d - d !== 0) fixNaNs(dst, yo, qk, FP16_BITS[dBits]!, 0);
  }
}

/**
 * Importance-weighted q4_0 of one row: per block, weights `qw[j]·sqrt(σ² + x[j]²)` and make_qx_quants.
 * @see quantize_row_q4_0_impl (ggml/src/ggml-quants.c)
 */
function quantizeRowQ4_0Impl(x: Float32Array, xo: number, y: Uint8Array, yo: number, nPerRow: number, qw: Float32Array): void {
  const sigma2 = rowSigma2(x, xo, nPerRow);
  const nb = nPerRow / QK4_0;
  for (let ib = 0; ib < nb; ++ib, yo += TS_Q4_0) {
    const xb = xo + QK4_0 * ib;
    blockWeights(x, xb, qw, QK4_0 * ib, sigma2, QK4_0);
    const d = makeQxQuants(QK4_0, 8, x, xb, Ls, 0, 1, weight, 0);
    writeFp16(y, yo, d);
    for (let j = 0; j < 16; ++j) y[yo + 2 + j] = (Ls[j]! | (Ls[j + 16]! << 4)) & 0xff;
  }
}

/** @see quantize_q4_0 (ggml/src/ggml-quants.c) */
export function quantizeQ4_0(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): number {
  const rowSize = (nPerRow / QK4_0) * TS_Q4_0;
  if (!importance) {
    quantizeBlocksQ4_0Ref(src, 0, dst, 0, (nrows * nPerRow) / QK4_0);
    return nrows * rowSize;
  }
  for (let row = 0; row < nrows; ++row) quantizeRowQ4_0Impl(src, row * nPerRow, dst, row * rowSize, nPerRow, importance);
  return nrows * rowSize;
}

// ============================================================================================== q4_1

function quantizeBlocksQ4_1Ref(x: Float32Array, xo: number, y: Uint8Array, yo: number, nb: number): void {
  const qk = QK4_1;
  for (let i = 0; i < nb; i++, xo += qk, yo += TS_Q4_1) {
    let min = FLT_MAX;
    let max = -FLT_MAX;
    for (let j = 0; j < qk; j++) {
      const v = x[xo + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = fr(fr(max - min) / ((1 << 4) - 1));
    const id = d ? fr(1 / d) : 0;
    writeFp16(y, yo, d);
    writeFp16(y, yo + 2, min);
    for (let j = 0; j < qk / 2; ++j) {
      const x0 = fr(fr(x[xo + j]! - min) * id);
      const x1 = fr(fr(x[xo + qk / 2 + j]! - min) * id);
      // `| 0` is (int8_t) here: see TRUNC_NOTE
      const xi0 = Math.min(15, fr(x0 + HALF) | 0);
      const xi1 = Math.min(15, fr(x1 + HALF) | 0);
      y[yo + 4 + j] = (xi0 | (xi1 << 4)) & 0xff;
    }
  }
}

/** @see quantize_row_q4_1_ref (ggml/src/ggml-quants.c) */
export function quantizeRowQ4_1Ref(src: Float32Array, dst: Uint8Array, k: number): void {
  quantizeBlocksQ4_1Ref(src, 0, dst, 0, k / QK4_1);
}

/** @see dequantize_row_q4_1 (ggml/src/ggml-quants.c) */
export function dequantizeRowQ4_1(src: Uint8Array, dst: Float32Array, k: number): void {
  const qk = QK4_1;
  const nb = k / qk;
  for (let i = 0, xo = 0, yo = 0; i < nb; i++, xo += TS_Q4_1, yo += qk) {
    const dBits = readHalfBits(src, xo);
    const mBits = readHalfBits(src, xo + 2);
    const d = FP16_TABLE[dBits]!;
    const m = FP16_TABLE[mBits]!;
    for (let j = 0, q0 = xo + 4; j < 16; j += 2, q0 += 2) {
      const q = src[q0]!;
      const r = src[q0 + 1]!;
      dst[yo + j] = fr((q & 0x0f) * d) + m;
      dst[yo + j + 1] = fr((r & 0x0f) * d) + m;
      dst[yo + j + 16] = fr((q >> 4) * d) + m;
      dst[yo + j + 17] = fr((r >> 4) * d) + m;
    }
    if (d - d !== 0 || m - m !== 0) fixNaNs(dst, yo, qk, FP16_BITS[dBits]!, FP16_BITS[mBits]!);
  }
}

/**
 * Importance-weighted q4_1 of one row (make_qkx3_quants over 36 candidate scales).
 * @see quantize_row_q4_1_impl (ggml/src/ggml-quants.c)
 */
function quantizeRowQ4_1Impl(x: Float32Array, xo: number, y: Uint8Array, yo: number, nPerRow: number, qw: Float32Array): void {
  const sigma2 = rowSigma2(x, xo, nPerRow);
  const nb = nPerRow / QK4_1;
  for (let ib = 0; ib < nb; ++ib, yo += TS_Q4_1) {
    const xb = xo + QK4_1 * ib;
    blockWeights(x, xb, qw, QK4_1 * ib, sigma2, QK4_1);
    const d = makeQkx3Quants(QK4_1, 15, x, xb, weight, 0, Lu, 0, theMin, 0, Laux, RMIN_X3, RDELTA_X3, 36, false);
    writeFp16(y, yo, d);
    writeFp16(y, yo + 2, -theMin[0]!);
    for (let j = 0; j < 16; ++j) y[yo + 4 + j] = (Lu[j]! | (Lu[j + 16]! << 4)) & 0xff;
  }
}

/** @see quantize_q4_1 (ggml/src/ggml-quants.c) */
export function quantizeQ4_1(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): number {
  const rowSize = (nPerRow / QK4_1) * TS_Q4_1;
  if (!importance) {
    quantizeBlocksQ4_1Ref(src, 0, dst, 0, (nrows * nPerRow) / QK4_1);
    return nrows * rowSize;
  }
  for (let row = 0; row < nrows; ++row) quantizeRowQ4_1Impl(src, row * nPerRow, dst, row * rowSize, nPerRow, importance);
  return nrows * rowSize;
}

// ============================================================================================== q5_0

function quantizeBlocksQ5_0Ref(x: Float32Array, xo: number, y: Uint8Array, yo: number, nb: number): void {
  const qk = QK5_0;
  for (let i = 0; i < nb; i++, xo += qk, yo += TS_Q5_0) {
    let amax = 0; // absolute max
    let max = 0;
    for (let j = 0; j < qk; j++) {
      const v = x[xo + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -16);
    const id = d ? fr(1 / d) : 0;
    writeFp16(y, yo, d);
    let qh = 0;
    for (let j = 0; j < qk / 2; ++j) {
      const x0 = fr(x[xo + j]! * id);
      const x1 = fr(x[xo + qk / 2 + j]! * id);
      // `| 0` is (int8_t) here: see TRUNC_NOTE
      const xi0 = Math.min(31, fr(x0 + C16_5) | 0);
      const xi1 = Math.min(31, fr(x1 + C16_5) | 0);
      y[yo + 6 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
      // get the 5-th bit and store it in qh at the right position
      qh |= ((xi0 & 0x10) >>> 4) << (j + 0);
      qh |= ((xi1 & 0x10) >>> 4) << (j + qk / 2);
    }
    writeU32(y, yo + 2, qh >>> 0);
  }
}

/** @see quantize_row_q5_0_ref (ggml/src/ggml-quants.c) */
export function quantizeRowQ5_0Ref(src: Float32Array, dst: Uint8Array, k: number): void {
  quantizeBlocksQ5_0Ref(src, 0, dst, 0, k / QK5_0);
}

/** @see dequantize_row_q5_0 (ggml/src/ggml-quants.c) */
export function dequantizeRowQ5_0(src: Uint8Array, dst: Float32Array, k: number): void {
  const qk = QK5_0;
  const nb = k / qk;
  for (let i = 0, xo = 0, yo = 0; i < nb; i++, xo += TS_Q5_0, yo += qk) {
    const dBits = readHalfBits(src, xo);
    const d = FP16_TABLE[dBits]!;
    const qh = readU32(src, xo + 2);
    for (let j = 0, q0 = xo + 6; j < 16; j += 2, q0 += 2) {
      const q = src[q0]!;
      const r = src[q0 + 1]!;
      dst[yo + j] = (((q & 0x0f) | ((qh >>> j) << 4 & 0x10)) - 16) * d;
      dst[yo + j + 1] = (((r & 0x0f) | ((qh >>> (j + 1)) << 4 & 0x10)) - 16) * d;
      dst[yo + j + 16] = (((q >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16) * d;
      dst[yo + j + 17] = (((r >> 4) | ((qh >>> (j + 13)) & 0x10)) - 16) * d;
    }
    if (d - d !== 0) fixNaNs(dst, yo, qk, FP16_BITS[dBits]!, 0);
  }
}

/** @see quantize_row_q5_0_impl (ggml/src/ggml-quants.c) */
function quantizeRowQ5_0Impl(x: Float32Array, xo: number, y: Uint8Array, yo: number, nPerRow: number, qw: Float32Array): void {
  const sigma2 = rowSigma2(x, xo, nPerRow);
  const nb = nPerRow / QK5_0;
  for (let ib = 0; ib < nb; ++ib, yo += TS_Q5_0) {
    const xb = xo + QK5_0 * ib;
    blockWeights(x, xb, qw, QK5_0 * ib, sigma2, QK5_0);
    const d = makeQxQuants(QK5_0, 16, x, xb, Ls, 0, 1, weight, 0);
    writeFp16(y, yo, d);
    let qh = 0;
    for (let j = 0; j < 16; ++j) {
      const xi0 = Ls[j]! & 0xff;
      const xi1 = Ls[j + 16]! & 0xff;
      y[yo + 6 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
      qh |= ((xi0 & 0x10) >>> 4) << (j + 0);
      qh |= ((xi1 & 0x10) >>> 4) << (j + QK5_0 / 2);
    }
    writeU32(y, yo + 2, qh >>> 0);
  }
}

/** @see quantize_q5_0 (ggml/src/ggml-quants.c) */
export function quantizeQ5_0(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): number {
  const rowSize = (nPerRow / QK5_0) * TS_Q5_0;
  if (!importance) {
    quantizeBlocksQ5_0Ref(src, 0, dst, 0, (nrows * nPerRow) / QK5_0);
    return nrows * rowSize;
  }
  for (let row = 0; row < nrows; ++row) quantizeRowQ5_0Impl(src, row * nPerRow, dst, row * rowSize, nPerRow, importance);
  return nrows * rowSize;
}

// ============================================================================================== q5_1

function quantizeBlocksQ5_1Ref(x: Float32Array, xo: number, y: Uint8Array, yo: number, nb: number): void {
  const qk = QK5_1;
  for (let i = 0; i < nb; i++, xo += qk, yo += TS_Q5_1) {
    let min = FLT_MAX;
    let max = -FLT_MAX;
    for (let j = 0; j < qk; j++) {
      const v = x[xo + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = fr(fr(max - min) / ((1 << 5) - 1));
    const id = d ? fr(1 / d) : 0;
    writeFp16(y, yo, d);
    writeFp16(y, yo + 2, min);
    let qh = 0;
    for (let j = 0; j < qk / 2; ++j) {
      const x0 = fr(fr(x[xo + j]! - min) * id);
      const x1 = fr(fr(x[xo + qk / 2 + j]! - min) * id);
      // `| 0` is (uint8_t) here: see TRUNC_NOTE (bounded to [0, 32])
      const xi0 = fr(x0 + HALF) | 0;
      const xi1 = fr(x1 + HALF) | 0;
      y[yo + 8 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
      // get the 5-th bit and store it in qh at the right position
      qh |= ((xi0 & 0x10) >>> 4) << (j + 0);
      qh |= ((xi1 & 0x10) >>> 4) << (j + qk / 2);
    }
    writeU32(y, yo + 4, qh >>> 0);
  }
}

/** @see quantize_row_q5_1_ref (ggml/src/ggml-quants.c) */
export function quantizeRowQ5_1Ref(src: Float32Array, dst: Uint8Array, k: number): void {
  quantizeBlocksQ5_1Ref(src, 0, dst, 0, k / QK5_1);
}

/** @see dequantize_row_q5_1 (ggml/src/ggml-quants.c) */
export function dequantizeRowQ5_1(src: Uint8Array, dst: Float32Array, k: number): void {
  const qk = QK5_1;
  const nb = k / qk;
  for (let i = 0, xo = 0, yo = 0; i < nb; i++, xo += TS_Q5_1, yo += qk) {
    const dBits = readHalfBits(src, xo);
    const mBits = readHalfBits(src, xo + 2);
    const d = FP16_TABLE[dBits]!;
    const m = FP16_TABLE[mBits]!;
    const qh = readU32(src, xo + 4);
    for (let j = 0, q0 = xo + 8; j < 16; j += 2, q0 += 2) {
      const q = src[q0]!;
      const r = src[q0 + 1]!;
      dst[yo + j] = fr(((q & 0x0f) | ((qh >>> j) << 4 & 0x10)) * d) + m;
      dst[yo + j + 1] = fr(((r & 0x0f) | ((qh >>> (j + 1)) << 4 & 0x10)) * d) + m;
      dst[yo + j + 16] = fr(((q >> 4) | ((qh >>> (j + 12)) & 0x10)) * d) + m;
      dst[yo + j + 17] = fr(((r >> 4) | ((qh >>> (j + 13)) & 0x10)) * d) + m;
    }
    if (d - d !== 0 || m - m !== 0) fixNaNs(dst, yo, qk, FP16_BITS[dBits]!, FP16_BITS[mBits]!);
  }
}

/** @see quantize_row_q5_1_impl (ggml/src/ggml-quants.c) */
function quantizeRowQ5_1Impl(x: Float32Array, xo: number, y: Uint8Array, yo: number, nPerRow: number, qw: Float32Array): void {
  const sigma2 = rowSigma2(x, xo, nPerRow);
  const nb = nPerRow / QK5_1;
  for (let ib = 0; ib < nb; ++ib, yo += TS_Q5_1) {
    const xb = xo + QK5_1 * ib;
    blockWeights(x, xb, qw, QK5_1 * ib, sigma2, QK5_1);
    const d = makeQkx3Quants(QK5_1, 31, x, xb, weight, 0, Lu, 0, theMin, 0, Laux, RMIN_X3, RDELTA_X3, 36, false);
    writeFp16(y, yo, d);
    writeFp16(y, yo + 2, -theMin[0]!);
    let qh = 0;
    for (let j = 0; j < 16; ++j) {
      const xi0 = Lu[j]!;
      const xi1 = Lu[j + 16]!;
      y[yo + 8 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
      qh |= ((xi0 & 0x10) >>> 4) << (j + 0);
      qh |= ((xi1 & 0x10) >>> 4) << (j + QK5_0 / 2);
    }
    writeU32(y, yo + 4, qh >>> 0);
  }
}

/** @see quantize_q5_1 (ggml/src/ggml-quants.c) */
export function quantizeQ5_1(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): number {
  const rowSize = (nPerRow / QK5_1) * TS_Q5_1;
  if (!importance) {
    quantizeBlocksQ5_1Ref(src, 0, dst, 0, (nrows * nPerRow) / QK5_1);
    return nrows * rowSize;
  }
  for (let row = 0; row < nrows; ++row) quantizeRowQ5_1Impl(src, row * nPerRow, dst, row * rowSize, nPerRow, importance);
  return nrows * rowSize;
}

// ============================================================================================== q8_0

/** @see quantize_row_q8_0_ref (ggml/src/ggml-quants.c) */
export function quantizeRowQ8_0Ref(src: Float32Array, dst: Uint8Array, k: number): void {
  const nb = k / QK8_0;
  const bits = new Int32Array(src.buffer, src.byteOffset, nb * QK8_0);
  for (let i = 0, xo = 0, yo = 0; i < nb; i++, xo += QK8_0, yo += TS_Q8_0) {
    let amax = 0; // absolute max
    for (let j = 0; j < QK8_0; j++) {
      const av = Math.abs(src[xo + j]!);
      amax = amax > av ? amax : av; // MAX(amax, fabsf(v))
    }
    const d = fr(amax / ((1 << 7) - 1));
    const id = d ? fr(1 / d) : 0;
    writeFp16(dst, yo, d);
    // roundf(x0) = trunc(x0 ± 0.5) (exact in double for a float32 x0), with the sign of x0 = the sign bit of
    // src[j] since id >= 0 (x0 = ±0 gives 0 either way): no data-dependent branch. `| 0` then the Uint8Array
    // store is (int8_t) of it; ±inf/NaN give 0 as cvtByte does (see TRUNC_NOTE: no finite value leaves int32).
    for (let j = xo; j < xo + QK8_0; ++j) {
      const x0 = fr(src[j]! * id);
      dst[yo + 2 - xo + j] = (x0 + ((bits[j]! >> 31) | 1) * HALF) | 0;
    }
  }
}

/** @see dequantize_row_q8_0 (ggml/src/ggml-quants.c) */
export function dequantizeRowQ8_0(src: Uint8Array, dst: Float32Array, k: number): void {
  const nb = k / QK8_0;
  const qs = new Int8Array(src.buffer, src.byteOffset, nb * TS_Q8_0);
  for (let i = 0, xo = 0, yo = 0; i < nb; i++, xo += TS_Q8_0, yo += QK8_0) {
    const dBits = src[xo]! | (src[xo + 1]! << 8);
    const d = FP16_TABLE[dBits]!;
    // int8 × float32 is exact in double; the Float32Array store rounds once, as the C float product does
    for (let j = 0, q = xo + 2; j < QK8_0; j += 4, q += 4) {
      dst[yo + j] = qs[q]! * d;
      dst[yo + j + 1] = qs[q + 1]! * d;
      dst[yo + j + 2] = qs[q + 2]! * d;
      dst[yo + j + 3] = qs[q + 3]! * d;
    }
    if (d - d !== 0) fixNaNs(dst, yo, QK8_0, FP16_BITS[dBits]!, 0);
  }
}

/** @see quantize_q8_0 (ggml/src/ggml-quants.c): the reference path; quant weights are not used. */
export function quantizeQ8_0(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, _importance: Float32Array | null): number {
  quantizeRowQ8_0Ref(src, dst, nrows * nPerRow);
  return nrows * (nPerRow / QK8_0) * TS_Q8_0;
}

// ============================================================================================== q8_1

/** @see quantize_row_q8_1_ref (ggml/src/ggml-quants.c) */
export function quantizeRowQ8_1Ref(src: Float32Array, dst: Uint8Array, k: number): void {
  const nb = k / QK8_1;
  for (let i = 0, xo = 0, yo = 0; i < nb; i++, xo += QK8_1, yo += TS_Q8_1) {
    let amax = 0; // absolute max
    for (let j = 0; j < QK8_1; j++) {
      const av = Math.abs(src[xo + j]!);
      amax = amax > av ? amax : av;
    }
    const d = fr(amax / ((1 << 7) - 1));
    const id = d ? fr(1 / d) : 0;
    writeFp16(dst, yo, d);
    let sum = 0;
    for (let j = 0; j < QK8_1 / 2; ++j) {
      const v0 = fr(src[xo + j]! * id);
      const v1 = fr(src[xo + QK8_1 / 2 + j]! * id);
      const q0 = cvtByte(roundfToInt(v0));
      const q1 = cvtByte(roundfToInt(v1));
      dst[yo + 4 + j] = q0;
      dst[yo + 4 + QK8_1 / 2 + j] = q1;
      sum += sbyte(q0) + sbyte(q1);
    }
    writeFp16(dst, yo + 2, fr(sum * d));
  }
}

/**
 * Decodes q8_1 as `qs[j]·d` (ggml has no dequantizer for q8_1: `to_float` is NULL and `dequantize_row_q8_1`
 * is commented out; `s` is only a cached `d·Σq` for dot products and is not read here).
 */
export function dequantizeRowQ8_1(src: Uint8Array, dst: Float32Array, k: number): void {
  const nb = k / QK8_1;
  for (let i = 0, xo = 0, yo = 0; i < nb; i++, xo += TS_Q8_1, yo += QK8_1) {
    const dBits = readHalfBits(src, xo);
    const d = FP16_TABLE[dBits]!;
    for (let j = 0; j < QK8_1; ++j) dst[yo + j] = sbyte(src[xo + 4 + j]!) * d;
    if (d - d !== 0) fixNaNs(dst, yo, QK8_1, FP16_BITS[dBits]!, 0);
  }
}

/**
 * ggml_quantize_chunk has no q8_1 case; the golden vectors come from `type_traits.from_float_ref`
 * (quantize_row_q8_1_ref) over all rows, which is what this does. No importance path.
 */
export function quantizeQ8_1(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, _importance: Float32Array | null): number {
  quantizeRowQ8_1Ref(src, dst, nrows * nPerRow);
  return nrows * (nPerRow / QK8_1) * TS_Q8_1;
}

// ============================================================================================== shared

/** `sum_x2/n_per_row` over one row, in float as the C accumulates it. */
function rowSigma2(x: Float32Array, xo: number, nPerRow: number): number {
  let sumX2 = 0;
  for (let j = 0; j < nPerRow; ++j) {
    const v = x[xo + j]!;
    sumX2 = fr(sumX2 + fr(v * v));
  }
  return fr(sumX2 / nPerRow);
}

/** `weight[j] = qw[j] * sqrtf(sigma2 + xb[j]*xb[j])` into the module scratch. */
function blockWeights(x: Float32Array, xb: number, qw: Float32Array, qwo: number, sigma2: number, n: number): void {
  for (let j = 0; j < n; ++j) {
    const v = x[xb + j]!;
    weight[j] = fr(qw[qwo + j]! * fr(Math.sqrt(fr(sigma2 + fr(v * v)))));
  }
}

// ============================================================================================== WebAssembly dispatch

// The scheme objects call the WebAssembly kernels (assembly/quants.ts) when available; the functions above are
// the fallback and the readable reference (both paths are golden-tested).
const q4_0RefW = wasmQuantizer("q_q4_0", QK4_0, TS_Q4_0, quantizeRowQ4_0Ref);
const q4_1RefW = wasmQuantizer("q_q4_1", QK4_1, TS_Q4_1, quantizeRowQ4_1Ref);
const q5_0RefW = wasmQuantizer("q_q5_0", QK5_0, TS_Q5_0, quantizeRowQ5_0Ref);
const q5_1RefW = wasmQuantizer("q_q5_1", QK5_1, TS_Q5_1, quantizeRowQ5_1Ref);
const q8_0RefW = wasmQuantizer("q_q8_0", QK8_0, TS_Q8_0, quantizeRowQ8_0Ref);
const q8_1RefW = wasmQuantizer("q_q8_1", QK8_1, TS_Q8_1, quantizeRowQ8_1Ref);
const q4_0DeqW = wasmDequantizer("dq_q4_0", QK4_0, TS_Q4_0, dequantizeRowQ4_0);
const q4_1DeqW = wasmDequantizer("dq_q4_1", QK4_1, TS_Q4_1, dequantizeRowQ4_1);
const q5_0DeqW = wasmDequantizer("dq_q5_0", QK5_0, TS_Q5_0, dequantizeRowQ5_0);
const q5_1DeqW = wasmDequantizer("dq_q5_1", QK5_1, TS_Q5_1, dequantizeRowQ5_1);
const q8_0DeqW = wasmDequantizer("dq_q8_0", QK8_0, TS_Q8_0, dequantizeRowQ8_0);

const rowBytes = (nPerRow: number, qk: number, ts: number) => (nPerRow / qk) * ts;

/** `quantize_<t>` with the reference path on the WebAssembly kernel when there is no importance. */
function withRef(
  ref: (src: Float32Array, dst: Uint8Array, n: number) => void,
  impl: (src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null) => number,
  qk: number,
  ts: number,
) {
  return (src: Float32Array, dst: Uint8Array, nRows: number, nPerRow: number, options?: { readonly importance?: Float32Array | null | undefined }): number => {
    const importance = options?.importance ?? null;
    if (importance) return impl(src, dst, nRows, nPerRow, importance);
    ref(src, dst, nRows * nPerRow);
    return nRows * (nPerRow / qk) * ts;
  };
}

// ============================================================================================== schemes

const half = (name: string, doc: string) => ({ name, type: "f16" as const, count: 1, doc });

export const q4_0Scheme = defineScheme({
  name: "q4_0",
  ggmlType: GGMLQuantizationType.Q4_0,
  description: "4-bit symmetric, 32-element blocks with one fp16 scale (4.5 bpw)",
  layout: {
    blockSize: QK4_0,
    typeSize: TS_Q4_0,
    fields: [half("d", "scale"), { name: "qs", type: "u8", count: 16, doc: "nibbles: low = element j, high = j+16" }],
  },
  needs: { importance: "optional" },
  quantizeRowRef: q4_0RefW,
  dequantizeRow: q4_0DeqW,
  quantize: withRef(q4_0RefW, (src, dst, nRows, nPerRow, importance) => {
    if (runWasmRows("q_qx_0_impl", QK4_0, TS_Q4_0, src, dst, nRows, nPerRow, importance, nPerRow, 8)) return nRows * rowBytes(nPerRow, QK4_0, TS_Q4_0);
    return quantizeQ4_0(src, dst, nRows, nPerRow, importance);
  }, QK4_0, TS_Q4_0),
});

export const q4_1Scheme = defineScheme({
  name: "q4_1",
  ggmlType: GGMLQuantizationType.Q4_1,
  description: "4-bit with min, 32-element blocks with fp16 scale and min (5 bpw)",
  layout: {
    blockSize: QK4_1,
    typeSize: TS_Q4_1,
    fields: [half("d", "scale"), half("m", "min"), { name: "qs", type: "u8", count: 16, doc: "nibbles" }],
  },
  needs: { importance: "optional" },
  quantizeRowRef: q4_1RefW,
  dequantizeRow: q4_1DeqW,
  quantize: withRef(q4_1RefW, (src, dst, nRows, nPerRow, importance) => {
    if (runWasmRows("q_qx_1_impl", QK4_1, TS_Q4_1, src, dst, nRows, nPerRow, importance, nPerRow, 15)) return nRows * rowBytes(nPerRow, QK4_1, TS_Q4_1);
    return quantizeQ4_1(src, dst, nRows, nPerRow, importance);
  }, QK4_1, TS_Q4_1),
});

export const q5_0Scheme = defineScheme({
  name: "q5_0",
  ggmlType: GGMLQuantizationType.Q5_0,
  description: "5-bit symmetric, 32-element blocks with one fp16 scale (5.5 bpw)",
  layout: {
    blockSize: QK5_0,
    typeSize: TS_Q5_0,
    fields: [
      half("d", "scale"),
      { name: "qh", type: "u8", count: 4, doc: "5th bits, little-endian uint32" },
      { name: "qs", type: "u8", count: 16, doc: "low nibbles" },
    ],
  },
  needs: { importance: "optional" },
  quantizeRowRef: q5_0RefW,
  dequantizeRow: q5_0DeqW,
  quantize: withRef(q5_0RefW, (src, dst, nRows, nPerRow, importance) => {
    if (runWasmRows("q_qx_0_impl", QK5_0, TS_Q5_0, src, dst, nRows, nPerRow, importance, nPerRow, 16)) return nRows * rowBytes(nPerRow, QK5_0, TS_Q5_0);
    return quantizeQ5_0(src, dst, nRows, nPerRow, importance);
  }, QK5_0, TS_Q5_0),
});

export const q5_1Scheme = defineScheme({
  name: "q5_1",
  ggmlType: GGMLQuantizationType.Q5_1,
  description: "5-bit with min, 32-element blocks with fp16 scale and min (6 bpw)",
  layout: {
    blockSize: QK5_1,
    typeSize: TS_Q5_1,
    fields: [
      half("d", "scale"),
      half("m", "min"),
      { name: "qh", type: "u8", count: 4, doc: "5th bits, little-endian uint32" },
      { name: "qs", type: "u8", count: 16, doc: "low nibbles" },
    ],
  },
  needs: { importance: "optional" },
  quantizeRowRef: q5_1RefW,
  dequantizeRow: q5_1DeqW,
  quantize: withRef(q5_1RefW, (src, dst, nRows, nPerRow, importance) => {
    if (runWasmRows("q_qx_1_impl", QK5_1, TS_Q5_1, src, dst, nRows, nPerRow, importance, nPerRow, 31)) return nRows * rowBytes(nPerRow, QK5_1, TS_Q5_1);
    return quantizeQ5_1(src, dst, nRows, nPerRow, importance);
  }, QK5_1, TS_Q5_1),
});

export const q8_0Scheme = defineScheme({
  name: "q8_0",
  ggmlType: GGMLQuantizationType.Q8_0,
  description: "8-bit symmetric, 32-element blocks with one fp16 scale (8.5 bpw)",
  layout: {
    blockSize: QK8_0,
    typeSize: TS_Q8_0,
    fields: [half("d", "scale"), { name: "qs", type: "i8", count: 32, doc: "quants" }],
  },
  needs: { importance: "unused" },
  quantizeRowRef: q8_0RefW,
  dequantizeRow: q8_0DeqW,
  quantize: (src, dst, nRows, nPerRow) => {
    q8_0RefW(src, dst, nRows * nPerRow);
    return nRows * (nPerRow / QK8_0) * TS_Q8_0;
  },
});

export const q8_1Scheme = defineScheme({
  name: "q8_1",
  ggmlType: GGMLQuantizationType.Q8_1,
  description: "8-bit symmetric with cached d·Σq, 32-element blocks (9 bpw; ggml's dot-product activation format)",
  layout: {
    blockSize: QK8_1,
    typeSize: TS_Q8_1,
    fields: [half("d", "scale"), half("s", "d * sum(qs)"), { name: "qs", type: "i8", count: 32, doc: "quants" }],
  },
  needs: { importance: "unused" },
  quantizeRowRef: q8_1RefW,
  dequantizeRow: dequantizeRowQ8_1,
  quantize: (src, dst, nRows, nPerRow) => {
    q8_1RefW(src, dst, nRows * nPerRow);
    return nRows * (nPerRow / QK8_1) * TS_Q8_1;
  },
});

/** Built-in schemes of this family, in ggml type id order. */
export const legacySchemes: readonly QuantScheme[] = [q4_0Scheme, q4_1Scheme, q5_0Scheme, q5_1Scheme, q8_0Scheme, q8_1Scheme];
