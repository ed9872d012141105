/**
 * `rtn_q4_g64`: an example scheme plugin for @quantlab/quant-core (see docs/writing-a-scheme-plugin.md).
 *
 * Group-wise round-to-nearest 4-bit quantization, asymmetric: every group of 64 consecutive values of a row is
 * stored as an fp16 scale `d`, an fp16 offset `m` (the group minimum) and 64 unsigned 4-bit codes `q`, and decodes
 * to `x ≈ q·d + m`. That is 36 bytes per 64 values, 4.5 bits per weight: the same size as ggml's q4_0 (symmetric,
 * 32 per group) and q4_K (256 per super-block, 6-bit sub-block scales and mins), so the three compare fairly.
 *
 * Why asymmetric: a group of trained weights is rarely centred on zero, and a symmetric absmax code spends one of
 * its 16 levels on the far side of zero that the group never reaches. Storing the minimum costs 2 bytes per group
 * and lets all 16 levels cover [min, max].
 *
 * Importance (`needs.importance: "optional"`): with no importance vector every group uses the plain min/max range
 * (`quantizeRowRef`). With one, each group tries a few narrower ranges (clipping its extremes) and keeps the one
 * with the smallest importance-weighted squared error `Σ w_j (x_j − x̂_j)²`, then tries one weighted least-squares
 * refit of `d` and `m`. The plain range is always the first candidate, so the weighted error of a group never gets
 * worse than without importance. `w_j` is the importance of column j: an imatrix entry is the mean squared
 * activation that meets column j, so `w_j·e_j²` is the expected squared output error a weight error `e_j` causes.
 *
 * This format is not a ggml type (`ggmlType: null`): llama.cpp cannot load it, and it is here to show the contract.
 */
import { SchemeError, defineScheme, nearestInt, readFp16, writeFp16, type QuantScheme } from "@quantlab/quant-core";

/** Values per group (the block size). */
export const QK_RTN = 64;
/** Bytes per block: fp16 d, fp16 m, 32 bytes of packed 4-bit codes. */
export const TS_RTN = 2 + 2 + QK_RTN / 2;

/** Fractions of the [min, max] range tried when an importance vector is given (1 = the plain range, first). */
const RANGE_CANDIDATES = [1, 0.97, 0.94, 0.9, 0.86, 0.82, 0.78] as const;

// Scratch for one block, allocated once per module: the hot loops allocate nothing.
const L = new Uint8Array(QK_RTN); // codes of the candidate being tried
const bestL = new Uint8Array(QK_RTN); // codes of the best candidate so far
const dm = new Float64Array(2); // [d, m] after fp16 rounding, written by quantizeBlockWith

/**
 * Quantizes the 64 values `x[xo..xo+64)` with offset `m` and step `d` (both first rounded to fp16, as they will be
 * stored) into `L`, and stores the rounded pair in `dm`. Returns the decoded values' squared error, weighted by
 * `w[wo + j]` when `w` is given.
 */
function quantizeBlockWith(x: Float32Array, xo: number, d: number, m: number, w: Float32Array | null, wo: number): number {
  const dh = readFp16Value(d);
  const mh = readFp16Value(m);
  const id = dh !== 0 ? 1 / dh : 0;
  let err = 0;
  for (let j = 0; j < QK_RTN; j++) {
    const v = x[xo + j]!;
    // clamp before rounding: nearestInt (ggml's round-half-even) is exact only for |t| <= 4194303
    let t = (v - mh) * id;
    t = t < 0 ? 0 : t > 15 ? 15 : t;
    const q = nearestInt(Math.fround(t));
    L[j] = q;
    // exactly what dequantizeRow will produce for this code (one rounding to float32)
    const e = v - Math.fround(q * dh + mh);
    err += w === null ? e * e : w[wo + j]! * e * e;
  }
  dm[0] = dh;
  dm[1] = mh;
  return err;
}

/** `x` rounded to fp16 and back: the value a reader of the stored block will see. */
const fp16Scratch = new Uint8Array(2);
function readFp16Value(x: number): number {
  writeFp16(fp16Scratch, 0, x);
  return readFp16(fp16Scratch, 0);
}

/** Writes one block: d, m, then codes packed two per byte (code j in the low nibble, j + 32 in the high one). */
function storeBlock(y: Uint8Array, yo: number, d: number, m: number, codes: Uint8Array): void {
  writeFp16(y, yo, d);
  writeFp16(y, yo + 2, m);
  for (let j = 0; j < QK_RTN / 2; j++) y[yo + 4 + j] = codes[j]! | (codes[j + QK_RTN / 2]! << 4);
}

/** Min and max of one block, returned through `dm` as [min, max]. */
function blockRange(x: Float32Array, xo: number): void {
  let min = x[xo]!;
  let max = min;
  for (let j = 1; j < QK_RTN; j++) {
    const v = x[xo + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  dm[0] = min;
  dm[1] = max;
}

/** Plain round-to-nearest of `nb` blocks: range [min, max], step (max − min) / 15. */
function quantizeBlocksRef(x: Float32Array, xo: number, y: Uint8Array, yo: number, nb: number): void {
  for (let i = 0; i < nb; i++, xo += QK_RTN, yo += TS_RTN) {
    blockRange(x, xo);
    const min = dm[0]!;
    const max = dm[1]!;
    quantizeBlockWith(x, xo, (max - min) / 15, min, null, 0);
    storeBlock(y, yo, dm[0]!, dm[1]!, L);
  }
}

/**
 * Importance-weighted quantization of one row: per block, the candidate range with the smallest weighted error,
 * then one weighted least-squares refit of (d, m) for the chosen codes, kept only if it lowers the error.
 */
function quantizeRowWeighted(x: Float32Array, xo: number, y: Uint8Array, yo: number, nPerRow: number, w: Float32Array): void {
  const nb = nPerRow / QK_RTN;
  for (let ib = 0; ib < nb; ib++, yo += TS_RTN) {
    const xb = xo + ib * QK_RTN;
    const wb = ib * QK_RTN; // importance is per column: the same offset in every row
    blockRange(x, xb);
    const min = dm[0]!;
    const range = dm[1]! - min;

    let bestErr = Infinity;
    let bestD = 0;
    let bestM = 0;
    for (let c = 0; c < RANGE_CANDIDATES.length; c++) {
      const f = RANGE_CANDIDATES[c]!;
      // narrow the range by (1 − f) and centre it: clips both extremes equally
      const err = quantizeBlockWith(x, xb, (f * range) / 15, min + ((1 - f) * range) / 2, w, wb);
      if (err < bestErr) {
        bestErr = err;
        bestD = dm[0]!;
        bestM = dm[1]!;
        bestL.set(L);
      }
    }

    // Weighted least squares for x ≈ d·q + m with the chosen codes q: the 2×2 normal equations.
    let sw = 0;
    let swq = 0;
    let swq2 = 0;
    let swx = 0;
    let swqx = 0;
    for (let j = 0; j < QK_RTN; j++) {
      const wj = w[wb + j]!;
      const q = bestL[j]!;
      const v = x[xb + j]!;
      sw += wj;
      swq += wj * q;
      swq2 += wj * q * q;
      swx += wj * v;
      swqx += wj * q * v;
    }
    const det = sw * swq2 - swq * swq;
    if (det > 0) {
      const d = (sw * swqx - swq * swx) / det;
      const m = (swq2 * swx - swq * swqx) / det;
      if (d > 0) {
        const err = quantizeBlockWith(x, xb, d, m, w, wb);
        if (err < bestErr) {
          bestErr = err;
          bestD = dm[0]!;
          bestM = dm[1]!;
          bestL.set(L);
        }
      }
    }
    storeBlock(y, yo, bestD, bestM, bestL);
  }
}

/** Decodes `k` values: `x = q·d + m`. */
function dequantizeRowRtn(src: Uint8Array, dst: Float32Array, k: number): void {
  const nb = k / QK_RTN;
  for (let i = 0, xo = 0, yo = 0; i < nb; i++, xo += TS_RTN, yo += QK_RTN) {
    const d = readFp16(src, xo);
    const m = readFp16(src, xo + 2);
    for (let j = 0; j < QK_RTN / 2; j++) {
      const b = src[xo + 4 + j]!;
      dst[yo + j] = (b & 0x0f) * d + m;
      dst[yo + j + QK_RTN / 2] = (b >> 4) * d + m;
    }
  }
}

export const rtnInt4: QuantScheme = defineScheme({
  name: "rtn_q4_g64",
  ggmlType: null,
  description: "example plugin: 4-bit asymmetric round-to-nearest, 64 values per group, fp16 scale and min (4.5 bpw)",
  layout: {
    blockSize: QK_RTN,
    typeSize: TS_RTN,
    fields: [
      { name: "d", type: "f16", count: 1, doc: "step between codes" },
      { name: "m", type: "f16", count: 1, doc: "value of code 0 (the group minimum without importance)" },
      { name: "qs", type: "u8", count: QK_RTN / 2, doc: "codes 0..15: j in the low nibble of byte j, j+32 in the high nibble" },
    ],
  },
  needs: { importance: "optional" },

  quantizeRowRef(src, dst, n) {
    quantizeBlocksRef(src, 0, dst, 0, n / QK_RTN);
  },

  dequantizeRow: dequantizeRowRtn,

  quantize(src, dst, nRows, nPerRow, options) {
    const rowBytes = (nPerRow / QK_RTN) * TS_RTN;
    const w = options?.importance ?? null;
    if (w === null) {
      quantizeBlocksRef(src, 0, dst, 0, (nRows * nPerRow) / QK_RTN);
    } else {
      // The host has checked w: nPerRow finite values >= 0. A direct caller may not have.
      if (w.length !== nPerRow) {
        throw new SchemeError("QUANT_BAD_IMPORTANCE", `importance has ${w.length} values, the row length is ${nPerRow}`, { scheme: "rtn_q4_g64" });
      }
      for (let r = 0; r < nRows; r++) quantizeRowWeighted(src, r * nPerRow, dst, r * rowBytes, nPerRow, w);
    }
    return nRows * rowBytes;
  },
});
