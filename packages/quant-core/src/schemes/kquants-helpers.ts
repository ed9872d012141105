/**
 * Shared helpers of ggml's super-block ("K") quantizers, transliterated from ggml/src/ggml-quants.c
 * (ggml d99724f): the scale searches `make_qx_quants`, `make_q3_quants`, `make_qkx1_quants`,
 * `make_qkx2_quants`, `make_qkx3_quants`, `make_qp_quants`, the 6-bit scale unpacker `get_scale_min_k4`
 * and `nearest_int`.
 *
 * Float semantics: every C `float` operation is `Math.fround` of the operation on float32 values (no FMA in
 * the reference build, so `a*b + c` rounds twice). Products are evaluated left to right as C does
 * (`w*x[i]*l` is `(w*x[i])*l`). A C pointer argument `p + off` is passed as the typed array plus an offset.
 * C truthiness tests on floats (`if (!d)`, `suml2 ? ... : ...`) are written as `=== 0` / `!== 0`, because NaN
 * is true in C but falsy in JS.
 *
 * The `L` arrays keep their C element type: `int8_t *` is an `Int8Array`, `uint8_t *` a `Uint8Array`, so stores
 * wrap exactly as the C integer conversions do.
 *
 * Speed without changing a bit: the searches skip work whose outcome is proven (a candidate with the same levels
 * as the one before, float prefix sums that cannot differ, error sums that a certified double-precision bound
 * shows cannot win, levels that cannot have changed); each shortcut is stated and proved where it is used, and
 * kquants-search.test.ts checks them against plain transliterations on thousands of adversarial groups. Hot loops
 * read exact Float64Array copies kept in module-level `const` scratch (V8 optimizes loops over a known array
 * object much better than over a reassignable one), which limits groups to 256 values (every caller passes 16 or 32).
 */

import { SchemeError } from "../errors.js";
import { nearestInt } from "../math/round.js";

const fr = Math.fround;

/** `GROUP_MAX_EPS` (1e-15f): below this max |x| a group counts as all zero. */
export const GROUP_MAX_EPS = fr(1e-15);
/** `GROUP_MAX_EPS_IQ3_XXS` (1e-8f). */
export const GROUP_MAX_EPS_IQ3_XXS = fr(1e-8);
/** `GROUP_MAX_EPS_IQ2_S` (1e-8f). */
export const GROUP_MAX_EPS_IQ2_S = fr(1e-8);
/** `GROUP_MAX_EPS_IQ1_M` (1e-7f). */
export const GROUP_MAX_EPS_IQ1_M = fr(1e-7);
/** `GROUP_MAX_EPS_IQ1_S` (1e-12f). */
export const GROUP_MAX_EPS_IQ1_S = fr(1e-12);

/** Super-block size `QK_K`. */
export const QK_K = 256;
/** Bytes of packed 6-bit scales and mins in q4_K / q5_K (`K_SCALE_SIZE`). */
export const K_SCALE_SIZE = 12;

/** The float constant `0.1f`. */
const F_0_1 = fr(0.1);

/**
 * ggml's `nearest_int`, exact also outside its round-half-even range (one implementation, in math/round.ts).
 * @see nearest_int (ggml/src/ggml-quants.c)
 */
export { nearestInt };

/** 1.5·2^52: `(t + MAGIC) - MAGIC` rounds a double to an integer, half to even, for |t| < 2^51. */
const MAGIC = 6755399441055744;
/** The unit roundoff of float32, 2^-24. */
const U32 = 5.960464477539063e-8;

/** C `MAX(a, b)` = `a > b ? a : b`. */
function MAX(a: number, b: number): number {
  return a > b ? a : b;
}
/** C `MIN(a, b)` = `a < b ? a : b`. */
function MIN(a: number, b: number): number {
  return a < b ? a : b;
}

/**
 * Symmetric quantization of `n` values to integers in [-nmax, nmax-1] (stored +nmax in `L`), with an optional
 * weighted least-squares refinement of the scale. `rmse_type` 0: plain; 1: weights `qw` or x²; 2: 1; 3: |x|;
 * other: sqrt|x|; negative: one refinement step only. Returns the scale.
 * @see make_qx_quants (ggml/src/ggml-quants.c)
 */
export function makeQxQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  L: Int8Array,
  lo: number,
  rmseType: number,
  qw: Float32Array | null,
  qwo = 0,
): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; ++i) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    // all zero
    for (let i = 0; i < n; ++i) L[lo + i] = 0;
    return 0;
  }
  let iscale = fr(-nmax / max);
  if (rmseType === 0) {
    for (let i = 0; i < n; ++i) {
      const l = nearestInt(fr(iscale * x[xo + i]));
      L[lo + i] = nmax + MAX(-nmax, MIN(nmax - 1, l));
    }
    return fr(1 / iscale);
  }
  let returnEarly = false;
  if (rmseType < 0) {
    rmseType = -rmseType;
    returnEarly = true;
  }
  checkGroupSize(n);
  const xd = XD;
  const wd = WD;
  const wx = XM; // fr(w*x[i]): C's `w*x[i]*l` is `(w*x[i])*l`, the same float at every use
  const psx = PL; // prefix sums of sumlx, suml2 of the last levels summed
  const ps2 = PL2;
  let screen = true; // every weight >= 0 (a NaN weight fails)
  for (let i = 0; i < n; ++i) {
    const xi = x[xo + i];
    const w = qxWeight(qw, qwo + i, rmseType, xi);
    xd[i] = xi;
    wd[i] = w;
    wx[i] = fr(w * xi);
    if (!(w >= 0)) screen = false;
  }
  const lmin = -nmax;
  const lmax = nmax - 1;
  if (returnEarly) {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; ++i) {
      let l = nearestInt(fr(iscale * xd[i]));
      l = l < lmin ? lmin : l > lmax ? lmax : l; // MAX(-nmax, MIN(nmax-1, l))
      L[lo + i] = l + nmax;
      sumlx = fr(sumlx + fr(wx[i] * l));
      suml2 = fr(suml2 + fr(fr(wd[i] * l) * l));
    }
    const scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
    return suml2 > 0 ? fr(0.5 * fr(scale + fr(1 / iscale))) : fr(1 / iscale);
  }
  // The 19 inverse scales, point p <-> is = p - 9 (p = 9 is the first one, `-nmax/max`), do not depend on the search
  // state, and they are monotone in p (each step of `nmax + 0.1f*is`, the division by the fixed `-max` and every
  // float rounding are monotone). So is each element's level clamp(nearest_int(iscale_p*x[i])) as a function of p
  // (|iscale_p*x[i]| <= nmax + 1 stays in nearest_int's exact range; a non-finite x gives the same NaN product, so
  // the same level, at every p). Each element's levels are found from the two ends and bisection (an interval whose
  // ends agree is constant), and kept as the level at p = 0 plus change events (p, i, new level), in place of one
  // evaluation per point and element.
  const isc = QX_ISCALE;
  for (let p = 0; p < QX_POINTS; ++p) {
    const is = p - 9;
    isc[p] = is === 0 ? iscale : fr(-fr(nmax + fr(F_0_1 * is)) / max);
  }
  const cur = LA; // levels at the current point
  const lv9 = QX_L9; // levels at point 9 (the initial ones)
  const evI = QX_EV_I; // events of point p: evI/evL[p*n + c], c < evN[p], in increasing element order
  const evL = QX_EV_L;
  const evN = QX_EV_N;
  const stack = QX_STACK;
  const last = QX_POINTS - 1;
  evN.fill(0);
  for (let i = 0; i < n; ++i) {
    const xi = xd[i];
    const l0 = qxLevel(isc[0], xi, lmin, lmax);
    const l1 = qxLevel(isc[last], xi, lmin, lmax);
    cur[i] = l0;
    lv9[i] = l0;
    if (l0 === l1) continue;
    let sp = 0;
    stack[sp++] = 0;
    stack[sp++] = last;
    stack[sp++] = l0;
    stack[sp++] = l1;
    while (sp > 0) {
      const lb = stack[--sp];
      const la = stack[--sp];
      const b = stack[--sp];
      const a = stack[--sp];
      if (la === lb) continue;
      if (b - a === 1) {
        const e = b * n + evN[b]++;
        evI[e] = i;
        evL[e] = lb;
        continue;
      }
      const m = (a + b) >> 1;
      const lm = qxLevel(isc[m], xi, lmin, lmax);
      if (m === 9) lv9[i] = lm; // the first midpoint, (0 + 18) >> 1
      stack[sp++] = a;
      stack[sp++] = m;
      stack[sp++] = la;
      stack[sp++] = lm;
      stack[sp++] = m;
      stack[sp++] = b;
      stack[sp++] = lm;
      stack[sp++] = lb;
    }
  }
  const ls = QX_LS; // levels of the last candidate whose float sums were formed (their prefix sums: psx, ps2)
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; ++i) {
    const l = lv9[i];
    L[lo + i] = l + nmax;
    ls[i] = l;
    sumlx = fr(sumlx + fr(wx[i] * l));
    suml2 = fr(suml2 + fr(fr(wd[i] * l) * l));
    psx[i] = sumlx;
    ps2[i] = suml2;
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  // the float terms `w*x[i]*l` and `w*l*l` of each element at its current level (point 0 first, then per event)
  const tx = PW;
  const t2 = PW2;
  for (let i = 0; i < n; ++i) {
    const l = cur[i];
    tx[i] = fr(wx[i] * l);
    t2[i] = fr(fr(wd[i] * l) * l);
  }
  // As in qkxSearch: the sums depend only on the levels, so a candidate with the same levels as the one before it
  // (or as the initial ones) changes nothing: rejected again with the same `best`, or taken again with the same L,
  // scale and best. The previous of point 0 is point 9 (the initial levels), of point 10 it is point 8, otherwise
  // point p-1; levels differ between two points exactly for the elements with an event in between (monotone).
  //
  // Certified screen (all weights >= 0, best >= 0): the float recursive sums A = sumlx, B = suml2 of n terms are
  // within g·Σ|terms| of the exact sums, g = (n + 2)·u >= γ(n-1) plus the error of the same sums formed in double
  // (a, |a|, b below). So |A| <= |a| + g·Σ|tx| and B >= b·(1 − g) (terms of B are >= 0), and C's test
  // `fr(A*A) > fr(best*B)` is false when (|a| + g·Σ|tx|)²·(1 + 3u) < best·b·(1 − g)·(1 − 3u) (each product rounds
  // by at most u, the rest covers the double arithmetic of the bound). Such candidates are rejected without the
  // float sums; the others get them exactly, from the prefix of the last candidate summed in float.
  const g = (n + 2) * U32;
  let k09 = n;
  for (let p = 1; p <= 9; ++p) if (evN[p] > 0 && evI[p * n] < k09) k09 = evI[p * n];
  let k = k09;
  for (let p = 0; p < QX_POINTS; ++p) {
    if (p > 0) {
      const e0 = p * n;
      const ne = evN[p];
      for (let c = 0; c < ne; ++c) {
        const i = evI[e0 + c];
        const l = evL[e0 + c];
        cur[i] = l;
        tx[i] = fr(wx[i] * l);
        t2[i] = fr(fr(wd[i] * l) * l);
      }
      if (p === 9) {
        k = ne > 0 ? evI[e0] : n; // carried into point 10
        continue;
      }
      const kp = ne > 0 ? evI[e0] : n;
      k = p === 10 ? (kp < k ? kp : k) : kp;
    }
    if (k === n) continue;
    if (screen && best >= 0) {
      let a = 0;
      let aa = 0;
      let b = 0;
      for (let i = 0; i < n; ++i) {
        const v = tx[i];
        a += v;
        aa += Math.abs(v);
        b += t2[i];
      }
      const aUp = Math.abs(a) + g * aa;
      if (aUp * aUp * (1 + 3 * U32) < best * (b * (1 - g)) * (1 - 3 * U32)) continue;
    }
    let k2 = 0;
    while (k2 < n && cur[k2] === ls[k2]) ++k2;
    sumlx = 0;
    suml2 = 0;
    if (k2 > 0) {
      sumlx = psx[k2 - 1];
      suml2 = ps2[k2 - 1];
    }
    for (let i = k2; i < n; ++i) {
      ls[i] = cur[i];
      sumlx = fr(sumlx + tx[i]);
      suml2 = fr(suml2 + t2[i]);
      psx[i] = sumlx;
      ps2[i] = suml2;
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; ++i) L[lo + i] = nmax + cur[i];
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** MAX(0, MIN(nmax, nearest_int(t))) of make_qkx2/3_quants for a float32 t, as an int32. */
function qkxLevel(t: number, nmax: number): number {
  // nearest_int(t): for |t| <= 4194303 the float32 t rounds half to even exactly as the C float trick does
  let l = (t >= -4194303 && t <= 4194303 ? t + MAGIC - MAGIC : nearestInt(t)) | 0;
  l &= ~(l >> 31); // MAX(0, l), int32
  const e = l - nmax;
  return nmax + (e & (e >> 31)); // MIN(nmax, l)
}

/**
 * MAX(lmin, MIN(lmax, nearest_int(iscale*x))) of make_qx_quants / make_q3_quants for float32 iscale and x, as an int32
 * (`iscale = 1` gives the level of x itself: fr(1*x) = x).
 */
function qxLevel(iscale: number, x: number, lmin: number, lmax: number): number {
  const t = fr(iscale * x);
  // nearest_int(t): for |t| <= 4194303 the float32 t rounds half to even exactly as the C float trick does
  const l = (t >= -4194303 && t <= 4194303 ? t + MAGIC - MAGIC : nearestInt(t)) | 0;
  return l < lmin ? lmin : l > lmax ? lmax : l;
}

/** Scratch of makeQxQuants: the 19 inverse scales, the levels at point 9, the change events, the bisection stack. */
const QX_POINTS = 19;
const QX_ISCALE = new Float64Array(QX_POINTS);
const QX_L9 = new Float64Array(256);
const QX_EV_I = new Int32Array(QX_POINTS * 256);
const QX_EV_L = new Float64Array(QX_POINTS * 256);
const QX_EV_N = new Int32Array(QX_POINTS);
const QX_STACK = new Float64Array(128);
const QX_LS = new Int32Array(256);

/** The per-value weight of make_qx_quants: `qw ? qw[i] : rmse_type == 1 ? x*x : 2 ? 1 : 3 ? |x| : sqrtf(|x|)`. */
function qxWeight(qw: Float32Array | null, qi: number, rmseType: number, xi: number): number {
  if (qw !== null) return qw[qi];
  if (rmseType === 1) return fr(xi * xi);
  if (rmseType === 2) return 1;
  if (rmseType === 3) return Math.abs(xi);
  return fr(Math.sqrt(Math.abs(xi)));
}

/**
 * Symmetric 3-bit style quantization (integers in [-nmax, nmax-1], stored +nmax) with an optional coordinate
 * descent on x²-weighted error (`do_rmse`). Returns the scale.
 * @see make_q3_quants (ggml/src/ggml-quants.c)
 */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number, doRmse: boolean): number {
  checkGroupSize(n);
  const xd = XD;
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; ++i) {
    const xi = x[xo + i];
    xd[i] = xi;
    const ax = Math.abs(xi);
    if (ax > amax) {
      amax = ax;
      max = xi;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    // all zero
    for (let i = 0; i < n; ++i) L[lo + i] = 0;
    return 0;
  }
  const iscale = fr(-nmax / max);
  const lmin = -nmax;
  const lmax = nmax - 1;
  if (doRmse) {
    // C's `w = x[i]*x[i]` and `w*x[i]` are the same floats at every use: formed once per element
    const wd = WD;
    const wx = XM;
    const la = LA;
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; ++i) {
      const xi = xd[i];
      const l = qxLevel(iscale, xi, lmin, lmax);
      la[i] = l;
      const w = fr(xi * xi);
      wd[i] = w;
      const wxi = fr(w * xi);
      wx[i] = wxi;
      sumlx = fr(sumlx + fr(wxi * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    for (let itry = 0; itry < 5; ++itry) {
      let nChanged = 0;
      for (let i = 0; i < n; ++i) {
        const w = wd[i];
        const wxi = wx[i];
        const Li = la[i];
        let slx = fr(sumlx - fr(wxi * Li));
        if (slx > 0) {
          let sl2 = fr(suml2 - fr(fr(w * Li) * Li));
          const newL = qxLevel(1, fr(fr(xd[i] * sl2) / slx), lmin, lmax);
          if (newL !== Li) {
            slx = fr(slx + fr(wxi * newL));
            sl2 = fr(sl2 + fr(fr(w * newL) * newL));
            if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
              la[i] = newL;
              sumlx = slx;
              suml2 = sl2;
              ++nChanged;
            }
          }
        }
      }
      if (nChanged === 0) break;
    }
    for (let i = 0; i < n; ++i) L[lo + i] = la[i] + nmax;
    return suml2 > 0 ? fr(sumlx / suml2) : 0;
  }
  for (let i = 0; i < n; ++i) L[lo + i] = qxLevel(iscale, xd[i], lmin, lmax) + nmax;
  return fr(1 / iscale);
}

/**
 * Asymmetric quantization to [0, nmax] with a min, by `ntry` alternating refinements (ggml no longer calls
 * it: the K-quants use make_qkx2/3_quants; kept for completeness). Writes -min to `theMin[mo]`, returns the
 * scale. Reads the incoming contents of `L` (to detect changes), as the C does.
 * @see make_qkx1_quants (ggml/src/ggml-quants.c)
 */
export function makeQkx1Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  L: Uint8Array,
  lo: number,
  theMin: Float32Array,
  mo: number,
  ntry: number,
  alpha: number,
): number {
  let min = x[xo];
  let max = x[xo];
  for (let i = 1; i < n; ++i) {
    if (x[xo + i] < min) min = x[xo + i];
    if (x[xo + i] > max) max = x[xo + i];
  }
  if (max === min) {
    for (let i = 0; i < n; ++i) L[lo + i] = 0;
    theMin[mo] = 0;
    return 0;
  }
  if (min > 0) min = 0;
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  for (let itry = 0; itry < ntry; ++itry) {
    let sumlx = 0;
    let suml2 = 0; // int in C
    let didChange = false;
    for (let i = 0; i < n; ++i) {
      const xm = fr(x[xo + i] - min);
      let l = nearestInt(fr(iscale * xm));
      l = MAX(0, MIN(nmax, l));
      if (l !== L[lo + i]) {
        L[lo + i] = l;
        didChange = true;
      }
      sumlx = fr(sumlx + fr(xm * l));
      suml2 += l * l;
    }
    scale = fr(sumlx / suml2);
    let sum = 0;
    for (let i = 0; i < n; ++i) sum = fr(sum + fr(x[xo + i] - fr(scale * L[lo + i])));
    min = fr(fr(alpha * min) + fr(fr(fr(1 - alpha) * sum) / n));
    if (min > 0) min = 0;
    iscale = fr(1 / scale);
    if (!didChange) break;
  }
  theMin[mo] = -min;
  return scale;
}

/**
 * Asymmetric quantization to [0, nmax] with a min (weighted), by a grid search over `nstep + 1` trial inverse
 * scales `(rmin + rdelta*is + nmax)/(max - min)`, each refined by weighted least squares. Error metric: |diff|
 * when `useMad`, else diff². Writes -min to `theMin[mo]`, returns the scale. `Laux` is C's scratch argument, kept for the
 * signature; the search uses its own scratch.
 * @see make_qkx2_quants (ggml/src/ggml-quants.c)
 */
export function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  wo: number,
  L: Uint8Array,
  lo: number,
  theMin: Float32Array,
  mo: number,
  _Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  return qkxSearch(n, nmax, x, xo, weights, wo, L, lo, theMin, mo, rmin, rdelta, nstep, useMad, false);
}

/**
 * Like {@link makeQkx2Quants}, but `weights` may be null (then x² is the weight) and a group with
 * `max <= min` is all zero. Used by the importance-weighted K-quant paths and q4_1/q5_1 with an imatrix.
 * @see make_qkx3_quants (ggml/src/ggml-quants.c)
 */
export function makeQkx3Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array | null,
  wo: number,
  L: Uint8Array,
  lo: number,
  theMin: Float32Array,
  mo: number,
  _Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  return qkxSearch(n, nmax, x, xo, weights, wo, L, lo, theMin, mo, rmin, rdelta, nstep, useMad, true);
}

// Scratch of qkxSearch and makeQxQuants, for groups of up to SCRATCH_N values (every caller passes 16 or 32).
// Float64Array copies of float32 values are exact and save a float32 -> double conversion at every read in the inner
// loops. They are `const` on purpose: V8 then treats each as a known object in optimized code, which makes the
// inner loops markedly faster than with reassignable scratch.
const SCRATCH_N = 256;
const XD = new Float64Array(SCRATCH_N); // x[i]
const WD = new Float64Array(SCRATCH_N); // weights[i]
const XM = new Float64Array(SCRATCH_N); // fr(x[i] - min), refreshed when a better min is taken
const LA = new Int32Array(SCRATCH_N); // the levels of the last candidate whose sums were formed
const PL = new Float64Array(SCRATCH_N); // prefix sums of that candidate after element i (sum_l, sum_l2, sum_xl)
const PL2 = new Float64Array(SCRATCH_N);
const PXL = new Float64Array(SCRATCH_N);
const LOV = new Float64Array(SCRATCH_N); // open interval of t = iscale*xm[i] that keeps level la[i]
const HIV = new Float64Array(SCRATCH_N);
const PW = new Float64Array(SCRATCH_N); // fr(w*l), fr(fr(w*l)*l), fr(fr(w*l)*x[i]) for the current level la[i]
const PW2 = new Float64Array(SCRATCH_N);
const PWX = new Float64Array(SCRATCH_N);
function checkGroupSize(n: number): void {
  if (n > SCRATCH_N) throw new SchemeError("QUANT_UNSUPPORTED", `K-quant helper called with a group of ${n} values (at most ${SCRATCH_N})`);
}

/**
 * The body shared by make_qkx2_quants and make_qkx3_quants (identical but for the all-equal test:
 * `max == min` in qkx2, `max <= min` in qkx3); `w === null` is qkx3's `weights ? weights[i] : x[i]*x[i]`.
 *
 * Every float operation the C performs on a path that can change the result is done here, in C order, with one
 * `Math.fround` each. Three things make the `nstep + 1` candidate loop cheaper without changing any result:
 *
 * 1. Same levels, same outcome. The sums `sum_l`, `sum_l2`, `sum_xl` of a candidate depend only on its levels
 *    `Laux` (and on `x`, `weights`, fixed for the call), and so do `D`, `this_scale`, `this_min` and `cur_error`.
 *    If a candidate's levels equal those of the candidate just before it, that candidate either was rejected (then
 *    `best_error` is unchanged and the same `cur_error` is rejected again) or was taken (then `best_error ==
 *    cur_error` and `cur_error < best_error` is false). Either way the candidate changes nothing, so it is skipped.
 * 2. Prefix reuse. The sums are float recursive sums in index order: if the levels agree with the previous
 *    candidate's up to index k-1, the partial sums after index k-1 are the same floats. They are kept per index, and
 *    summation restarts at the first changed index.
 * 3. A certified screen for the error loop. `cur_error` only matters through `cur_error < best_error`. When all
 *    weights are >= 0 (and x is finite), the error is first summed in double from the same float `this_scale`,
 *    `this_min`: S = Σ w·e(d), d = this_scale·l + this_min − x (double), e = d² (or |d| with use_mad). Let E bound
 *    |d_float − d| where d_float is C's float `(scale*l + min) - x` before its final rounding: E <= u·(2.01·|s|·nmax
 *    + |m|) + 2^-148 from the two float roundings before it (u = 2^-24), plus 4·2^-52·(|s|·nmax + |m| + max|x|)
 *    for the double rounding of d. With w >= 0, Σ w·(|d| − E)² >= S − 2E·Σ w|d| >= S − 2E·sqrt(W·S) (Cauchy-
 *    Schwarz, W = Σ w); with use_mad Σ w·(|d| − E) = S − E·W. The remaining float roundings (the last one of d, the
 *    square, the product by w: each a factor >= 1 − u, plus at most 2^-150 absolute underflow per product) and the
 *    float recursive sum of n non-negative terms (factor >= (1 − u)^(n−1)) give
 *    cur_error >= LB·(1 − (n + 3)·u) − n·(W + 1)·2^-149 for the bound LB above. If that is > best_error the
 *    candidate is rejected without the float loop (the code uses (n + 8)·u and rounds the double terms of LB
 *    down by 1e-13 relative, more than the double summation error). Otherwise, and always when the screen does not
 *    apply, `cur_error` is computed exactly as in C. If any float intermediate is inf or NaN, C's `cur_error` is
 *    inf or NaN and rejected, so the bound only needs to hold for finite ones.
 * 4. Cheap level test. A level changes only when the float32 product `iscale*(x[i] - min)` leaves the open interval
 *    that rounds to it, which is tested first; the full nearest_int and clamp run only then.
 *
 * @see make_qkx2_quants, make_qkx3_quants (ggml/src/ggml-quants.c)
 */
function qkxSearch(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  w: Float32Array | null,
  wo: number,
  L: Uint8Array,
  lo: number,
  theMin: Float32Array,
  mo: number,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
  qkx3: boolean,
): number {
  checkGroupSize(n);
  const xd = XD;
  const wd = WD;
  const xm = XM;
  const la = LA;
  const pl = PL;
  const pl2 = PL2;
  const pxl = PXL;
  const lov = LOV;
  const hiv = HIV;
  const pw = PW;
  const pw2 = PW2;
  const pwx = PWX;
  // weights[i] (or x[i]*x[i], the same float at every C use), x[i]
  if (w === null) {
    for (let i = 0; i < n; ++i) {
      const xi = x[xo + i];
      xd[i] = xi;
      wd[i] = fr(xi * xi);
    }
  } else {
    for (let i = 0; i < n; ++i) {
      xd[i] = x[xo + i];
      wd[i] = w[wo + i];
    }
  }
  let min = xd[0];
  let max = xd[0];
  let sumW = wd[0];
  let sumX = fr(sumW * xd[0]);
  let minW = sumW; // for the screen: every weight >= 0 (a NaN weight fails it)
  let maxAbsX = Math.abs(min);
  let sumWd = sumW; // Σ w in double
  for (let i = 1; i < n; ++i) {
    const xi = xd[i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const wi = wd[i];
    sumW = fr(sumW + wi);
    sumX = fr(sumX + fr(wi * xi));
    if (!(wi >= minW)) minW = wi;
    const ax = Math.abs(xi);
    if (!(ax <= maxAbsX)) maxAbsX = ax;
    sumWd += wi;
  }
  if (min > 0) min = 0;
  if (qkx3 ? max <= min : max === min) {
    for (let i = 0; i < n; ++i) L[lo + i] = 0;
    theMin[mo] = -min;
    return 0;
  }
  for (let i = 0; i < n; ++i) xm[i] = fr(xd[i] - min);
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; ++i) {
    const t = fr(iscale * xm[i]);
    const l = t >= -4194303 && t <= 4194303 ? t + MAGIC - MAGIC : nearestInt(t); // see the candidate loop
    const Li = l < 0 ? 0 : l > nmax ? nmax : l; // MAX(0, MIN(nmax, l))
    L[lo + i] = Li;
    let diff = fr(fr(fr(scale * Li) + min) - xd[i]);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(wd[i] * diff));
  }
  if (nstep < 1) {
    theMin[mo] = -min;
    return scale;
  }
  const screen = minW >= 0 && maxAbsX < 1e30 && sumWd < 1e30;
  const gamma = (n + 8) * U32;
  const underflow = n * (sumWd + 1) * 1.401298464324817e-45; // n·(W + 1)·2^-149
  for (let is = 0; is <= nstep; ++is) {
    // `min` is the best min so far: C re-reads it here, after a better candidate replaced it
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    // levels; k = first index where they differ from the previous candidate's (0 for the first candidate).
    // (4.) A level stays the same while t = fr(iscale*xm[i]) stays strictly inside the open interval around it
    // (l ± 0.5; for a level clamped to 0 or nmax the interval reaches ±4194303, inside nearest_int's exact range),
    // so the full rounding runs only when t leaves it (rare, and then the bounds follow the new level).
    let k = n;
    if (is === 0) {
      k = 0;
      for (let i = 0; i < n; ++i) {
        const l = qkxLevel(fr(iscale * xm[i]), nmax);
        la[i] = l;
        lov[i] = l === 0 ? -4194303 : l - 0.5;
        hiv[i] = l === nmax ? 4194303 : l + 0.5;
        const wl = fr(wd[i] * l);
        pw[i] = wl;
        pw2[i] = fr(wl * l);
        pwx[i] = fr(wl * xd[i]);
      }
    } else {
      for (let i = 0; i < n; ++i) {
        const t = fr(iscale * xm[i]);
        if (t > lov[i] && t < hiv[i]) continue;
        const l = qkxLevel(t, nmax);
        if (l !== la[i]) {
          if (k === n) k = i;
          la[i] = l;
          lov[i] = l === 0 ? -4194303 : l - 0.5;
          hiv[i] = l === nmax ? 4194303 : l + 0.5;
          const wl = fr(wd[i] * l);
          pw[i] = wl;
          pw2[i] = fr(wl * l);
          pwx[i] = fr(wl * xd[i]);
        }
      }
    }
    if (k === n) continue; // same levels as the previous candidate: changes nothing (1.)
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    if (k > 0) {
      sumL = pl[k - 1];
      sumL2 = pl2[k - 1];
      sumXL = pxl[k - 1];
    }
    for (let i = k; i < n; ++i) {
      // the terms w*l, w*l*l, w*l*x[i] of element i were formed (in C order) when its level was set
      sumL = fr(sumL + pw[i]);
      sumL2 = fr(sumL2 + pw2[i]);
      sumXL = fr(sumXL + pwx[i]);
      pl[i] = sumL;
      pl2[i] = sumL2;
      pxl[i] = sumXL;
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (!(D > 0)) continue;
    let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
    let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
    if (thisMin > 0) {
      thisMin = 0;
      thisScale = fr(sumXL / sumL2);
    }
    if (screen) {
      // (3.) a lower bound of the float cur_error, from a double sum
      let s = 0;
      if (useMad) {
        for (let i = 0; i < n; ++i) s += wd[i] * Math.abs(thisScale * la[i] + thisMin - xd[i]);
      } else {
        for (let i = 0; i < n; ++i) {
          const d = thisScale * la[i] + thisMin - xd[i];
          s += wd[i] * d * d;
        }
      }
      s *= 1 - 1e-13;
      const as = Math.abs(thisScale) * nmax;
      const am = Math.abs(thisMin);
      const E = U32 * (2.01 * as + am) + 8.9e-16 * (as + am + maxAbsX) + 3.6e-45;
      const lb = useMad ? s - E * sumWd * (1 + 1e-13) : s - 2.0001 * E * Math.sqrt(sumWd * s);
      if (lb > 0 && lb * (1 - gamma) - underflow > bestError) continue;
    }
    let curError = 0;
    if (useMad) {
      for (let i = 0; i < n; ++i) {
        const diff = Math.abs(fr(fr(fr(thisScale * la[i]) + thisMin) - xd[i]));
        curError = fr(curError + fr(wd[i] * diff));
      }
    } else {
      for (let i = 0; i < n; ++i) {
        const diff = fr(fr(fr(thisScale * la[i]) + thisMin) - xd[i]);
        curError = fr(curError + fr(wd[i] * fr(diff * diff)));
      }
    }
    if (curError < bestError) {
      for (let i = 0; i < n; ++i) L[lo + i] = la[i];
      bestError = curError;
      scale = thisScale;
      min = thisMin;
      for (let i = 0; i < n; ++i) xm[i] = fr(xd[i] - min);
    }
  }
  theMin[mo] = -min;
  return scale;
}

/**
 * Quantization of non-negative values (the sub-block scales or mins) to [0, nmax] with importance weights
 * `quantWeights`: a 9-point search of the inverse scale, then coordinate descent. Returns the scale.
 * `L` is `uint8_t *` in C: a negative level wraps on store, and later reads see the wrapped byte.
 * @see make_qp_quants (ggml/src/ggml-quants.c; d99724f: `max < GROUP_MAX_EPS` and a guarded final division)
 */
export function makeQpQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  L: Uint8Array,
  lo: number,
  quantWeights: Float32Array,
  qwo: number,
): number {
  let max = 0;
  for (let i = 0; i < n; ++i) max = MAX(max, x[xo + i]);
  if (max < GROUP_MAX_EPS) {
    // all zero
    for (let i = 0; i < n; ++i) L[lo + i] = 0;
    return 0;
  }
  let iscale = fr(nmax / max);
  for (let i = 0; i < n; ++i) L[lo + i] = nearestInt(fr(iscale * x[xo + i]));
  const scale = fr(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; ++i) {
    const diff = fr(x[xo + i] - fr(scale * L[lo + i]));
    const w = quantWeights[qwo + i];
    bestMse = fr(bestMse + fr(fr(w * diff) * diff));
  }
  for (let is = -4; is <= 4; ++is) {
    if (is === 0) continue;
    const iscaleIs = fr(fr(fr(F_0_1 * is) + nmax) / max);
    const scaleIs = fr(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; ++i) {
      const xi = x[xo + i];
      let l = nearestInt(fr(iscaleIs * xi));
      l = MIN(nmax, l);
      const diff = fr(xi - fr(scaleIs * l));
      const w = quantWeights[qwo + i];
      mse = fr(mse + fr(fr(w * diff) * diff));
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; ++i) {
    const xi = x[xo + i];
    let l = nearestInt(fr(iscale * xi));
    l = MIN(nmax, l);
    L[lo + i] = l;
    const w = quantWeights[qwo + i];
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; ++itry) {
    let nChanged = 0;
    for (let i = 0; i < n; ++i) {
      const xi = x[xo + i];
      const w = quantWeights[qwo + i];
      const Li = L[lo + i];
      let slx = fr(sumlx - fr(fr(w * xi) * Li));
      let sl2 = fr(suml2 - fr(fr(w * Li) * Li));
      if (slx > 0 && sl2 > 0) {
        let newL = nearestInt(fr(fr(xi * sl2) / slx));
        newL = MIN(nmax, newL);
        if (newL !== Li) {
          slx = fr(slx + fr(fr(w * xi) * newL));
          sl2 = fr(sl2 + fr(fr(w * newL) * newL));
          if (fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            L[lo + i] = newL;
            sumlx = slx;
            suml2 = sl2;
            ++nChanged;
          }
        }
      }
    }
    if (nChanged === 0) break;
  }
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}

/**
 * Unpacks the 6-bit scale and min of sub-block `j` (0..7) from the 12 packed bytes at `q[qo..qo+11]` of a
 * q4_K / q5_K block. Returns `scale | (min << 8)` (C writes them through two pointers).
 * @see get_scale_min_k4 (ggml/src/ggml-quants.c)
 */
export function getScaleMinK4(j: number, q: Uint8Array, qo: number): number {
  let d: number;
  let m: number;
  if (j < 4) {
    d = q[qo + j] & 63;
    m = q[qo + j + 4] & 63;
  } else {
    d = (q[qo + j + 4] & 0xf) | ((q[qo + j - 4] >> 6) << 4);
    m = (q[qo + j + 4] >> 4) | ((q[qo + j] >> 6) << 4);
  }
  return d | (m << 8);
}
