/**
 * The iq3 family: iq3_xxs (3.0625 bpw) and iq3_s (3.4375 bpw), "true" 3-bit quantization on a D4-lattice grid,
 * byte-identical to ggml d99724f.
 *
 * Both search, per 32-value sub-block, for the scale whose rounded points on the grid (or their nearest grid
 * neighbours) give the best weighted fit; signs are stored separately. The super-block holds one fp16 scale and
 * 4-bit sub-block scales.
 *
 * Float arithmetic follows the C float semantics: every float operation is `Math.fround` of the operation on
 * float32 values, `a*b+c` rounds twice (the reference build has no FMA).
 *
 * @see quantize_row_iq3_xxs_impl, quantize_row_iq3_s_impl, dequantize_row_iq3_xxs, dequantize_row_iq3_s
 *   (ggml/src/ggml-quants.c)
 */
import { GGMLQuantizationType } from "@quantlab/gguf";
import { SchemeError } from "../errors.js";
import { readFp16, writeFp16 } from "../math/fp16.js";
import { nearestInt } from "../math/round.js";
import { defineScheme, type QuantScheme } from "../scheme.js";
import { iq3FindBestNeighbour, iq3GridData, iq3xsInitImpl } from "./iq3-grid.js";
import { KMASK_IQ2XS, KSIGNS_IQ2XS, getIq3sGridBytes, getIq3xxsGridBytes } from "./iq3-tables.js";
import { ensureWasmTables, runWasmRows, wasmDequantizer } from "../wasm/quants.js";

const QK_K = 256;
/** sizeof(block_iq3_xxs): d (fp16) + qs[3*QK_K/8]. */
const BLOCK_IQ3_XXS_SIZE = 98;
/** sizeof(block_iq3_s): d (fp16) + qs[QK_K/4] + qh[QK_K/32] + signs[QK_K/8] + scales[QK_K/64]. */
const BLOCK_IQ3_S_SIZE = 110;
/** IQ3S_BLOCK_SIZE: the sub-block size iq3_s quantizes with. */
const IQ3S_BLOCK_SIZE = 32;

const fround = Math.fround;
/** GROUP_MAX_EPS_IQ3_XXS (1e-8f). */
const GROUP_MAX_EPS_IQ3_XXS = Math.fround(1e-8);
const F0_2 = Math.fround(0.2);
const F1_0125 = Math.fround(1.0125);
const F1_033 = Math.fround(1.033);

function notOnGrid(u: number, L: Int8Array, off: number): never {
  throw new SchemeError(
    "QUANT_SCHEME_FAILED",
    `found point ${u} not on grid: ${L[off]} ${L[off + 1]} ${L[off + 2]} ${L[off + 3]} (ggml aborts here)`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Scratch buffers (one sub-block / super-block), shared by every call: the search loops allocate nothing.
// ---------------------------------------------------------------------------------------------------------------
// (the functions copy them into locals: V8 reads a local faster than a module binding in a hot loop)
const scratch = {
  scales: new Float32Array(QK_K / 32),
  weight: new Float32Array(32),
  xval: new Float32Array(32),
  L: new Int8Array(32),
  Laux: new Int8Array(32),
  waux: new Float32Array(32),
  isOnGrid: new Uint8Array(8),
  isOnGridAux: new Uint8Array(8),
  blockSigns: new Uint8Array(8),
  /** q3 of quantize_row_iq3_xxs_impl: grid indices (QK_K/4 bytes), then scales_and_signs (QK_K/32 × u32). */
  q3: new Uint8Array(3 * (QK_K / 8) + QK_K / 32),
  scalesAndSigns: new Uint32Array(QK_K / 32),
};

// ---------------------------------------------------------------------------------------------------------------
// iq3_xxs
// ---------------------------------------------------------------------------------------------------------------

/**
 * Quantizes `n` values (a multiple of 256) of `x` from `xOff` into iq3_xxs blocks at `y[yOff..]`.
 * `quantWeights` (or null) is indexed from the start of the row, like `quant_weights` in C.
 *
 * Only grid size 256 is supported: ggml calls this function with 256 alone (iq3_s has its own
 * `quantize_row_iq3_s_impl`), and with 512 the C copies past the end of its `q3` buffer.
 * @see quantize_row_iq3_xxs_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowIq3_xxsImpl(
  gridSize: number,
  x: Float32Array,
  xOff: number,
  y: Uint8Array,
  yOff: number,
  n: number,
  quantWeights: Float32Array | null,
): void {
  if (gridSize !== 256) {
    throw new SchemeError("QUANT_UNSUPPORTED", `quantize_row_iq3_xxs_impl: grid size ${gridSize} is not supported (only 256)`);
  }
  const { gridBytes, map: kmapQ3xs, neighbours: kneighborsQ3xs } = iq3GridData(gridSize);
  const { scales, weight, xval, L, Laux, waux, isOnGrid, isOnGridAux, blockSigns } = scratch;
  const fround = Math.fround;
  const nearest = nearestInt;
  const { q3, scalesAndSigns } = scratch;
  const kMaxQ = 8;
  const nbl = n / QK_K;

  for (let ibl = 0; ibl < nbl; ++ibl) {
    const yb = yOff + ibl * BLOCK_IQ3_XXS_SIZE;
    y[yb] = 0; // dh[0] = GGML_FP32_TO_FP16(0.f)
    y[yb + 1] = 0;
    q3.fill(0);
    scalesAndSigns.fill(0);

    let maxScale = 0;

    const xbl = xOff + QK_K * ibl;
    let sumx2 = 0;
    for (let i = 0; i < QK_K; ++i) sumx2 = fround(sumx2 + fround(x[xbl + i] * x[xbl + i]));
    const sigma2 = fround(fround(2 * sumx2) / QK_K);

    for (let ib = 0; ib < QK_K / 32; ++ib) {
      const xb = xbl + 32 * ib;
      if (quantWeights) {
        const qw = QK_K * ibl + 32 * ib;
        for (let i = 0; i < 32; ++i) {
          weight[i] = fround(quantWeights[qw + i] * fround(Math.sqrt(fround(sigma2 + fround(x[xb + i] * x[xb + i])))));
        }
      } else {
        for (let i = 0; i < 32; ++i) weight[i] = fround(x[xb + i] * x[xb + i]);
      }
      for (let i = 0; i < 32; ++i) waux[i] = fround(Math.sqrt(weight[i]));
      for (let k = 0; k < 4; ++k) {
        let nflip = 0;
        let s = 0;
        for (let i = 0; i < 8; ++i) {
          const v = x[xb + 8 * k + i];
          if (v >= 0) xval[8 * k + i] = v;
          else {
            xval[8 * k + i] = -v;
            ++nflip;
            s |= 1 << i;
          }
        }
        if (nflip % 2) {
          let imin = 0;
          let min = fround(fround(weight[8 * k + imin] * x[xb + 8 * k + imin]) * x[xb + 8 * k + imin]);
          for (let i = 1; i < 8; ++i) {
            const ax = fround(fround(weight[8 * k + i] * x[xb + 8 * k + i]) * x[xb + 8 * k + i]);
            if (ax < min) {
              min = ax;
              imin = i;
            }
          }
          xval[8 * k + imin] = -xval[8 * k + imin];
          s ^= 1 << imin;
        }
        blockSigns[k] = s & 127;
      }
      let max = xval[0];
      for (let i = 1; i < 32; ++i) max = max > xval[i] ? max : xval[i];
      L.fill(0);
      if (max < GROUP_MAX_EPS_IQ3_XXS) {
        scales[ib] = 0;
        continue;
      }
      let best = 0;
      let scale = fround(max / (2 * kMaxQ - 1));
      isOnGrid.fill(1);
      for (let is = -15; is <= 15; ++is) {
        const id = fround(fround(2 * kMaxQ - 1 + fround(is * F0_2)) / max);
        const thisScale = fround(1 / id);
        for (let k = 0; k < 8; ++k) {
          for (let i = 0; i < 4; ++i) {
            const l = nearest(fround(0.5 * fround(fround(id * xval[4 * k + i]) - 1)));
            Laux[4 * k + i] = l < 0 ? 0 : l > kMaxQ - 1 ? kMaxQ - 1 : l;
          }
          const u = Laux[4 * k] | (Laux[4 * k + 1] << 3) | (Laux[4 * k + 2] << 6) | (Laux[4 * k + 3] << 9);
          const gridIndex = kmapQ3xs[u];
          isOnGridAux[k] = 1;
          if (gridIndex < 0) {
            isOnGridAux[k] = 0;
            iq3FindBestNeighbour(kneighborsQ3xs, -gridIndex - 1, gridBytes, xval, 4 * k, waux, 4 * k, thisScale, Laux, 4 * k);
          }
        }
        let sumqx = 0;
        let sumq2 = 0;
        for (let i = 0; i < 32; ++i) {
          const w = weight[i];
          const q = 2 * Laux[i] + 1;
          sumqx = fround(sumqx + fround(fround(w * xval[i]) * q));
          sumq2 = fround(sumq2 + fround(fround(w * q) * q));
        }
        if (sumq2 > 0 && fround(sumqx * sumqx) > fround(best * sumq2)) {
          scale = fround(sumqx / sumq2);
          best = fround(scale * sumqx);
          L.set(Laux);
          isOnGrid.set(isOnGridAux);
        }
      }
      let nNotOngrid = 0;
      for (let k = 0; k < 8; ++k) if (!isOnGrid[k]) ++nNotOngrid;
      if (nNotOngrid > 0 && scale > 0) {
        const id = fround(1 / scale);
        for (let k = 0; k < 8; ++k) {
          if (isOnGrid[k]) continue;
          let u = 0;
          for (let i = 0; i < 4; ++i) {
            let l = nearest(fround(0.5 * fround(fround(id * xval[4 * k + i]) - 1)));
            l = l < 0 ? 0 : l > kMaxQ - 1 ? kMaxQ - 1 : l;
            u |= l << (3 * i);
          }
          let gridIndex = kmapQ3xs[u];
          if (gridIndex < 0) {
            gridIndex = iq3FindBestNeighbour(kneighborsQ3xs, -gridIndex - 1, gridBytes, xval, 4 * k, waux, 4 * k, scale, L, 4 * k);
          }
          const pg = 4 * gridIndex;
          for (let i = 0; i < 4; ++i) L[4 * k + i] = (gridBytes[pg + i] - 1) >> 1;
        }
        let sumqx = 0;
        let sumq2 = 0;
        for (let i = 0; i < 32; ++i) {
          const w = weight[i];
          const q = 2 * L[i] + 1;
          sumqx = fround(sumqx + fround(fround(w * xval[i]) * q));
          sumq2 = fround(sumq2 + fround(fround(w * q) * q));
        }
        if (sumq2 > 0) scale = fround(sumqx / sumq2);
      }
      if (scale < 0) {
        // ggml: "This should never happen, but just in case, flip scale so that it is positive [...] and
        // correspondingly flip quant signs."
        scale = -scale;
        for (let k = 0; k < 4; ++k) blockSigns[k] = ~blockSigns[k] & 127;
      }
      for (let k = 0; k < 8; ++k) {
        const u = L[4 * k] | (L[4 * k + 1] << 3) | (L[4 * k + 2] << 6) | (L[4 * k + 3] << 9);
        const gridIndex = kmapQ3xs[u];
        if (gridIndex < 0) notOnGrid(u, L, 4 * k);
        q3[8 * ib + k] = gridIndex;
      }
      scalesAndSigns[ib] = (blockSigns[0] | (blockSigns[1] << 7) | (blockSigns[2] << 14) | (blockSigns[3] << 21)) >>> 0;
      if (!(scale >= 0)) throw new SchemeError("QUANT_SCHEME_FAILED", "GGML_ASSERT(scale >= 0) failed (ggml aborts here)");
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }

    if (maxScale === 0) {
      y.fill(0, yb + 2, yb + BLOCK_IQ3_XXS_SIZE); // memset(qs, 0, quant_size)
      continue;
    }

    const d = fround(maxScale / 31);
    writeFp16(y, yb, fround(d * F1_0125)); // small improvement via this fudge factor (ggml)
    const id = fround(1 / d);
    for (let ib = 0; ib < QK_K / 32; ++ib) {
      let l = nearest(fround(0.5 * fround(fround(id * scales[ib]) - 1)));
      l = l < 0 ? 0 : l > 15 ? 15 : l;
      scalesAndSigns[ib] = (scalesAndSigns[ib] | (l << 28)) >>> 0;
    }
    // memcpy(qs, q3, quant_size): grid indices, then scales_and_signs (little-endian u32)
    const qs = yb + 2;
    for (let i = 0; i < QK_K / 4; ++i) y[qs + i] = q3[i];
    for (let ib = 0; ib < QK_K / 32; ++ib) {
      const v = scalesAndSigns[ib];
      const o = qs + QK_K / 4 + 4 * ib;
      y[o] = v & 0xff;
      y[o + 1] = (v >>> 8) & 0xff;
      y[o + 2] = (v >>> 16) & 0xff;
      y[o + 3] = v >>> 24;
    }
  }
}

/** @see quantize_row_iq3_xxs_ref (ggml/src/ggml-quants.c) */
export function quantizeRowIq3_xxsRef(x: Float32Array, y: Uint8Array, k: number): void {
  checkMultiple("iq3_xxs", k);
  if (quantizeIq3_xxsWasm(x, y, 1, k, null)) return;
  quantizeRowIq3_xxsImpl(256, x, 0, y, 0, k, null);
}

/** @see quantize_iq3_xxs (ggml/src/ggml-quants.c) */
export function quantizeIq3_xxs(
  src: Float32Array,
  dst: Uint8Array,
  nrow: number,
  nPerRow: number,
  quantWeights: Float32Array | null,
): number {
  checkMultiple("iq3_xxs", nPerRow);
  if (quantizeIq3_xxsWasm(src, dst, nrow, nPerRow, quantWeights)) return nrow * (nPerRow / QK_K) * BLOCK_IQ3_XXS_SIZE;
  return quantizeIq3_xxsJs(src, dst, nrow, nPerRow, quantWeights);
}

/**
 * The WebAssembly kernel (assembly/quants.ts q_iq3_xxs) with the grid tables copied in once; false when it is off
 * or declines (inf/NaN input, or a case where ggml aborts: the TypeScript path then throws the error).
 */
function quantizeIq3_xxsWasm(src: Float32Array, dst: Uint8Array, nrow: number, nPerRow: number, quantWeights: Float32Array | null): boolean {
  const g = iq3GridData(256);
  if (!ensureWasmTables("iq3_xxs", "iq3xxsSetTables", [g.gridBytes, g.map, g.neighbours])) return false;
  if (quantWeights === null) {
    // rows are independent without importance: one pass over all super-blocks
    return runWasmRows("q_iq3_xxs", QK_K, BLOCK_IQ3_XXS_SIZE, src, dst, nrow, nPerRow, null, 0);
  }
  return runWasmRows("q_iq3_xxs", QK_K, BLOCK_IQ3_XXS_SIZE, src, dst, nrow, nPerRow, quantWeights, nPerRow / QK_K);
}

/** quantize_iq3_xxs on the TypeScript reference path. */
function quantizeIq3_xxsJs(
  src: Float32Array,
  dst: Uint8Array,
  nrow: number,
  nPerRow: number,
  quantWeights: Float32Array | null,
): number {
  const nblock = nPerRow / QK_K;
  let xOff = 0;
  let qrow = 0;
  for (let row = 0; row < nrow; ++row) {
    quantizeRowIq3_xxsImpl(256, src, xOff, dst, qrow, nPerRow, quantWeights);
    xOff += nPerRow;
    qrow += nblock * BLOCK_IQ3_XXS_SIZE;
  }
  return nrow * nblock * BLOCK_IQ3_XXS_SIZE;
}

/** @see dequantize_row_iq3_xxs (ggml/src/ggml-quants.c) */
export function dequantizeRowIq3_xxs(x: Uint8Array, y: Float32Array, k: number): void {
  checkMultiple("iq3_xxs", k);
  const grid = getIq3xxsGridBytes();
  const ksigns = KSIGNS_IQ2XS;
  const kmask = KMASK_IQ2XS;
  const nb = k / QK_K;
  let yo = 0;
  for (let i = 0; i < nb; i++) {
    const xb = i * BLOCK_IQ3_XXS_SIZE;
    const d = readFp16(x, xb);
    let qs = xb + 2;
    const scalesAndSignsOff = xb + 2 + QK_K / 4;
    for (let ib32 = 0; ib32 < QK_K / 32; ++ib32) {
      const o = scalesAndSignsOff + 4 * ib32;
      const aux32 = (x[o] | (x[o + 1] << 8) | (x[o + 2] << 16) | (x[o + 3] << 24)) >>> 0;
      const db = fround(fround(d * (0.5 + (aux32 >>> 28))) * 0.5);
      for (let l = 0; l < 4; ++l) {
        const signs = ksigns[(aux32 >>> (7 * l)) & 127];
        const grid1 = 4 * x[qs + 2 * l];
        const grid2 = 4 * x[qs + 2 * l + 1];
        for (let j = 0; j < 4; ++j) {
          y[yo + j] = fround(db * grid[grid1 + j]) * (signs & kmask[j] ? -1 : 1);
          y[yo + j + 4] = fround(db * grid[grid2 + j]) * (signs & kmask[j + 4] ? -1 : 1);
        }
        yo += 8;
      }
      qs += 8;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// iq3_s
// ---------------------------------------------------------------------------------------------------------------

/**
 * Quantizes `n` values (a multiple of 256) of `x` from `xOff` into iq3_s blocks at `y[yOff..]`, with sub-blocks
 * of `blockSize` values (ggml uses 32). The C passes its scratch arrays in; here they are module-level.
 *
 * Reproduces ggml exactly, including that an all-zero sub-block leaves the `qs`/`signs` write positions where
 * they are (the next sub-block is written there).
 * @see quantize_row_iq3_s_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowIq3_sImpl(
  blockSize: number,
  x: Float32Array,
  xOff: number,
  y: Uint8Array,
  yOff: number,
  n: number,
  quantWeights: Float32Array | null,
): void {
  if (blockSize !== 32 && blockSize !== 16 && blockSize !== 8) {
    throw new SchemeError("QUANT_UNSUPPORTED", `quantize_row_iq3_s_impl: block size ${blockSize} is not supported`);
  }
  const { gridBytes, map: kmapQ3xs, neighbours: kneighborsQ3xs } = iq3GridData(512);
  const { scales, weight, xval, L, Laux, waux, isOnGrid, isOnGridAux, blockSigns } = scratch;
  const fround = Math.fround;
  const nearest = nearestInt;
  const kMaxQ = 8;
  const nbl = n / QK_K;
  const bs4 = blockSize / 4;
  const bs8 = blockSize / 8;

  for (let ibl = 0; ibl < nbl; ++ibl) {
    const yb = yOff + ibl * BLOCK_IQ3_S_SIZE;
    y.fill(0, yb, yb + BLOCK_IQ3_S_SIZE); // memset(&y[ibl], 0, sizeof(block_iq3_s)); d = 0

    let qs = yb + 2;
    const qh = yb + 2 + QK_K / 4;
    let signs = qh + QK_K / 32;
    const scalesOff = signs + QK_K / 8;

    let maxScale = 0;

    const xbl = xOff + QK_K * ibl;
    let sumx2 = 0;
    for (let i = 0; i < QK_K; ++i) sumx2 = fround(sumx2 + fround(x[xbl + i] * x[xbl + i]));
    const sigma2 = fround(fround(2 * sumx2) / QK_K);

    for (let ib = 0; ib < QK_K / blockSize; ++ib) {
      const xb = xbl + blockSize * ib;
      if (quantWeights) {
        const qw = QK_K * ibl + blockSize * ib;
        for (let i = 0; i < blockSize; ++i) {
          weight[i] = fround(quantWeights[qw + i] * fround(Math.sqrt(fround(sigma2 + fround(x[xb + i] * x[xb + i])))));
        }
      } else {
        for (let i = 0; i < blockSize; ++i) weight[i] = fround(x[xb + i] * x[xb + i]);
      }
      for (let i = 0; i < blockSize; ++i) waux[i] = fround(Math.sqrt(weight[i]));
      for (let k = 0; k < bs8; ++k) {
        let s = 0;
        for (let i = 0; i < 8; ++i) {
          const v = x[xb + 8 * k + i];
          if (v >= 0) xval[8 * k + i] = v;
          else {
            xval[8 * k + i] = -v;
            s |= 1 << i;
          }
        }
        blockSigns[k] = s;
      }
      let max = xval[0];
      for (let i = 1; i < blockSize; ++i) max = max > xval[i] ? max : xval[i];
      L.fill(0, 0, blockSize);
      if (max === 0) {
        // C `if (!max)`: NaN does not take this branch (JS `!NaN` would)
        scales[ib] = 0;
        continue;
      }
      let best = 0;
      let scale = fround(max / (2 * kMaxQ - 1));
      isOnGrid.fill(0, 0, bs4);
      for (let is = -9; is <= 9; ++is) {
        const id = fround(fround(2 * kMaxQ - 1 + fround(is * F0_2)) / max);
        const thisScale = fround(1 / id);
        for (let k = 0; k < bs4; ++k) {
          for (let i = 0; i < 4; ++i) {
            const l = nearest(fround(0.5 * fround(fround(id * xval[4 * k + i]) - 1)));
            Laux[4 * k + i] = l < 0 ? 0 : l > kMaxQ - 1 ? kMaxQ - 1 : l;
          }
          const u = Laux[4 * k] | (Laux[4 * k + 1] << 3) | (Laux[4 * k + 2] << 6) | (Laux[4 * k + 3] << 9);
          const gridIndex = kmapQ3xs[u];
          isOnGridAux[k] = 1;
          if (gridIndex < 0) {
            isOnGridAux[k] = 0;
            iq3FindBestNeighbour(kneighborsQ3xs, -gridIndex - 1, gridBytes, xval, 4 * k, waux, 4 * k, thisScale, Laux, 4 * k);
          }
        }
        let sumqx = 0;
        let sumq2 = 0;
        for (let i = 0; i < blockSize; ++i) {
          const w = weight[i];
          const q = 2 * Laux[i] + 1;
          sumqx = fround(sumqx + fround(fround(w * xval[i]) * q));
          sumq2 = fround(sumq2 + fround(fround(w * q) * q));
        }
        if (sumq2 > 0 && fround(sumqx * sumqx) > fround(best * sumq2)) {
          scale = fround(sumqx / sumq2);
          best = fround(scale * sumqx);
          for (let i = 0; i < blockSize; ++i) L[i] = Laux[i];
          for (let k = 0; k < bs4; ++k) isOnGrid[k] = isOnGridAux[k];
        }
      }
      let nNotOngrid = 0;
      for (let k = 0; k < bs4; ++k) if (!isOnGrid[k]) ++nNotOngrid;
      if (nNotOngrid > 0 && scale > 0) {
        const id = fround(1 / scale);
        for (let k = 0; k < bs4; ++k) {
          // ggml has `if (is_on_grid[k]) continue;` commented out here: every group is redone
          let u = 0;
          for (let i = 0; i < 4; ++i) {
            let l = nearest(fround(0.5 * fround(fround(id * xval[4 * k + i]) - 1)));
            l = l < 0 ? 0 : l > kMaxQ - 1 ? kMaxQ - 1 : l;
            u |= l << (3 * i);
          }
          let gridIndex = kmapQ3xs[u];
          if (gridIndex < 0) {
            gridIndex = iq3FindBestNeighbour(kneighborsQ3xs, -gridIndex - 1, gridBytes, xval, 4 * k, waux, 4 * k, scale, L, 4 * k);
          }
          const pg = 4 * gridIndex;
          for (let i = 0; i < 4; ++i) L[4 * k + i] = (gridBytes[pg + i] - 1) >> 1;
        }
        let sumqx = 0;
        let sumq2 = 0;
        for (let i = 0; i < blockSize; ++i) {
          const w = weight[i];
          const q = 2 * L[i] + 1;
          sumqx = fround(sumqx + fround(fround(w * xval[i]) * q));
          sumq2 = fround(sumq2 + fround(fround(w * q) * q));
        }
        if (sumq2 > 0) scale = fround(sumqx / sumq2);
      }
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < bs8; ++k) blockSigns[k] = ~blockSigns[k] & 0xff;
      }
      for (let k = 0; k < bs4; ++k) {
        const u = L[4 * k] | (L[4 * k + 1] << 3) | (L[4 * k + 2] << 6) | (L[4 * k + 3] << 9);
        const gridIndex = kmapQ3xs[u];
        if (gridIndex < 0) notOnGrid(u, L, 4 * k);
        y[qs + k] = gridIndex & 255;
        const bit = ib * bs4 + k;
        y[qh + (bit >> 3)] |= (gridIndex >> 8) << (bit & 7);
      }
      qs += bs4;
      for (let k = 0; k < bs8; ++k) y[signs + k] = blockSigns[k];
      signs += bs8;
      if (!(scale >= 0)) throw new SchemeError("QUANT_SCHEME_FAILED", "GGML_ASSERT(scale >= 0) failed (ggml aborts here)");
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }

    if (maxScale === 0) continue;

    const d = fround(maxScale / 31);
    writeFp16(y, yb, fround(d * F1_033));
    const id = fround(1 / d);
    for (let ib = 0; ib < QK_K / blockSize; ib += 2) {
      let l1 = nearest(fround(0.5 * fround(fround(id * scales[ib]) - 1)));
      l1 = l1 < 0 ? 0 : l1 > 15 ? 15 : l1;
      let l2 = nearest(fround(0.5 * fround(fround(id * scales[ib + 1]) - 1)));
      l2 = l2 < 0 ? 0 : l2 > 15 ? 15 : l2;
      y[scalesOff + ib / 2] = l1 | (l2 << 4);
    }
  }
}

/** @see quantize_iq3_s (ggml/src/ggml-quants.c) */
export function quantizeIq3_s(
  src: Float32Array,
  dst: Uint8Array,
  nrow: number,
  nPerRow: number,
  quantWeights: Float32Array | null,
): number {
  checkMultiple("iq3_s", nPerRow);
  if (quantizeIq3_sWasm(src, dst, nrow, nPerRow, quantWeights)) return nrow * (nPerRow / QK_K) * BLOCK_IQ3_S_SIZE;
  const nblock = nPerRow / QK_K;
  let xOff = 0;
  let qrow = 0;
  for (let row = 0; row < nrow; ++row) {
    quantizeRowIq3_sImpl(IQ3S_BLOCK_SIZE, src, xOff, dst, qrow, nPerRow, quantWeights);
    xOff += nPerRow;
    qrow += nblock * BLOCK_IQ3_S_SIZE;
  }
  return nrow * nblock * BLOCK_IQ3_S_SIZE;
}

/**
 * The WebAssembly kernel (assembly/quants.ts q_iq3_s) with the grid tables copied in once; false when it is off or
 * declines (inf/NaN input, or a case where ggml aborts: the TypeScript path then throws the error).
 */
function quantizeIq3_sWasm(src: Float32Array, dst: Uint8Array, nrow: number, nPerRow: number, quantWeights: Float32Array | null): boolean {
  const g = iq3GridData(512);
  if (!ensureWasmTables("iq3_s", "iq3sSetTables", [g.gridBytes, g.map, g.neighbours])) return false;
  if (quantWeights === null) return runWasmRows("q_iq3_s", QK_K, BLOCK_IQ3_S_SIZE, src, dst, nrow, nPerRow, null, 0);
  return runWasmRows("q_iq3_s", QK_K, BLOCK_IQ3_S_SIZE, src, dst, nrow, nPerRow, quantWeights, nPerRow / QK_K);
}

/** @see quantize_row_iq3_s_ref (ggml/src/ggml-quants.c): `quantize_iq3_s(x, y, 1, k, NULL)` */
export function quantizeRowIq3_sRef(x: Float32Array, y: Uint8Array, k: number): void {
  quantizeIq3_s(x, y, 1, k, null);
}

/** @see dequantize_row_iq3_s (ggml/src/ggml-quants.c) */
export function dequantizeRowIq3_s(x: Uint8Array, y: Float32Array, k: number): void {
  checkMultiple("iq3_s", k);
  const grid = getIq3sGridBytes();
  const kmask = KMASK_IQ2XS;
  const nb = k / QK_K;
  let yo = 0;
  for (let i = 0; i < nb; i++) {
    const xb = i * BLOCK_IQ3_S_SIZE;
    const d = readFp16(x, xb);
    let qs = xb + 2;
    let qh = xb + 2 + QK_K / 4;
    let signs = qh + QK_K / 32;
    const sc = signs + QK_K / 8;
    for (let ib32 = 0; ib32 < QK_K / 32; ib32 += 2) {
      const db1 = fround(d * (1 + 2 * (x[sc + ib32 / 2] & 0xf)));
      const db2 = fround(d * (1 + 2 * (x[sc + ib32 / 2] >> 4)));
      const qh0 = x[qh];
      const qh1 = x[qh + 1];
      for (let l = 0; l < 4; ++l) {
        const grid1 = 4 * (x[qs + 2 * l] | ((qh0 << (8 - 2 * l)) & 256));
        const grid2 = 4 * (x[qs + 2 * l + 1] | ((qh0 << (7 - 2 * l)) & 256));
        const s = x[signs + l];
        for (let j = 0; j < 4; ++j) {
          y[yo + j] = fround(db1 * grid[grid1 + j]) * (s & kmask[j] ? -1 : 1);
          y[yo + j + 4] = fround(db1 * grid[grid2 + j]) * (s & kmask[j + 4] ? -1 : 1);
        }
        yo += 8;
      }
      qs += 8;
      signs += 4;
      for (let l = 0; l < 4; ++l) {
        const grid1 = 4 * (x[qs + 2 * l] | ((qh1 << (8 - 2 * l)) & 256));
        const grid2 = 4 * (x[qs + 2 * l + 1] | ((qh1 << (7 - 2 * l)) & 256));
        const s = x[signs + l];
        for (let j = 0; j < 4; ++j) {
          y[yo + j] = fround(db2 * grid[grid1 + j]) * (s & kmask[j] ? -1 : 1);
          y[yo + j + 4] = fround(db2 * grid[grid2 + j]) * (s & kmask[j + 4] ? -1 : 1);
        }
        yo += 8;
      }
      qh += 2;
      qs += 8;
      signs += 4;
    }
  }
}

function checkMultiple(scheme: string, k: number): void {
  if (k % QK_K !== 0) {
    throw new SchemeError("QUANT_BAD_ROW_LENGTH", `row length ${k} is not a multiple of ${QK_K}`, { scheme });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Schemes
// ---------------------------------------------------------------------------------------------------------------

// WebAssembly decoders (assembly/quants.ts dq_iq3_xxs / dq_iq3_s) over the same grid and sign tables, copied in once.
const iq3DeqTables = () => ensureWasmTables("iq3-deq", "iq3DeqSetTables", [getIq3xxsGridBytes(), getIq3sGridBytes(), KSIGNS_IQ2XS]);
const dequantizeRowIq3_xxsW = wasmDequantizer("dq_iq3_xxs", QK_K, BLOCK_IQ3_XXS_SIZE, (src, dst, n) => dequantizeRowIq3_xxs(src, dst, n));
const dequantizeRowIq3_sW = wasmDequantizer("dq_iq3_s", QK_K, BLOCK_IQ3_S_SIZE, (src, dst, n) => dequantizeRowIq3_s(src, dst, n));

export const iq3_xxs: QuantScheme = defineScheme({
  name: "iq3_xxs",
  ggmlType: GGMLQuantizationType.IQ3_XXS,
  description: "3.0625 bpw: 256-value super-blocks, D4-lattice grid of 256 points, 4-bit sub-block scales, fp16 scale",
  layout: {
    blockSize: 256,
    typeSize: BLOCK_IQ3_XXS_SIZE,
    fields: [
      { name: "d", type: "f16", count: 1, doc: "super-block scale" },
      { name: "qs", type: "u8", count: 96, doc: "64 grid indices, then 8 × u32: 4 × 7 sign bits + 4-bit sub-block scale" },
    ],
  },
  needs: { importance: "optional" },
  init: () => iq3xsInitImpl(256),
  quantizeRowRef: (src, dst, n) => quantizeRowIq3_xxsRef(src, dst, n),
  dequantizeRow: (src, dst, n) => (iq3DeqTables() ? dequantizeRowIq3_xxsW(src, dst, n) : dequantizeRowIq3_xxs(src, dst, n)),
  quantize: (src, dst, nRows, nPerRow, options) => quantizeIq3_xxs(src, dst, nRows, nPerRow, options?.importance ?? null),
});

export const iq3_s: QuantScheme = defineScheme({
  name: "iq3_s",
  ggmlType: GGMLQuantizationType.IQ3_S,
  description: "3.4375 bpw: 256-value super-blocks, D4-lattice grid of 512 points, explicit signs, 4-bit sub-block scales",
  layout: {
    blockSize: 256,
    typeSize: BLOCK_IQ3_S_SIZE,
    fields: [
      { name: "d", type: "f16", count: 1, doc: "super-block scale" },
      { name: "qs", type: "u8", count: 64, doc: "grid indices, low 8 bits" },
      { name: "qh", type: "u8", count: 8, doc: "grid indices, 9th bit" },
      { name: "signs", type: "u8", count: 32, doc: "one sign bit per value" },
      { name: "scales", type: "u8", count: 4, doc: "4-bit sub-block scales" },
    ],
  },
  needs: { importance: "optional" },
  init: () => iq3xsInitImpl(512),
  quantizeRowRef: (src, dst, n) => quantizeRowIq3_sRef(src, dst, n),
  dequantizeRow: (src, dst, n) => (iq3DeqTables() ? dequantizeRowIq3_sW(src, dst, n) : dequantizeRowIq3_s(src, dst, n)),
  quantize: (src, dst, nRows, nPerRow, options) => quantizeIq3_s(src, dst, nRows, nPerRow, options?.importance ?? null),
});

/** Built-in schemes of this family. */
export const iq3Schemes: readonly QuantScheme[] = [iq3_xxs, iq3_s];
