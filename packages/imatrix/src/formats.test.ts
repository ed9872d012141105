import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GGUFValueType, ggufValue, parseGgufBytes, writeGgufToBytes } from "@quantlab/gguf";
import { parseImatrixDat, quantizeModel } from "@quantlab/quant-core";
import { readShared, sharedPath } from "@quantlab/testing";
import { afterAll, describe, expect, it } from "vitest";
import { combineImatrix } from "./combine.js";
import { imatrixToDatData, parseImatrixDatFile, serializeImatrixDatFile } from "./dat-format.js";
import { imatrixGgufSpec, parseImatrixGguf, serializeImatrixGguf } from "./gguf-format.js";
import { createImatrix, imatrixImportance, type Imatrix } from "./imatrix.js";
import { loadImatrix, parseImatrix, saveImatrix, sniffImatrixFormat } from "./io.js";

const GOLDEN = ["golden", "llamacpp-c392e50"];
const GOLDEN_DAT = {
  // llama-imatrix -m tinystories-5m-f32.gguf -f tinystories_train_split.txt -c 256 (all 1379 chunks)
  "tinystories-5m": { parts: [...GOLDEN, "tinystories-5m", "imatrix.dat"], entries: 42, chunks: 1379, dataset: "tinystories_train_split.txt" },
  // llama-imatrix -m stories260K.gguf -f wikitext2_train_5k.txt -c 256 --chunks 20
  stories260K: { parts: [...GOLDEN, "stories260K", "stories260K.imatrix.dat"], entries: 35, chunks: 20, dataset: undefined },
} as const;

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "imatrix-test-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/**
 * Two `.dat` files hold the same data: same entries (name, ncall, value bits), trailer and size. Entry order is not
 * compared: the c392e50 writer used unordered_map order, current llama.cpp (and we) sort by name.
 */
function expectSameDat(ours: Uint8Array, golden: Uint8Array): void {
  expect(ours.length).toBe(golden.length);
  const a = parseImatrixDat(ours);
  const b = parseImatrixDat(golden);
  expect([...a.entries.keys()]).toEqual([...b.entries.keys()].sort());
  for (const [name, e] of b.entries) {
    const o = a.entries.get(name)!;
    expect(o.ncall, name).toBe(e.ncall);
    expect(bits(o.stored), name).toEqual(bits(e.stored));
  }
  expect(a.chunkCount).toBe(b.chunkCount);
  expect(a.datasets).toEqual(b.datasets);
}
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe.each(Object.entries(GOLDEN_DAT))("golden %s imatrix.dat", (_model, g) => {
  const bytes = readShared(...g.parts);
  const im = parseImatrixDatFile(bytes, { chunkSize: 256 });

  it("reads as llama.cpp's load_imatrix_legacy does: sums = value × chunk_size, one count = ncall × chunk_size", () => {
    expect(im.entries.size).toBe(g.entries);
    expect(im.chunkCount).toBe(g.chunks);
    expect(im.chunkSize).toBe(256);
    if (g.dataset) expect(im.datasets).toEqual([g.dataset]);
    const raw = parseImatrixDat(bytes);
    for (const [name, e] of raw.entries) {
      const t = im.entries.get(name)!;
      expect(e.ncall).toBe(g.chunks);
      expect([...t.counts]).toEqual([g.chunks * 256]);
      expect(t.nMat).toBe(1);
      expect(t.nPerRow).toBe(e.stored.length);
      for (let j = 0; j < e.stored.length; j++) expect(t.sums[j]).toBe(e.stored[j]! * 256); // ×256 is exact in float
      // what quantization uses is unchanged by the conversion: sums / count == stored / ncall, bit for bit
      expect(bits(imatrixImportance(t))).toEqual(bits(e.importance));
    }
    expect([...im.entries.keys()].every((n) => n.startsWith("blk.") && n.endsWith(".weight"))).toBe(true);
  });

  it(".dat → GGUF → .dat gives back the golden values bit for bit (entries sorted by name, as llama.cpp now writes)", async () => {
    const gguf = await serializeImatrixGguf(im);
    expect(sniffImatrixFormat(gguf)).toBe("gguf");
    const back = parseImatrixGguf(gguf);
    expect(back.chunkCount).toBe(g.chunks);
    expect(back.chunkSize).toBe(256);
    expect(back.datasets).toEqual(im.datasets);
    expect([...back.entries.keys()]).toEqual([...im.entries.keys()].sort());
    for (const [name, e] of im.entries) {
      const b = back.entries.get(name)!;
      expect(bits(b.sums)).toEqual(bits(e.sums));
      expect([...b.counts]).toEqual([...e.counts]);
    }
    expectSameDat(serializeImatrixDatFile(back), bytes);
  });

  it("GGUF layout: general.type, imatrix.* keys, sorted <name>.in_sum2 [n, 1] F32 and <name>.counts [1, 1] F32", async () => {
    const f = parseGgufBytes(await serializeImatrixGguf(im));
    expect([...f.metadata.keys()].filter((k) => !k.startsWith("GGUF."))).toEqual(["general.type", "imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size"]);
    expect(f.get("general.type")).toBe("imatrix");
    expect(f.get("imatrix.chunk_count")).toBe(g.chunks);
    expect(f.get("imatrix.chunk_size")).toBe(256);
    expect(f.tensors.length).toBe(2 * g.entries);
    const names = [...im.entries.keys()].sort();
    f.tensors.forEach((t, i) => {
      const base = names[i >> 1]!;
      expect(t.name).toBe(i % 2 === 0 ? `${base}.in_sum2` : `${base}.counts`);
      expect(t.type).toBe(0);
      expect(t.shape).toEqual(i % 2 === 0 ? [im.entries.get(base)!.nPerRow, 1] : [1, 1]);
    });
  });
});

describe("quantize pipeline", () => {
  it("quantizeModel(stories260K, Q4_K_M) with our GGUF imatrix = with the golden .dat, byte for byte", async () => {
    const dir = tempDir();
    const datPath = sharedPath(...GOLDEN_DAT.stories260K.parts);
    const ggufPath = join(dir, "imatrix.gguf");
    await saveImatrix(ggufPath, await loadImatrix(datPath, { chunkSize: 256 }));
    const model = sharedPath("models", "stories260K.gguf");
    await quantizeModel(model, join(dir, "a.gguf"), { type: "Q4_K_M", imatrix: datPath, imatrixFile: "imatrix" });
    await quantizeModel(model, join(dir, "b.gguf"), { type: "Q4_K_M", imatrix: ggufPath, imatrixFile: "imatrix" });
    const a = new Uint8Array(readFileSync(join(dir, "a.gguf")));
    const b = new Uint8Array(readFileSync(join(dir, "b.gguf")));
    expect(b.length).toBe(a.length);
    expect(sha256(b)).toBe(sha256(a));
    // and both equal llama-quantize's tensors
    const ref = parseGgufBytes(readShared(...GOLDEN, "stories260K", "stories260K-Q4_K_M-imatrix.gguf"));
    const ours = parseGgufBytes(b);
    for (const t of ref.tensors) {
      const o = ours.tensor(t.name)!;
      expect(sha256(b.subarray(o.absoluteOffset, o.absoluteOffset + t.nBytes)), t.name).toBe(sha256(await ref.readTensorData(t)));
    }
  });
});

describe("io", () => {
  it("loadImatrix sniffs the format; saveImatrix picks it from the extension", async () => {
    const dir = tempDir();
    const src = await loadImatrix(sharedPath(...GOLDEN_DAT.stories260K.parts), { chunkSize: 256 });
    expect(src.format).toBe("dat");
    expect(await saveImatrix(join(dir, "x.gguf"), src)).toBe("gguf");
    expect(await saveImatrix(join(dir, "x.dat"), src)).toBe("dat");
    expect(await saveImatrix(join(dir, "y.bin"), src, { format: "dat" })).toBe("dat");
    expect((await loadImatrix(join(dir, "x.gguf"))).format).toBe("gguf");
    expect((await loadImatrix(join(dir, "x.dat"), { chunkSize: 256 })).format).toBe("dat");
    expectSameDat(new Uint8Array(readFileSync(join(dir, "x.dat"))), readShared(...GOLDEN_DAT.stories260K.parts));
    await expect(loadImatrix(join(dir, "missing.gguf"))).rejects.toMatchObject({ code: "IMATRIX_IO" });
  });

  it("rejects a GGUF with sums but no counts, and one without imatrix tensors", async () => {
    const sumsOnly = await writeGgufToBytes({
      metadata: { "general.type": ggufValue.string("imatrix") },
      tensors: [{ name: "blk.0.ffn_up.weight.in_sum2", shape: [4, 1], type: 0, data: new Uint8Array(16) }],
    });
    expect(() => parseImatrix(sumsOnly)).toThrow(expect.objectContaining({ code: "IMATRIX_FORMAT" }));
    const none = await writeGgufToBytes({ metadata: { "general.type": ggufValue.string("imatrix") }, tensors: [{ name: "x", shape: [4], type: 0, data: new Uint8Array(16) }] });
    expect(() => parseImatrix(none)).toThrow(expect.objectContaining({ code: "IMATRIX_FORMAT" }));
  });
});

/** A small MoE-shaped imatrix: 3 experts of 4 columns, expert 2 never routed to, plus a dense tensor with in_sum. */
function moeImatrix(): Imatrix {
  const im = createImatrix(8, ["a.txt"]);
  im.entries.set("blk.0.ffn_up_exps.weight", {
    nPerRow: 4,
    nMat: 3,
    sums: Float32Array.from([1, 2, 3, 4, 10, 20, 30, 40, 0, 0, 0, 0]),
    counts: Float64Array.from([8, 20, 0]),
  });
  im.entries.set("blk.0.attn_q.weight", {
    nPerRow: 2,
    nMat: 1,
    sums: Float32Array.from([0.5, 1.5]),
    activationSums: Float32Array.from([-0.25, 0.75]),
    counts: Float64Array.from([16]),
  });
  im.chunkCount = 2;
  return im;
}

describe("per-expert layout", () => {
  it("GGUF: in_sum2 [n_per_row, n_experts], counts [1, n_experts], in_sum when present; round trip", async () => {
    const im = moeImatrix();
    const spec = imatrixGgufSpec(im);
    expect(spec.tensors.map((t) => [t.name, t.shape])).toEqual([
      ["blk.0.attn_q.weight.in_sum2", [2, 1]],
      ["blk.0.attn_q.weight.counts", [1, 1]],
      ["blk.0.attn_q.weight.in_sum", [2, 1]],
      ["blk.0.ffn_up_exps.weight.in_sum2", [4, 3]],
      ["blk.0.ffn_up_exps.weight.counts", [1, 3]],
    ]);
    const back = parseImatrixGguf(await serializeImatrixGguf(im));
    const e = back.entries.get("blk.0.ffn_up_exps.weight")!;
    expect([e.nPerRow, e.nMat, ...e.counts]).toEqual([4, 3, 8, 20, 0]);
    expect([...back.entries.get("blk.0.attn_q.weight")!.activationSums!]).toEqual([-0.25, 0.75]);
    expect(back.datasets).toEqual(["a.txt"]);
    expect(back.chunkCount).toBe(2);
  });

  it(".dat: ncall = ceil(max count / chunk size), value = sum / count × ncall, 1 × ncall for an unused expert", () => {
    const d = imatrixToDatData(moeImatrix());
    const e = d.entries.get("blk.0.ffn_up_exps.weight")!;
    expect(e.ncall).toBe(3); // ceil(20 / 8)
    expect([...e.stored]).toEqual([1 / 8, 2 / 8, 3 / 8, 4 / 8, 0.5, 1, 1.5, 2, 1, 1, 1, 1].map((v) => Math.fround(v * 3)));
    expect(d.entries.get("blk.0.attn_q.weight")!.ncall).toBe(2);
    expect([...d.entries.keys()]).toEqual(["blk.0.attn_q.weight", "blk.0.ffn_up_exps.weight"]);
  });

  it("an entry without any tokens is not written to a .dat", () => {
    const im = moeImatrix();
    im.entries.set("blk.1.attn_q.weight", { nPerRow: 2, nMat: 1, sums: new Float32Array(2), counts: new Float64Array(1) });
    expect(imatrixToDatData(im).entries.has("blk.1.attn_q.weight")).toBe(false);
  });
});

describe("combineImatrix", () => {
  it("adds sums and counts, concatenates datasets, recomputes the chunk count (golden file with itself)", () => {
    const im = parseImatrixDatFile(readShared(...GOLDEN_DAT["tinystories-5m"].parts), { chunkSize: 256 });
    const two = combineImatrix([im, im]);
    expect(two.datasets).toEqual([...im.datasets, ...im.datasets]);
    expect(two.chunkCount).toBe(2 * 1379);
    for (const [name, e] of im.entries) {
      const t = two.entries.get(name)!;
      expect([...t.counts]).toEqual([2 * e.counts[0]!]);
      for (let j = 0; j < e.sums.length; j++) expect(t.sums[j]).toBe(2 * e.sums[j]!);
      expect(bits(imatrixImportance(t))).toEqual(bits(imatrixImportance(e)));
    }
    // the .dat of the combination stores 2 × the values with ncall 2758 (exact: all factors are powers of two)
    const d = imatrixToDatData(two);
    const orig = parseImatrixDat(readShared(...GOLDEN_DAT["tinystories-5m"].parts));
    for (const [name, e] of orig.entries) {
      expect(d.entries.get(name)!.ncall).toBe(2758);
      expect(bits(d.entries.get(name)!.importance)).toEqual(bits(e.importance));
    }
  });

  it("broadcasts a single count over experts and refuses different sizes", () => {
    const a = moeImatrix();
    const legacy = createImatrix(8);
    legacy.entries.set("blk.0.ffn_up_exps.weight", { nPerRow: 12, nMat: 1, sums: new Float32Array(12).fill(1), counts: Float64Array.from([8]) });
    const c = combineImatrix([legacy, a]);
    const e = c.entries.get("blk.0.ffn_up_exps.weight")!;
    expect([e.nPerRow, e.nMat, ...e.counts]).toEqual([4, 3, 16, 28, 8]);
    expect(e.sums[0]).toBe(2);
    expect(c.chunkCount).toBe(3); // floor(28 / 8)
    expect(c.entries.get("blk.0.attn_q.weight")!.activationSums).toBeDefined();
    const bad = createImatrix(8);
    bad.entries.set("blk.0.attn_q.weight", { nPerRow: 3, nMat: 1, sums: new Float32Array(3), counts: new Float64Array(1) });
    expect(() => combineImatrix([a, bad])).toThrow(expect.objectContaining({ code: "IMATRIX_MISMATCH" }));
    expect(() => combineImatrix([])).toThrow(expect.objectContaining({ code: "IMATRIX_EMPTY" }));
  });

  it("drops activation sums when one input lacks them", () => {
    const a = moeImatrix();
    const b = moeImatrix();
    b.entries.set("blk.0.attn_q.weight", { ...b.entries.get("blk.0.attn_q.weight")!, activationSums: undefined });
    expect(combineImatrix([a, b]).entries.get("blk.0.attn_q.weight")!.activationSums).toBeUndefined();
  });

  it("metadata of a written GGUF is what llama-imatrix writes (GGUFValueType string array)", async () => {
    const f = parseGgufBytes(await serializeImatrixGguf(moeImatrix()));
    expect(f.metadata.get("imatrix.datasets")).toMatchObject({ type: GGUFValueType.ARRAY });
  });
});
