/**
 * The WebAssembly kernels against the TypeScript reference they replace, on inputs chosen to reach the corners the
 * golden files may not: signed zeros, ties at .5, infinities, NaN, subnormal and huge values, all-equal blocks,
 * and random block bytes for the decoders (including non-finite fp16 scales). Both paths must agree byte for byte
 * (quantize) and bit for bit (dequantize).
 */
import { afterAll, describe, expect, it } from "vitest";
import { builtinRegistry } from "../builtin.js";
import { quantCoreWasmActive, setQuantCoreWasm } from "./quants.js";

const WASM_TYPES = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q8_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K", "bf16", "tq1_0", "tq2_0", "iq4_nl", "iq4_xs", "iq3_xxs", "iq3_s", "iq2_s", "mxfp4", "nvfp4", "iq1_s"];
const registry = builtinRegistry();

/** Deterministic xorshift32. */
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

const SPECIAL = [0, -0, 0.5, -0.5, 1.5, -2.5, 1e-40, -1e-45, 3e38, -3.4e38, Infinity, -Infinity, NaN, 65504, 65520, 1e-8, 127.5, -8.5];

/** 256-value blocks of assorted shapes: gaussian-ish, with specials sprinkled in, constant, tiny, zero with signs. */
function adversarialRows(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n);
  for (let b = 0; b < n; b += 32) {
    const kind = Math.floor(r() * 8);
    for (let j = b; j < b + 32; j++) {
      const g = (r() + r() + r() - 1.5) * 2;
      switch (kind) {
        case 0: x[j] = g; break;
        case 1: x[j] = r() < 0.1 ? SPECIAL[Math.floor(r() * SPECIAL.length)]! : g; break;
        case 2: x[j] = 1.25; break;
        case 3: x[j] = g * 1e-39; break;
        case 4: x[j] = r() < 0.5 ? 0 : -0; break;
        case 5: x[j] = Math.round(g * 4) / 2; break; // ties
        case 6: x[j] = r() < 0.5 ? 0 : g; break; // zeros beside values (min/max 0)
        default: x[j] = g * 1e30; break;
      }
    }
  }
  return x;
}

/** Runs a quantizer call; returns the bytes, or the error's code where ggml would abort (both paths must agree). */
function outcome(fn: () => void, bytes: Uint8Array): string {
  try {
    fn();
    return Buffer.from(bytes).toString("hex");
  } catch (e) {
    return `error ${(e as { code?: string }).code ?? String(e)}`;
  }
}

afterAll(() => {
  setQuantCoreWasm(true);
});

describe("WebAssembly kernels equal the TypeScript reference", () => {
  it("the WebAssembly module loads", () => {
    setQuantCoreWasm(true);
    expect(quantCoreWasmActive()).toBe(true);
  });

  for (const name of WASM_TYPES) {
    const s = registry.get(name);
    const n = 4096;
    it(`${name}: quantize (reference path) byte-identical on adversarial rows`, () => {
      for (const seed of [1, 2, 3]) {
        const x = adversarialRows(n, seed * 7919 + name.length);
        // seed 1: every value finite (kernels that decline non-finite rows then run); seeds 2, 3: specials too
        if (seed === 1) for (let j = 0; j < n; j++) if (!Number.isFinite(x[j]!)) x[j] = j % 3 === 0 ? 1e-40 : -0;
        const rb = (n / s.layout.blockSize) * s.layout.typeSize;
        setQuantCoreWasm(true);
        const a = new Uint8Array(rb).fill(0xa5);
        const oa = outcome(() => s.quantize(x, a, 1, n, { importance: null }), a);
        const ar = new Uint8Array(rb).fill(0x5a);
        const oar = outcome(() => s.quantizeRowRef(x, ar, n), ar);
        setQuantCoreWasm(false);
        const b = new Uint8Array(rb).fill(0xa5);
        const ob = outcome(() => s.quantize(x, b, 1, n, { importance: null }), b);
        const br = new Uint8Array(rb).fill(0x5a);
        const obr = outcome(() => s.quantizeRowRef(x, br, n), br);
        expect(oa === ob, `quantize, seed ${seed}`).toBe(true);
        expect(oar === obr, `quantizeRowRef, seed ${seed}`).toBe(true);
      }
    });

    it(`${name}: dequantize bit-identical on random block bytes`, () => {
      const r = rng(name.length * 1000 + 17);
      const nb = 64;
      const bytes = new Uint8Array(nb * s.layout.typeSize);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
      const count = nb * s.layout.blockSize;
      setQuantCoreWasm(true);
      const a = new Float32Array(count);
      s.dequantizeRow(bytes, a, count);
      setQuantCoreWasm(false);
      const b = new Float32Array(count);
      s.dequantizeRow(bytes, b, count);
      const ab = new Uint32Array(a.buffer);
      const bb = new Uint32Array(b.buffer);
      let bad = -1;
      for (let i = 0; i < count; i++) if (ab[i] !== bb[i]) { bad = i; break; }
      expect(bad, bad >= 0 ? `value ${bad}: wasm 0x${ab[bad]!.toString(16)}, js 0x${bb[bad]!.toString(16)}` : "").toBe(-1);
    });
  }

  for (const name of ["q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq3_xxs", "iq3_s", "iq2_s", "iq2_xxs", "iq1_s"]) {
    it(`${name}: quantize with importance byte-identical (adversarial rows, odd weights)`, () => {
      const s = registry.get(name);
      const n = 1024;
      const nRows = 6;
      for (const seed of [5, 6]) {
        const x = adversarialRows(n * nRows, seed * 31 + name.length);
        // seed 5: every value finite (a non-finite input sends the whole call to TypeScript); seed 6: specials too
        if (seed === 5) for (let j = 0; j < x.length; j++) if (!Number.isFinite(x[j]!)) x[j] = j % 3 === 0 ? 1e-40 : -0;
        const r = rng(seed + 100);
        const imp = new Float32Array(n);
        for (let j = 0; j < n; j++) imp[j] = r() < 0.1 ? 0 : r() < 0.05 ? 1e-30 : r() * 10;
        const rb = (n / s.layout.blockSize) * s.layout.typeSize * nRows;
        for (let rows = 1; rows <= nRows; rows += nRows - 1) {
          setQuantCoreWasm(true);
          const a = new Uint8Array(rb).fill(0xa5);
          const oa = outcome(() => s.quantize(x, a, rows, n, { importance: imp }), a);
          setQuantCoreWasm(false);
          const b = new Uint8Array(rb).fill(0xa5);
          const ob = outcome(() => s.quantize(x, b, rows, n, { importance: imp }), b);
          expect(oa === ob, `seed ${seed}, ${rows} rows`).toBe(true);
        }
      }
    });
  }

  it("iq1_s: quantize with importance byte-identical on random gaussian multi-row inputs (split search kernel)", () => {
    const s = registry.get("iq1_s");
    for (const [n, nRows, seed] of [[4096, 8, 11], [512, 24, 12], [256, 40, 13]] as const) {
      const r = rng(seed);
      const x = new Float32Array(n * nRows);
      // gaussian rows of varied scale, some with a heavy tail, some with ties (quarter steps)
      for (let row = 0; row < nRows; row++) {
        const sc = 10 ** (r() * 8 - 4);
        for (let j = 0; j < n; j++) {
          let g = (r() + r() + r() + r() - 2) * 1.7;
          if (row % 3 === 1 && r() < 0.02) g *= 20;
          if (row % 5 === 2) g = Math.round(g * 4) / 4;
          x[row * n + j] = g * sc;
        }
      }
      const imp = new Float32Array(n);
      for (let j = 0; j < n; j++) imp[j] = r() < 0.03 ? 0 : 0.01 + r() * r() * 50;
      const rb = (n / 256) * s.layout.typeSize * nRows;
      setQuantCoreWasm(true);
      const a = new Uint8Array(rb).fill(0xa5);
      const oa = outcome(() => s.quantize(x, a, nRows, n, { importance: imp }), a);
      setQuantCoreWasm(false);
      const b = new Uint8Array(rb).fill(0xa5);
      const ob = outcome(() => s.quantize(x, b, nRows, n, { importance: imp }), b);
      expect(oa.startsWith("error"), `${n} x ${nRows}: ${oa.slice(0, 40)}`).toBe(false);
      expect(oa === ob, `${n} x ${nRows}`).toBe(true);
    }
  });

  it("odd offsets and lengths: subarray inputs, chunking over many blocks", () => {
    const s = registry.get("q4_K");
    const n = 256 * 1100; // more than one 2^18-value chunk
    const x = adversarialRows(n + 256, 99).subarray(256);
    const rb = (n / 256) * s.layout.typeSize;
    setQuantCoreWasm(true);
    const q = new Uint8Array(rb + 3).subarray(3);
    s.quantizeRowRef(x, q, n);
    const a = new Float32Array(n);
    s.dequantizeRow(q, a, n);
    setQuantCoreWasm(false);
    const b = new Float32Array(n);
    s.dequantizeRow(q, b, n);
    expect(Buffer.compare(new Uint8Array(a.buffer), new Uint8Array(b.buffer))).toBe(0);
  });
});
