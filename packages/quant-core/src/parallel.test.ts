/**
 * quantizeTensorParallel: byte-identical to quantizeTensor for 1, 2 and 3 threads; the host's errors; the pool
 * is reused between calls. Tensors are kept small (the CI machine has 2 cores), with minParallelElements
 * lowered so the worker path really runs.
 */
import { afterAll, describe, expect, it } from "vitest";
import { QuantlabError } from "@quantlab/gguf";
import { builtinRegistry } from "./builtin.js";
import { quantizeTensor } from "./registry.js";
import { quantizePoolStats, quantizeTensorParallel, terminateQuantizePool } from "./parallel.js";

const registry = builtinRegistry();

function data(nRows: number, nPerRow: number): Float32Array {
  const x = new Float32Array(nRows * nPerRow);
  for (let i = 0; i < x.length; i++) x[i] = 0.1 + 2 * Math.cos(i * 0.731) * (1 + (i % 97) / 50);
  return x;
}

function importance(n: number): Float32Array {
  return new Float32Array(n).map((_, j) => Math.exp(Math.sin(0.37 * j)));
}

async function rejection(p: Promise<unknown>): Promise<QuantlabError> {
  try {
    await p;
  } catch (e) {
    if (QuantlabError.isInstance(e)) return e;
    throw e;
  }
  throw new Error("expected a rejection");
}

afterAll(async () => {
  await terminateQuantizePool();
});

describe("quantizeTensorParallel", () => {
  const nRows = 13;
  const nPerRow = 512;
  const x = data(nRows, nPerRow);
  const w = importance(nPerRow);
  // the legacy and float families (always here), plus a K-quant and an i-quant when their families are registered
  const names = ["f16", "bf16", "q4_0", "q5_1", "q8_0", "q4_K", "iq2_xxs"].filter((n) => registry.has(n));

  for (const name of names) {
    const scheme = registry.get(name);
    const variants: Array<[string, Float32Array | null]> = [];
    if (scheme.needs.importance !== "required") variants.push(["plain", null]);
    if (scheme.needs.importance !== "unused") variants.push(["importance", w]);
    for (const [label, imp] of variants) {
      it(`${name} ${label}: 1, 2 and 3 threads give quantizeTensor's bytes`, async () => {
        const want = quantizeTensor(scheme, x, nRows, nPerRow, { importance: imp });
        for (const threads of [1, 2, 3]) {
          const got = await quantizeTensorParallel(name, x, nRows, nPerRow, { importance: imp, threads, minParallelElements: 0 });
          expect(got.length).toBe(want.length);
          expect(Buffer.from(got.buffer, got.byteOffset, got.length).equals(Buffer.from(want.buffer, want.byteOffset, want.length))).toBe(true);
        }
      });
    }
  }

  it("reuses the pool across calls (no worker started per tensor)", async () => {
    await quantizeTensorParallel("q4_0", x, nRows, nPerRow, { threads: 2, minParallelElements: 0 });
    const before = quantizePoolStats();
    expect(before.size).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < 3; i++) await quantizeTensorParallel("q8_0", x, nRows, nPerRow, { threads: 2, minParallelElements: 0 });
    expect(quantizePoolStats().spawned).toBe(before.spawned);
  });

  it("takes input that already lives in a SharedArrayBuffer, at an offset", async () => {
    const sab = new SharedArrayBuffer((x.length + 8) * 4);
    const view = new Float32Array(sab, 32, x.length);
    view.set(x);
    const got = await quantizeTensorParallel("q4_0", view, nRows, nPerRow, { threads: 2, minParallelElements: 0 });
    expect(Buffer.from(got).equals(Buffer.from(quantizeTensor(registry.get("q4_0"), x, nRows, nPerRow)))).toBe(true);
  });

  it("writes into a given output buffer (shared: in place; plain: one copy)", async () => {
    const want = quantizeTensor(registry.get("q5_0"), x, nRows, nPerRow);
    const shared = new Uint8Array(new SharedArrayBuffer(want.length + 10), 10, want.length);
    const a = await quantizeTensorParallel("q5_0", x, nRows, nPerRow, { threads: 2, minParallelElements: 0, dst: shared });
    expect(a).toBe(shared);
    expect(Buffer.from(shared).equals(Buffer.from(want))).toBe(true);
    const plain = new Uint8Array(want.length + 3);
    const b = await quantizeTensorParallel("q5_0", x, nRows, nPerRow, { threads: 2, minParallelElements: 0, dst: plain });
    expect(b.length).toBe(want.length);
    expect(b.buffer).toBe(plain.buffer);
    expect(Buffer.from(b).equals(Buffer.from(want))).toBe(true);
    const small = new Uint8Array(want.length - 1);
    expect((await rejection(quantizeTensorParallel("q5_0", x, nRows, nPerRow, { threads: 2, minParallelElements: 0, dst: small }))).code).toBe("QUANT_BAD_SHAPE");
  });

  it("runs small tensors and threads <= 1 inline", async () => {
    const got = await quantizeTensorParallel("q4_0", x, nRows, nPerRow, { threads: 4 });
    expect(got.buffer instanceof SharedArrayBuffer).toBe(false);
    const one = await quantizeTensorParallel("q4_0", x, nRows, nPerRow, { threads: 1, minParallelElements: 0 });
    expect(one.buffer instanceof SharedArrayBuffer).toBe(false);
  });

  it("raises the host's errors", async () => {
    expect((await rejection(quantizeTensorParallel("no_such_type", x, nRows, nPerRow))).code).toBe("SCHEME_NOT_FOUND");
    expect((await rejection(quantizeTensorParallel("q4_0", x, 2, 100, { threads: 2, minParallelElements: 0 }))).code).toBe("QUANT_BAD_ROW_LENGTH");
    expect(
      (await rejection(quantizeTensorParallel("q4_0", x, nRows, nPerRow, { importance: new Float32Array(3), threads: 2, minParallelElements: 0 }))).code,
    ).toBe("QUANT_BAD_IMPORTANCE");
    const bad = x.slice();
    bad[7 * nPerRow + 5] = Number.NaN;
    const e = await rejection(quantizeTensorParallel("q4_0", bad, nRows, nPerRow, { threads: 2, minParallelElements: 0, tensorName: "w" }));
    expect(e.code).toBe("QUANT_NONFINITE_INPUT");
    expect(e.context["row"]).toBe(7);
    expect(e.tensor).toBe("w");
    if (registry.has("iq2_xxs")) {
      const r = await rejection(quantizeTensorParallel("iq2_xxs", data(4, 256), 4, 256, { threads: 2, minParallelElements: 0 }));
      expect(r.code).toBe("QUANT_IMPORTANCE_REQUIRED");
    }
  });
});
