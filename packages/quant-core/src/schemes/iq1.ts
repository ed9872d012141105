/**
 * The 1-bit i-quants of ggml: iq1_s (1.5625 bpw) and iq1_m (1.75 bpw). Each group of 8 values is one of 2048
 * ternary points (-1, 0, +1) of `iq1s_grid`, shifted by ±IQ1S_DELTA, times a 3-bit odd scale per 32 (iq1_s) or
 * 16 (iq1_m) values. The three-level split is found exactly by sorting a sub-block and trying every pair of
 * boundaries.
 *
 * Ported from ggml d99724f, ggml/src/ggml-quants.c, keeping its loop shape and names, including its fixes over
 * earlier ggml: `best_score` starts at -FLT_MAX, an all-zero sub-block gets the fixed shift (iq1_s: +1, iq1_m: 0),
 * and a sub-block for which no split is found falls back to the all-zero encoding instead of asserting.
 * Every C `float` operation is `Math.fround` of the operation on float32 values (no FMA).
 * iq1_s needs an importance matrix; iq1_m takes one optionally.
 */
import { GGMLQuantizationType } from "@quantlab/gguf";
import { defineScheme, type QuantizeOptions, type QuantScheme } from "../scheme.js";
import { SchemeError } from "../errors.js";
import { fp16ToFp32, fp32ToFp16, readFp16 } from "../math/fp16.js";
import { importanceRequired } from "./common.js";
import { IQ1M_DELTA, IQ1S_DELTA, iq1sGrid, NGRID_IQ1S } from "./iq-grids.js";
import { FLT_MAX, GROUP_MAX_EPS_IQ1_M, GROUP_MAX_EPS_IQ1_S, IQ1_INDEX, iq2xsInitImpl, TERMS } from "./iq2-common.js";
import { nearestInt } from "../math/round.js";
import { ensureWasmTables, wasmDequantizer, wasmExport } from "../wasm/quants.js";

const f = Math.fround;
const QK_K = 256;

/** Bytes of `block_iq1_s`: `ggml_half d; uint8_t qs[QK_K/8]; uint16_t qh[QK_K/32]`. */
export const BLOCK_IQ1_S_SIZE = 50;
/** Bytes of `block_iq1_m`: `uint8_t qs[QK_K/8]; uint8_t qh[QK_K/16]; uint8_t scales[QK_K/32]` (no `d` field). */
export const BLOCK_IQ1_M_SIZE = 56;

/** @see IQ1S_BLOCK_SIZE */
const IQ1S_BLOCK_SIZE = 32;
/** @see IQ1M_BLOCK_SIZE */
const IQ1M_BLOCK_SIZE = 16;

/** `{-1 + delta, delta, 1 + delta}` and `{-1 - delta, -delta, 1 - delta}` (exact in float32). */
const X_P_S = new Float32Array([-1 + IQ1S_DELTA, IQ1S_DELTA, 1 + IQ1S_DELTA]);
const X_M_S = new Float32Array([-1 - IQ1S_DELTA, -IQ1S_DELTA, 1 - IQ1S_DELTA]);
const X_P_M = new Float32Array([-1 + IQ1M_DELTA, IQ1M_DELTA, 1 + IQ1M_DELTA]);
const X_M_M = new Float32Array([-1 - IQ1M_DELTA, -IQ1M_DELTA, 1 - IQ1M_DELTA]);

// ------------------------------------------------------------------------------------------------ scratch

const scales = new Float32Array(QK_K / IQ1M_BLOCK_SIZE);
const weight = new Float32Array(IQ1S_BLOCK_SIZE);
const L = new Int8Array(IQ1S_BLOCK_SIZE);
const sumx = new Float32Array(IQ1S_BLOCK_SIZE + 1);
const sumw = new Float32Array(IQ1S_BLOCK_SIZE + 1);
/** iq1_s split search: the i2-only third terms of sumqx / sumq2 for the x_p and x_m shifts. */
const CXP = new Float64Array(IQ1S_BLOCK_SIZE + 1);
const CXM = new Float64Array(IQ1S_BLOCK_SIZE + 1);
const CWP = new Float64Array(IQ1S_BLOCK_SIZE + 1);
const CWM = new Float64Array(IQ1S_BLOCK_SIZE + 1);
/** `pairs[2j]` (the value) of the C, sorted with its index `idx[2j]`. */
const pairVal = new Float32Array(IQ1S_BLOCK_SIZE);
const idx = new Int32Array(IQ1S_BLOCK_SIZE);
const index = new Uint16Array(IQ1S_BLOCK_SIZE / 8);
const shifts = new Int8Array(QK_K / IQ1M_BLOCK_SIZE);
/** iq1_m split search states: sumqx[0..3] at [0..3], sumq2[0..3] at [4..7]. */
const SPLIT_P = new Float64Array(8);
const SPLIT_Q = new Float64Array(8);
const SPLIT_T = new Float64Array(8);
/** iq1_m split search: per element and level, the products `w*x_p[l]*xb`, `w*x_m[l]*xb`, `w*x_p[l]*x_p[l]`, `w*x_m[l]*x_m[l]`. */
const termPx = new Float32Array(3 * IQ1M_BLOCK_SIZE);
const termMx = new Float32Array(3 * IQ1M_BLOCK_SIZE);
const termPq = new Float32Array(3 * IQ1M_BLOCK_SIZE);
const termMq = new Float32Array(3 * IQ1M_BLOCK_SIZE);

/**
 * Sorts the `n` values `x[xb..xb+n)` ascending into `pairVal`, with their positions in `idx`, as glibc's `qsort`
 * does with `iq1_sort_helper` (a stable merge sort in the reference build: equal values keep their order).
 * @see iq1_sort_helper (ggml/src/ggml-quants.c)
 */
function sortPairs(x: Float32Array, xb: number, n: number): void {
  for (let j = 0; j < n; ++j) {
    const v = x[xb + j];
    let p = j;
    while (p > 0 && pairVal[p - 1] > v) {
      pairVal[p] = pairVal[p - 1];
      idx[p] = idx[p - 1];
      p--;
    }
    pairVal[p] = v;
    idx[p] = j;
  }
}

/**
 * The neighbour of the off-grid point at `neighbours[nOff]` that best fits `xval` as `scale * xg[l]`; writes its
 * coordinates to `L[lOff..lOff+8)` and returns its index. `packed` / `gridL` are the grid as packed and unpacked coordinates l (`Iq2Entry`).
 * @see iq1_find_best_neighbour2 (ggml/src/ggml-quants.c)
 */
export function iq1FindBestNeighbour2(
  neighbours: Uint16Array,
  nOff: number,
  packed: Uint16Array,
  gridL: Uint8Array,
  xval: Float32Array,
  xOff: number,
  weightArr: Float32Array,
  wOff: number,
  scale: number,
  xg: Float32Array,
  Lout: Int8Array,
  lOff: number,
  ngrid: number,
): number {
  const numNeighbors = neighbours[nOff];
  if (!(numNeighbors > 0)) throw new SchemeError("QUANT_SCHEME_FAILED", "GGML_ASSERT(num_neighbors > 0) failed in iq1_find_best_neighbour2");
  // the 8x3 terms w*diff*diff, diff = scale*xg[l] - xval[i], as the C computes them; then per neighbour the C's
  // sequential float sum of its eight terms (see iq2FindBestNeighbour)
  const T = TERMS;
  let nonNeg = true;
  for (let l = 0; l < 3; l++) {
    const sq = f(scale * xg[l]);
    for (let i = 0; i < 8; i++) {
      const diff = f(sq - xval[xOff + i]);
      const t = f(f(weightArr[wOff + i] * diff) * diff);
      T[4 * i + l] = t;
      if (!(t >= 0)) nonNeg = false;
    }
  }
  let bestScore = FLT_MAX;
  let gridIndex = -1;
  for (let j = 1; j <= numNeighbors; ++j) {
    const g = neighbours[nOff + j];
    const kg = packed[g];
    const t0 = T[kg & 3];
    const t1 = T[4 + ((kg >> 2) & 3)];
    const t2 = T[8 + ((kg >> 4) & 3)];
    const t3 = T[12 + ((kg >> 6) & 3)];
    const t4 = T[16 + ((kg >> 8) & 3)];
    const t5 = T[20 + ((kg >> 10) & 3)];
    const t6 = T[24 + ((kg >> 12) & 3)];
    const t7 = T[28 + (kg >> 14)];
    if (nonNeg) {
      // Certified skip: with nonnegative terms the C's float sum c of the eight terms is within
      // gamma_7 = 7u/(1-7u) < 4.2e-7 (u = 2^-24) of their exact sum s, and the double sum e is within 1e-15
      // of s, so e*(1 - 1e-6) >= bestScore implies c >= bestScore: this neighbour cannot win (c < bestScore).
      // (Float additions have this relative bound in the subnormal range too; an overflow makes c = inf.)
      const e = t0 + t1 + (t2 + t3) + (t4 + t5 + (t6 + t7));
      if (e * (1 - 1e-6) >= bestScore) continue;
    }
    let d2 = f(0 + t0);
    d2 = f(d2 + t1);
    d2 = f(d2 + t2);
    d2 = f(d2 + t3);
    d2 = f(d2 + t4);
    d2 = f(d2 + t5);
    d2 = f(d2 + t6);
    d2 = f(d2 + t7);
    if (d2 < bestScore) {
      bestScore = d2;
      gridIndex = g;
    }
  }
  if (gridIndex < 0) {
    // ggml scans the whole grid here, but reads xval[i] with i the grid index (past the 8 values): no defined
    // result to reproduce. Only reachable when every neighbour distance is NaN or >= FLT_MAX.
    void ngrid;
    throw new SchemeError("QUANT_SCHEME_FAILED", "GGML_ASSERT(grid_index >= 0) failed in iq1_find_best_neighbour2");
  }
  const pg = 8 * gridIndex;
  for (let i = 0; i < 8; ++i) Lout[lOff + i] = gridL[pg + i];
  return gridIndex;
}

/**
 * `grid[j] + delta` of iq1s_grid for delta = +IQ1S_DELTA (first 2048*8 values) and -IQ1S_DELTA (next 2048*8): the
 * sums are exact in float32, so the dequantizers read them instead of adding per value.
 */
let iq1sShiftedCache: Float32Array | null = null;
function iq1sShifted(): Float32Array {
  if (!iq1sShiftedCache) {
    const grid = iq1sGrid();
    const t = new Float32Array(2 * grid.length);
    for (let i = 0; i < grid.length; i++) {
      t[i] = grid[i] + IQ1S_DELTA;
      t[grid.length + i] = grid[i] - IQ1S_DELTA;
    }
    iq1sShiftedCache = t;
  }
  return iq1sShiftedCache;
}
const IQ1S_MINUS_OFFSET = NGRID_IQ1S * 8;

// WebAssembly decoder of iq1_s (assembly/quants.ts dq_iq1_s) over the same shifted grid, copied in once.
const iq1sDeqTables = () => ensureWasmTables("iq1_s-deq", "iq1sSetTables", [iq1sShifted()], [IQ1S_MINUS_OFFSET]);
const dequantizeRowIq1SW = wasmDequantizer("dq_iq1_s", QK_K, BLOCK_IQ1_S_SIZE, (src, dst, n) => dequantizeRowIq1S(src, dst, n));

// ------------------------------------------------------------------------------------------------ iq1_s

/** The WebAssembly split search of iq1_s (assembly/quants.ts iq1s_split) with its io buffer and memory view. */
interface Iq1sSplitKernel {
  fn: (n: number, xp0: number, xp1: number, xp2: number, xm0: number, xm2: number) => number;
  scale: () => number;
  io: number;
  f32: Float32Array;
}

/** The split-search kernel when the WebAssembly path is on (taken once per quantize call), else null. */
function iq1sSplitKernel(): Iq1sSplitKernel | null {
  const k = wasmExport<Iq1sSplitKernel["fn"]>("iq1s_split");
  if (k === null) return null;
  return { fn: k.fn, scale: k.ex.iq1sSplitScale as () => number, io: (k.ex.iq1sSplitIo as () => number)(), f32: k.f32 };
}

/**
 * Quantizes one row of `n` values (a multiple of 256) into iq1_s blocks at `y[yOff..]`.
 * @see quantize_row_iq1_s_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowIq1SImpl(
  x: Float32Array,
  xOff: number,
  y: Uint8Array,
  yOff: number,
  n: number,
  quantWeights: Float32Array,
  split: Iq1sSplitKernel | null = null,
): void {
  const { gridL, packed, map: kmapQ2xs, neighbours: kneighborsQ2xs } = iq2xsInitImpl(IQ1_INDEX);
  const wsx = split === null ? 0 : split.io >> 2;
  const wsw = wsx + 48;
  const wf = split === null ? sumx : split.f32;
  const nbl = n / QK_K;
  const blockSize = IQ1S_BLOCK_SIZE;
  const xP = X_P_S;
  const xM = X_M_S;

  for (let ibl = 0; ibl < nbl; ++ibl) {
    const yb = yOff + ibl * BLOCK_IQ1_S_SIZE;
    const yqs = yb + 2;
    const yqh = yqs + QK_K / 8;
    y.fill(0, yb, yb + BLOCK_IQ1_S_SIZE);

    let maxScale = 0;

    const xbl = xOff + QK_K * ibl;
    let sumx2 = 0;
    for (let i = 0; i < QK_K; ++i) sumx2 = f(sumx2 + f(x[xbl + i] * x[xbl + i]));
    const sigma2 = f(f(2 * sumx2) / QK_K);

    for (let ib = 0; ib < QK_K / blockSize; ++ib) {
      const xb = xbl + blockSize * ib;
      const qw = QK_K * ibl + blockSize * ib;
      for (let i = 0; i < blockSize; ++i) weight[i] = f(quantWeights[qw + i] * f(Math.sqrt(f(sigma2 + f(x[xb + i] * x[xb + i])))));
      let max = Math.abs(x[xb]);
      for (let i = 1; i < blockSize; ++i) {
        const a = Math.abs(x[xb + i]);
        max = max > a ? max : a;
      }
      if (max < GROUP_MAX_EPS_IQ1_S) {
        scales[ib] = 0;
        shifts[ib] = 1;
        L.fill(1, 0, blockSize);
        continue;
      }
      // Exact weighted SSD minimization over the two boundaries that split the sorted values into -1, 0, +1.
      sortPairs(x, xb, blockSize);
      sumx[0] = sumw[0] = 0;
      for (let j = 0; j < blockSize; ++j) {
        const i = idx[j];
        sumx[j + 1] = f(sumx[j] + f(weight[i] * x[xb + i]));
        sumw[j + 1] = f(sumw[j] + weight[i]);
      }
      let bestScore = -FLT_MAX;
      let scale = max;
      let besti1 = -1;
      let besti2 = -1;
      let bestShift = 0;
      if (split !== null) {
        // the same search in WebAssembly (assembly/quants.ts iq1s_split), four i2 per f32x4, same floats and order
        for (let j = 0; j <= blockSize; ++j) {
          wf[wsx + j] = sumx[j];
          wf[wsw + j] = sumw[j];
        }
        const r = split.fn(blockSize, xP[0], xP[1], xP[2], xM[0], xM[2]);
        if (r >= 0) {
          besti1 = r & 255;
          besti2 = (r >> 8) & 255;
          bestShift = (r >> 16) - 1;
          scale = split.scale();
        }
      } else {
        const sx0 = sumx[0];
        const sw0 = sumw[0];
        const sxN = sumx[blockSize];
        const swN = sumw[blockSize];
        // the third terms of sumqx / sumq2 depend on i2 only: (sumx[block_size] - sumx[i2])*x_p[2] etc.
        for (let i2 = 0; i2 <= blockSize; ++i2) {
          const cx = f(sxN - sumx[i2]);
          const cw = f(swN - sumw[i2]);
          CXP[i2] = f(cx * xP[2]);
          CXM[i2] = f(cx * xM[2]);
          CWP[i2] = f(f(cw * xP[2]) * xP[2]);
          CWM[i2] = f(f(cw * xM[2]) * xM[2]);
        }
        const xP1 = xP[1];
        for (let i1 = 0; i1 <= blockSize; ++i1) {
          const sxi1 = sumx[i1];
          const swi1 = sumw[i1];
          const ax = f(sxi1 - sx0);
          const aw = f(swi1 - sw0);
          const axP = f(ax * xP[0]);
          const axM = f(ax * xM[0]);
          const awP = f(f(aw * xP[0]) * xP[0]);
          const awM = f(f(aw * xM[0]) * xM[0]);
          for (let i2 = i1; i2 <= blockSize; ++i2) {
            const bx = f(sumx[i2] - sxi1);
            const bw = f(sumw[i2] - swi1);
            // x_m[1] = -x_p[1]: bx*x_m[1] is -(bx*x_p[1]) and bw*x_m[1]*x_m[1] equals bw*x_p[1]*x_p[1], exactly
            const bxP = f(bx * xP1);
            const bwQ = f(f(bw * xP1) * xP1);
            let sumqx = f(f(axP + bxP) + CXP[i2]);
            let sumq2 = f(f(awP + bwQ) + CWP[i2]);
            if (sumq2 > 0 && f(sumqx * sumqx) > f(bestScore * sumq2)) {
              scale = f(sumqx / sumq2);
              bestScore = f(scale * sumqx);
              besti1 = i1;
              besti2 = i2;
              bestShift = 1;
            }
            sumqx = f(f(axM - bxP) + CXM[i2]);
            sumq2 = f(f(awM + bwQ) + CWM[i2]);
            if (sumq2 > 0 && f(sumqx * sumqx) > f(bestScore * sumq2)) {
              scale = f(sumqx / sumq2);
              bestScore = f(scale * sumqx);
              besti1 = i1;
              besti2 = i2;
              bestShift = -1;
            }
          }
        }
      }
      if (besti1 < 0 || besti2 < 0 || bestShift === 0) {
        // ggml d99724f: no usable split (NaN sums), encode the sub-block as all-zero.
        scales[ib] = 0;
        shifts[ib] = 1;
        L.fill(1, 0, blockSize);
        continue;
      }
      for (let j = 0; j < besti1; ++j) L[idx[j]] = 0;
      for (let j = besti1; j < besti2; ++j) L[idx[j]] = 1;
      for (let j = besti2; j < blockSize; ++j) L[idx[j]] = 2;
      if (scale < 0) {
        for (let j = 0; j < blockSize; ++j) L[j] = 2 - L[j];
        scale = -scale;
        bestShift = -bestShift;
      }
      let allOnGrid = true;
      const xx = bestShift === 1 ? xP : xM;
      for (let k = 0; k < blockSize / 8; ++k) {
        let u = 0;
        for (let j = 0; j < 8; ++j) u |= L[8 * k + j] << (2 * j);
        let gridIndex = kmapQ2xs[u];
        if (gridIndex < 0) {
          allOnGrid = false;
          gridIndex = iq1FindBestNeighbour2(kneighborsQ2xs, -kmapQ2xs[u] - 1, packed, gridL, x, xb + 8 * k, weight, 8 * k, scale, xx, L, 8 * k, NGRID_IQ1S);
        }
        index[k] = gridIndex;
      }
      if (!allOnGrid) {
        let sumqx = 0;
        let sumq2 = 0;
        for (let k = 0; k < blockSize / 8; ++k) {
          const pg = 8 * index[k];
          for (let j = 0; j < 8; ++j) {
            const w = weight[8 * k + j];
            const q = xx[gridL[pg + j]]; // xx[(pg[j] - 1)/2]
            sumqx = f(sumqx + f(f(w * q) * x[xb + 8 * k + j]));
            sumq2 = f(sumq2 + f(f(w * q) * q));
          }
        }
        if (sumqx > 0 && sumq2 > 0) scale = f(sumqx / sumq2);
      }
      let h = 0;
      for (let k = 0; k < blockSize / 8; ++k) {
        y[yqs + (blockSize / 8) * ib + k] = index[k] & 255;
        h |= (index[k] >> 8) << (3 * k);
      }
      y[yqh + 2 * ib] = h & 0xff;
      y[yqh + 2 * ib + 1] = h >> 8;
      scales[ib] = scale;
      shifts[ib] = bestShift;
      maxScale = maxScale > scale ? maxScale : scale;
    }

    if (!maxScale) continue;

    const d = f(maxScale / 15);
    const dh = fp32ToFp16(f(d * f(1.125)));
    y[yb] = dh & 0xff;
    y[yb + 1] = dh >> 8;
    const id = f(1 / d);
    for (let ib = 0; ib < QK_K / blockSize; ++ib) {
      let l = nearestInt(f(0.5 * f(f(id * scales[ib]) - 1)));
      l = l < 0 ? 0 : l > 7 ? 7 : l;
      if (shifts[ib] === -1) l |= 8;
      y[yqh + 2 * ib + 1] |= l << 4;
    }
  }
}

/** @see quantize_iq1_s (ggml/src/ggml-quants.c) */
export function quantizeIq1S(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): number {
  if (!importance) {
    throw new SchemeError("QUANT_IMPORTANCE_REQUIRED", "missing quantization weights (GGML_ASSERT(quant_weights))", { scheme: "iq1_s" });
  }
  const nblock = nPerRow / QK_K;
  const split = iq1sSplitKernel();
  for (let row = 0; row < nrows; ++row) {
    quantizeRowIq1SImpl(src, row * nPerRow, dst, row * nblock * BLOCK_IQ1_S_SIZE, nPerRow, importance, split);
  }
  return nrows * nblock * BLOCK_IQ1_S_SIZE;
}

/** ggml has no reference (imatrix-free) quantizer for iq1_s: always throws `QUANT_IMPORTANCE_REQUIRED`. */
export function quantizeRowIq1SRef(_src: Float32Array, _dst: Uint8Array, _k: number): void {
  importanceRequired("iq1_s");
}

/** @see dequantize_row_iq1_s (ggml/src/ggml-quants.c) */
export function dequantizeRowIq1S(src: Uint8Array, dst: Float32Array, k: number): void {
  const shifted = iq1sShifted();
  const nb = k / QK_K;
  let y = 0;
  for (let i = 0; i < nb; i++) {
    const xb = i * BLOCK_IQ1_S_SIZE;
    const d = readFp16(src, xb);
    let qs = xb + 2;
    const qhb = xb + 2 + QK_K / 8;
    for (let ib = 0; ib < QK_K / 32; ++ib) {
      const qh = src[qhb + 2 * ib] | (src[qhb + 2 * ib + 1] << 8);
      const dl = f(d * (2 * ((qh >> 12) & 7) + 1));
      // delta = qh & 0x8000 ? -IQ1S_DELTA : IQ1S_DELTA; y = dl * (grid[j] + delta)
      const base = (qh >>> 15) * IQ1S_MINUS_OFFSET; // qh & 0x8000 ? IQ1S_MINUS_OFFSET : 0, without a branch
      for (let l = 0; l < 4; ++l) {
        const g = base + 8 * (src[qs + l] | (((qh >> (3 * l)) & 7) << 8));
        dst[y] = dl * shifted[g];
        dst[y + 1] = dl * shifted[g + 1];
        dst[y + 2] = dl * shifted[g + 2];
        dst[y + 3] = dl * shifted[g + 3];
        dst[y + 4] = dl * shifted[g + 4];
        dst[y + 5] = dl * shifted[g + 5];
        dst[y + 6] = dl * shifted[g + 6];
        dst[y + 7] = dl * shifted[g + 7];
        y += 8;
      }
      qs += 4;
    }
  }
}

// ------------------------------------------------------------------------------------------------ iq1_m

const IQ1M_MASKS = [0x00, 0x80, 0x08, 0x88] as const;

/**
 * Adds element `i` of the sorted iq1_m sub-block at level `lvl` to the four (sumqx, sumq2) pairs in `S`, as the
 * C's three inner loops of quantize_row_iq1_m_impl do (first half of the sub-block: shift pattern by k/2, second
 * half: by k%2).
 */
function iq1mAccumulate(S: Float64Array, i: number, lvl: number): void {
  const t = 3 * i + lvl;
  const px = termPx[t];
  const mx = termMx[t];
  const pq = termPq[t];
  const mq = termMq[t];
  if (i < IQ1M_BLOCK_SIZE / 2) {
    S[0] = f(S[0] + px);
    S[1] = f(S[1] + px);
    S[2] = f(S[2] + mx);
    S[3] = f(S[3] + mx);
    S[4] = f(S[4] + pq);
    S[5] = f(S[5] + pq);
    S[6] = f(S[6] + mq);
    S[7] = f(S[7] + mq);
  } else {
    S[0] = f(S[0] + px);
    S[2] = f(S[2] + px);
    S[1] = f(S[1] + mx);
    S[3] = f(S[3] + mx);
    S[4] = f(S[4] + pq);
    S[6] = f(S[6] + pq);
    S[5] = f(S[5] + mq);
    S[7] = f(S[7] + mq);
  }
}

/** iq1_m weights of sub-block `ib` into `weight[0..16)`. */
function iq1mWeights(x: Float32Array, xb: number, quantWeights: Float32Array | null, qw: number, sigma2: number): void {
  if (quantWeights) {
    for (let i = 0; i < IQ1M_BLOCK_SIZE; ++i) weight[i] = f(quantWeights[qw + i] * f(Math.sqrt(f(sigma2 + f(x[xb + i] * x[xb + i])))));
  } else {
    for (let i = 0; i < IQ1M_BLOCK_SIZE; ++i) weight[i] = f(x[xb + i] * x[xb + i]);
  }
}

/**
 * Quantizes one row of `n` values (a multiple of 256) into iq1_m blocks at `y[yOff..]`; `quantWeights` may be null.
 * @see quantize_row_iq1_m_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowIq1MImpl(x: Float32Array, xOff: number, y: Uint8Array, yOff: number, n: number, quantWeights: Float32Array | null): void {
  const { gridL, packed, map: kmapQ2xs, neighbours: kneighborsQ2xs } = iq2xsInitImpl(IQ1_INDEX);
  const nbl = n / QK_K;
  const blockSize = IQ1M_BLOCK_SIZE;
  const xP = X_P_M;
  const xM = X_M_M;

  for (let ibl = 0; ibl < nbl; ++ibl) {
    const yb = yOff + ibl * BLOCK_IQ1_M_SIZE;
    const yqs = yb;
    const yqh = yb + QK_K / 8;
    const ysc = yqh + QK_K / 16;
    y.fill(0, yb, yb + BLOCK_IQ1_M_SIZE);

    let maxScale = 0;

    const xbl = xOff + QK_K * ibl;
    let sumx2 = 0;
    for (let i = 0; i < QK_K; ++i) sumx2 = f(sumx2 + f(x[xbl + i] * x[xbl + i]));
    const sigma2 = f(f(2 * sumx2) / QK_K);

    for (let ib = 0; ib < QK_K / blockSize; ++ib) {
      const xb = xbl + blockSize * ib;
      iq1mWeights(x, xb, quantWeights, QK_K * ibl + blockSize * ib, sigma2);
      let max = Math.abs(x[xb]);
      for (let i = 1; i < blockSize; ++i) {
        const a = Math.abs(x[xb + i]);
        max = max > a ? max : a;
      }
      if (max < GROUP_MAX_EPS_IQ1_M) {
        scales[ib] = 0;
        shifts[ib] = 0;
        L.fill(1, 0, blockSize);
        continue;
      }
      sortPairs(x, xb, blockSize);
      // The C recomputes `weight[i]*x_p[l]*xb[i]` etc. for every (i1, i2); each product is the same float every
      // time, so they are computed once here.
      for (let i = 0; i < blockSize; ++i) {
        const w = weight[i];
        const xi = x[xb + i];
        for (let l = 0; l < 3; ++l) {
          termPx[3 * i + l] = f(f(w * xP[l]) * xi);
          termMx[3 * i + l] = f(f(w * xM[l]) * xi);
          termPq[3 * i + l] = f(f(w * xP[l]) * xP[l]);
          termMq[3 * i + l] = f(f(w * xM[l]) * xM[l]);
        }
      }
      let bestScore = -FLT_MAX;
      let scale = max;
      let besti1 = -1;
      let besti2 = -1;
      let bestK = -1;
      // k: 0: +, +   1: +, -   2: -, +   3: -, -   (shift of the first, second 8 values)
      // For each (i1, i2) the C sums over j = 0..15 in order, element idx[j] at level 0 (j < i1), 1 (j < i2) or 2.
      // The partial sums over j < i1 do not depend on i2, nor those over j < i2 on the tail, so they are carried
      // over (prefix states P and Q) and only the level-2 tail is summed per pair: the same float additions in the
      // same order as the C, about a third of the work.
      SPLIT_P.fill(0);
      for (let i1 = 0; i1 <= blockSize; ++i1) {
        SPLIT_Q.set(SPLIT_P);
        for (let i2 = i1; i2 <= blockSize; ++i2) {
          SPLIT_T.set(SPLIT_Q);
          for (let j = i2; j < blockSize; ++j) iq1mAccumulate(SPLIT_T, idx[j], 2);
          for (let k = 0; k < 4; ++k) {
            const sx = SPLIT_T[k];
            const sq = SPLIT_T[4 + k];
            if (sq > 0 && f(sx * sx) > f(bestScore * sq)) {
              scale = f(sx / sq);
              bestScore = f(scale * sx);
              besti1 = i1;
              besti2 = i2;
              bestK = k;
            }
          }
          if (i2 < blockSize) iq1mAccumulate(SPLIT_Q, idx[i2], 1);
        }
        if (i1 < blockSize) iq1mAccumulate(SPLIT_P, idx[i1], 0);
      }
      if (besti1 < 0 || besti2 < 0 || bestK < 0) {
        // ggml d99724f: no usable split (NaN sums), encode the sub-block as all-zero.
        scales[ib] = 0;
        shifts[ib] = 0;
        L.fill(1, 0, blockSize);
        continue;
      }
      for (let j = 0; j < besti1; ++j) L[idx[j]] = 0;
      for (let j = besti1; j < besti2; ++j) L[idx[j]] = 1;
      for (let j = besti2; j < blockSize; ++j) L[idx[j]] = 2;
      if (scale < 0) {
        for (let j = 0; j < blockSize; ++j) L[j] = 2 - L[j];
        scale = -scale;
        bestK = bestK === 0 ? 3 : bestK === 1 ? 2 : bestK === 2 ? 1 : 0;
      }
      let allOnGrid = true;
      for (let k = 0; k < blockSize / 8; ++k) {
        const xx = k === 0 ? (bestK < 2 ? xP : xM) : bestK % 2 === 0 ? xP : xM;
        let u = 0;
        for (let j = 0; j < 8; ++j) u |= L[8 * k + j] << (2 * j);
        let gridIndex = kmapQ2xs[u];
        if (gridIndex < 0) {
          allOnGrid = false;
          gridIndex = iq1FindBestNeighbour2(kneighborsQ2xs, -kmapQ2xs[u] - 1, packed, gridL, x, xb + 8 * k, weight, 8 * k, scale, xx, L, 8 * k, NGRID_IQ1S);
        }
        index[k] = gridIndex;
      }
      if (!allOnGrid) {
        let sumqxF = 0;
        let sumq2F = 0;
        for (let k = 0; k < blockSize / 8; ++k) {
          const xx = k === 0 ? (bestK < 2 ? xP : xM) : bestK % 2 === 0 ? xP : xM;
          const pg = 8 * index[k];
          for (let j = 0; j < 8; ++j) {
            const w = weight[8 * k + j];
            const q = xx[gridL[pg + j]]; // xx[(pg[j] - 1)/2]
            sumqxF = f(sumqxF + f(f(w * q) * x[xb + 8 * k + j]));
            sumq2F = f(sumq2F + f(f(w * q) * q));
          }
        }
        if (sumqxF > 0 && sumq2F > 0) scale = f(sumqxF / sumq2F);
      }
      y[yqs + 2 * ib + 0] = index[0] & 255;
      y[yqs + 2 * ib + 1] = index[1] & 255;
      y[yqh + ib] = (index[0] >> 8) | ((index[1] >> 8) << 4);
      scales[ib] = scale;
      shifts[ib] = bestK;
      maxScale = maxScale > scale ? maxScale : scale;
    }

    if (!maxScale) continue;

    // sc = (uint16_t *)y[ibl].scales, little-endian
    let sc0 = 0, sc1 = 0, sc2 = 0, sc3 = 0;
    let d = f(maxScale / 15);
    const id = f(1 / d);
    let sumqxF = 0;
    let sumq2F = 0;
    for (let ib = 0; ib < QK_K / blockSize; ++ib) {
      let l = nearestInt(f(0.5 * f(f(id * scales[ib]) - 1)));
      l = l < 0 ? 0 : l > 7 ? 7 : l;
      const bits = l << (3 * (ib % 4));
      const w4 = ib >> 2;
      if (w4 === 0) sc0 |= bits;
      else if (w4 === 1) sc1 |= bits;
      else if (w4 === 2) sc2 |= bits;
      else sc3 |= bits;
      y[yqh + ib] |= IQ1M_MASKS[shifts[ib]];
      const xb = xbl + blockSize * ib;
      iq1mWeights(x, xb, quantWeights, QK_K * ibl + blockSize * ib, sigma2);
      for (let k = 0; k < blockSize / 8; ++k) {
        const xx = k === 0 ? (shifts[ib] < 2 ? xP : xM) : shifts[ib] % 2 === 0 ? xP : xM;
        const pg = 8 * (y[yqs + 2 * ib + k] + ((y[yqh + ib] << (8 - 4 * k)) & 0x700));
        for (let j = 0; j < 8; ++j) {
          const w = weight[8 * k + j];
          const q = f(xx[gridL[pg + j]] * (2 * l + 1)); // xx[(pg[j] - 1)/2]*(2*l+1)
          sumqxF = f(sumqxF + f(f(w * q) * x[xb + 8 * k + j]));
          sumq2F = f(sumq2F + f(f(w * q) * q));
        }
      }
    }
    if (sumq2F > 0) d = f(sumqxF / sumq2F);
    const s = fp32ToFp16(f(d * f(1.1125)));
    sc0 |= (s & 0x000f) << 12;
    sc1 |= (s & 0x00f0) << 8;
    sc2 |= (s & 0x0f00) << 4;
    sc3 |= s & 0xf000;
    y[ysc + 0] = sc0 & 0xff;
    y[ysc + 1] = (sc0 >> 8) & 0xff;
    y[ysc + 2] = sc1 & 0xff;
    y[ysc + 3] = (sc1 >> 8) & 0xff;
    y[ysc + 4] = sc2 & 0xff;
    y[ysc + 5] = (sc2 >> 8) & 0xff;
    y[ysc + 6] = sc3 & 0xff;
    y[ysc + 7] = (sc3 >> 8) & 0xff;
  }
}

/** @see quantize_iq1_m (ggml/src/ggml-quants.c) */
export function quantizeIq1M(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): number {
  const nblock = nPerRow / QK_K;
  for (let row = 0; row < nrows; ++row) {
    quantizeRowIq1MImpl(src, row * nPerRow, dst, row * nblock * BLOCK_IQ1_M_SIZE, nPerRow, importance);
  }
  return nrows * nblock * BLOCK_IQ1_M_SIZE;
}

/**
 * Reference (imatrix-free) iq1_m quantization of one row. ggml has no `quantize_row_iq1_m_ref`; this is what
 * `ggml_quantize_chunk` does without an imatrix: `quantize_iq1_m(x, y, 1, k, NULL)`.
 */
export function quantizeRowIq1MRef(src: Float32Array, dst: Uint8Array, k: number): void {
  quantizeIq1M(src, dst, 1, k, null);
}

/** @see dequantize_row_iq1_m (ggml/src/ggml-quants.c) */
export function dequantizeRowIq1M(src: Uint8Array, dst: Float32Array, k: number): void {
  const shifted = iq1sShifted();
  const nb = k / QK_K;
  let y = 0;
  for (let i = 0; i < nb; i++) {
    const xb = i * BLOCK_IQ1_M_SIZE;
    const scb = xb + QK_K / 8 + QK_K / 16;
    const sc0 = src[scb] | (src[scb + 1] << 8);
    const sc1 = src[scb + 2] | (src[scb + 3] << 8);
    const sc2 = src[scb + 4] | (src[scb + 5] << 8);
    const sc3 = src[scb + 6] | (src[scb + 7] << 8);
    const scaleU16 = (sc0 >> 12) | ((sc1 >> 8) & 0x00f0) | ((sc2 >> 4) & 0x0f00) | (sc3 & 0xf000);
    const d = fp16ToFp32(scaleU16);
    let qs = xb;
    let qh = xb + QK_K / 8;
    for (let ib = 0; ib < QK_K / 32; ++ib) {
      const scw = src[scb + 2 * (ib >> 1)] | (src[scb + 2 * (ib >> 1) + 1] << 8);
      const dl1 = f(d * (2 * ((scw >> (6 * (ib % 2) + 0)) & 0x7) + 1));
      const dl2 = f(d * (2 * ((scw >> (6 * (ib % 2) + 3)) & 0x7) + 1));
      const qh0 = src[qh];
      const qh1 = src[qh + 1];
      for (let l = 0; l < 4; ++l) {
        // idx[l] = qs[l] | ((qh[l/2] << (l%2 ? 4 : 8)) & 0x700); delta[l] = qh[l/2] & (l%2 ? 0x80 : 0x08) ? -IQ1S_DELTA : IQ1S_DELTA
        const h = l < 2 ? qh0 : qh1;
        const odd = l & 1;
        // (h & (odd ? 0x80 : 0x08) ? IQ1S_MINUS_OFFSET : 0), without a data-dependent branch
        const g = ((h >> (odd ? 7 : 3)) & 1) * IQ1S_MINUS_OFFSET + 8 * (src[qs + l] | ((odd ? h << 4 : h << 8) & 0x700));
        const dl = l < 2 ? dl1 : dl2;
        dst[y] = dl * shifted[g];
        dst[y + 1] = dl * shifted[g + 1];
        dst[y + 2] = dl * shifted[g + 2];
        dst[y + 3] = dl * shifted[g + 3];
        dst[y + 4] = dl * shifted[g + 4];
        dst[y + 5] = dl * shifted[g + 5];
        dst[y + 6] = dl * shifted[g + 6];
        dst[y + 7] = dl * shifted[g + 7];
        y += 8;
      }
      qs += 4;
      qh += 2;
    }
  }
}

// ------------------------------------------------------------------------------------------------ schemes

function imp(options: QuantizeOptions | undefined): Float32Array | null {
  return options?.importance ?? null;
}

/** Built-in schemes of this family. */
export const iq1Schemes: readonly QuantScheme[] = [
  defineScheme({
    name: "iq1_s",
    ggmlType: GGMLQuantizationType.IQ1_S,
    description: "1.5625 bpw i-quant: 8-value groups on a 2048-point ternary grid, ±delta shift and 3-bit scale per 32 (needs an imatrix)",
    layout: {
      blockSize: 256,
      typeSize: BLOCK_IQ1_S_SIZE,
      fields: [
        { name: "d", type: "f16", count: 1, doc: "super-block scale" },
        { name: "qs", type: "u8", count: 32, doc: "grid index low bytes" },
        { name: "qh", type: "u16", count: 8, doc: "per 32 values: 4x3 grid index high bits, 3-bit scale, delta sign" },
      ],
    },
    needs: { importance: "required" },
    init: () => {
      iq2xsInitImpl(IQ1_INDEX);
      iq1sShifted();
    },
    quantizeRowRef: quantizeRowIq1SRef,
    dequantizeRow: (src, dst, n) => (iq1sDeqTables() ? dequantizeRowIq1SW(src, dst, n) : dequantizeRowIq1S(src, dst, n)),
    quantize: (src, dst, nRows, nPerRow, options) => quantizeIq1S(src, dst, nRows, nPerRow, imp(options)),
  }),
  defineScheme({
    name: "iq1_m",
    ggmlType: GGMLQuantizationType.IQ1_M,
    description: "1.75 bpw i-quant: 8-value groups on the 2048-point ternary grid, ±delta per group, 3-bit scale per 16, fp16 scale split over the scale nibbles",
    layout: {
      blockSize: 256,
      typeSize: BLOCK_IQ1_M_SIZE,
      fields: [
        { name: "qs", type: "u8", count: 32, doc: "grid index low bytes" },
        { name: "qh", type: "u8", count: 16, doc: "grid index high 3 bits + delta sign, per 8 values" },
        { name: "scales", type: "u8", count: 8, doc: "3-bit scales per 16 values; the top nibbles of the 4 uint16 hold the fp16 super-block scale" },
      ],
    },
    needs: { importance: "optional" },
    init: () => {
      iq2xsInitImpl(IQ1_INDEX);
      iq1sShifted();
    },
    quantizeRowRef: quantizeRowIq1MRef,
    dequantizeRow: dequantizeRowIq1M,
    quantize: (src, dst, nRows, nPerRow, options) => quantizeIq1M(src, dst, nRows, nPerRow, imp(options)),
  }),
];
