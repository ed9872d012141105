/**
 * Search helpers used by the importance-weighted paths of the legacy block types (q4_0, q4_1, q5_0, q5_1).
 * Private to the legacy family: transliterations of the static helpers in ggml/src/ggml-quants.c with C float
 * semantics (every float operation rounded with Math.fround, no FMA, left-to-right evaluation).
 */
import { nearestInt } from "../math/round.js";

const fr = Math.fround;

/** ggml's `GROUP_MAX_EPS` (ggml/src/ggml-quants.c). */
export const GROUP_MAX_EPS = fr(1e-15);

/**
 * Symmetric quantization search of `n` values `x[xo..xo+n)` to `-nmax..nmax-1`, written (offset by `nmax`) to
 * `L[0..n)`. Returns the scale. `rmseType` 0: plain rounding; 1..4: weighting x², 1, |x|, sqrt|x| (or `qw`
 * when given, read at `qw[qwo..]`); negative: return early after the first pass.
 * @see make_qx_quants (ggml/src/ggml-quants.c)
 */
export function makeQxQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  L: Int8Array,
  rmseType: number,
  qw: Float32Array | null,
  qwo: number,
): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; ++i) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    // all zero
    for (let i = 0; i < n; ++i) L[i] = 0;
    return 0;
  }
  let iscale = fr(-nmax / max);
  if (rmseType === 0) {
    for (let i = 0; i < n; ++i) {
      const l = nearestInt(fr(iscale * x[xo + i]!));
      L[i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
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
    const xi = x[xo + i]!;
    let l = nearestInt(fr(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[i] = l + nmax;
    const w = qwWeight(qw, qwo + i, rmseType, xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 ? fr(sumlx / suml2) : 0;
  if (returnEarly) return suml2 > 0 ? fr(0.5 * fr(scale + fr(1 / iscale))) : fr(1 / iscale);
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; ++is) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(TENTH * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; ++i) {
      const xi = x[xo + i]!;
      let l = nearestInt(fr(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      const w = qwWeight(qw, qwo + i, rmseType, xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; ++i) {
        const l = nearestInt(fr(iscale * x[xo + i]!));
        L[i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** `0.1f` */
const TENTH = fr(0.1);

/** The weight expression of make_qx_quants: `qw ? qw[i] : rmse_type == 1 ? x*x : 2 ? 1 : 3 ? |x| : sqrtf(|x|)`. */
function qwWeight(qw: Float32Array | null, i: number, rmseType: number, xi: number): number {
  if (qw) return qw[i]!;
  if (rmseType === 1) return fr(xi * xi);
  if (rmseType === 2) return 1;
  if (rmseType === 3) return Math.abs(xi);
  return fr(Math.sqrt(Math.abs(xi)));
}

/**
 * Asymmetric (scale + min) weighted search of `n` values `x[xo..)` to `0..nmax` in `L[0..n)`, trying
 * `nstep + 1` scales `(rmin + rdelta*is + nmax) / (max - min)`. `weights` (read at `wo`) or, when null, x².
 * Returns the scale; `out[0]` receives `-min` (ggml's `*the_min`). `Laux` is scratch of `n` bytes.
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
  out: Float32Array,
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  let min = x[xo]!;
  let max = x[xo]!;
  let sumW = weights ? weights[wo]! : fr(x[xo]! * x[xo]!);
  let sumX = fr(sumW * x[xo]!);
  for (let i = 1; i < n; ++i) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights ? weights[wo + i]! : fr(xi * xi);
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * xi));
  }
  if (min > 0) min = 0;
  if (max <= min) {
    L.fill(0, 0, n);
    out[0] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestMad = 0;
  for (let i = 0; i < n; ++i) {
    const xi = x[xo + i]!;
    const l = nearestInt(fr(iscale * fr(xi - min)));
    const li = Math.max(0, Math.min(nmax, l));
    L[i] = li;
    let diff = fr(fr(fr(scale * li) + min) - xi);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    const w = weights ? weights[wo + i]! : fr(xi * xi);
    bestMad = fr(bestMad + fr(w * diff));
  }
  if (nstep < 1) {
    out[0] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; ++is) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; ++i) {
      const xi = x[xo + i]!;
      let l = nearestInt(fr(iscale * fr(xi - min)));
      l = Math.max(0, Math.min(nmax, l));
      Laux[i] = l;
      const w = weights ? weights[wo + i]! : fr(xi * xi);
      const wl = fr(w * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * xi));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let mad = 0;
      for (let i = 0; i < n; ++i) {
        const xi = x[xo + i]!;
        let diff = fr(fr(fr(thisScale * Laux[i]!) + thisMin) - xi);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        const w = weights ? weights[wo + i]! : fr(xi * xi);
        mad = fr(mad + fr(w * diff));
      }
      if (mad < bestMad) {
        for (let i = 0; i < n; ++i) L[i] = Laux[i]!;
        bestMad = mad;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  out[0] = -min;
  return scale;
}
