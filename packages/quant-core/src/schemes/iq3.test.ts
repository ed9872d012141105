import { arrayRmse } from "@quantlab/testing";
/**
 * iq3 family (iq3_xxs, iq3_s): tables, grid init, round-trip error bounds as in llama.cpp's
 * tests/test-quantize-fns.cpp, and edge rows. Byte-exactness against ggml is in golden.test.ts.
 */
import { describe, expect, it } from "vitest";
import { gaussianMatrix, readSharedF32, syntheticImportance } from "@quantlab/testing";
import { SchemeError } from "../errors.js";
import { createSchemeRegistry } from "../registry.js";
import {
  dequantizeRowIq3_s,
  dequantizeRowIq3_xxs,
  iq3Schemes,
  iq3_s,
  iq3_xxs,
  quantizeIq3_s,
  quantizeIq3_xxs,
  quantizeRowIq3_sRef,
  quantizeRowIq3_xxsImpl,
  quantizeRowIq3_xxsRef,
} from "./iq3.js";
import { iq3FindBestNeighbour, iq3GridData, iq3xsInitImpl } from "./iq3-grid.js";
import {
  IQ3S_GRID_FNV1A,
  IQ3XXS_GRID_FNV1A,
  KGRID_256,
  KGRID_512,
  KSIGNS_IQ2XS,
  fnv1a32,
  getIq3sGrid,
  getIq3xxsGrid,
} from "./iq3-tables.js";

const QK_K = 256;


/** sqrt(sum w(x-y)^2 / sum w x^2), `w` per column (repeating), or unweighted. */
function relErr(x: Float32Array, y: Float32Array, w: Float32Array | null = null): number {
  let e = 0;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const ww = w ? w[i % w.length] : 1;
    e += ww * (x[i] - y[i]) ** 2;
    s += ww * x[i] ** 2;
  }
  return Math.sqrt(e / s);
}

const schemes = [
  // llama.cpp: IQ3_XXS uses MAX_QUANTIZATION_TOTAL_ERROR_3BITS_XXS (0.005), IQ3_S the 3-bit bound (0.004)
  { scheme: iq3_xxs, quantize: quantizeIq3_xxs, ref: quantizeRowIq3_xxsRef, dequant: dequantizeRowIq3_xxs, typeSize: 98, bound: 0.005 },
  { scheme: iq3_s, quantize: quantizeIq3_s, ref: quantizeRowIq3_sRef, dequant: dequantizeRowIq3_s, typeSize: 110, bound: 0.004 },
] as const;

function roundTrip(t: (typeof schemes)[number], x: Float32Array, imp: Float32Array | null = null, nPerRow = x.length): Float32Array {
  const nRows = x.length / nPerRow;
  const q = new Uint8Array((x.length / QK_K) * t.typeSize);
  expect(t.quantize(x, q, nRows, nPerRow, imp)).toBe(q.length);
  const y = new Float32Array(x.length);
  t.dequant(q, y, x.length);
  return y;
}

describe("iq3 tables", () => {
  it("decoded iq3xxs_grid / iq3s_grid match the checksums of ggml-common.h's tables", () => {
    expect(getIq3xxsGrid().length).toBe(256);
    expect(getIq3sGrid().length).toBe(512);
    expect(fnv1a32(getIq3xxsGrid())).toBe(IQ3XXS_GRID_FNV1A);
    expect(fnv1a32(getIq3sGrid())).toBe(IQ3S_GRID_FNV1A);
    // first and last entries as printed in ggml-common.h
    expect(getIq3xxsGrid()[0]).toBe(0x04040404);
    expect(getIq3xxsGrid()[255]).toBe(0x3e341c04);
    expect(getIq3sGrid()[0]).toBe(0x01010101);
    expect(getIq3sGrid()[511]).toBe(0x0f0f0101);
  });

  it("kgrid tables are strictly increasing 12-bit codes; ksigns_iq2xs adds an even-parity bit", () => {
    for (const g of [KGRID_256, KGRID_512]) {
      for (let i = 1; i < g.length; i++) expect(g[i]).toBeGreaterThan(g[i - 1]);
      expect(g[g.length - 1]).toBeLessThan(4096);
    }
    for (let i = 0; i < 128; i++) {
      let p = 0;
      for (let b = 0; b < 7; b++) p ^= (i >> b) & 1;
      expect(KSIGNS_IQ2XS[i]).toBe(i | (p << 7));
    }
  });
});

describe("iq3xs_init_impl", () => {
  for (const gridSize of [256, 512]) {
    it(`grid ${gridSize}: map inverts the grid; every off-grid point lists its nearest neighbours in (distance, index) order`, () => {
      iq3xsInitImpl(gridSize);
      iq3xsInitImpl(gridSize); // idempotent
      const { grid, gridBytes, map, neighbours } = iq3GridData(gridSize);
      expect(grid.length).toBe(gridSize);
      let onGrid = 0;
      for (let u = 0; u < 4096; u++) if (map[u] >= 0) onGrid++;
      expect(onGrid).toBe(gridSize);
      for (let k = 0; k < gridSize; k++) {
        let u = 0;
        for (let i = 0; i < 4; i++) u |= ((gridBytes[4 * k + i] - 1) / 2) << (3 * i);
        expect(map[u]).toBe(k);
      }
      // brute force the C algorithm (qsort of (d2, j) pairs, keep nwant distinct distances) on a sample of points
      const nwant = gridSize === 256 ? 2 : 3;
      for (let u = 0; u < 4096; u += 7) {
        if (map[u] >= 0) continue;
        const pos = [0, 1, 2, 3].map((k) => 2 * ((u >> (3 * k)) & 7) + 1);
        const pairs: [number, number][] = [];
        for (let j = 0; j < gridSize; j++) {
          let d2 = 0;
          for (let k = 0; k < 4; k++) d2 += (gridBytes[4 * j + k] - pos[k]) ** 2;
          pairs.push([d2, j]);
        }
        pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        const want: number[] = [];
        let d2 = pairs[0][0];
        let nhave = 1;
        for (const [d, j] of pairs) {
          if (d > d2) {
            if (nhave === nwant) break;
            d2 = d;
            ++nhave;
          }
          want.push(j);
        }
        const off = -map[u] - 1;
        const n = neighbours[off];
        expect(Array.from(neighbours.subarray(off + 1, off + 1 + n))).toEqual(want);
      }
    });
  }

  it("iq3_find_best_neighbour picks the weighted-nearest neighbour and writes its coordinates", () => {
    const { gridBytes, map, neighbours } = iq3GridData(256);
    let u = 0;
    while (map[u] >= 0) u++;
    const off = -map[u] - 1;
    const xval = new Float32Array([1, 3, 5, 7]);
    const w = new Float32Array([1, 1, 1, 1]);
    const L = new Int8Array(4);
    const gi = iq3FindBestNeighbour(neighbours, off, gridBytes, xval, 0, w, 0, 1, L, 0);
    expect(Array.from(neighbours.subarray(off + 1, off + 1 + neighbours[off]))).toContain(gi);
    for (let i = 0; i < 4; i++) expect(2 * L[i] + 1).toBe(gridBytes[4 * gi + i]);
  });
});

describe("iq3 schemes", () => {
  it("register with layouts that match the ggml type table", () => {
    const reg = createSchemeRegistry(iq3Schemes);
    expect(reg.get("iq3_xxs").layout.typeSize).toBe(98);
    expect(reg.byType(21).name).toBe("iq3_s");
    expect(iq3_xxs.needs.importance).toBe("optional");
    expect(iq3_s.needs.importance).toBe("optional");
  });

  it("quantize_row_iq3_xxs_impl supports only grid size 256, as ggml uses it", () => {
    expect(() => quantizeRowIq3_xxsImpl(512, new Float32Array(256), 0, new Uint8Array(110), 0, 256, null)).toThrow(SchemeError);
  });

  for (const t of schemes) {
    const name = t.scheme.name;
    describe(name, () => {
      it(`round-trip RMSE on test-quantize-fns data (0.1 + 2*cosf(i)) is below ${t.bound}`, () => {
        // the golden synth-cos input is exactly llama.cpp's generate_data(0.0, 4096) in its first 4096 values
        const x = readSharedF32("golden", "quants", "inputs", "synth-cos.f32").slice(0, 4096);
        const y = roundTrip(t, x);
        const err = arrayRmse(x, y);
        expect(err).toBeLessThan(t.bound);
        // same with the second data set (offset 1.0)
        const x2 = readSharedF32("golden", "quants", "inputs", "synth-cos.f32").slice(4 * 1024, 4 * 1024 + 4096);
        expect(arrayRmse(x2, roundTrip(t, x2))).toBeLessThan(t.bound);
      });

      it("with an importance vector, the importance-weighted error is lower than without", () => {
        const x = readSharedF32("golden", "quants", "inputs", "synth-cos.f32").slice(4 * 1024, 4 * 1024 + 4096);
        const imp = syntheticImportance(1024, 0x1a7a0001);
        const plain = relErr(x, roundTrip(t, x, null, 1024), imp);
        const weighted = relErr(x, roundTrip(t, x, imp, 1024), imp);
        expect(weighted).toBeLessThan(0.75 * plain);
      });

      it("gaussian rows: relative RMS error about 3-bit quality", () => {
        const x = gaussianMatrix(4, 1024);
        expect(relErr(x, roundTrip(t, x, null, 1024))).toBeLessThan(0.25);
      });

      it("quantize_row_<t>_ref equals quantize_<t> without importance", () => {
        const x = gaussianMatrix(2, 512, 0x1234);
        const a = new Uint8Array((x.length / QK_K) * t.typeSize);
        const b = new Uint8Array(a.length);
        t.ref(x, a, x.length);
        t.quantize(x, b, 2, 512, null);
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
        t.scheme.quantizeRowRef(x, b, x.length);
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      });

      it("an importance vector changes the choice of points", () => {
        const x = gaussianMatrix(1, 1024, 0x4242);
        const imp = syntheticImportance(1024, 0x1a7a0002);
        const a = new Uint8Array(4 * t.typeSize);
        const b = new Uint8Array(4 * t.typeSize);
        t.quantize(x, a, 1, 1024, null);
        t.scheme.quantize(x, b, 1, 1024, { importance: imp });
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
      });

      it("all-zero row: zero bytes, zero output", () => {
        const x = new Float32Array(512);
        const q = new Uint8Array(2 * t.typeSize).fill(0xaa);
        t.ref(x, q, 512);
        expect(q.every((b) => b === 0)).toBe(true);
        const y = new Float32Array(512).fill(1);
        t.dequant(q, y, 512);
        expect(y.every((v) => v === 0)).toBe(true);
      });

      it("constant row: sign kept, relative RMS error below 0.2 (the scale search lands on (7,7,7,7), which is off both grids)", () => {
        for (const c of [1, -0.3, 0.5]) {
          const x = new Float32Array(256).fill(c);
          const y = roundTrip(t, x);
          expect(relErr(x, y)).toBeLessThan(0.2);
          for (let i = 0; i < 256; i++) expect(Math.sign(y[i])).toBe(Math.sign(c));
        }
      });

      it("one huge outlier: finite output, outlier kept to within its grid step, its sub-block scale saturates", () => {
        const x = gaussianMatrix(1, 256, 0x777);
        for (let i = 0; i < 256; i++) x[i] *= 0.01;
        x[100] = 1e4;
        const y = roundTrip(t, x);
        expect(y.every((v) => Number.isFinite(v))).toBe(true);
        expect(Math.abs(y[100] - 1e4) / 1e4).toBeLessThan(0.15);
      });

      it("tiny values: scales stay representable", () => {
        const x = new Float32Array(256);
        for (let i = 0; i < 256; i++) x[i] = (i % 2 ? 1 : -1) * 1e-3 * (1 + (i % 7));
        const y = roundTrip(t, x);
        // the same pattern at scale 1 has (up to fp16 rounding of the scale) the same relative error
        const x1 = x.map((v) => v * 1e3);
        expect(relErr(x, y)).toBeLessThan(0.2);
        expect(Math.abs(relErr(x, y) - relErr(x1, roundTrip(t, x1)))).toBeLessThan(0.01);
        // below the fp16 range the scale flushes to zero and the output is all zeros
        const tiny = new Float32Array(256).fill(1e-9);
        const yt = roundTrip(t, tiny);
        expect(yt.every((v) => v === 0)).toBe(true);
      });

      it("rejects a row length that is not a multiple of 256", () => {
        expect(() => t.ref(new Float32Array(100), new Uint8Array(t.typeSize), 100)).toThrow(SchemeError);
        expect(() => t.dequant(new Uint8Array(t.typeSize), new Float32Array(100), 100)).toThrow(SchemeError);
      });
    });
  }

  it("iq3_xxs: a sub-block below GROUP_MAX_EPS_IQ3_XXS (1e-8) stores zero bytes, the rest of the super-block is kept", () => {
    const x = new Float32Array(256);
    for (let i = 0; i < 256; i++) x[i] = i < 32 ? 1e-9 : Math.cos(i);
    const q = new Uint8Array(98);
    quantizeRowIq3_xxsRef(x, q, 256);
    // grid indices of sub-block 0 and its scales_and_signs word (scale nibble 0, no signs) are zero
    expect(Array.from(q.subarray(2, 10))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(q.subarray(66, 70))).toEqual([0, 0, 0, 0]);
    const y = new Float32Array(256);
    dequantizeRowIq3_xxs(q, y, 256);
    expect(relErr(x.subarray(32), y.subarray(32))).toBeLessThan(0.25);
  });

  it("iq3_s: an all-zero sub-block leaves ggml's write positions in place (the next sub-block is stored there)", () => {
    const x = new Float32Array(256);
    for (let i = 32; i < 256; i++) x[i] = Math.cos(i) + 0.1;
    const q = new Uint8Array(110);
    quantizeRowIq3_sRef(x, q, 256);
    // qs holds 7 sub-blocks x 8 indices from the start, the last 8 stay zero; signs likewise (7 x 4, then 4 zero)
    expect(Array.from(q.subarray(2 + 56, 2 + 64))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(q.subarray(74 + 28, 74 + 32))).toEqual([0, 0, 0, 0]);
    // qh is indexed by sub-block, so its byte 0 (the zero sub-block) is 0
    expect(q[66]).toBe(0);
  });
});
