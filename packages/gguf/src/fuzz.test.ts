import { describe, expect, it } from "vitest";
import { readShared } from "@quantlab/testing/fixtures";
import { GgufError } from "./gguf-error.js";
import { openGguf, parseGgufBytes } from "./open.js";
import { MemoryByteSource } from "./source.js";

/** mulberry32: a tiny seeded generator, so every failure is reproducible from its case number. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Seed {
  name: string;
  bytes: Uint8Array;
  headerEnd: number;
  /** Offsets of fields worth corrupting: counts, KV starts (key lengths), tensor-info starts. */
  fields: number[];
  /** Relative weight in the mix. */
  weight: number;
}

function seedOf(name: string, parts: string[], weight: number): Seed {
  const bytes = readShared(...parts);
  const f = parseGgufBytes(bytes);
  const fields = [8, 16, ...f.metadataOffsets.values(), ...f.tensors.map((t) => t.infoOffset)];
  // Value-type fields and array headers sit right after each key.
  for (const [key, at] of f.metadataOffsets) fields.push(at + 8 + new TextEncoder().encode(key).length, at + 12 + new TextEncoder().encode(key).length);
  return { name, bytes, headerEnd: f.tensorInfoRange[1], fields, weight };
}

const INTERESTING_U64 = [0n, 1n, 2n, 7n, 255n, 0x7fffffffn, 0xffffffffn, 0x100000000n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];

describe("fuzz: mutated real files never throw anything but GgufError", () => {
  it("survives 12,000 mutations (flips, truncations, insertions, deletions, changed counts) quickly and within bounded memory", () => {
    const seeds = [
      seedOf("stories260K", ["models", "stories260K.gguf"], 40),
      seedOf("stories260K-Q2_K", ["golden", "llamacpp-c392e50", "stories260K", "stories260K-Q2_K.gguf"], 30),
      seedOf("tinystories-5m-IQ2_XXS", ["golden", "llamacpp-c392e50", "tinystories-5m", "tinystories-5m-IQ2_XXS-imatrix.gguf"], 24),
      seedOf("vocab-bert-bge", ["models", "vocab", "ggml-vocab-bert-bge.gguf"], 3),
      seedOf("vocab-llama-spm", ["models", "vocab", "ggml-vocab-llama-spm.gguf"], 3),
    ];
    const totalWeight = seeds.reduce((a, s) => a + s.weight, 0);
    const CASES = 12_000;
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    let ok = 0;
    let maxMs = 0;
    const codes = new Map<string, number>();
    const failures: string[] = [];
    for (let c = 0; c < CASES; c++) {
      const r = rng(0x5eed0000 + c);
      let pick = r() * totalWeight;
      let seed = seeds[0]!;
      for (const s of seeds) {
        if ((pick -= s.weight) < 0) {
          seed = s;
          break;
        }
      }
      const src = seed.bytes;
      const pos = () => (r() < 0.9 ? Math.floor(r() * seed.headerEnd) : Math.floor(r() * src.length));
      const kind = Math.floor(r() * 6);
      let input = src;
      const restore: [number, number][] = [];
      const poke = (at: number, v: number) => {
        if (at < 0 || at >= src.length) return;
        restore.push([at, src[at]!]);
        src[at] = v;
      };
      switch (kind) {
        case 0: // byte flips, in place (restored below)
        case 1: {
          const n = kind === 0 ? 1 : 2 + Math.floor(r() * 7);
          for (let i = 0; i < n; i++) {
            const at = pos();
            poke(at, r() < 0.5 ? src[at]! ^ (1 << Math.floor(r() * 8)) : Math.floor(r() * 256));
          }
          break;
        }
        case 2: // truncation
          input = src.subarray(0, r() < 0.8 ? pos() : Math.floor(r() * src.length));
          break;
        case 3: {
          // inserted bytes
          const at = pos();
          const n = 1 + Math.floor(r() * 16);
          input = new Uint8Array(src.length + n);
          input.set(src.subarray(0, at));
          for (let i = 0; i < n; i++) input[at + i] = Math.floor(r() * 256);
          input.set(src.subarray(at), at + n);
          break;
        }
        case 4: {
          // deleted bytes
          const at = pos();
          const n = 1 + Math.floor(r() * 16);
          input = new Uint8Array(src.length - n);
          input.set(src.subarray(0, at));
          input.set(src.subarray(at + n), at);
          break;
        }
        case 5: {
          // a count, length or type field replaced by an interesting value
          const at = seed.fields[Math.floor(r() * seed.fields.length)]!;
          let v = INTERESTING_U64[Math.floor(r() * INTERESTING_U64.length)]!;
          if (r() < 0.3) v = BigInt(Math.floor(r() * 70000));
          const width = r() < 0.5 ? 8 : 4;
          for (let i = 0; i < width; i++) poke(at + i, Number((v >> BigInt(8 * i)) & 0xffn));
          break;
        }
      }
      const start = performance.now();
      try {
        parseGgufBytes(input);
        ok++;
      } catch (e) {
        if (!GgufError.isGgufError(e)) failures.push(`case ${c} (${seed.name}, kind ${kind}): ${String(e)}`);
        else codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
      const ms = performance.now() - start;
      if (ms > maxMs) maxMs = ms;
      for (let i = restore.length - 1; i >= 0; i--) src[restore[i]![0]] = restore[i]![1];
    }
    const elapsed = performance.now() - t0;
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    console.log(`fuzz: ${CASES} cases in ${(elapsed / 1000).toFixed(1)} s, ${ok} parsed, max ${maxMs.toFixed(1)} ms/case, heap +${(heapGrowth / 2 ** 20).toFixed(0)} MiB`, Object.fromEntries(codes));
    expect(failures).toEqual([]);
    expect(codes.size).toBeGreaterThanOrEqual(10); // the mutations reach many different checks
    expect(maxMs).toBeLessThan(2000); // no hang
    expect(heapGrowth).toBeLessThan(512 * 2 ** 20); // bounded memory
    expect(elapsed).toBeLessThan(45_000);
    // The seeds are unchanged (in-place mutations were restored).
    expect(() => seeds.forEach((s) => parseGgufBytes(s.bytes))).not.toThrow();
  });
});

describe("fuzz: the resumable async parser agrees with the sync parser on corrupt input", () => {
  it("gives the same result or the same error code and offset for 1,500 mutations, read in small growing chunks", async () => {
    const seed = seedOf("stories260K", ["models", "stories260K.gguf"], 1);
    const src = seed.bytes;
    const mismatches: string[] = [];
    for (let c = 0; c < 1500; c++) {
      const r = rng(0xa5a50000 + c);
      const input = src.slice(0, seed.headerEnd + 4096); // header + a little data: tensors fail the bounds check or parse
      const n = 1 + Math.floor(r() * 4);
      for (let i = 0; i < n; i++) {
        const at = r() < 0.5 ? seed.fields[Math.floor(r() * seed.fields.length)]! + Math.floor(r() * 8) : Math.floor(r() * seed.headerEnd);
        if (at < input.length) input[at] = Math.floor(r() * 256);
      }
      const sync = (() => {
        try {
          const f = parseGgufBytes(input);
          return `ok ${f.metadata.size} ${f.tensors.length} ${f.dataOffset}`;
        } catch (e) {
          return GgufError.isGgufError(e) ? `${e.code}@${e.offset}` : `non-GgufError ${String(e)}`;
        }
      })();
      let async: string;
      try {
        const f = await openGguf(new MemoryByteSource(input), { initialReadSize: 32 + Math.floor(r() * 2000) });
        async = `ok ${f.metadata.size} ${f.tensors.length} ${f.dataOffset}`;
      } catch (e) {
        async = GgufError.isGgufError(e) ? `${e.code}@${e.offset}` : `non-GgufError ${String(e)}`;
      }
      if (sync !== async || sync.startsWith("non-")) mismatches.push(`case ${c}: sync ${sync} / async ${async}`);
    }
    expect(mismatches).toEqual([]);
  });
});
