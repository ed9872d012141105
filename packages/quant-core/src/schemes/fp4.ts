/**
 * FP4 types: MXFP4 (OCP microscaling: 32 E2M1 values sharing one E8M0 exponent) and NVFP4 (64 E2M1 values in
 * four 16-value sub-blocks, each with a UE4M3 scale). Both ignore the importance matrix in ggml.
 *
 * @see quantize_row_mxfp4_ref, dequantize_row_mxfp4, quantize_mxfp4,
 *      quantize_row_nvfp4_ref, dequantize_row_nvfp4, quantize_nvfp4 (ggml/src/ggml-quants.c)
 */
import { GGMLQuantizationType } from "@quantlab/gguf";
import { defineScheme, type QuantScheme } from "../scheme.js";
import { e8m0ToFp32Half, fp32ToUe4m3, ue4m3ToFp32 } from "../math/fp8.js";
import { ensureWasmTables, wasmDequantizer } from "../wasm/quants.js";

/** `QK_MXFP4` (ggml/src/ggml-common.h). */
export const QK_MXFP4 = 32;
/** sizeof(block_mxfp4): `uint8_t e; uint8_t qs[QK_MXFP4/2];` */
const MXFP4_TYPE_SIZE = 17;
/** `QK_NVFP4`, `QK_NVFP4_SUB` (ggml/src/ggml-common.h). */
export const QK_NVFP4 = 64;
export const QK_NVFP4_SUB = 16;
/** sizeof(block_nvfp4): `uint8_t d[QK_NVFP4/QK_NVFP4_SUB]; uint8_t qs[QK_NVFP4/2];` */
const NVFP4_TYPE_SIZE = 36;

/**
 * E2M1 values, doubled (0, ±0.5, ±1, ±1.5, ±2, ±3, ±4, ±6 times 2). Data, transcribed from
 * `kvalues_mxfp4` in ggml/src/ggml-common.h.
 */
export const kvaluesMxfp4: Int8Array = Int8Array.from([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

/**
 * Index of the table value closest to `x` when scaled by `e` (first one on ties).
 * @see best_index_mxfp4 (ggml/src/ggml-quants.c)
 */
export function bestIndexMxfp4(x: number, e: number): number {
  let bestIndex = 0;
  let bestErr = Math.abs(Math.fround(Math.fround(kvaluesMxfp4[0] * e) - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(Math.fround(Math.fround(kvaluesMxfp4[i] * e) - x));
    if (err < bestErr) {
      bestIndex = i;
      bestErr = err;
    }
  }
  return bestIndex;
}

/** |kvalues_mxfp4| of indices 0..7 (0, 1, 2, 3, 4, 6, 8, 12), for {@link bestIndexMxfp4Fast}. */
const E2M1_MAGNITUDE = Float64Array.from([0, 1, 2, 3, 4, 6, 8, 12]);
/** Above this scale `kvalues·e` could overflow float32; the fast search then defers to the full loop. */
const FAST_SCALE_LIMIT = 2 ** 120;

/**
 * Same result as {@link bestIndexMxfp4}, found by looking only at the two grid values around |x|.
 * Valid because every `kvalues[i]·e` is exact in float32 (e is a power of two for MXFP4 and a 4-bit-mantissa
 * UE4M3 value for NVFP4), the rounded errors of the two neighbours are the only candidates for the minimum
 * (grid points are at least e apart), ties go to the lower table index (the smaller magnitude, as in the C
 * loop's first-index rule), and a value 0 is always index 0 (index 8 is -0 and never wins a tie).
 * With e = 0 every error is |x| and index 0 wins. Non-finite x, huge e and |x| far beyond the grid (where
 * rounded errors of distant points can tie) fall back to the loop.
 */
export function bestIndexMxfp4Fast(x: number, e: number): number {
  if (!(e < FAST_SCALE_LIMIT) || x - x !== 0) return bestIndexMxfp4(x, e);
  if (e === 0) return 0; // every error is |x|: the first index wins
  const a = Math.abs(x);
  // grid position below a: t = a/e is exact enough (a and every k·e are float32, so t < k exactly when a < k·e)
  const t = a / e;
  // far outside the grid the rounded errors of different points can tie: let the loop decide
  if (t >= 1048576) return bestIndexMxfp4(x, e);
  const pos = t < 4 ? Math.floor(t) : t < 6 ? 4 : t < 8 ? 5 : t < 12 ? 6 : 7;
  let best = pos;
  if (pos < 7) {
    const errLo = Math.fround(a - E2M1_MAGNITUDE[pos] * e);
    const errHi = Math.fround(E2M1_MAGNITUDE[pos + 1] * e - a);
    if (errHi < errLo) best = pos + 1;
  }
  return x < 0 && best > 0 ? 8 + best : best;
}

/** Grid position (index into E2M1_MAGNITUDE of the largest magnitude <= t) for floor(t) = 0..15. */
const POS_OF_FLOOR = Uint8Array.from([0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7]);
/** E2M1_MAGNITUDE with a sentinel: position 7 has no upper neighbour (its error is +inf, never smaller). */
const MAGNITUDE_NEXT = Float64Array.from([0, 1, 2, 3, 4, 6, 8, 12, Infinity]);

/**
 * {@link bestIndexMxfp4Fast} for a power-of-two scale `d` in (0, 2^120) (`invD` = 1/d): for t = |v|/d < 16 (always
 * the case for finite v in quantize_row_mxfp4_ref) the position chain is a table on floor(t) and the two
 * data-dependent choices are integer arithmetic; anything else (NaN, inf) goes through bestIndexMxfp4Fast.
 */
function mxfp4IndexPow2(v: number, d: number, invD: number): number {
  const a = Math.abs(v);
  const t = a * invD;
  if (!(t < 16)) return bestIndexMxfp4Fast(v, d);
  const pos = POS_OF_FLOOR[t | 0];
  const errLo = Math.fround(a - MAGNITUDE_NEXT[pos] * d);
  const errHi = Math.fround(MAGNITUDE_NEXT[pos + 1] * d - a);
  const best = pos + +(errHi < errLo);
  // negative v takes index 8 + best, except best 0 (index 8 is -0 and loses the tie to index 0)
  return best | ((+(v < 0) & ((best + 7) >> 3)) << 3);
}

/**
 * @see quantize_row_mxfp4_ref (ggml/src/ggml-quants.c). d = 2^(floor(log2f(amax)) - 3) is a power of two, so the
 * per-value search is {@link mxfp4IndexPow2} (same indices as bestIndexMxfp4Fast / best_index_mxfp4).
 */
export function quantizeRowMxfp4Ref(x: Float32Array, y: Uint8Array, k: number): void {
  const qk = QK_MXFP4;
  const nb = k / qk;
  for (let i = 0; i < nb; i++) {
    const xo = i * qk;
    const yo = i * MXFP4_TYPE_SIZE;
    let amax = 0; // absolute max
    for (let j = 0; j < qk; j++) {
      const v = x[xo + j];
      if (amax < Math.abs(v)) amax = Math.abs(v);
    }
    // (uint8_t)(floorf(log2f(amax)) - 2 + 127); log2f is float32-rounded, which matters just below a power of two
    const e = amax > 0 ? Math.trunc(Math.floor(Math.fround(Math.log2(amax))) - 2 + 127) & 0xff : 0;
    const d = e8m0ToFp32Half(e);
    y[yo] = e;
    if (d > 0 && d < FAST_SCALE_LIMIT) {
      // d is a power of two (2^-128 .. 2^126), so 1/d is exact in double and a·(1/d) = a/d exactly
      const invD = 1 / d;
      for (let j = 0; j < qk / 2; ++j) {
        const x0 = mxfp4IndexPow2(x[xo + j], d, invD);
        const x1 = mxfp4IndexPow2(x[xo + qk / 2 + j], d, invD);
        y[yo + 1 + j] = x0 | (x1 << 4);
      }
    } else {
      for (let j = 0; j < qk / 2; ++j) {
        const x0 = bestIndexMxfp4Fast(x[xo + j], d);
        const x1 = bestIndexMxfp4Fast(x[xo + qk / 2 + j], d);
        y[yo + 1 + j] = x0 | (x1 << 4);
      }
    }
  }
}

/**
 * @see dequantize_row_mxfp4 (ggml/src/ggml-quants.c)
 */
export function dequantizeRowMxfp4(x: Uint8Array, y: Float32Array, k: number): void {
  const qk = QK_MXFP4;
  const nb = k / qk;
  for (let i = 0; i < nb; i++) {
    const xo = i * MXFP4_TYPE_SIZE;
    const yo = i * qk;
    const d = e8m0ToFp32Half(x[xo]);
    for (let j = 0; j < qk / 2; ++j) {
      const q = x[xo + 1 + j];
      y[yo + j] = kvaluesMxfp4[q & 0x0f] * d;
      y[yo + j + qk / 2] = kvaluesMxfp4[q >> 4] * d;
    }
  }
}

/**
 * `ggml_quantize_chunk` path for MXFP4: the importance is ignored.
 * @see quantize_mxfp4 (ggml/src/ggml-quants.c)
 */
export function quantizeMxfp4(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, _importance: Float32Array | null): number {
  quantizeRowMxfp4Ref(src, dst, nrows * nPerRow);
  return nrows * (nPerRow / QK_MXFP4) * MXFP4_TYPE_SIZE;
}

/**
 * @see quantize_row_nvfp4_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowNvfp4Ref(x: Float32Array, y: Uint8Array, k: number): void {
  const qk = QK_NVFP4;
  const qkSub = QK_NVFP4_SUB;
  const nSub = QK_NVFP4 / QK_NVFP4_SUB;
  const nb = k / qk;
  for (let i = 0; i < nb; i++) {
    const yo = i * NVFP4_TYPE_SIZE;
    for (let s = 0; s < nSub; s++) {
      const xb = i * qk + s * qkSub;
      let amax = 0;
      for (let j = 0; j < qkSub; j++) {
        if (amax < Math.abs(x[xb + j])) amax = Math.abs(x[xb + j]);
      }
      // UE4M3 scale: amax / 6.0 maps the max E2M1 value (6.0) to amax
      const ue = fp32ToUe4m3(Math.fround(amax / 6));
      y[yo + s] = ue;
      const d = ue4m3ToFp32(ue);
      for (let j = 0; j < qkSub / 2; ++j) {
        const x0 = bestIndexMxfp4Fast(x[xb + j], d);
        const x1 = bestIndexMxfp4Fast(x[xb + qkSub / 2 + j], d);
        y[yo + nSub + s * (qkSub / 2) + j] = x0 | (x1 << 4);
      }
    }
  }
}

/**
 * @see dequantize_row_nvfp4 (ggml/src/ggml-quants.c)
 */
export function dequantizeRowNvfp4(x: Uint8Array, y: Float32Array, k: number): void {
  const qk = QK_NVFP4;
  const qkSub = QK_NVFP4_SUB;
  const nSub = QK_NVFP4 / QK_NVFP4_SUB;
  const nb = k / qk;
  for (let i = 0; i < nb; i++) {
    const xo = i * NVFP4_TYPE_SIZE;
    for (let s = 0; s < nSub; s++) {
      const d = ue4m3ToFp32(x[xo + s]);
      const yb = i * qk + s * qkSub;
      const qo = xo + nSub + s * (qkSub / 2);
      for (let j = 0; j < qkSub / 2; ++j) {
        const q = x[qo + j];
        y[yb + j] = kvaluesMxfp4[q & 0x0f] * d;
        y[yb + j + qkSub / 2] = kvaluesMxfp4[q >> 4] * d;
      }
    }
  }
}

/**
 * `ggml_quantize_chunk` path for NVFP4: the importance is ignored.
 * @see quantize_nvfp4 (ggml/src/ggml-quants.c)
 */
export function quantizeNvfp4(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, _importance: Float32Array | null): number {
  quantizeRowNvfp4Ref(src, dst, nrows * nPerRow);
  return nrows * (nPerRow / QK_NVFP4) * NVFP4_TYPE_SIZE;
}

// WebAssembly decoders (assembly/quants.ts dq_mxfp4 / dq_nvfp4); they read the scale tables of math/fp8.ts, copied
// into the module once.
const E8M0_HALF_COPY = Float32Array.from({ length: 256 }, (_, b) => e8m0ToFp32Half(b));
const UE4M3_COPY = Float32Array.from({ length: 256 }, (_, b) => ue4m3ToFp32(b));
const fp4WasmTables = () => ensureWasmTables("fp4", "fp4SetTables", [E8M0_HALF_COPY, UE4M3_COPY]);
const dequantizeRowMxfp4W = wasmDequantizer("dq_mxfp4", QK_MXFP4, MXFP4_TYPE_SIZE, dequantizeRowMxfp4);
const dequantizeRowNvfp4W = wasmDequantizer("dq_nvfp4", QK_NVFP4, NVFP4_TYPE_SIZE, dequantizeRowNvfp4);

/** Built-in schemes of this family. */
export const fp4Schemes: readonly QuantScheme[] = [
  defineScheme({
    name: "mxfp4",
    ggmlType: GGMLQuantizationType.MXFP4,
    description: "OCP MXFP4: 32 E2M1 values sharing one E8M0 power-of-two scale (4.25 bits per weight)",
    layout: {
      blockSize: QK_MXFP4,
      typeSize: MXFP4_TYPE_SIZE,
      fields: [
        { name: "e", type: "e8m0", count: 1, doc: "shared exponent" },
        { name: "qs", type: "u8", count: QK_MXFP4 / 2, doc: "E2M1 codes: low nibble = element j, high = j + 16" },
      ],
    },
    needs: { importance: "unused" },
    quantizeRowRef: quantizeRowMxfp4Ref,
    dequantizeRow: (src, dst, n) => (fp4WasmTables() ? dequantizeRowMxfp4W(src, dst, n) : dequantizeRowMxfp4(src, dst, n)),
    quantize: (src, dst, nRows, nPerRow, options) => quantizeMxfp4(src, dst, nRows, nPerRow, options?.importance ?? null),
  }),
  defineScheme({
    name: "nvfp4",
    ggmlType: GGMLQuantizationType.NVFP4,
    description: "NVFP4: 64 E2M1 values in four 16-value sub-blocks, each with a UE4M3 scale (4.5 bits per weight)",
    layout: {
      blockSize: QK_NVFP4,
      typeSize: NVFP4_TYPE_SIZE,
      fields: [
        { name: "d", type: "ue4m3", count: QK_NVFP4 / QK_NVFP4_SUB, doc: "one scale per 16-value sub-block" },
        { name: "qs", type: "u8", count: QK_NVFP4 / 2, doc: "E2M1 codes: per sub-block, low nibble = j, high = j + 8" },
      ],
    },
    needs: { importance: "unused" },
    quantizeRowRef: quantizeRowNvfp4Ref,
    dequantizeRow: (src, dst, n) => (fp4WasmTables() ? dequantizeRowNvfp4W(src, dst, n) : dequantizeRowNvfp4(src, dst, n)),
    quantize: (src, dst, nRows, nPerRow, options) => quantizeNvfp4(src, dst, nRows, nPerRow, options?.importance ?? null),
  }),
];
