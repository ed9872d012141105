/**
 * Backend conformance: every backend of `builtinBackends()` whose probe passes runs every op (and matmul/dequantize
 * over every quant-core scheme) on the same inputs as the cpu-ref oracle. Unavailable backends show up as skipped
 * tests naming them. New backends and kernels are picked up automatically.
 *
 * Tolerances, |got − ref| ≤ bound:
 * - dequantize: bit-exact (same f32 bits).
 * - matmul: 1e-5 · Σ_c |x[t,c]·W[r,c]| per output (f32 accumulation over ≤ 512 terms, vs exact products in double).
 * - rmsnorm, swiglu: 1e-5 · |ref| + 1e-6.   softmax: 1e-5 · |ref| + 1e-7.
 * - rope: 1e-4 absolute on N(0,1) data (sin/cos of angles up to ~300 rad computed in f32 may differ in ulps of the angle).
 * - attention: 1e-5 · |ref| + 2e-5 (softmax-weighted mean of N(0,1) values).
 */
import { afterAll, describe, expect, it } from "vitest";
import { builtinSchemes, quantizeTensor, rowSize, type QuantScheme } from "@quantlab/quant-core";
import { Lcg64, gaussianMatrix, syntheticImportance } from "@quantlab/testing";
import { builtinBackends } from "./backends.js";
import { cpuRefBackend } from "./cpu-ref/index.js";
import { createKernelRegistry } from "./registry.js";
import type { Backend, OpName, OpSignatures, QuantMatrix, RopeOptions } from "./types.js";

const backends = builtinBackends({ threads: 2 }).filter((b) => b.name !== "cpu-ref");
const probed = await Promise.all(
  backends.map(async (b) => {
    try {
      return (await b.probe()) === true;
    } catch {
      return false;
    }
  }),
);
const available = backends.filter((_, i) => probed[i]);
const unavailable = backends.filter((_, i) => !probed[i]);
if (unavailable.length) console.log(`conformance: unavailable here: ${unavailable.map((b) => b.name).join(", ")}`);

afterAll(async () => {
  for (const b of backends) await b.dispose?.();
});

/** The kernel a backend uses for (op, scheme), as the registry would pick it within that backend. */
function kernelOf<O extends OpName>(b: Backend, op: O, scheme = "*"): OpSignatures[O] | undefined {
  let best: { run: unknown; score: number } | undefined;
  for (const k of b.kernels) {
    if (k.op !== op) continue;
    const explicit = k.schemes !== "*" && k.schemes.includes(scheme);
    if (!explicit && k.schemes !== "*") continue;
    const score = (k.priority ?? 0) * 2 + (explicit ? 1 : 0);
    if (!best || score > best.score) best = { run: k.run, score };
  }
  return best?.run as OpSignatures[O] | undefined;
}
const ref = <O extends OpName>(op: O, scheme = "*") => kernelOf(cpuRefBackend, op, scheme)!;

function gauss(n: number, seed: number, scale = 1): Float32Array {
  const g = new Lcg64(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = g.gauss() * scale;
  return a;
}

const ROWS = 12;
const COLS = 512; // a multiple of every block size (1 … 256)

/** A gaussian weight quantized with the scheme's own quantizer (importance given when it needs one). */
const weightCache = new Map<string, QuantMatrix>();
function weightFor(s: QuantScheme): QuantMatrix {
  let w = weightCache.get(s.name);
  if (!w) {
    const src = gaussianMatrix(ROWS, COLS, 0x5eed0000 + (s.ggmlType ?? 99) * 64);
    const importance = s.needs.importance === "required" ? syntheticImportance(COLS, 7) : null;
    const data = quantizeTensor(s, src, ROWS, COLS, { importance, tensorName: `conf.${s.name}` });
    w = { name: `conf.${s.name}`, scheme: s.name, typeId: s.ggmlType ?? -1, rows: ROWS, cols: COLS, data, rowBytes: rowSize(s, COLS) };
    weightCache.set(s.name, w);
  }
  return w;
}

function expectClose(got: Float32Array, want: Float32Array, bound: (i: number) => number, what: string): void {
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    const excess = d - bound(i);
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst}: got ${got[worst]}, cpu-ref ${want[worst]} (bound ${bound(worst)})`);
  }
}

async function call(r: unknown): Promise<void> {
  if (r) await r;
}

describe("conformance against cpu-ref", () => {
  for (const b of unavailable) it.skip(`${b.name}: unavailable here (probe failed)`, () => {});

  for (const b of available) {
    describe(b.name, () => {
      for (const s of builtinSchemes) {
        it(`dequantize ${s.name} is bit-exact`, async () => {
          const k = kernelOf(b, "dequantize", s.name);
          if (!k) return void console.log(`${b.name}: no dequantize kernel for ${s.name} (registry falls back)`);
          const w = weightFor(s);
          for (const [r0, n] of [
            [0, ROWS],
            [5, 1],
            [3, 4],
          ] as const) {
            const want = new Float32Array(n * COLS);
            const got = new Float32Array(n * COLS).fill(Number.NaN);
            await call(ref("dequantize", s.name)(w, r0, n, want));
            await call(k(w, r0, n, got));
            const wb = new Uint32Array(want.buffer);
            const gb = new Uint32Array(got.buffer);
            for (let i = 0; i < wb.length; i++) {
              if (wb[i] !== gb[i]) expect.fail(`${s.name} rows [${r0}, ${r0 + n}) element ${i}: got ${got[i]}, cpu-ref ${want[i]}`);
            }
          }
        });

        it(`matmul ${s.name} within 1e-5 of Σ|x·w|`, async () => {
          const k = kernelOf(b, "matmul", s.name);
          if (!k) return void console.log(`${b.name}: no matmul kernel for ${s.name} (registry falls back)`);
          const w = weightFor(s);
          const wf = new Float32Array(ROWS * COLS);
          await call(ref("dequantize", s.name)(w, 0, ROWS, wf));
          for (const nTokens of [1, 3, 9]) {
            const x = gauss(nTokens * COLS, 1000 + nTokens);
            const want = new Float32Array(nTokens * ROWS);
            const got = new Float32Array(nTokens * ROWS).fill(Number.NaN);
            await call(ref("matmul", s.name)(x, nTokens, w, want));
            await call(k(x, nTokens, w, got));
            const mag = new Float64Array(nTokens * ROWS);
            for (let t = 0; t < nTokens; t++)
              for (let r = 0; r < ROWS; r++) {
                let m = 0;
                for (let c = 0; c < COLS; c++) m += Math.abs(x[t * COLS + c] * wf[r * COLS + c]);
                mag[t * ROWS + r] = m;
              }
            expectClose(got, want, (i) => 1e-5 * mag[i], `${s.name} matmul, ${nTokens} tokens`);
          }
        });
      }

      it("rmsnorm", async () => {
        const k = kernelOf(b, "rmsnorm")!;
        expect(k).toBeDefined();
        for (const [n, dim] of [
          [1, 256],
          [5, 64],
          [3, 172],
        ] as const) {
          const x = gauss(n * dim, 11 + dim, 3);
          const weight = gauss(dim, 12 + dim);
          const want = new Float32Array(n * dim);
          const got = new Float32Array(n * dim);
          await call(ref("rmsnorm")(x, n, dim, weight, 1e-5, want));
          await call(k(x, n, dim, weight, 1e-5, got));
          expectClose(got, want, (i) => 1e-5 * Math.abs(want[i]) + 1e-6, `rmsnorm ${n}x${dim}`);
          const inPlace = x.slice();
          await call(k(inPlace, n, dim, weight, 1e-5, inPlace));
          expectClose(inPlace, want, (i) => 1e-5 * Math.abs(want[i]) + 1e-6, `rmsnorm in place ${n}x${dim}`);
        }
      });

      it("rope (normal and NeoX, full and partial, scaled)", async () => {
        const k = kernelOf(b, "rope")!;
        expect(k).toBeDefined();
        const nTokens = 4;
        const nHeads = 3;
        const headDim = 64;
        const positions = Int32Array.from([0, 1, 77, 300]);
        const cases: RopeOptions[] = [
          { mode: 0, nRot: 64, freqBase: 10000, freqScale: 1 },
          { mode: 2, nRot: 64, freqBase: 1000000, freqScale: 1 },
          { mode: 0, nRot: 32, freqBase: 10000, freqScale: 0.25 },
          { mode: 2, nRot: 16, freqBase: 500000, freqScale: 1 },
        ];
        for (const opts of cases) {
          const x = gauss(nTokens * nHeads * headDim, 21 + opts.nRot);
          const want = x.slice();
          const got = x.slice();
          await call(ref("rope")(want, nTokens, nHeads, headDim, positions, opts));
          await call(k(got, nTokens, nHeads, headDim, positions, opts));
          expectClose(got, want, () => 1e-4, `rope ${JSON.stringify(opts)}`);
        }
      });

      it("softmax", async () => {
        const k = kernelOf(b, "softmax")!;
        expect(k).toBeDefined();
        for (const [rows, cols] of [
          [1, 512],
          [4, 33],
        ] as const) {
          const x = gauss(rows * cols, 31 + cols, 4);
          const want = x.slice();
          const got = x.slice();
          await call(ref("softmax")(want, rows, cols));
          await call(k(got, rows, cols));
          expectClose(got, want, (i) => 1e-5 * Math.abs(want[i]) + 1e-7, `softmax ${rows}x${cols}`);
        }
      });

      it("swiglu", async () => {
        const k = kernelOf(b, "swiglu")!;
        expect(k).toBeDefined();
        const n = 1000;
        const gate = gauss(n, 41, 4);
        const up = gauss(n, 42);
        const want = new Float32Array(n);
        const got = new Float32Array(n);
        await call(ref("swiglu")(gate, up, n, want));
        await call(k(gate, up, n, got));
        expectClose(got, want, (i) => 1e-5 * Math.abs(want[i]) + 1e-6, "swiglu");
        const g2 = gate.slice();
        await call(k(g2, up, n, g2));
        expectClose(g2, want, (i) => 1e-5 * Math.abs(want[i]) + 1e-6, "swiglu in place");
      });

      it("attention (batch and single token, GQA)", async () => {
        const k = kernelOf(b, "attention")!;
        expect(k).toBeDefined();
        const nHead = 8;
        const nKvHead = 2;
        const headDim = 64;
        const nCtx = 48;
        const kCache = gauss(nCtx * nKvHead * headDim, 51);
        const vCache = gauss(nCtx * nKvHead * headDim, 52);
        const cases = [Int32Array.from([3, 4, 5, 6, 7]), Int32Array.from([40]), Int32Array.from([0])];
        for (const positions of cases) {
          const nTokens = positions.length;
          const q = gauss(nTokens * nHead * headDim, 53 + nTokens, 2);
          const want = new Float32Array(nTokens * nHead * headDim);
          const got = new Float32Array(nTokens * nHead * headDim);
          const scale = 1 / Math.sqrt(headDim);
          await call(ref("attention")(q, nTokens, positions, kCache, vCache, nHead, nKvHead, headDim, scale, want));
          await call(k(q, nTokens, positions, kCache, vCache, nHead, nKvHead, headDim, scale, got));
          expectClose(got, want, (i) => 1e-5 * Math.abs(want[i]) + 2e-5, `attention at positions ${positions.join(",")}`);
        }
      });

      it("a registry resolving it dispatches every built-in scheme", async () => {
        const reg = createKernelRegistry([b, cpuRefBackend]);
        const K = await reg.resolve(b.name);
        expect(K.backend).toBe(b.name);
        for (const s of builtinSchemes) expect(K.supports("matmul", s.name)).toBe(true);
      });
    });
  }
});
