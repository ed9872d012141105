import { statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { openGguf } from "@quantlab/gguf";
import { sharedPath } from "@quantlab/testing/fixtures";
import { runCli } from "../main.js";
import { capture } from "../test-utils/capture.js";

const TS5M = sharedPath("models", "tinystories-5m-f32.gguf");
const GOLDEN = sharedPath("golden", "llamacpp-c392e50", "stories260K");

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const cap = capture();
  const code = await runCli(args, cap.io);
  return { code, out: cap.out(), err: cap.err() };
}

/** Tensor data bytes of a file: the data section's size minus the alignment padding after the last tensor. */
async function tensorDataBytes(path: string): Promise<{ sum: number; section: number; n: number }> {
  const f = await openGguf(path);
  try {
    let sum = 0;
    for (const t of f.tensors) sum += t.nBytes;
    return { sum, section: statSync(path).size - f.dataOffset, n: f.tensors.length };
  } finally {
    await f.close();
  }
}

describe("quantlab fit", () => {
  it("tinystories-5m at ctx 256: KV cache and weights by hand", async () => {
    const r = await run(["fit", TS5M, "--ctx", "256", "--json"]);
    expect(r.code, r.err).toBe(0);
    const m = JSON.parse(r.out).models[0];
    // 6 layers × 4 KV heads × 32 head dim × 256 cells × 2 (K and V) × 2 bytes (f16)
    //   = 6 × 4 × 32 × 256 × 2 × 2 = 6 × 131072 = 786432 bytes (768 KiB); one layer = 131072 (128 KiB)
    expect(m.kvCache).toBe(786432);
    expect(m.kvPerLayer).toEqual([131072, 131072, 131072, 131072, 131072, 131072]);
    // weights = the tensor data of the file: every tensor's bytes; the data section is that plus < 32 bytes of
    // alignment padding per tensor
    const d = await tensorDataBytes(TS5M);
    expect(m.weights).toBe(d.sum);
    expect(d.section - d.sum).toBeGreaterThanOrEqual(0);
    expect(d.section - d.sum).toBeLessThan(32 * d.n);
    expect(m.total).toBe(m.weights + m.kvCache + m.compute + m.output);
    expect(m).toMatchObject({ nLayer: 6, nHeadKv: [4, 4, 4, 4, 4, 4], headDimK: 32, ctx: 256 });

    // q8_0 cache: a row of 4 × 32 = 128 values = 4 blocks of 34 bytes = 136 bytes; 6 × 256 × 2 × 136 = 417792
    const q = JSON.parse((await run(["fit", TS5M, "--ctx", "256", "--kv-type", "q8_0", "--json"])).out).models[0];
    expect(q.kvCache).toBe(417792);
  });

  it("one file: the breakdown table (weights, KV per layer, compute, total) and whether it fits", async () => {
    const r = await run(["fit", TS5M, "-c", "256", "--vram", "64MiB"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("tinystories-5m-f32.gguf: llama, 6 layers, 8 heads / 4 KV heads, head dim 32");
    expect(r.out).toMatch(/KV cache +786432 +768\.00 KiB +6 layers × 128\.00 KiB \(K\+V\)/);
    expect(r.out).toMatch(/^total +\d+ +\d+\.\d\d MiB/m);
    expect(r.out).toMatch(/^fits in 64\.00 MiB; largest context that fits: 256$/m); // trained context 256
  });

  it("a folder of quantizations with --vram: which fit and the largest context each allows", async () => {
    const r = await run(["fit", GOLDEN, "--ctx", "256", "--vram", "3.2MiB", "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.vram).toBe(Math.floor(3.2 * 1024 * 1024));
    expect(j.models).toHaveLength(8); // the 8 stories260K-*.gguf files
    for (const m of j.models) {
      expect(m.fits).toBe(m.total <= j.vram);
      expect(m.weights).toBe((await tensorDataBytes(m.file)).sum);
    }
    const byName = (s: string) => j.models.find((m: { file: string }) => m.file.endsWith(s));
    expect(byName("stories260K-Q2_K.gguf").fits).toBe(true);
    expect(byName("stories260K-F16.gguf").fits).toBe(false);
    const text = await run(["fit", GOLDEN, "--ctx", "256", "--vram", "3.2MiB"]);
    expect(text.out).toMatch(/^model +weights +KV cache +compute +total +fits +max ctx$/m);
    expect(text.out).toMatch(/^stories260K-Q2_K\.gguf +\S+ KiB +160\.00 KiB +.* yes +\d+$/m);
    expect(text.out).toMatch(/^stories260K-F16\.gguf +.* no +\d+$/m);
  });

  it("usage errors exit 2: bad --vram, unknown --kv-type, no model, bad --ctx; a missing file exits 1", async () => {
    for (const args of [
      ["fit", TS5M, "--vram", "12 potatoes"],
      ["fit", TS5M, "--kv-type", "q3_k"],
      ["fit"],
      ["fit", TS5M, "--ctx", "0"],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toContain("[CLI_USAGE]");
    }
    const r = await run(["fit", "/nonexistent/model.gguf"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("[CLI_FILE_NOT_FOUND]: no such file or folder: /nonexistent/model.gguf");
  });
});
