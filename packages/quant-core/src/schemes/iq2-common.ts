/**
 * Search tables and helpers shared by the iq2 family (iq2_xxs, iq2_xs, iq2_s) and the iq1 family (iq1_s, iq1_m):
 * ggml keeps all five in `iq2_data[4]` (ggml/src/ggml-quants.c), built by `iq2xs_init_impl`.
 *
 * Float semantics: every C `float` operation is `Math.fround` of the operation on float32 values, in C evaluation
 * order, without FMA (ggml-base is built without `-march`).
 */
import { SchemeError } from "../errors.js";
import { KGRID_1BIT_2048, KGRID_2BIT_1024, KGRID_2BIT_256, KGRID_2BIT_512 } from "./iq-grids.js";

const f = Math.fround;

/** GROUP_MAX_EPS, GROUP_MAX_EPS_IQ2_S / _IQ1_M / _IQ1_S: the one copy is in kquants-helpers.ts. */
export { GROUP_MAX_EPS, GROUP_MAX_EPS_IQ1_M, GROUP_MAX_EPS_IQ1_S, GROUP_MAX_EPS_IQ2_S } from "./kquants-helpers.js";
/** C `FLT_MAX`. */
export const FLT_MAX = 3.4028234663852886e38;

/** `0.1f` as a float32. */
export const F_0_1 = f(0.1);

/** One entry of ggml's `iq2_data`: the grid (bytes `2l+1`), the coordinate map and the neighbour lists. */
export interface Iq2Entry {
  /** `kgrid_q2xs`: gridSize x 8 int8 values `2l+1` (1, 3, 5). Entry k at [8k, 8k+8). */
  readonly grid: Int8Array;
  /** The same points as coordinates `l` (0, 1, 2): `(grid - 1) / 2`. */
  readonly gridL: Uint8Array;
  /** The same points packed, coordinate i in bits 2i..2i+1 (the kgrid table). */
  readonly packed: Uint16Array;
  /**
   * `kmap_q2xs` (43692 entries): for a packed point `u` (eight 2-bit coordinates) its grid index, or, when it is not
   * on the grid, `-(offset + 1)` where `neighbours[offset]` is the neighbour count followed by the grid indices.
   */
  readonly map: Int32Array;
  /** `kneighbors_q2xs`. */
  readonly neighbours: Uint16Array;
}

/** `iq2_data` slot of a type. @see iq2_data_index */
export const IQ2_XXS_INDEX = 0;
export const IQ2_XS_INDEX = 1;
/** iq1_s and iq1_m share a slot. */
export const IQ1_INDEX = 2;
export const IQ2_S_INDEX = 3;

const KMAP_SIZE = 43692;
const iq2Data: (Iq2Entry | null)[] = [null, null, null, null];

/**
 * Builds the grid, map and neighbour lists of one `iq2_data` slot, or returns them when already built.
 *
 * For every packed point that is not on the grid, ggml sorts all grid points by (squared distance, index) and keeps
 * those whose distance is among the `nwant` smallest distinct distances. The distances are small integers
 * (at most 4·9·8), so the same lists are built here without sorting: the distance of every grid point is computed
 * from two precomputed half tables (coordinates 0-3 and 4-7), the `nwant` smallest distinct values are found with
 * a histogram, and the indices are emitted by distance, then index, exactly the order of ggml's qsort.
 * @see iq2xs_init_impl (ggml/src/ggml-quants.c)
 */
export function iq2xsInitImpl(gindex: number): Iq2Entry {
  const existing = iq2Data[gindex];
  if (existing) return existing;
  const kgrid =
    gindex === IQ2_XXS_INDEX ? KGRID_2BIT_256 : gindex === IQ2_XS_INDEX ? KGRID_2BIT_512 : gindex === IQ1_INDEX ? KGRID_1BIT_2048 : KGRID_2BIT_1024;
  const gridSize = kgrid.length;
    const nwant = gindex === IQ1_INDEX ? 3 : gindex === IQ2_S_INDEX ? 1 : 2;

  const grid = new Int8Array(gridSize * 8);
  for (let k = 0; k < gridSize; k++) {
    for (let i = 0; i < 8; i++) grid[8 * k + i] = 2 * ((kgrid[k] >> (2 * i)) & 3) + 1;
  }
  const gridL = new Uint8Array(gridSize * 8);
  for (let i = 0; i < gridL.length; i++) gridL[i] = (grid[i] - 1) >> 1;
  const map = new Int32Array(KMAP_SIZE).fill(-1);
  for (let i = 0; i < gridSize; i++) {
    let index = 0;
    for (let k = 0; k < 8; k++) index |= ((grid[8 * i + k] - 1) >> 1) << (2 * k);
    map[index] = i;
  }

  // half-distance tables: dLo[lo*gridSize + j] = sum over coordinates 0..3 of (pg - pos)^2, lo = low 8 bits of the
  // packed point; dHi likewise for coordinates 4..7 and the high 8 bits.
  const nHi = (KMAP_SIZE - 1) >> 8; // 170
  const dLo = new Uint16Array(256 * gridSize);
  const dHi = new Uint16Array((nHi + 1) * gridSize);
  for (let half = 0; half < 2; half++) {
    const table = half === 0 ? dLo : dHi;
    const count = half === 0 ? 256 : nHi + 1;
    for (let p = 0; p < count; p++) {
      for (let j = 0; j < gridSize; j++) {
        let d2 = 0;
        for (let k = 0; k < 4; k++) {
          const pos = 2 * ((p >> (2 * k)) & 3) + 1;
          const diff = grid[8 * j + 4 * half + k] - pos;
          d2 += diff * diff;
        }
        table[p * gridSize + j] = d2;
      }
    }
  }

  const dist = new Uint16Array(gridSize);
  const hist = new Int32Array(8 * 36 + 1);
  const chosen = new Int32Array(nwant);
  const out: number[] = [];
  for (let i = 0; i < KMAP_SIZE; i++) {
    if (map[i] >= 0) continue;
    const lo = (i & 0xff) * gridSize;
    const hi = (i >> 8) * gridSize;
    hist.fill(0);
    for (let j = 0; j < gridSize; j++) {
      const d = dLo[lo + j] + dHi[hi + j];
      dist[j] = d;
      hist[d]++;
    }
    let nhave = 0;
    for (let d = 0; d < hist.length && nhave < nwant; d++) if (hist[d] > 0) chosen[nhave++] = d;
    map[i] = -(out.length + 1);
    const start = out.length;
    out.push(0);
    let n = 0;
    for (let c = 0; c < nhave; c++) {
      const want = chosen[c];
      for (let j = 0; j < gridSize; j++) {
        if (dist[j] === want) {
          out.push(j);
          n++;
        }
      }
    }
    out[start] = n;
  }
  const entry: Iq2Entry = { grid, gridL, packed: kgrid, map, neighbours: Uint16Array.from(out) };
  iq2Data[gindex] = entry;
  return entry;
}

/**
 * Neighbour-search scratch: `TERMS[4*i + l]` is the C's `weight[i]*diff*diff` for coordinate i at level l, with
 * `diff = scale*q_l - xval[i]` (each a float32 computed exactly as the C does). A neighbour's distance is then the
 * C's sequential float sum of its eight terms, read from the table.
 */
export const TERMS = new Float64Array(32);

/**
 * Among the neighbours listed at `neighbours[nOff]`, the grid point closest to `xval` under weights `weight` at
 * `scale`; writes its coordinates `l` to `L[lOff..lOff+8)` and returns its index.
 *
 * `packed` and `gridL` are the grid as packed and unpacked coordinates (`Iq2Entry`). The 8x3 possible terms
 * `weight[i]*diff*diff` are computed once (same float32 operations as the C), then summed per neighbour in the C's
 * order, so `d2` and the chosen index are the C's.
 * @see iq2_find_best_neighbour (ggml/src/ggml-quants.c)
 */
export function iq2FindBestNeighbour(
  neighbours: Uint16Array,
  nOff: number,
  packed: Uint16Array,
  gridL: Uint8Array,
  xval: Float32Array,
  xOff: number,
  weight: Float32Array,
  wOff: number,
  scale: number,
  L: Int8Array,
  lOff: number,
): number {
  const numNeighbors = neighbours[nOff];
  if (!(numNeighbors > 0)) throw new SchemeError("QUANT_SCHEME_FAILED", "GGML_ASSERT(num_neighbors > 0) failed in iq2_find_best_neighbour");
  if (numNeighbors < 6) return iq2FindBestNeighbourDirect(neighbours, nOff, gridL, xval, xOff, weight, wOff, scale, L, lOff);
  const T = TERMS;
  for (let l = 0; l < 3; l++) {
    // grid coordinates are 0..2 (kgrid tables), so level 3 is never read
    const sq = f(scale * (2 * l + 1)); // scale*q, q = pg[i] = 2l+1
    for (let i = 0; i < 8; i++) {
      const diff = f(sq - xval[xOff + i]);
      T[4 * i + l] = f(f(weight[wOff + i] * diff) * diff);
    }
  }
  let bestD2 = FLT_MAX;
  let gridIndex = -1;
  // two neighbours per iteration (independent sums, compared in list order: the same choice as one at a time)
  let j = 1;
  for (; j < numNeighbors; j += 2) {
    const g = neighbours[nOff + j];
    const h = neighbours[nOff + j + 1];
    const kg = packed[g];
    const kh = packed[h];
    let d2 = f(0 + T[kg & 3]);
    let e2 = f(0 + T[kh & 3]);
    d2 = f(d2 + T[4 + ((kg >> 2) & 3)]);
    e2 = f(e2 + T[4 + ((kh >> 2) & 3)]);
    d2 = f(d2 + T[8 + ((kg >> 4) & 3)]);
    e2 = f(e2 + T[8 + ((kh >> 4) & 3)]);
    d2 = f(d2 + T[12 + ((kg >> 6) & 3)]);
    e2 = f(e2 + T[12 + ((kh >> 6) & 3)]);
    d2 = f(d2 + T[16 + ((kg >> 8) & 3)]);
    e2 = f(e2 + T[16 + ((kh >> 8) & 3)]);
    d2 = f(d2 + T[20 + ((kg >> 10) & 3)]);
    e2 = f(e2 + T[20 + ((kh >> 10) & 3)]);
    d2 = f(d2 + T[24 + ((kg >> 12) & 3)]);
    e2 = f(e2 + T[24 + ((kh >> 12) & 3)]);
    d2 = f(d2 + T[28 + (kg >> 14)]);
    e2 = f(e2 + T[28 + (kh >> 14)]);
    if (d2 < bestD2) {
      bestD2 = d2;
      gridIndex = g;
    }
    if (e2 < bestD2) {
      bestD2 = e2;
      gridIndex = h;
    }
  }
  for (; j <= numNeighbors; j++) {
    const g = neighbours[nOff + j];
    const kg = packed[g];
    let d2 = f(0 + T[kg & 3]);
    d2 = f(d2 + T[4 + ((kg >> 2) & 3)]);
    d2 = f(d2 + T[8 + ((kg >> 4) & 3)]);
    d2 = f(d2 + T[12 + ((kg >> 6) & 3)]);
    d2 = f(d2 + T[16 + ((kg >> 8) & 3)]);
    d2 = f(d2 + T[20 + ((kg >> 10) & 3)]);
    d2 = f(d2 + T[24 + ((kg >> 12) & 3)]);
    d2 = f(d2 + T[28 + (kg >> 14)]);
    if (d2 < bestD2) {
      bestD2 = d2;
      gridIndex = g;
    }
  }
  if (gridIndex < 0) throw new SchemeError("QUANT_SCHEME_FAILED", "GGML_ASSERT(grid_index >= 0) failed in iq2_find_best_neighbour");
  const b = 8 * gridIndex;
  for (let i = 0; i < 8; i++) L[lOff + i] = gridL[b + i];
  return gridIndex;
}

/** x (0..7), w (8..15) of the current group and `scale*q` for l = 0..2 (16..18), for iq2FindBestNeighbourDirect. */
const XW_SCRATCH = new Float64Array(19);

/**
 * iq2FindBestNeighbour for short lists (fewer terms than the 8x3 table would cost): the C's loop as written.
 * @see iq2_find_best_neighbour (ggml/src/ggml-quants.c)
 */
function iq2FindBestNeighbourDirect(
  neighbours: Uint16Array,
  nOff: number,
  gridL: Uint8Array,
  xval: Float32Array,
  xOff: number,
  weight: Float32Array,
  wOff: number,
  scale: number,
  L: Int8Array,
  lOff: number,
): number {
  const numNeighbors = neighbours[nOff];
  let bestD2 = FLT_MAX;
  let gridIndex = -1;
  // `scale*q` for the three grid values q = 2l+1 (l = 0..2), and the eight x and w, once per call
  const XW = XW_SCRATCH;
  XW[16] = f(scale * 1);
  XW[17] = f(scale * 3);
  XW[18] = f(scale * 5);
  for (let i = 0; i < 8; i++) {
    XW[i] = xval[xOff + i];
    XW[8 + i] = weight[wOff + i];
  }
  for (let j = 1; j <= numNeighbors; j++) {
    const g = neighbours[nOff + j];
    const b = 8 * g;
    let d2 = 0;
    for (let i = 0; i < 8; i++) {
      const diff = f(XW[16 + gridL[b + i]] - XW[i]);
      d2 = f(d2 + f(f(XW[8 + i] * diff) * diff));
    }
    if (d2 < bestD2) {
      bestD2 = d2;
      gridIndex = g;
    }
  }
  if (gridIndex < 0) throw new SchemeError("QUANT_SCHEME_FAILED", "GGML_ASSERT(grid_index >= 0) failed in iq2_find_best_neighbour");
  const b = 8 * gridIndex;
  for (let i = 0; i < 8; i++) L[lOff + i] = gridL[b + i];
  return gridIndex;
}
