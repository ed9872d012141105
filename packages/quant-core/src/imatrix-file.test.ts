import { describe, expect, it } from "vitest";
import { readShared } from "@quantlab/testing";
import { parseImatrixDat, serializeImatrixDat } from "./imatrix-file.js";

describe("legacy imatrix .dat", () => {
  it("reads llama-imatrix's stories260K file: 35 entries, ncall 20, dataset, chunk count", () => {
    const bytes = readShared("golden", "llamacpp-c392e50", "stories260K", "stories260K.imatrix.dat");
    const m = parseImatrixDat(bytes, "stories260K.imatrix.dat");
    expect(m.entries.size).toBe(35);
    expect(m.chunkCount).toBe(20);
    expect(m.datasets[0]).toContain("wikitext2_train_5k.txt");
    const q = m.entries.get("blk.0.attn_q.weight")!;
    expect(q.ncall).toBe(20);
    expect(q.stored.length).toBe(64);
    expect(m.entries.get("blk.4.ffn_down.weight")!.stored.length).toBe(172);
    expect(m.entries.has("output.weight")).toBe(false);
    expect(q.importance[3]).toBe(Math.fround(q.stored[3]! / 20));
    // re-serialising gives the same bytes
    expect(Buffer.from(serializeImatrixDat(m)).equals(Buffer.from(bytes))).toBe(true);
  });

  it("reads the tinystories-5m file: 42 entries of 256 or 768 columns, ncall 1379", () => {
    const m = parseImatrixDat(readShared("golden", "llamacpp-c392e50", "tinystories-5m", "imatrix.dat"));
    expect(m.entries.size).toBe(42);
    expect(m.chunkCount).toBe(1379);
    expect(m.datasets).toEqual(["tinystories_train_split.txt"]);
    for (const e of m.entries.values()) {
      expect(e.ncall).toBe(1379);
      expect([256, 768]).toContain(e.stored.length);
      expect(e.importance.every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
    }
  });

  it("rejects truncated and absurd files with a code and offset", () => {
    const bytes = readShared("golden", "llamacpp-c392e50", "stories260K", "stories260K.imatrix.dat");
    expect(() => parseImatrixDat(bytes.subarray(0, 100), "x.dat")).toThrow(/IMATRIX|ends inside/);
    try {
      parseImatrixDat(bytes.subarray(0, 100), "x.dat");
    } catch (e) {
      expect((e as { code: string }).code).toBe("IMATRIX_TRUNCATED");
      expect((e as { offset: number }).offset).toBeGreaterThan(0);
    }
    const bad = new Uint8Array(8);
    new DataView(bad.buffer).setInt32(0, -5, true);
    expect(() => parseImatrixDat(bad)).toThrow(/entry count -5/);
  });
});
