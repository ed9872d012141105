/**
 * Tables of the iq2/iq1 families: the kgrid tables transcribed from ggml's iq2xs_init_impl, the ggml-common.h
 * grids decoded from them (checked against entries copied from ggml-common.h), the sign table, and the search
 * tables built by iq2xsInitImpl.
 */
import { describe, expect, it } from "vitest";
import {
  iq1sGrid,
  iq2sGrid,
  iq2xsGrid,
  iq2xxsGrid,
  KGRID_1BIT_2048,
  KGRID_2BIT_1024,
  KGRID_2BIT_256,
  KGRID_2BIT_512,
  KMASK_IQ2XS,
  KSIGNS_IQ2XS,
} from "./iq-grids.js";
import { IQ1_INDEX, IQ2_S_INDEX, IQ2_XS_INDEX, IQ2_XXS_INDEX, iq2xsInitImpl } from "./iq2-common.js";
import { makeQpQuants } from "./kquants-helpers.js";
import { nearestInt } from "../math/round.js";

/** Entry `k` of a decoded grid as the uint64 ggml-common.h writes (little-endian bytes). */
function entry(grid: Uint8Array | Int8Array, k: number): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(grid[8 * k + i] & 0xff);
  return v;
}

/** FNV-1a (32-bit) of the bytes of a table. */
function fnv1a(bytes: Uint8Array | Int8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i] & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Entries copied from ggml/src/ggml-common.h (`GGML_TABLE_BEGIN(uint64_t, <name>, ...)`), by index. */
const COMMON_H: Record<string, Record<number, bigint>> = {
  iq2xxs_grid: {
    0: 0x0808080808080808n, 1: 0x080808080808082bn, 2: 0x0808080808081919n, 3: 0x0808080808082b08n,
    4: 0x0808080808082b2bn, 5: 0x0808080808190819n, 6: 0x0808080808191908n, 7: 0x08080808082b0808n,
    8: 0x08080808082b082bn, 9: 0x08080808082b2b08n, 10: 0x08080808082b2b2bn, 11: 0x0808080819080819n,
    12: 0x0808080819081908n, 13: 0x0808080819190808n, 14: 0x0808080819192b08n, 15: 0x08080808192b0819n,
    16: 0x08080808192b1908n, 17: 0x080808082b080808n, 18: 0x080808082b08082bn, 19: 0x080808082b082b2bn,
    20: 0x080808082b2b082bn, 21: 0x0808081908080819n, 22: 0x0808081908081908n, 23: 0x0808081908190808n,
  },
  iq2xs_grid: {
    496: 0x2b2b19082b191919n, 497: 0x2b2b192b192b1919n, 498: 0x2b2b192b2b192b08n, 499: 0x2b2b2b0808082b2bn,
    500: 0x2b2b2b08082b0808n, 501: 0x2b2b2b08082b082bn, 502: 0x2b2b2b08082b2b08n, 503: 0x2b2b2b082b2b0808n,
    504: 0x2b2b2b082b2b2b08n, 505: 0x2b2b2b1908081908n, 506: 0x2b2b2b192b081908n, 507: 0x2b2b2b192b08192bn,
    508: 0x2b2b2b2b082b2b08n, 509: 0x2b2b2b2b082b2b2bn, 510: 0x2b2b2b2b2b190819n, 511: 0x2b2b2b2b2b2b2b2bn,
  },
  iq2s_grid: {
    0: 0x0808080808080808n, 1: 0x080808080808082bn, 2: 0x0808080808081919n, 3: 0x0808080808082b08n,
    4: 0x0808080808082b2bn, 5: 0x0808080808190819n, 6: 0x0808080808191908n, 7: 0x080808080819192bn,
    8: 0x0808080808192b19n, 9: 0x08080808082b0808n, 10: 0x08080808082b082bn, 11: 0x08080808082b1919n,
    12: 0x08080808082b2b08n, 13: 0x0808080819080819n, 14: 0x0808080819081908n, 15: 0x080808081908192bn,
    16: 0x0808080819082b19n, 17: 0x0808080819190808n, 18: 0x080808081919082bn, 19: 0x0808080819191919n,
    1023: 0x2b2b2b2b2b2b2b2bn,
  },
  iq1s_grid: {
    0: 0xffffffffffffffffn, 1: 0xffffffffffffff01n, 2: 0xffffffffffff0000n, 3: 0xffffffffffff01ffn,
    4: 0xffffffffffff0101n, 5: 0xffffffffff00ff00n, 6: 0xffffffffff000000n, 7: 0xffffffffff01ffffn,
    8: 0xffffffffff01ff01n, 9: 0xffffffffff0101ffn, 10: 0xffffffffff010101n, 11: 0xffffffff00ff0000n,
    12: 0xffffffff0000ff00n, 13: 0xffffffff000000ffn, 14: 0xffffffff00000001n, 15: 0xffffffff00010000n,
    16: 0xffffffff01ffffffn, 17: 0xffffffff01ffff01n, 18: 0xffffffff01ff01ffn, 19: 0xffffffff01ff0101n,
    20: 0xffffffff01000000n, 21: 0xffffffff0101ffffn, 22: 0xffffffff0101ff01n, 23: 0xffffffff010101ffn,
    24: 0xffffffff01010101n, 25: 0xffffff00ffff00ffn, 26: 0xffffff00ffff0000n, 27: 0xffffff00ff00ff00n,
    28: 0xffffff00ff0000ffn, 29: 0xffffff00ff000001n, 30: 0xffffff00ff000100n, 31: 0xffffff00ff000101n,
  },
};

/**
 * FNV-1a of the decoded iq2xxs, iq2xs, iq2s and iq1s grids, recorded once the decoded tables reproduced every golden
 * dequantization bit for bit: a regression guard for the kgrid transcription.
 */
const GRID_FNV1A = [0x3db4a16e, 0xebeb17dd, 0x82981110, 0x2fe8cbce];

describe("iq2/iq1 tables", () => {
  const kgrids = [
    ["kgrid_2bit_256", KGRID_2BIT_256, 256],
    ["kgrid_2bit_512", KGRID_2BIT_512, 512],
    ["kgrid_1bit_2048", KGRID_1BIT_2048, 2048],
    ["kgrid_2bit_1024", KGRID_2BIT_1024, 1024],
  ] as const;

  for (const [name, kgrid, size] of kgrids) {
    it(`${name}: ${size} strictly increasing points, every coordinate in 0..2`, () => {
      expect(kgrid.length).toBe(size);
      for (let k = 1; k < size; k++) expect(kgrid[k]).toBeGreaterThan(kgrid[k - 1]);
      for (let k = 0; k < size; k++) for (let i = 0; i < 8; i++) expect((kgrid[k] >> (2 * i)) & 3).toBeLessThan(3);
    });
  }

  it("decoded ggml-common.h grids match the entries copied from ggml-common.h", () => {
    const grids: Record<string, Uint8Array | Int8Array> = {
      iq2xxs_grid: iq2xxsGrid(),
      iq2xs_grid: iq2xsGrid(),
      iq2s_grid: iq2sGrid(),
      iq1s_grid: iq1sGrid(),
    };
    let n = 0;
    for (const [name, entries] of Object.entries(COMMON_H)) {
      for (const [k, want] of Object.entries(entries)) {
        expect(entry(grids[name]!, Number(k)), `${name}[${k}]`).toBe(want);
        n++;
      }
    }
    expect(n).toBeGreaterThan(90);
    expect(iq2xxsGrid().length).toBe(256 * 8);
    expect(iq2xsGrid().length).toBe(512 * 8);
    expect(iq2sGrid().length).toBe(1024 * 8);
    expect(iq1sGrid().length).toBe(2048 * 8);
  });

  it("decoded grids have stable checksums (a change to a kgrid table shows up here)", () => {
    expect([fnv1a(iq2xxsGrid()), fnv1a(iq2xsGrid()), fnv1a(iq2sGrid()), fnv1a(iq1sGrid())]).toEqual(GRID_FNV1A);
  });

  it("ksigns_iq2xs is the 7 sign bits plus an even-parity 8th bit; kmask_iq2xs the 8 bit masks", () => {
    for (let i = 0; i < 128; i++) {
      let p = 0;
      for (let b = 0; b < 7; b++) p ^= (i >> b) & 1;
      expect(KSIGNS_IQ2XS[i]).toBe(i | (p << 7));
    }
    expect([...KMASK_IQ2XS]).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
  });

  it("iq2xsInitImpl: grid points map to themselves; every other point lists its nearest grid points", () => {
    for (const [gindex, kgrid, nwant] of [
      [IQ2_XXS_INDEX, KGRID_2BIT_256, 2],
      [IQ2_XS_INDEX, KGRID_2BIT_512, 2],
      [IQ1_INDEX, KGRID_1BIT_2048, 3],
      [IQ2_S_INDEX, KGRID_2BIT_1024, 1],
    ] as const) {
      const { grid, map, neighbours } = iq2xsInitImpl(gindex);
      expect(iq2xsInitImpl(gindex).map).toBe(map); // built once
      for (let k = 0; k < kgrid.length; k++) expect(map[kgrid[k]]).toBe(k);
      // a few off-grid points: the list is sorted by (distance, index) and spans exactly nwant distances
      for (const u of [1, 3, 255, 1234, 20000, 43691]) {
        expect(map[u]).toBeLessThan(0);
        const off = -map[u] - 1;
        const n = neighbours[off];
        expect(n).toBeGreaterThan(0);
        const dist = (j: number) => {
          let d = 0;
          for (let i = 0; i < 8; i++) d += (grid[8 * j + i] - (2 * ((u >> (2 * i)) & 3) + 1)) ** 2;
          return d;
        };
        const ds = new Set<number>();
        let prev = -1;
        let prevJ = -1;
        for (let t = 1; t <= n; t++) {
          const j = neighbours[off + t];
          const d = dist(j);
          expect(d > prev || (d === prev && j > prevJ)).toBe(true);
          prev = d;
          prevJ = j;
          ds.add(d);
        }
        expect(ds.size).toBe(nwant);
        // nothing left out: every grid point closer than the farthest listed distance is listed
        let closer = 0;
        for (let j = 0; j < kgrid.length; j++) if (dist(j) <= prev) closer++;
        expect(closer).toBe(n);
      }
    }
  });

  it("nearestInt follows ggml's nearest_int bit trick, in and out of its exact range", () => {
    expect(nearestInt(2.5)).toBe(2);
    expect(nearestInt(3.5)).toBe(4);
    expect(nearestInt(-0.5)).toBe(0);
    expect(nearestInt(-1.5)).toBe(-2);
    expect(nearestInt(4194303)).toBe(4194303);
    // 2^23 + 1.5*2^23 = 1.25*2^24: mantissa bits 0x200000, minus 0x400000
    expect(nearestInt(8388608)).toBe(-2097152);
  });

  it("makeQpQuants: all-zero input gives scale 0 and zero levels; levels stay within nmax", () => {
    const L = new Uint8Array(8).fill(7);
    const w = new Float32Array(8).fill(1);
    expect(makeQpQuants(8, 4, new Float32Array(8), 0, L, 0, w, 0)).toBe(0);
    expect([...L]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    const x = Float32Array.from([0.1, 0.5, 1, 1.5, 2, 2.5, 3, 4]);
    const s = makeQpQuants(8, 4, x, 0, L, 0, w, 0);
    expect(s).toBeGreaterThan(0.8);
    expect(s).toBeLessThan(1.2);
    for (const l of L) expect(l).toBeLessThanOrEqual(4);
  });
});
