import { parseImatrixDat } from "@quantlab/quant-core";
import { readShared } from "@quantlab/testing";
import { describe, expect, it } from "vitest";
import { parseImatrixDatFile } from "./dat-format.js";
import { createImatrix, type Imatrix } from "./imatrix.js";
import { computeImatrixStatistics, formatImatrixStatistics, splitTensorName } from "./stats.js";

const GOLDEN = ["golden", "llamacpp-c392e50", "tinystories-5m", "imatrix.dat"];

function dense(values: number[][], count: number, withAct?: number[][]): Imatrix {
  const im = createImatrix(4);
  values.forEach((v, i) => {
    im.entries.set(`blk.${i}.ffn_up.weight`, {
      nPerRow: v.length,
      nMat: 1,
      sums: Float32Array.from(v.map((x) => x * count)),
      ...(withAct ? { activationSums: Float32Array.from(withAct[i]!.map((x) => x * count)) } : {}),
      counts: Float64Array.from([count]),
    });
  });
  return im;
}

describe("computeImatrixStatistics", () => {
  it("splits names like process_tensor_name", () => {
    expect(splitTensorName("blk.12.attn_q.weight")).toEqual({ layer: "12", tensor: "attn_q" });
    expect(splitTensorName("output.weight")).toEqual({ layer: "-", tensor: "output" });
    expect(splitTensorName("something")).toEqual({ layer: "-", tensor: "something" });
  });

  it("legacy mode: Σ, μ, σ (sample), min, max, entropy, ZD and cosine similarity of E[x²] by hand", () => {
    // E[x²] per column: layer 0 = [1, 2, 3, 10], layer 1 = [2, 4, 6, 20] (parallel: cos = 1)
    const s = computeImatrixStatistics(dense([[1, 2, 3, 10], [2, 4, 6, 20]], 8));
    expect(s.legacy).toBe(true);
    const [a, b] = [s.tensors.find((t) => t.layer === 0)!, s.tensors.find((t) => t.layer === 1)!];
    expect(a.sum).toBe(16);
    expect(a.mean).toBe(4);
    expect(a.min).toBe(1);
    expect(a.max).toBe(10);
    expect(a.std).toBeCloseTo(Math.sqrt((9 + 4 + 1 + 36) / 3), 5);
    const p = [1, 2, 3, 10].map((x) => x / 16);
    expect(a.entropy).toBeCloseTo(-p.reduce((h, q) => h + q * Math.log2(q), 0), 5);
    expect(a.entropyNorm).toBeCloseTo((100 * a.entropy) / 2, 4);
    expect(a.zdScore).toBe(0.25); // only the 10 is more than one σ from μ
    expect(a.topShare).toBeCloseTo(10 / 16, 6);
    expect(a.cossim).toBe(0); // no previous layer
    expect(b.cossim).toBeCloseTo(1, 6);
    expect(b.l2Dist).toBeCloseTo(Math.sqrt(1 + 4 + 9 + 100), 4);
    expect(s.tensors.map((t) => t.layer)).toEqual([1, 0]); // same short name: larger Σ first
    expect(s.layers.map((l) => [l.layer, l.sum])).toEqual([
      [0, 16],
      [1, 32],
    ]);
    expect(s.layers[1]!.cossim).toBeCloseTo(1, 6);
  });

  it("with activation sums, values are E[x] and tensors sort by cosine similarity", () => {
    const s = computeImatrixStatistics(dense([[1, 1], [1, 1], [1, 1]], 2, [[1, 0], [1, 1], [1, 1]]));
    expect(s.legacy).toBe(false);
    expect(s.tensors.map((t) => t.layer)).toEqual([2, 1, 0]);
    expect(s.tensors.map((t) => t.cossim)).toEqual([1, Math.fround(Math.SQRT1_2), 0]);
    expect(s.tensors[0]!.mean).toBe(1);
    const orth = computeImatrixStatistics(dense([[1, 1], [1, 1]], 2, [[1, 0], [1, 0]]));
    expect(orth.tensors[0]!.cossim).toBe(1);
    expect(orth.tensors[0]!.ecs).toBeCloseTo(100, 4);
  });

  it("skips experts without tokens and tensors without any", () => {
    const im = createImatrix(4);
    im.entries.set("blk.0.ffn_up_exps.weight", { nPerRow: 2, nMat: 2, sums: Float32Array.from([4, 8, 100, 100]), counts: Float64Array.from([4, 0]) });
    im.entries.set("blk.0.ffn_down_exps.weight", { nPerRow: 2, nMat: 1, sums: new Float32Array(2), counts: new Float64Array(1) });
    const s = computeImatrixStatistics(im);
    expect(s.tensors.map((t) => [t.name, t.elements, t.sum])).toEqual([["blk.0.ffn_up_exps.weight", 2, 3]]);
  });

  it("golden tinystories-5m imatrix: Σ E[x²] per tensor = Σ stored / ncall of the file, 42 tensors, 6 layers", () => {
    const im = parseImatrixDatFile(readShared(...GOLDEN), { chunkSize: 256 });
    const raw = parseImatrixDat(readShared(...GOLDEN));
    const s = computeImatrixStatistics(im);
    expect(s.tensors.length).toBe(42);
    expect(s.layers.map((l) => l.layer)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const t of s.tensors) {
      const e = raw.entries.get(t.name)!;
      let sum = 0;
      for (const v of e.stored) sum += v / e.ncall;
      expect(t.sum / sum).toBeCloseTo(1, 5);
      expect(t.elements).toBe(e.stored.length);
      expect(t.min).toBeGreaterThan(0);
      expect(t.topShare).toBeGreaterThan(0);
      expect(t.topShare).toBeLessThan(1);
    }
    const text = formatImatrixStatistics(s, { title: "imatrix.dat", topShare: true });
    expect(text).toContain("Computing tensor statistics for imatrix.dat (42 tensors)");
    expect(text).toContain("Σ E[Act²]");
    expect(text).toContain("Computing layer statistics (6 layers)");
    expect(text.split("\n").filter((l) => /^\s+\d+\tattn_q/.test(l)).length).toBe(6);
  });
});
