/**
 * iq1FindBestNeighbour2 skips neighbours whose double-precision distance certifies that the C's float sum cannot
 * beat the best so far. This checks it against the plain search (every neighbour's sequential float sum, first
 * strict minimum wins, as iq1_find_best_neighbour2 in ggml/src/ggml-quants.c) on random and near-tie inputs.
 */
import { describe, expect, it } from "vitest";
import { iq1FindBestNeighbour2 } from "./iq1.js";
import { IQ1_INDEX, iq2xsInitImpl } from "./iq2-common.js";
import { IQ1M_DELTA, IQ1S_DELTA, NGRID_IQ1S } from "./iq-grids.js";

const f = Math.fround;

/** Deterministic xorshift32 in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** The search without the skip: every neighbour's distance as the C's float sum. */
function plainSearch(neighbours: Uint16Array, nOff: number, gridL: Uint8Array, xval: Float32Array, w: Float32Array, scale: number, xg: Float32Array): number {
  let best = 3.4028234663852886e38;
  let gi = -1;
  for (let j = 1; j <= neighbours[nOff]!; j++) {
    const g = neighbours[nOff + j]!;
    let d2 = 0;
    for (let i = 0; i < 8; i++) {
      const q = xg[gridL[8 * g + i]!]!;
      const diff = f(f(scale * q) - xval[i]!);
      d2 = f(d2 + f(f(w[i]! * diff) * diff));
    }
    if (d2 < best) {
      best = d2;
      gi = g;
    }
  }
  return gi;
}

describe("iq1FindBestNeighbour2 certified skip", () => {
  it("picks the same neighbour as the plain search (random, grid-aligned and near-tie inputs)", () => {
    const { gridL, packed, map, neighbours } = iq2xsInitImpl(IQ1_INDEX);
    const offGrid: number[] = [];
    for (let u = 0; u < map.length; u++) if (map[u]! < 0) offGrid.push(u);
    const r = rng(20261123);
    const xval = new Float32Array(8);
    const w = new Float32Array(8);
    const L = new Int8Array(8);
    let checked = 0;
    for (let t = 0; t < 20000; t++) {
      const u = offGrid[Math.floor(r() * offGrid.length)]!;
      const nOff = -map[u]! - 1;
      const delta = t & 1 ? IQ1S_DELTA : IQ1M_DELTA;
      const xg = t & 2 ? new Float32Array([-1 + delta, delta, 1 + delta]) : new Float32Array([-1 - delta, -delta, 1 - delta]);
      const scale = f(10 ** (r() * 6 - 3));
      const kind = t % 5;
      for (let i = 0; i < 8; i++) {
        const lvl = (u >> (2 * i)) & 3;
        if (kind === 0) xval[i] = f((r() * 2 - 1) * 2 * scale);
        // exactly between two levels, or on a level: distances tie between neighbours
        else if (kind === 1) xval[i] = f(scale * (xg[Math.min(lvl, 2)]! + (r() < 0.5 ? 0.5 : 0)));
        else if (kind === 2) xval[i] = f(scale * (Math.round(r() * 4) / 2 - 1));
        else xval[i] = f(scale * (xg[Math.min(lvl, 2)]! + (r() - 0.5) * 1e-6));
        w[i] = kind === 4 && r() < 0.3 ? 0 : f(r() < 0.1 ? 1e-30 : r() * 5);
      }
      const a = iq1FindBestNeighbour2(neighbours, nOff, packed, gridL, xval, 0, w, 0, scale, xg, L, 0, NGRID_IQ1S);
      expect(a, `trial ${t}`).toBe(plainSearch(neighbours, nOff, gridL, xval, w, scale, xg));
      checked++;
    }
    expect(checked).toBe(20000);
  });
});
