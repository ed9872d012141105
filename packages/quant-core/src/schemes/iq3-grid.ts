/**
 * The iq3 quantization grids (the D4-lattice points used by iq3_xxs and iq3_s): the grid, the map from a packed
 * point to its grid index, and the nearest grid neighbours of every point that is not on the grid.
 *
 * @see iq3xs_init_impl, iq3_find_best_neighbour (ggml/src/ggml-quants.c)
 */
import { SchemeError } from "../errors.js";
import { KGRID_256, KGRID_512 } from "./iq3-tables.js";

/** One initialised grid: mirrors ggml's `iq3_entry_t` (`grid`, `map`, `neighbours`). */
export interface Iq3GridData {
  /** `kgrid_q3xs`: grid point k has bytes 2l+1 (l = its 4 coordinates), as u32 (byte 0 lowest). */
  readonly grid: Uint32Array;
  /** The same grid as bytes: `gridBytes[4*k + i]` = `((const int8_t *)(grid + k))[i]`. */
  readonly gridBytes: Int8Array;
  /**
   * `kmap_q3xs` (4096 entries, indexed by the packed coordinates `l0 | l1<<3 | l2<<6 | l3<<9`): the grid index
   * (>= 0) of a point on the grid; for a point off the grid, `-(offset + 1)` where `neighbours[offset]` is the
   * neighbour count and the neighbour indices follow.
   */
  readonly map: Int32Array;
  /** `kneighbors_q3xs`. */
  readonly neighbours: Uint16Array;
}

const iq3Data: (Iq3GridData | null)[] = [null, null];

/** @see iq3_data_index */
function iq3DataIndex(gridSize: number): number {
  if (gridSize !== 256 && gridSize !== 512) {
    throw new SchemeError("QUANT_UNSUPPORTED", `iq3 grid size must be 256 or 512, got ${gridSize}`);
  }
  return gridSize === 256 ? 0 : 1;
}

/**
 * Builds the grid, map and neighbour lists for `gridSize` (256: iq3_xxs, 512: iq3_s). Idempotent.
 * The C sorts (distance, index) pairs with `qsort` and a total order, then keeps every point at one of the
 * `nwant` smallest distinct distances; this does the same selection without sorting, in the same order.
 * @see iq3xs_init_impl (ggml/src/ggml-quants.c)
 */
export function iq3xsInitImpl(gridSize: number): void {
  const gindex = iq3DataIndex(gridSize);
  if (iq3Data[gindex]) return;
  const kmapSize = 4096;
  const nwant = gridSize === 256 ? 2 : 3;
  const kgrid = gridSize === 256 ? KGRID_256 : KGRID_512;

  const grid = new Uint32Array(gridSize);
  const gridBytes = new Int8Array(gridSize * 4);
  for (let k = 0; k < gridSize; ++k) {
    let v = 0;
    for (let i = 0; i < 4; ++i) {
      const l = (kgrid[k] >> (3 * i)) & 0x7;
      gridBytes[4 * k + i] = 2 * l + 1;
      v |= (2 * l + 1) << (8 * i);
    }
    grid[k] = v >>> 0;
  }

  const map = new Int32Array(kmapSize).fill(-1);
  for (let i = 0; i < gridSize; ++i) {
    let index = 0;
    for (let k = 0; k < 4; ++k) {
      const q = (gridBytes[4 * i + k] - 1) / 2;
      index |= q << (3 * k);
    }
    map[index] = i;
  }

  // First pass: neighbour count of every off-grid point (to size the list), second pass: fill it.
  const dist2 = new Int32Array(gridSize);
  const levels = new Int32Array(nwant);
  const pos = new Int32Array(4);
  const nPerI = new Int32Array(kmapSize);
  let numNeighbors = 0;
  let numNotInMap = 0;

  const distances = (i: number): number => {
    for (let k = 0; k < 4; ++k) pos[k] = 2 * ((i >> (3 * k)) & 0x7) + 1;
    for (let j = 0; j < gridSize; ++j) {
      let d2 = 0;
      for (let k = 0; k < 4; ++k) {
        const d = gridBytes[4 * j + k] - pos[k];
        d2 += d * d;
      }
      dist2[j] = d2;
    }
    // the nwant smallest distinct distances, ascending
    let nhave = 0;
    let prev = -1;
    while (nhave < nwant) {
      let best = 0x7fffffff;
      for (let j = 0; j < gridSize; ++j) if (dist2[j] > prev && dist2[j] < best) best = dist2[j];
      if (best === 0x7fffffff) break;
      levels[nhave++] = best;
      prev = best;
    }
    return nhave;
  };

  for (let i = 0; i < kmapSize; ++i) {
    if (map[i] >= 0) continue;
    ++numNotInMap;
    const nhave = distances(i);
    const top = levels[nhave - 1];
    let n = 0;
    for (let j = 0; j < gridSize; ++j) if (dist2[j] <= top) ++n;
    nPerI[i] = n;
    numNeighbors += n;
  }

  const neighbours = new Uint16Array(numNeighbors + numNotInMap);
  let counter = 0;
  for (let i = 0; i < kmapSize; ++i) {
    if (map[i] >= 0) continue;
    const nhave = distances(i);
    map[i] = -(counter + 1);
    const start = counter++;
    let n = 0;
    for (let lv = 0; lv < nhave; ++lv) {
      const level = levels[lv];
      for (let j = 0; j < gridSize; ++j) {
        if (dist2[j] === level) {
          neighbours[counter++] = j;
          ++n;
        }
      }
    }
    neighbours[start] = n;
    if (n !== nPerI[i]) throw new SchemeError("QUANT_SCHEME_FAILED", "iq3 grid init: inconsistent neighbour count");
  }

  iq3Data[gindex] = { grid, gridBytes, map, neighbours };
}

/** The initialised grid data for `gridSize`, building it on first use. */
export function iq3GridData(gridSize: number): Iq3GridData {
  const gindex = iq3DataIndex(gridSize);
  let d = iq3Data[gindex];
  if (!d) {
    iq3xsInitImpl(gridSize);
    d = iq3Data[gindex]!;
  }
  return d;
}

/**
 * Among the neighbours listed at `neighbours[nOff]` (count, then indices), the grid point closest to `xval` in
 * the `weight`-weighted squared distance at this `scale`; writes its coordinates (0..7) to `L[lOff..lOff+4)`
 * and returns its grid index. Float32 arithmetic as in C (no FMA).
 * @see iq3_find_best_neighbour (ggml/src/ggml-quants.c)
 */
/** Scratch of iq3FindBestNeighbour: term of coordinate i for grid value q at [16·i + q]. */
const TERMS3 = new Float32Array(64);
/** Scratch of iq3FindBestNeighbour: `fround(scale * q)` at [q] for the odd grid values q = 1..15. */
const SCALED_Q = new Float64Array(16);

export function iq3FindBestNeighbour(
  neighbours: Uint16Array,
  nOff: number,
  gridBytes: Int8Array,
  xval: Float32Array,
  xOff: number,
  weight: Float32Array,
  wOff: number,
  scale: number,
  L: Int8Array,
  lOff: number,
): number {
  const fround = Math.fround;
  const numNeighbors = neighbours[nOff];
  let bestD2 = 3.4028234663852886e38; // FLT_MAX
  let gridIndex = -1;
  if (numNeighbors >= 12) {
    // Long list: the term `w[i]·diff²` of coordinate i depends only on the grid value q (odd, 1..15), so the 32
    // possible terms are computed once (same float operations as below) and each neighbour sums four of them in the
    // C's order: the same d2 bit for bit.
    const T = TERMS3;
    for (let q = 1; q < 16; q += 2) {
      const sq = fround(scale * q);
      for (let i = 0; i < 4; ++i) {
        const diff = fround(sq - xval[xOff + i]);
        T[16 * i + q] = fround(fround(weight[wOff + i] * diff) * diff);
      }
    }
    for (let j = 1; j <= numNeighbors; ++j) {
      const g = neighbours[nOff + j];
      const pg = 4 * g;
      let d2 = fround(0 + T[gridBytes[pg]]);
      d2 = fround(d2 + T[16 + gridBytes[pg + 1]]);
      d2 = fround(d2 + T[32 + gridBytes[pg + 2]]);
      d2 = fround(d2 + T[48 + gridBytes[pg + 3]]);
      if (d2 < bestD2) {
        bestD2 = d2;
        gridIndex = g;
      }
    }
  } else {
    // Short list: the C loop, with x, w and `scale*q` (q odd, 1..15) read or computed once per call
    const sq = SCALED_Q;
    for (let q = 1; q < 16; q += 2) sq[q] = fround(scale * q);
    const x0 = xval[xOff];
    const x1 = xval[xOff + 1];
    const x2 = xval[xOff + 2];
    const x3 = xval[xOff + 3];
    const w0 = weight[wOff];
    const w1 = weight[wOff + 1];
    const w2 = weight[wOff + 2];
    const w3 = weight[wOff + 3];
    for (let j = 1; j <= numNeighbors; ++j) {
      const g = neighbours[nOff + j];
      const pg = 4 * g;
      const e0 = fround(sq[gridBytes[pg]] - x0);
      const e1 = fround(sq[gridBytes[pg + 1]] - x1);
      const e2 = fround(sq[gridBytes[pg + 2]] - x2);
      const e3 = fround(sq[gridBytes[pg + 3]] - x3);
      let d2 = fround(0 + fround(fround(w0 * e0) * e0));
      d2 = fround(d2 + fround(fround(w1 * e1) * e1));
      d2 = fround(d2 + fround(fround(w2 * e2) * e2));
      d2 = fround(d2 + fround(fround(w3 * e3) * e3));
      if (d2 < bestD2) {
        bestD2 = d2;
        gridIndex = g;
      }
    }
  }
  if (numNeighbors <= 0 || gridIndex < 0) {
    throw new SchemeError("QUANT_SCHEME_FAILED", "iq3_find_best_neighbour: no neighbour found (ggml would abort here)");
  }
  const pg = 4 * gridIndex;
  for (let i = 0; i < 4; ++i) L[lOff + i] = (gridBytes[pg + i] - 1) >> 1;
  return gridIndex;
}
