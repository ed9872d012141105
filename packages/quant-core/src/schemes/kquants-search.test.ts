/**
 * The fast scale searches of kquants-helpers.ts (make_qx_quants, make_qkx2_quants, make_qkx3_quants) against
 * straight line-by-line transliterations of the C (kept here as oracles, one Math.fround per C float operation, no
 * shortcuts), on many random groups built to hit the shortcuts' corner cases: exact rounding ties (small integers and
 * halves), repeated values, all-equal groups, zero / negative / NaN weights, tiny and huge magnitudes, non-finite x.
 * The results (scale, min, levels) must be identical, bit for bit.
 */
import { describe, expect, it } from "vitest";
import { Lcg64 } from "@quantlab/testing/fixtures";
import { nearestInt } from "../math/round.js";
import { GROUP_MAX_EPS, makeQ3Quants, makeQkx2Quants, makeQkx3Quants, makeQxQuants } from "./kquants-helpers.js";

const fr = Math.fround;
const F_0_1 = fr(0.1);

/** @see make_qx_quants (ggml/src/ggml-quants.c), transliterated without shortcuts */
function refQx(n: number, nmax: number, x: Float32Array, L: Int8Array, rmseType: number, qw: Float32Array | null): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; ++i) {
    const ax = Math.abs(x[i]!);
    if (ax > amax) {
      amax = ax;
      max = x[i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; ++i) L[i] = 0;
    return 0;
  }
  let iscale = fr(-nmax / max);
  const clampL = (l: number) => Math.max(-nmax, Math.min(nmax - 1, l));
  const weight = (i: number) => {
    const xi = x[i]!;
    if (qw) return qw[i]!;
    if (rmseType === 1) return fr(xi * xi);
    if (rmseType === 2) return 1;
    if (rmseType === 3) return Math.abs(xi);
    return fr(Math.sqrt(Math.abs(xi)));
  };
  if (rmseType === 0) {
    for (let i = 0; i < n; ++i) L[i] = nmax + clampL(nearestInt(fr(iscale * x[i]!)));
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
    const l = clampL(nearestInt(fr(iscale * x[i]!)));
    L[i] = l + nmax;
    const w = weight(i);
    sumlx = fr(sumlx + fr(fr(w * x[i]!) * l));
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
      const l = clampL(nearestInt(fr(iscale * x[i]!)));
      const w = weight(i);
      sumlx = fr(sumlx + fr(fr(w * x[i]!) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; ++i) L[i] = nmax + clampL(nearestInt(fr(iscale * x[i]!)));
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** @see make_q3_quants (ggml/src/ggml-quants.c), transliterated without shortcuts */
function refQ3(n: number, nmax: number, x: Float32Array, L: Int8Array, doRmse: boolean): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; ++i) {
    const ax = Math.abs(x[i]!);
    if (ax > amax) {
      amax = ax;
      max = x[i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; ++i) L[i] = 0;
    return 0;
  }
  const iscale = fr(-nmax / max);
  const clampL = (l: number) => Math.max(-nmax, Math.min(nmax - 1, l));
  if (doRmse) {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; ++i) {
      const l = clampL(nearestInt(fr(iscale * x[i]!)));
      L[i] = l;
      const w = fr(x[i]! * x[i]!);
      sumlx = fr(sumlx + fr(fr(w * x[i]!) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    for (let itry = 0; itry < 5; ++itry) {
      let nChanged = 0;
      for (let i = 0; i < n; ++i) {
        const w = fr(x[i]! * x[i]!);
        let slx = fr(sumlx - fr(fr(w * x[i]!) * L[i]!));
        if (slx > 0) {
          let sl2 = fr(suml2 - fr(fr(w * L[i]!) * L[i]!));
          const newL = clampL(nearestInt(fr(fr(x[i]! * sl2) / slx)));
          if (newL !== L[i]) {
            slx = fr(slx + fr(fr(w * x[i]!) * newL));
            sl2 = fr(sl2 + fr(fr(w * newL) * newL));
            if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
              L[i] = newL;
              sumlx = slx;
              suml2 = sl2;
              ++nChanged;
            }
          }
        }
      }
      if (nChanged === 0) break;
    }
    for (let i = 0; i < n; ++i) L[i] = L[i]! + nmax;
    return suml2 > 0 ? fr(sumlx / suml2) : 0;
  }
  for (let i = 0; i < n; ++i) L[i] = clampL(nearestInt(fr(iscale * x[i]!))) + nmax;
  return fr(1 / iscale);
}

/** @see make_qkx2_quants / make_qkx3_quants (ggml/src/ggml-quants.c), transliterated without shortcuts */
function refQkx(
  qkx3: boolean,
  n: number,
  nmax: number,
  x: Float32Array,
  weights: Float32Array | null,
  L: Uint8Array,
  theMin: Float32Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  const wt = (i: number) => (weights ? weights[i]! : fr(x[i]! * x[i]!));
  const Laux = new Uint8Array(n);
  let min = x[0]!;
  let max = x[0]!;
  let sumW = wt(0);
  let sumX = fr(sumW * x[0]!);
  for (let i = 1; i < n; ++i) {
    if (x[i]! < min) min = x[i]!;
    if (x[i]! > max) max = x[i]!;
    const w = wt(i);
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * x[i]!));
  }
  if (min > 0) min = 0;
  if (qkx3 ? max <= min : max === min) {
    for (let i = 0; i < n; ++i) L[i] = 0;
    theMin[0] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; ++i) {
    const l = nearestInt(fr(iscale * fr(x[i]! - min)));
    L[i] = Math.max(0, Math.min(nmax, l));
    let diff = fr(fr(fr(scale * L[i]!) + min) - x[i]!);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(wt(i) * diff));
  }
  if (nstep < 1) {
    theMin[0] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; ++is) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; ++i) {
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[i]! - min)))));
      Laux[i] = l;
      const w = wt(i);
      sumL = fr(sumL + fr(w * l));
      sumL2 = fr(sumL2 + fr(fr(w * l) * l));
      sumXL = fr(sumXL + fr(fr(w * l) * x[i]!));
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
        let diff = fr(fr(fr(thisScale * Laux[i]!) + thisMin) - x[i]!);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        curError = fr(curError + fr(wt(i) * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; ++i) L[i] = Laux[i]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  theMin[0] = -min;
  return scale;
}

/** A random group of n float32 values of one of several shapes. */
function randomGroup(rng: Lcg64, n: number): Float32Array {
  const x = new Float32Array(n);
  const shape = Math.floor(rng.u01() * 9);
  const mag = [1, 1e-3, 1e3, 1e-20, 1e20, 7, 0.5, 1, 1][shape]!;
  for (let i = 0; i < n; i++) {
    switch (shape) {
      case 5: // small integers: exact ties of iscale*x at half-integers are likely
        x[i] = Math.round(rng.u01() * 16 - 8);
        break;
      case 6: // halves
        x[i] = Math.round(rng.u01() * 8) * 0.5;
        break;
      case 7: // few distinct values, all of one sign
        x[i] = 1 + Math.floor(rng.u01() * 3);
        break;
      case 8: // a gaussian with an outlier
        x[i] = i === 3 ? 40 * rng.gauss() : rng.gauss();
        break;
      default:
        x[i] = mag * rng.gauss();
    }
  }
  if (rng.u01() < 0.05) x.fill(x[0]!); // all equal
  if (rng.u01() < 0.02) x[Math.floor(rng.u01() * n)] = [NaN, Infinity, -Infinity][Math.floor(rng.u01() * 3)]!;
  return x;
}

function randomWeights(rng: Lcg64, x: Float32Array): Float32Array {
  const n = x.length;
  const w = new Float32Array(n);
  const kind = Math.floor(rng.u01() * 6);
  for (let i = 0; i < n; i++) {
    if (kind === 0) w[i] = Math.abs(x[i]!);
    else if (kind === 1) w[i] = rng.u01() < 0.3 ? 0 : rng.u01() * 3;
    else if (kind === 2) w[i] = rng.u01() - 0.2; // some negative
    else if (kind === 3) w[i] = 1;
    else if (kind === 4) w[i] = rng.u01() * 1e-30;
    else w[i] = 0.5 + Math.abs(x[i]!);
  }
  if (rng.u01() < 0.02) w[Math.floor(rng.u01() * n)] = NaN;
  return w;
}

const bits = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0];

describe("K-quant scale searches match the plain C transliteration", () => {
  it("makeQxQuants (q3_K, q6_K, q4_0/q5_0 imatrix shapes), 6000 random groups", () => {
    const rng = new Lcg64(0x51ced001);
    const configs: [number, number][] = [
      [16, 32],
      [16, 4],
      [32, 8],
      [32, 16],
      [16, 2],
    ];
    for (let t = 0; t < 6000; t++) {
      const [n, nmax] = configs[t % configs.length]!;
      const x = randomGroup(rng, n);
      const r = rng.u01();
      const rmseType = r < 0.5 ? 1 : r < 0.6 ? -1 : r < 0.7 ? 2 : r < 0.8 ? 3 : r < 0.9 ? 4 : 0;
      const qw = rng.u01() < 0.5 ? randomWeights(rng, x) : null;
      const Lr = new Int8Array(n);
      const Lf = new Int8Array(n + 3).fill(77);
      const sr = refQx(n, nmax, x, Lr, rmseType, qw);
      const xs = new Float32Array(n + 5);
      xs.set(x, 5);
      const qs = qw ? new Float32Array(n + 2) : null;
      if (qs && qw) qs.set(qw, 2);
      const sf = makeQxQuants(n, nmax, xs, 5, Lf, 3, rmseType, qs, 2);
      expect(bits(sf), `case ${t}`).toBe(bits(sr));
      expect(Array.from(Lf.subarray(3)), `case ${t}`).toEqual(Array.from(Lr));
    }
  });

  it("makeQ3Quants (q3_K), 4000 random groups", () => {
    const rng = new Lcg64(0x51ced003);
    for (let t = 0; t < 4000; t++) {
      const n = 16;
      const nmax = t % 3 === 0 ? 8 : 4;
      const x = randomGroup(rng, n);
      const doRmse = rng.u01() < 0.8;
      const Lr = new Int8Array(n);
      const Lf = new Int8Array(n + 2).fill(55);
      const sr = refQ3(n, nmax, x, Lr, doRmse);
      const xs = new Float32Array(n + 1);
      xs.set(x, 1);
      const sf = makeQ3Quants(n, nmax, xs, 1, Lf, 2, doRmse);
      expect(bits(sf), `case ${t}`).toBe(bits(sr));
      expect(Array.from(Lf.subarray(2)), `case ${t}`).toEqual(Array.from(Lr));
    }
  });

  it("makeQkx2Quants / makeQkx3Quants (q2_K, q4_K, q5_K, q4_1/q5_1 shapes), 6000 random groups", () => {
    const rng = new Lcg64(0x51ced002);
    // [n, nmax, rmin, rdelta, nstep, useMad]
    const configs: [number, number, number, number, number, boolean][] = [
      [16, 3, -0.5, F_0_1, 15, true],
      [32, 15, -1, F_0_1, 20, false],
      [32, 31, -0.5, F_0_1, 15, false],
      [16, 3, fr(-0.9), fr(0.05), 36, false],
      [32, 15, fr(-0.9), fr(0.05), 36, false],
      [32, 31, fr(-0.9), fr(0.05), 36, true],
      [32, 15, -1, F_0_1, 0, false],
    ];
    for (let t = 0; t < 6000; t++) {
      const [n, nmax, rmin, rdelta, nstep, useMad] = configs[t % configs.length]!;
      const qkx3 = rng.u01() < 0.5;
      const x = randomGroup(rng, n);
      const w = qkx3 && rng.u01() < 0.3 ? null : randomWeights(rng, x);
      const Lr = new Uint8Array(n);
      const Lf = new Uint8Array(n + 1).fill(99);
      const mr = new Float32Array(1);
      const mf = new Float32Array(2);
      const sr = refQkx(qkx3, n, nmax, x, w, Lr, mr, rmin, rdelta, nstep, useMad);
      const xs = new Float32Array(n + 7);
      xs.set(x, 7);
      const ws = w ? new Float32Array(n + 4) : null;
      if (ws && w) ws.set(w, 4);
      const laux = new Uint8Array(n);
      const sf = qkx3
        ? makeQkx3Quants(n, nmax, xs, 7, ws, 4, Lf, 1, mf, 1, laux, rmin, rdelta, nstep, useMad)
        : makeQkx2Quants(n, nmax, xs, 7, ws!, 4, Lf, 1, mf, 1, laux, rmin, rdelta, nstep, useMad);
      expect(bits(sf), `case ${t}`).toBe(bits(sr));
      expect(bits(mf[1]!), `case ${t}`).toBe(bits(mr[0]!));
      expect(Array.from(Lf.subarray(1)), `case ${t}`).toEqual(Array.from(Lr));
    }
  });
});
