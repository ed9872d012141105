import { describe, expect, it } from "vitest";
import { QuantlabError } from "@quantlab/gguf";
import { readShared } from "@quantlab/testing";
import { kldBaseByteLength, kldRowStride, packLogProbRow, parseKldBase, writeKldBase, decodeLogProbRow } from "./kld-base.js";

const G = "golden/llamacpp-c392e50";
const TS5M = [G, "tinystories-5m", "tinystories-5m-f32-kld-base.heldout_c256_40chunks.bin"] as const;
const S260K = [G, "stories260K", "stories260K-f32-kld-base.tinystories_c256_40chunks.bin"] as const;

function expectCode(f: () => unknown, code: string, offset?: number): void {
  try {
    f();
  } catch (e) {
    expect(QuantlabError.isInstance(e)).toBe(true);
    expect((e as QuantlabError).code).toBe(code);
    if (offset !== undefined) expect((e as QuantlabError).offset).toBe(offset);
    expect((e as QuantlabError).file).toBe("x.bin");
    return;
  }
  throw new Error("expected a throw");
}

describe("parseKldBase on the golden files", () => {
  it.each([TS5M, S260K])("%s: header, sizes, byte-identical round trip", (...parts) => {
    const bytes = readShared(...parts);
    const b = parseKldBase(bytes, parts[2]);
    expect(b.nCtx).toBe(256);
    expect(b.nVocab).toBe(512);
    expect(b.nChunk).toBe(40);
    expect(b.first).toBe(128);
    expect(b.rowsPerChunk).toBe(127);
    expect(b.rowStride).toBe(516);
    expect(b.tokens.length).toBe(40 * 256);
    expect(b.tokens[0]).toBe(1); // BOS of the SentencePiece vocab
    expect(bytes.length).toBe(kldBaseByteLength(256, 512, 40));
    const out = writeKldBase(b);
    expect(out.length).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(out), Buffer.from(bytes))).toBe(0);
  });

  it("decoded rows are log-probabilities: sum of exp ~ 1, max 0-ish, min clamp 16 below max", () => {
    const b = parseKldBase(readShared(...TS5M));
    const row = new Float32Array(b.nVocab);
    for (const [c, i] of [[0, 0], [7, 63], [39, 126]] as const) {
      b.logProbRow(c, i, row);
      let s = 0;
      let mx = -Infinity;
      let mn = Infinity;
      for (const v of row) {
        s += Math.exp(v);
        mx = Math.max(mx, v);
        mn = Math.min(mn, v);
      }
      expect(s).toBeGreaterThan(0.999);
      expect(s).toBeLessThan(1.001);
      expect(mx - mn).toBeLessThanOrEqual(16.0001);
      expect(b.logProb(c, i, 5)).toBe(row[5]);
      expect(b.rowMinLogProb(c, i)).toBe(Math.fround(mn));
    }
  });

  it("re-packing decoded rows (as logits) reproduces the packed bytes within 1 unit", () => {
    // decode -> treat log-probs as logits -> pack again: the same quantization grid up to float rounding
    const b = parseKldBase(readShared(...S260K));
    const row = new Float32Array(b.nVocab);
    const packed = new Uint16Array(b.rowStride);
    let maxDiff = 0;
    for (let i = 0; i < b.rowsPerChunk; i += 13) {
      b.logProbRow(3, i, row);
      packLogProbRow(row, 0, b.nVocab, 0, packed, 0);
      const orig = b.chunkRows(3).subarray(i * b.rowStride, (i + 1) * b.rowStride);
      for (let t = 4; t < b.rowStride; t++) maxDiff = Math.max(maxDiff, Math.abs(packed[t]! - orig[t]!));
    }
    expect(maxDiff).toBeLessThanOrEqual(1);
  });
});

describe("packLogProbRow", () => {
  it("packs, pads odd vocabularies with 0, and returns the NLL of the token", () => {
    const nVocab = 5;
    const logits = new Float32Array([1, 2, 3, -30, 0.5]);
    const out = new Uint16Array(kldRowStride(nVocab)).fill(0xbeef);
    expect(out.length).toBe(10);
    const nll = packLogProbRow(logits, 0, nVocab, 2, out, 0);
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3) + Math.exp(-30) + Math.exp(0.5));
    expect(nll).toBeCloseTo(lse - 3, 6);
    expect(out[4 + 3]).toBe(0); // below max-16: clamped to 0
    expect(out[4 + 2]).toBe(65535); // the maximum
    expect(out[9]).toBe(0); // padding
    const dec = new Float32Array(nVocab);
    decodeLogProbRow(out, 0, nVocab, dec);
    expect(dec[2]).toBeCloseTo(3 - lse, 5);
    expect(dec[0]).toBeCloseTo(1 - lse, 3);
  });

  it("a constant row has scale 0 and all-zero codes", () => {
    const out = new Uint16Array(kldRowStride(4)).fill(7);
    packLogProbRow(new Float32Array([2, 2, 2, 2]), 0, 4, 1, out, 0);
    expect(Array.from(out.subarray(4))).toEqual([0, 0, 0, 0]);
    const dec = new Float32Array(4);
    decodeLogProbRow(out, 0, 4, dec);
    for (const v of dec) expect(v).toBeCloseTo(-Math.log(4), 6);
  });
});

describe("parseKldBase errors", () => {
  const good = writeKldBase({ nCtx: 4, nVocab: 3, nChunk: 2, tokens: [1, 2, 0, 1, 1, 2, 2, 0], packed: new Uint16Array(2 * 1 * 8) });
  it("round-trips a tiny file", () => {
    expect(good.length).toBe(kldBaseByteLength(4, 3, 2));
    const b = parseKldBase(good, "x.bin");
    expect(Array.from(b.tokens)).toEqual([1, 2, 0, 1, 1, 2, 2, 0]);
    expect(b.rowsPerChunk).toBe(1);
  });
  it("bad magic", () => {
    const bad = good.slice();
    bad[0] = 0x41;
    expectCode(() => parseKldBase(bad, "x.bin"), "KLD_BAD_MAGIC", 0);
  });
  it("truncated header / tokens / chunks", () => {
    expectCode(() => parseKldBase(good.subarray(0, 5), "x.bin"), "KLD_TRUNCATED");
    expectCode(() => parseKldBase(good.subarray(0, 14), "x.bin"), "KLD_TRUNCATED", 14);
    expectCode(() => parseKldBase(good.subarray(0, 30), "x.bin"), "KLD_TRUNCATED", 30);
    // header 20 + tokens 32 = 52; chunk = 1 row x 8 uint16 = 16 bytes; cut inside chunk 1
    expectCode(() => parseKldBase(good.subarray(0, 52 + 16 + 3), "x.bin"), "KLD_TRUNCATED", 52 + 16);
  });
  it("trailing bytes and impossible sizes", () => {
    const long = new Uint8Array(good.length + 2);
    long.set(good);
    expectCode(() => parseKldBase(long, "x.bin"), "KLD_BAD_SIZE", good.length);
    const zero = good.slice();
    new DataView(zero.buffer).setInt32(16, 0, true);
    expectCode(() => parseKldBase(zero, "x.bin"), "KLD_BAD_SIZE", 16);
  });
  it("unaligned input is copied, not misread", () => {
    const shifted = new Uint8Array(good.length + 1);
    shifted.set(good, 1);
    const b = parseKldBase(shifted.subarray(1), "x.bin");
    expect(Array.from(b.tokens)).toEqual([1, 2, 0, 1, 1, 2, 2, 0]);
  });
});
