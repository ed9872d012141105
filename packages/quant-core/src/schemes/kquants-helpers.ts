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
 */

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

const nbF32 = new Float32Array(1);
const nbU32 = new Uint32Array(nbF32.buffer);

/**
 * ggml's `nearest_int`: adds 1.5·2^23 in float32 and returns the low mantissa bits minus 2^22, i.e. round half
 * to even for |fval| <= 4194303. Outside that range (and for inf/NaN) it returns what the C bit trick returns
 * (NaN gives 0, +inf gives -4194304), so degenerate inputs stay byte-identical. `fval` must be a float32 value.
 * @see nearest_int (ggml/src/ggml-quants.c)
 */
export function nearestInt(fval: number): number {
  const v = fr(fval + 12582912);
  if (v >= 8388608 && v < 16777216) return v - 12582912;
  nbF32[0] = v;
  return (nbU32[0] & 0x007fffff) - 0x00400000;
}

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
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; ++i) {
    const xi = x[xo + i];
    let l = nearestInt(fr(iscale * xi));
    l = MAX(-nmax, MIN(nmax - 1, l));
    L[lo + i] = l + nmax;
    const w = qxWeight(qw, qwo + i, rmseType, xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  if (returnEarly) return suml2 > 0 ? fr(0.5 * fr(scale + fr(1 / iscale))) : fr(1 / iscale);
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; ++is) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(F_0_1 * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; ++i) {
      const xi = x[xo + i];
      let l = nearestInt(fr(iscale * xi));
      l = MAX(-nmax, MIN(nmax - 1, l));
      const w = qxWeight(qw, qwo + i, rmseType, xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; ++i) {
        const l = nearestInt(fr(iscale * x[xo + i]));
        L[lo + i] = nmax + MAX(-nmax, MIN(nmax - 1, l));
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

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
  const iscale = fr(-nmax / max);
  if (doRmse) {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; ++i) {
      const xi = x[xo + i];
      let l = nearestInt(fr(iscale * xi));
      l = MAX(-nmax, MIN(nmax - 1, l));
      L[lo + i] = l;
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    for (let itry = 0; itry < 5; ++itry) {
      let nChanged = 0;
      for (let i = 0; i < n; ++i) {
        const xi = x[xo + i];
        const w = fr(xi * xi);
        const Li = L[lo + i];
        let slx = fr(sumlx - fr(fr(w * xi) * Li));
        if (slx > 0) {
          let sl2 = fr(suml2 - fr(fr(w * Li) * Li));
          let newL = nearestInt(fr(fr(xi * sl2) / slx));
          newL = MAX(-nmax, MIN(nmax - 1, newL));
          if (newL !== Li) {
            slx = fr(slx + fr(fr(w * xi) * newL));
            sl2 = fr(sl2 + fr(fr(w * newL) * newL));
            if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
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
    for (let i = 0; i < n; ++i) L[lo + i] += nmax;
    return suml2 > 0 ? fr(sumlx / suml2) : 0;
  }
  for (let i = 0; i < n; ++i) {
    let l = nearestInt(fr(iscale * x[xo + i]));
    l = MAX(-nmax, MIN(nmax - 1, l));
    L[lo + i] = l + nmax;
  }
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
 * when `useMad`, else diff². Writes -min to `theMin[mo]`, returns the scale. `Laux` is scratch (n values).
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
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  return qkxSearch(n, nmax, x, xo, weights, wo, L, lo, theMin, mo, Laux, rmin, rdelta, nstep, useMad, false);
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
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  if (weights === null) {
    // C evaluates `weights ? weights[i] : x[i]*x[i]` at each use; the values are the same every time
    const wx2 = scratch(n, 1);
    for (let i = 0; i < n; ++i) wx2[i] = fr(x[xo + i] * x[xo + i]);
    return qkxSearch(n, nmax, x, xo, wx2, 0, L, lo, theMin, mo, Laux, rmin, rdelta, nstep, useMad, true);
  }
  return qkxSearch(n, nmax, x, xo, weights, wo, L, lo, theMin, mo, Laux, rmin, rdelta, nstep, useMad, true);
}

// Scratch for qkxSearch: x[i] - min (XM) and the x² weights of make_qkx3_quants(weights = NULL).
let XM = new Float32Array(256);
let WX2 = new Float32Array(256);
function scratch(n: number, which: 0 | 1): Float32Array {
  if (which === 0) {
    if (XM.length < n) XM = new Float32Array(n);
    return XM;
  }
  if (WX2.length < n) WX2 = new Float32Array(n);
  return WX2;
}

/**
 * The body shared by make_qkx2_quants and make_qkx3_quants (identical but for the all-equal test:
 * `max == min` in qkx2, `max <= min` in qkx3). `x[i] - min` is cached in a scratch array and refreshed when a
 * better min is taken, since C re-reads `min` in every later step.
 */
function qkxSearch(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  w: Float32Array,
  wo: number,
  L: Uint8Array,
  lo: number,
  theMin: Float32Array,
  mo: number,
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
  qkx3: boolean,
): number {
  let min = x[xo];
  let max = x[xo];
  let sumW = w[wo];
  let sumX = fr(sumW * x[xo]);
  for (let i = 1; i < n; ++i) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const wi = w[wo + i];
    sumW = fr(sumW + wi);
    sumX = fr(sumX + fr(wi * xi));
  }
  if (min > 0) min = 0;
  if (qkx3 ? max <= min : max === min) {
    for (let i = 0; i < n; ++i) L[lo + i] = 0;
    theMin[mo] = -min;
    return 0;
  }
  const xm = scratch(n, 0);
  for (let i = 0; i < n; ++i) xm[i] = x[xo + i] - min; // float store: fr(x[i] - min)
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; ++i) {
    const l = nearestInt(fr(iscale * xm[i]));
    const Li = MAX(0, MIN(nmax, l));
    L[lo + i] = Li;
    let diff = fr(fr(fr(scale * Li) + min) - x[xo + i]);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(w[wo + i] * diff));
  }
  if (nstep < 1) {
    theMin[mo] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; ++is) {
    // `min` is the best min so far: C re-reads it here, after a better candidate replaced it
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; ++i) {
      let l = nearestInt(fr(iscale * xm[i]));
      l = MAX(0, MIN(nmax, l));
      Laux[i] = l;
      const wl = fr(w[wo + i] * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[xo + i]));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; ++i) {
        let diff = fr(fr(fr(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        curError = fr(curError + fr(w[wo + i] * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; ++i) L[lo + i] = Laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
        for (let i = 0; i < n; ++i) xm[i] = x[xo + i] - min;
      }
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
