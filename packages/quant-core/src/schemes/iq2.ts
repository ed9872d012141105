/**
 * The "true" 2-bit i-quants of ggml: iq2_xxs (2.0625 bpw), iq2_xs (2.3125 bpw) and iq2_s (2.5625 bpw).
 * Groups of 8 magnitudes are snapped to points of an E8-lattice-derived grid (256 / 512 / 1024 points, looked up
 * through `iq2_data`), with sign bits stored beside them and one 4-bit scale per 32 (xxs) or 16 (xs, s) values.
 *
 * Ported from ggml d99724f, ggml/src/ggml-quants.c, keeping its loop shape and names. Every C `float` operation is
 * `Math.fround` of the operation on float32 values (no FMA). iq2_xxs and iq2_xs need an importance matrix
 * (`ggml_quantize_requires_imatrix`); iq2_s takes one optionally.
 */
import { GGMLQuantizationType } from "@quantlab/gguf";
import { defineScheme, type QuantizeOptions, type QuantScheme } from "../scheme.js";
import { SchemeError } from "../errors.js";
import { fp32ToFp16, readFp16 } from "../math/fp16.js";
import { importanceRequired } from "./common.js";
import { iq2sGrid, iq2xsGrid, iq2xxsGrid, KMASK_IQ2XS, KSIGNS_IQ2XS } from "./iq-grids.js";
import {
  F_0_1,
  GROUP_MAX_EPS,
  GROUP_MAX_EPS_IQ2_S,
  IQ2_S_INDEX,
  IQ2_XS_INDEX,
  IQ2_XXS_INDEX,
  iq2FindBestNeighbour,
  iq2xsInitImpl,
  type Iq2Entry,
} from "./iq2-common.js";
import { makeQpQuants } from "./kquants-helpers.js";
import { ensureWasmTables, runWasmRows } from "../wasm/quants.js";
import { nearestInt } from "../math/round.js";

const f = Math.fround;
const QK_K = 256;

/** Bytes of `block_iq2_xxs`: `ggml_half d; uint16_t qs[QK_K/8]`. */
export const BLOCK_IQ2_XXS_SIZE = 66;
/** Bytes of `block_iq2_xs`: `ggml_half d; uint16_t qs[QK_K/8]; uint8_t scales[QK_K/32]`. */
export const BLOCK_IQ2_XS_SIZE = 74;
/** Bytes of `block_iq2_s`: `ggml_half d; uint8_t qs[QK_K/4]; uint8_t qh[QK_K/32]; uint8_t scales[QK_K/32]`. */
export const BLOCK_IQ2_S_SIZE = 82;

function notOnGrid(u: number, L: Int8Array, off: number): never {
  const ls: number[] = [];
  for (let i = 0; i < 8; i++) ls.push(L[off + i]);
  throw new SchemeError("QUANT_SCHEME_FAILED", `found point ${u} not on grid: ${ls.join(" ")}`);
}

function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

function missingWeights(name: string): never {
  throw new SchemeError("QUANT_IMPORTANCE_REQUIRED", "missing quantization weights (GGML_ASSERT(quant_weights))", { scheme: name });
}

// Note: `nearest_int(0.5f*(id*x - 1))` is written `nearestInt(0.5 * f(...))` in the search loops: halving a float32
// is exact in double and only leaves float32 below 2^-126, where both roundings give nearest_int 0.

// ------------------------------------------------------------------------------------------------ scratch

/**
 * `(signs & kmask_iq2xs[j] ? -1.f : 1.f)` for every sign byte and j, at [8*signs + j]. Multiplying by ±1 is exact,
 * so the dequantizers read the factor instead of branching on random sign bits.
 */
const SIGN_MUL = new Float32Array(256 * 8);
for (let s = 0; s < 256; s++) for (let j = 0; j < 8; j++) SIGN_MUL[8 * s + j] = s & KMASK_IQ2XS[j] ? -1 : 1;

const scales = new Float32Array(QK_K / 16);
const weight = new Float32Array(32);
const xval = new Float32Array(32);
const waux = new Float32Array(32);
const L = new Int8Array(32);
const Lu8 = new Uint8Array(L.buffer);
const Laux = new Int8Array(32);
const blockSigns = new Uint8Array(4);
const isOnGrid = new Uint8Array(2);
const isOnGridAux = new Uint8Array(2);
const q2xxs = new Uint32Array(2 * (QK_K / 32));
/**
 * Per sub-block products of the scale fits: `WXQ[4i + l] = weight[i]*xval[i]*q` and `WQQ[4i + l] = weight[i]*q*q`
 * with q = 2l+1, each the float32 the C computes inside its loops (it recomputes them for every trial scale).
 */
const WXQ = new Float64Array(4 * 32);
const WQQ = new Float64Array(4 * 32);

/** Fills WXQ / WQQ for the first `n` values of `weight` / `xval`. */
function fillFitTables(n: number): void {
  for (let i = 0; i < n; i++) {
    const w = weight[i];
    const wx = f(w * xval[i]);
    for (let l = 0; l < 3; l++) {
      const q = 2 * l + 1;
      WXQ[4 * i + l] = f(wx * q);
      WQQ[4 * i + l] = f(f(w * q) * q);
    }
  }
}
const q2xs = new Uint16Array(2 * (QK_K / 16));

/**
 * Flips the signs of `xb[8k..8k+8)` into `xval` (magnitudes), recording the sign bits. When `evenParity`, an odd
 * number of negatives is made even by flipping back the element with the smallest `weight*x*x` (iq2_xxs, iq2_xs:
 * only 7 sign bits are stored). Returns the sign byte.
 */
function groupSigns(x: Float32Array, xb: number, k: number, evenParity: boolean): number {
  let nflip = 0;
  let s = 0;
  for (let i = 0; i < 8; i++) {
    const v = x[xb + 8 * k + i];
    if (v >= 0) xval[8 * k + i] = v;
    else {
      xval[8 * k + i] = -v;
      ++nflip;
      s |= 1 << i;
    }
  }
  if (evenParity && nflip % 2) {
    let imin = 0;
    let min = f(f(weight[8 * k + imin] * x[xb + 8 * k + imin]) * x[xb + 8 * k + imin]);
    for (let i = 1; i < 8; i++) {
      const ax = f(f(weight[8 * k + i] * x[xb + 8 * k + i]) * x[xb + 8 * k + i]);
      if (ax < min) {
        min = ax;
        imin = i;
      }
    }
    xval[8 * k + imin] = -xval[8 * k + imin];
    s ^= 1 << imin;
  }
  return s;
}

// ------------------------------------------------------------------------------------------------ iq2_xxs

/**
 * Quantizes one row of `n` values (a multiple of 256) into iq2_xxs blocks at `y[yOff..]`.
 * @see quantize_row_iq2_xxs_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowIq2XxsImpl(x: Float32Array, xOff: number, y: Uint8Array, yOff: number, n: number, quantWeights: Float32Array): void {
  const { gridL, packed, map: kmapQ2xs, neighbours: kneighborsQ2xs } = iq2xsInitImpl(IQ2_XXS_INDEX);
  const kMaxQ = 3;
  const nbl = n / QK_K;

  for (let ibl = 0; ibl < nbl; ++ibl) {
    const yb = yOff + ibl * BLOCK_IQ2_XXS_SIZE;
    writeU16(y, yb, 0);
    q2xxs.fill(0);

    let maxScale = 0;

    const xbl = xOff + QK_K * ibl;
    let sumx2 = 0;
    for (let i = 0; i < QK_K; ++i) sumx2 = f(sumx2 + f(x[xbl + i] * x[xbl + i]));
    const sigma2 = f(sumx2 / QK_K);

    for (let ib = 0; ib < QK_K / 32; ++ib) {
      const xb = xbl + 32 * ib;
      const qw = QK_K * ibl + 32 * ib;
      for (let i = 0; i < 32; ++i) weight[i] = f(quantWeights[qw + i] * f(Math.sqrt(f(sigma2 + f(x[xb + i] * x[xb + i])))));
      for (let i = 0; i < 32; ++i) waux[i] = f(Math.sqrt(weight[i]));
      for (let k = 0; k < 4; ++k) blockSigns[k] = groupSigns(x, xb, k, true) & 127;
      let max = xval[0];
      for (let i = 1; i < 32; ++i) max = max > xval[i] ? max : xval[i];
      if (max < GROUP_MAX_EPS) {
        scales[ib] = 0;
        L.fill(0);
        continue;
      }
      fillFitTables(32);
      let scale = makeQpQuants(32, kMaxQ + 1, xval, 0, Lu8, 0, weight, 0);
      const effMax = f(scale * kMaxQ);
      let best = 0;
      for (let is = -6; is <= 6; ++is) {
        const id = f(f(2 * kMaxQ - 1 + f(is * F_0_1)) / effMax);
        const thisScale = f(1 / id);
        for (let k = 0; k < 4; ++k) {
          for (let i = 0; i < 8; ++i) {
            const l = nearestInt(0.5 * f(f(id * xval[8 * k + i]) - 1));
            Laux[8 * k + i] = l < 0 ? 0 : l > kMaxQ - 1 ? kMaxQ - 1 : l;
          }
          let u = 0;
          for (let i = 0; i < 8; ++i) u |= Laux[8 * k + i] << (2 * i);
          const gridIndex = kmapQ2xs[u];
          if (gridIndex < 0) {
            iq2FindBestNeighbour(kneighborsQ2xs, -kmapQ2xs[u] - 1, packed, gridL, xval, 8 * k, waux, 8 * k, thisScale, Laux, 8 * k);
          }
        }
        let sumqx = 0;
        let sumq2 = 0;
        for (let i = 0; i < 32; ++i) {
          // w*xval[i]*q and w*q*q, q = 2*Laux[i] + 1, from the per-sub-block tables
          const t = 4 * i + Laux[i];
          sumqx = f(sumqx + WXQ[t]);
          sumq2 = f(sumq2 + WQQ[t]);
        }
        if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
          scale = f(sumqx / sumq2);
          best = f(scale * sumqx);
          L.set(Laux);
        }
      }
      if (scale > 0) {
        const id = f(1 / scale);
        for (let k = 0; k < 4; ++k) {
          let u = 0;
          for (let i = 0; i < 8; ++i) {
            let l = nearestInt(0.5 * f(f(id * xval[8 * k + i]) - 1));
            l = l < 0 ? 0 : l > kMaxQ - 1 ? kMaxQ - 1 : l;
            u |= l << (2 * i);
          }
          let gridIndex = kmapQ2xs[u];
          if (gridIndex < 0) {
            gridIndex = iq2FindBestNeighbour(kneighborsQ2xs, -kmapQ2xs[u] - 1, packed, gridL, xval, 8 * k, waux, 8 * k, scale, L, 8 * k);
          }
          const pg = 8 * gridIndex;
          for (let i = 0; i < 8; ++i) L[8 * k + i] = gridL[pg + i]; // (pg[i] - 1)/2
        }
        let sumqx = 0;
        let sumq2 = 0;
        for (let i = 0; i < 32; ++i) {
          // w*xval[i]*q and w*q*q, q = 2*L[i] + 1, from the per-sub-block tables
          const t = 4 * i + L[i];
          sumqx = f(sumqx + WXQ[t]);
          sumq2 = f(sumq2 + WQQ[t]);
        }
        if (sumq2 > 0) scale = f(sumqx / sumq2);
      }
      if (scale < 0) {
        // "This should never happen": flip the scale positive and the signs with it.
        scale = -scale;
        for (let k = 0; k < 4; ++k) blockSigns[k] = ~blockSigns[k] & 127;
      }
      for (let k = 0; k < 4; ++k) {
        let u = 0;
        for (let i = 0; i < 8; ++i) u |= L[8 * k + i] << (2 * i);
        u &= 0xffff;
        const gridIndex = kmapQ2xs[u];
        if (!(gridIndex >= 0)) notOnGrid(u, L, 8 * k);
        q2xxs[2 * ib + 0] |= gridIndex << (8 * k);
        q2xxs[2 * ib + 1] |= blockSigns[k] << (7 * k);
      }
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }

    if (!maxScale) {
      y.fill(0, yb + 2, yb + BLOCK_IQ2_XXS_SIZE);
      continue;
    }

    const d = f(maxScale / 31);
    writeU16(y, yb, fp32ToFp16(d));
    const id = f(1 / d);
    for (let ib = 0; ib < QK_K / 32; ++ib) {
      let l = nearestInt(f(0.5 * f(f(id * scales[ib]) - 1)));
      l = l < 0 ? 0 : l > 15 ? 15 : l;
      q2xxs[2 * ib + 1] |= l << 28;
    }
    for (let j = 0; j < 2 * (QK_K / 32); j++) {
      const v = q2xxs[j];
      const o = yb + 2 + 4 * j;
      y[o] = v & 0xff;
      y[o + 1] = (v >>> 8) & 0xff;
      y[o + 2] = (v >>> 16) & 0xff;
      y[o + 3] = v >>> 24;
    }
  }
}

/** @see quantize_iq2_xxs (ggml/src/ggml-quants.c) */
export function quantizeIq2Xxs(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): number {
  if (!importance) missingWeights("iq2_xxs");
  const nblock = nPerRow / QK_K;
  const e = iq2xsInitImpl(IQ2_XXS_INDEX);
  if (
    ensureWasmTables("iq2_xxs", "iq2xxsSetTables", [e.grid, e.map, e.neighbours]) &&
    runWasmRows("q_iq2_xxs", QK_K, BLOCK_IQ2_XXS_SIZE, src, dst, nrows, nPerRow, importance, nblock)
  ) {
    // the WebAssembly kernel (assembly/quants.ts q_iq2_xxs); it declines inf/NaN input and ggml's abort cases
    return nrows * nblock * BLOCK_IQ2_XXS_SIZE;
  }
  for (let row = 0; row < nrows; ++row) {
    quantizeRowIq2XxsImpl(src, row * nPerRow, dst, row * nblock * BLOCK_IQ2_XXS_SIZE, nPerRow, importance);
  }
  return nrows * nblock * BLOCK_IQ2_XXS_SIZE;
}

/** ggml has no reference (imatrix-free) quantizer for iq2_xxs: always throws `QUANT_IMPORTANCE_REQUIRED`. */
export function quantizeRowIq2XxsRef(_src: Float32Array, _dst: Uint8Array, _k: number): void {
  importanceRequired("iq2_xxs");
}

/** @see dequantize_row_iq2_xxs (ggml/src/ggml-quants.c) */
export function dequantizeRowIq2Xxs(src: Uint8Array, dst: Float32Array, k: number): void {
  const grid = iq2xxsGrid();
  const nb = k / QK_K;
  let y = 0;
  for (let i = 0; i < nb; i++) {
    const xb = i * BLOCK_IQ2_XXS_SIZE;
    const d = readFp16(src, xb);
    for (let ib32 = 0; ib32 < QK_K / 32; ++ib32) {
      const o = xb + 2 + 8 * ib32;
      const aux1 = (src[o + 4] | (src[o + 5] << 8) | (src[o + 6] << 16) | (src[o + 7] << 24)) >>> 0;
      const db = f(f(d * (0.5 + (aux1 >>> 28))) * 0.25);
      for (let l = 0; l < 4; ++l) {
        const g = 8 * src[o + l];
        const sm = 8 * KSIGNS_IQ2XS[(aux1 >>> (7 * l)) & 127];
        for (let j = 0; j < 8; ++j) dst[y + j] = f(db * grid[g + j]) * SIGN_MUL[sm + j];
        y += 8;
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------ iq2_xs / iq2_s

/**
 * The scale search shared by iq2_xs and iq2_s for one group of 16 (two grid points), after `weight`, `waux`,
 * `xval` and `max` are set. Leaves the levels in `L[0..16)` and returns the scale.
 * Loop body of quantize_row_iq2_xs_impl / quantize_row_iq2_s_impl (identical in both).
 */
function iq2SearchScale16(max: number, entry: Iq2Entry): number {
  const { gridL, packed, map: kmapQ2xs, neighbours: kneighborsQ2xs } = entry;
  const kMaxQ = 3;
  fillFitTables(16);
  let best = 0;
  let scale = f(max / (2 * kMaxQ - 1));
  isOnGrid[0] = isOnGrid[1] = 1;
  for (let is = -9; is <= 9; ++is) {
    const id = f(f(2 * kMaxQ - 1 + f(is * F_0_1)) / max);
    const thisScale = f(1 / id);
    for (let k = 0; k < 2; ++k) {
      for (let i = 0; i < 8; ++i) {
        const l = nearestInt(0.5 * f(f(id * xval[8 * k + i]) - 1));
        Laux[8 * k + i] = l < 0 ? 0 : l > kMaxQ - 1 ? kMaxQ - 1 : l;
      }
      let u = 0;
      for (let i = 0; i < 8; ++i) u |= Laux[8 * k + i] << (2 * i);
      const gridIndex = kmapQ2xs[u];
      isOnGridAux[k] = 1;
      if (gridIndex < 0) {
        isOnGridAux[k] = 0;
        iq2FindBestNeighbour(kneighborsQ2xs, -kmapQ2xs[u] - 1, packed, gridL, xval, 8 * k, waux, 8 * k, thisScale, Laux, 8 * k);
      }
    }
    let sumqx = 0;
    let sumq2 = 0;
    for (let i = 0; i < 16; ++i) {
      // w*xval[i]*q and w*q*q, q = 2*Laux[i] + 1, from the per-sub-block tables
      const t = 4 * i + Laux[i];
      sumqx = f(sumqx + WXQ[t]);
      sumq2 = f(sumq2 + WQQ[t]);
    }
    if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
      scale = f(sumqx / sumq2);
      best = f(scale * sumqx);
      for (let i = 0; i < 16; ++i) L[i] = Laux[i];
      for (let k = 0; k < 2; ++k) isOnGrid[k] = isOnGridAux[k];
    }
  }
  let nNotOngrid = 0;
  for (let k = 0; k < 2; ++k) if (!isOnGrid[k]) ++nNotOngrid;
  if (nNotOngrid > 0 && scale > 0) {
    const id = f(1 / scale);
    for (let k = 0; k < 2; ++k) {
      if (isOnGrid[k]) continue;
      let u = 0;
      for (let i = 0; i < 8; ++i) {
        let l = nearestInt(0.5 * f(f(id * xval[8 * k + i]) - 1));
        l = l < 0 ? 0 : l > kMaxQ - 1 ? kMaxQ - 1 : l;
        u |= l << (2 * i);
        L[8 * k + i] = l;
      }
      const gridIndex = kmapQ2xs[u];
      if (gridIndex < 0) {
        iq2FindBestNeighbour(kneighborsQ2xs, -kmapQ2xs[u] - 1, packed, gridL, xval, 8 * k, waux, 8 * k, scale, L, 8 * k);
      }
    }
    let sumqx = 0;
    let sumq2 = 0;
    for (let i = 0; i < 16; ++i) {
      // w*xval[i]*q and w*q*q, q = 2*L[i] + 1, from the per-sub-block tables
      const t = 4 * i + L[i];
      sumqx = f(sumqx + WXQ[t]);
      sumq2 = f(sumq2 + WQQ[t]);
    }
    if (sumq2 > 0) scale = f(sumqx / sumq2);
  }
  return scale;
}

/**
 * Quantizes one row of `n` values (a multiple of 256) into iq2_xs blocks at `y[yOff..]`.
 * Follows ggml d99724f: `L` is cleared before the `max < GROUP_MAX_EPS` test.
 * @see quantize_row_iq2_xs_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowIq2XsImpl(x: Float32Array, xOff: number, y: Uint8Array, yOff: number, n: number, quantWeights: Float32Array): void {
  const entry = iq2xsInitImpl(IQ2_XS_INDEX);
  const kmapQ2xs = entry.map;
  const nbl = n / QK_K;

  for (let ibl = 0; ibl < nbl; ++ibl) {
    const yb = yOff + ibl * BLOCK_IQ2_XS_SIZE;
    const ysc = yb + 2 + QK_K / 4;
    writeU16(y, yb, 0);
    q2xs.fill(0);
    y.fill(0, ysc, ysc + QK_K / 32);

    let maxScale = 0;

    const xbl = xOff + QK_K * ibl;
    let sumx2 = 0;
    for (let i = 0; i < QK_K; ++i) sumx2 = f(sumx2 + f(x[xbl + i] * x[xbl + i]));
    const sigma2 = f(sumx2 / QK_K);

    for (let ib = 0; ib < QK_K / 16; ++ib) {
      const xb = xbl + 16 * ib;
      const qw = QK_K * ibl + 16 * ib;
      for (let i = 0; i < 16; ++i) weight[i] = f(quantWeights[qw + i] * f(Math.sqrt(f(sigma2 + f(x[xb + i] * x[xb + i])))));
      for (let i = 0; i < 16; ++i) waux[i] = f(Math.sqrt(weight[i]));
      for (let k = 0; k < 2; ++k) blockSigns[k] = groupSigns(x, xb, k, true) & 127;
      let max = xval[0];
      for (let i = 1; i < 16; ++i) max = max > xval[i] ? max : xval[i];
      L.fill(0, 0, 16);
      if (max < GROUP_MAX_EPS) {
        scales[ib] = 0;
        continue;
      }
      let scale = iq2SearchScale16(max, entry);
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 2; ++k) blockSigns[k] = ~blockSigns[k] & 127;
      }
      for (let k = 0; k < 2; ++k) {
        let u = 0;
        for (let i = 0; i < 8; ++i) u |= L[8 * k + i] << (2 * i);
        u &= 0xffff;
        const gridIndex = kmapQ2xs[u];
        if (!(gridIndex >= 0)) notOnGrid(u, L, 8 * k);
        q2xs[2 * ib + k] = gridIndex | (blockSigns[k] << 9);
      }
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }

    if (!maxScale) {
      y.fill(0, yb + 2, yb + 2 + QK_K / 4);
      continue;
    }

    const d = f(maxScale / 31);
    writeU16(y, yb, fp32ToFp16(d));
    const id = f(1 / d);
    for (let ib = 0; ib < QK_K / 16; ++ib) {
      let l = nearestInt(f(0.5 * f(f(id * scales[ib]) - 1)));
      l = l < 0 ? 0 : l > 15 ? 15 : l;
      if (ib % 2 === 0) y[ysc + (ib >> 1)] = l;
      else y[ysc + (ib >> 1)] |= l << 4;
    }
    for (let j = 0; j < QK_K / 8; j++) writeU16(y, yb + 2 + 2 * j, q2xs[j]);
  }
}

/** @see quantize_iq2_xs (ggml/src/ggml-quants.c) */
export function quantizeIq2Xs(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): number {
  if (!importance) missingWeights("iq2_xs");
  const nblock = nPerRow / QK_K;
  for (let row = 0; row < nrows; ++row) {
    quantizeRowIq2XsImpl(src, row * nPerRow, dst, row * nblock * BLOCK_IQ2_XS_SIZE, nPerRow, importance);
  }
  return nrows * nblock * BLOCK_IQ2_XS_SIZE;
}

/** ggml has no reference (imatrix-free) quantizer for iq2_xs: always throws `QUANT_IMPORTANCE_REQUIRED`. */
export function quantizeRowIq2XsRef(_src: Float32Array, _dst: Uint8Array, _k: number): void {
  importanceRequired("iq2_xs");
}

/** @see dequantize_row_iq2_xs (ggml/src/ggml-quants.c) */
export function dequantizeRowIq2Xs(src: Uint8Array, dst: Float32Array, k: number): void {
  const grid = iq2xsGrid();
  const nb = k / QK_K;
  let y = 0;
  for (let i = 0; i < nb; i++) {
    const xb = i * BLOCK_IQ2_XS_SIZE;
    const d = readFp16(src, xb);
    const sc = xb + 2 + QK_K / 4;
    for (let ib32 = 0; ib32 < QK_K / 32; ++ib32) {
      const db0 = f(f(d * (0.5 + (src[sc + ib32] & 0xf))) * 0.25);
      const db1 = f(f(d * (0.5 + (src[sc + ib32] >> 4))) * 0.25);
      for (let l = 0; l < 4; ++l) {
        const o = xb + 2 + 2 * (4 * ib32 + l);
        const qs = src[o] | (src[o + 1] << 8);
        const g = 8 * (qs & 511);
        const sm = 8 * KSIGNS_IQ2XS[qs >> 9];
        const db = l < 2 ? db0 : db1;
        for (let j = 0; j < 8; ++j) dst[y + j] = f(db * grid[g + j]) * SIGN_MUL[sm + j];
        y += 8;
      }
    }
  }
}

/**
 * Quantizes one row of `n` values (a multiple of 256) into iq2_s blocks at `y[yOff..]`; `quantWeights` may be null.
 * Follows ggml d99724f: `L` is cleared before the `max < GROUP_MAX_EPS_IQ2_S` test.
 * @see quantize_row_iq2_s_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowIq2SImpl(x: Float32Array, xOff: number, y: Uint8Array, yOff: number, n: number, quantWeights: Float32Array | null): void {
  const entry = iq2xsInitImpl(IQ2_S_INDEX);
  const kmapQ2xs = entry.map;
  const nbl = n / QK_K;

  for (let ibl = 0; ibl < nbl; ++ibl) {
    const yb = yOff + ibl * BLOCK_IQ2_S_SIZE;
    const yqs = yb + 2;
    const yqh = yqs + QK_K / 4;
    const ysc = yqh + QK_K / 32;
    y.fill(0, yb, yb + BLOCK_IQ2_S_SIZE);

    let maxScale = 0;

    const xbl = xOff + QK_K * ibl;
    let sumx2 = 0;
    for (let i = 0; i < QK_K; ++i) sumx2 = f(sumx2 + f(x[xbl + i] * x[xbl + i]));
    const sigma2 = f(f(2 * sumx2) / QK_K);

    for (let ib = 0; ib < QK_K / 16; ++ib) {
      const xb = xbl + 16 * ib;
      if (quantWeights) {
        const qw = QK_K * ibl + 16 * ib;
        for (let i = 0; i < 16; ++i) weight[i] = f(quantWeights[qw + i] * f(Math.sqrt(f(sigma2 + f(x[xb + i] * x[xb + i])))));
      } else {
        for (let i = 0; i < 16; ++i) weight[i] = f(f(0.25 * sigma2) + f(x[xb + i] * x[xb + i]));
      }
      for (let i = 0; i < 16; ++i) waux[i] = f(Math.sqrt(weight[i]));
      for (let k = 0; k < 2; ++k) blockSigns[k] = groupSigns(x, xb, k, false);
      let max = xval[0];
      for (let i = 1; i < 16; ++i) max = max > xval[i] ? max : xval[i];
      L.fill(0, 0, 16);
      if (max < GROUP_MAX_EPS_IQ2_S) {
        scales[ib] = 0;
        continue;
      }
      let scale = iq2SearchScale16(max, entry);
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 2; ++k) blockSigns[k] = ~blockSigns[k] & 0xff;
      }
      for (let k = 0; k < 2; ++k) {
        let u = 0;
        for (let i = 0; i < 8; ++i) u |= L[8 * k + i] << (2 * i);
        u &= 0xffff;
        const gridIndex = kmapQ2xs[u];
        if (!(gridIndex >= 0)) notOnGrid(u, L, 8 * k);
        const i8 = 2 * ib + k;
        y[yqs + i8] = gridIndex & 255;
        y[yqh + (i8 >> 2)] |= (gridIndex >> 8) << (2 * (i8 % 4));
        y[yqs + QK_K / 8 + i8] = blockSigns[k];
      }
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }

    if (!maxScale) continue;

    const d = f(maxScale / 31);
    writeU16(y, yb, fp32ToFp16(f(d * f(0.9875))));
    const id = f(1 / d);
    for (let ib = 0; ib < QK_K / 16; ++ib) {
      let l = nearestInt(f(0.5 * f(f(id * scales[ib]) - 1)));
      l = l < 0 ? 0 : l > 15 ? 15 : l;
      if (ib % 2 === 0) y[ysc + (ib >> 1)] = l;
      else y[ysc + (ib >> 1)] |= l << 4;
    }
  }
}

/** @see quantize_iq2_s (ggml/src/ggml-quants.c) */
export function quantizeIq2S(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): number {
  const nblock = nPerRow / QK_K;
  if (quantizeIq2SWasm(src, dst, nrows, nPerRow, importance)) return nrows * nblock * BLOCK_IQ2_S_SIZE;
  for (let row = 0; row < nrows; ++row) {
    quantizeRowIq2SImpl(src, row * nPerRow, dst, row * nblock * BLOCK_IQ2_S_SIZE, nPerRow, importance);
  }
  return nrows * nblock * BLOCK_IQ2_S_SIZE;
}

/**
 * The WebAssembly kernel (assembly/quants.ts q_iq2_s) with the grid tables copied in once; false when it is off or
 * declines (inf/NaN input, or a case where ggml aborts: the TypeScript path then throws the error).
 */
function quantizeIq2SWasm(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): boolean {
  const e = iq2xsInitImpl(IQ2_S_INDEX);
  if (!ensureWasmTables("iq2_s", "iq2sSetTables", [e.grid, e.map, e.neighbours])) return false;
  if (importance === null) return runWasmRows("q_iq2_s", QK_K, BLOCK_IQ2_S_SIZE, src, dst, nrows, nPerRow, null, 0);
  return runWasmRows("q_iq2_s", QK_K, BLOCK_IQ2_S_SIZE, src, dst, nrows, nPerRow, importance, nPerRow / QK_K);
}

/** @see quantize_row_iq2_s_ref (ggml/src/ggml-quants.c): `quantize_iq2_s(x, y, 1, k, NULL)` */
export function quantizeRowIq2SRef(src: Float32Array, dst: Uint8Array, k: number): void {
  quantizeIq2S(src, dst, 1, k, null);
}

/** @see dequantize_row_iq2_s (ggml/src/ggml-quants.c) */
export function dequantizeRowIq2S(src: Uint8Array, dst: Float32Array, k: number): void {
  const grid = iq2sGrid();
  const nb = k / QK_K;
  let y = 0;
  for (let i = 0; i < nb; i++) {
    const xb = i * BLOCK_IQ2_S_SIZE;
    const d = readFp16(src, xb);
    let qs = xb + 2;
    const qh = xb + 2 + QK_K / 4;
    const sc = qh + QK_K / 32;
    let signs = qs + QK_K / 8;
    for (let ib32 = 0; ib32 < QK_K / 32; ++ib32) {
      const db0 = f(f(d * (0.5 + (src[sc + ib32] & 0xf))) * 0.25);
      const db1 = f(f(d * (0.5 + (src[sc + ib32] >> 4))) * 0.25);
      for (let l = 0; l < 4; ++l) {
        const dl = l < 2 ? db0 : db1;
        const g = 8 * (src[qs + l] | ((src[qh + ib32] << (8 - 2 * l)) & 0x300));
        const sm = 8 * src[signs + l];
        for (let j = 0; j < 8; ++j) dst[y + j] = f(dl * grid[g + j]) * SIGN_MUL[sm + j];
        y += 8;
      }
      qs += 4;
      signs += 4;
    }
  }
}

// ------------------------------------------------------------------------------------------------ schemes

function imp(options: QuantizeOptions | undefined): Float32Array | null {
  return options?.importance ?? null;
}

/** Built-in schemes of this family. */
export const iq2Schemes: readonly QuantScheme[] = [
  defineScheme({
    name: "iq2_xxs",
    ggmlType: GGMLQuantizationType.IQ2_XXS,
    description: "2.0625 bpw i-quant: 8-value groups on a 256-point E8 grid, 7 sign bits per group, 4-bit scale per 32 (needs an imatrix)",
    layout: {
      blockSize: 256,
      typeSize: BLOCK_IQ2_XXS_SIZE,
      fields: [
        { name: "d", type: "f16", count: 1, doc: "super-block scale" },
        { name: "qs", type: "u16", count: 32, doc: "per 32 values: 4 grid indices (8 bits) | 4x7 sign bits + 4-bit scale" },
      ],
    },
    needs: { importance: "required" },
    init: () => {
      iq2xsInitImpl(IQ2_XXS_INDEX);
      iq2xxsGrid();
    },
    quantizeRowRef: quantizeRowIq2XxsRef,
    dequantizeRow: dequantizeRowIq2Xxs,
    quantize: (src, dst, nRows, nPerRow, options) => quantizeIq2Xxs(src, dst, nRows, nPerRow, imp(options)),
  }),
  defineScheme({
    name: "iq2_xs",
    ggmlType: GGMLQuantizationType.IQ2_XS,
    description: "2.3125 bpw i-quant: 8-value groups on a 512-point grid, 7 sign bits per group, 4-bit scale per 16 (needs an imatrix)",
    layout: {
      blockSize: 256,
      typeSize: BLOCK_IQ2_XS_SIZE,
      fields: [
        { name: "d", type: "f16", count: 1, doc: "super-block scale" },
        { name: "qs", type: "u16", count: 32, doc: "grid index (9 bits) | 7 sign bits" },
        { name: "scales", type: "u8", count: 8, doc: "two 4-bit scales per 32 values" },
      ],
    },
    needs: { importance: "required" },
    init: () => {
      iq2xsInitImpl(IQ2_XS_INDEX);
      iq2xsGrid();
    },
    quantizeRowRef: quantizeRowIq2XsRef,
    dequantizeRow: dequantizeRowIq2Xs,
    quantize: (src, dst, nRows, nPerRow, options) => quantizeIq2Xs(src, dst, nRows, nPerRow, imp(options)),
  }),
  defineScheme({
    name: "iq2_s",
    ggmlType: GGMLQuantizationType.IQ2_S,
    description: "2.5625 bpw i-quant: 8-value groups on a 1024-point grid, 8 sign bits per group, 4-bit scale per 16",
    layout: {
      blockSize: 256,
      typeSize: BLOCK_IQ2_S_SIZE,
      fields: [
        { name: "d", type: "f16", count: 1, doc: "super-block scale" },
        { name: "qs", type: "u8", count: 64, doc: "32 grid index low bytes, then 32 sign bytes" },
        { name: "qh", type: "u8", count: 8, doc: "grid index high 2 bits" },
        { name: "scales", type: "u8", count: 8, doc: "two 4-bit scales per 32 values" },
      ],
    },
    needs: { importance: "optional" },
    init: () => {
      iq2xsInitImpl(IQ2_S_INDEX);
      iq2sGrid();
    },
    quantizeRowRef: quantizeRowIq2SRef,
    dequantizeRow: dequantizeRowIq2S,
    quantize: (src, dst, nRows, nPerRow, options) => quantizeIq2S(src, dst, nRows, nPerRow, imp(options)),
  }),
];
