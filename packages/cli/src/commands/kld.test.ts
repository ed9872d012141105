import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KLD_CHUNK_HEADER } from "@quantlab/eval";
import { sharedPath } from "@quantlab/testing/fixtures";
import { runCli } from "../main.js";
import { capture } from "../test-utils/capture.js";

const MODEL = sharedPath("models", "stories260K.gguf");
const TEXT = sharedPath("data", "tinystories", "tinystories_val_hf_head.txt");
const GOLDEN = sharedPath("golden", "llamacpp-c392e50", "stories260K");
const BASE = join(GOLDEN, "stories260K-f32-kld-base.tinystories_c256_40chunks.bin");

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const cap = capture();
  const code = await runCli(args, cap.io);
  return { code, out: cap.out(), err: cap.err() };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("quantlab kld", () => {
  it("a base file written by `perplexity --kl-divergence-base` read back by `kld` with the same model: KLD ~0, same top 100 %", async () => {
    const dir = mkdtempSync(join(tmpdir(), "quantlab-cli-kld-"));
    dirs.push(dir);
    const base = join(dir, "base.bin");
    let r = await run(["perplexity", "-m", MODEL, "-f", TEXT, "-c", "256", "--chunks", "4", "--kl-divergence-base", base, "-q"]);
    expect(r.code, r.err).toBe(0);
    r = await run(["kld", "--base", base, "-m", MODEL, "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ mode: "kl-divergence", nCtx: 256, nChunk: 4, base });
    expect(Math.abs(j.summary.kld.mean)).toBeLessThan(1e-5); // only the uint16 packing of the base differs
    expect(j.summary.sameTopP).toEqual({ value: 1, error: 0 });
    expect(Math.abs(j.summary.pplRatio.value - 1)).toBeLessThan(1e-4);
  });

  it("golden Q4_K_M vs llama.cpp's base file, first 10 chunks: the same figures as `perplexity --kl-divergence`, near llama.cpp's 40-chunk ones", async () => {
    const q4 = join(GOLDEN, "stories260K-Q4_K_M.gguf");
    const a = await run(["kld", "--base", BASE, "-m", q4, "--chunks", "10", "-q"]);
    expect(a.code, a.err).toBe(0);
    expect(a.out.startsWith(`${KLD_CHUNK_HEADER}\n`)).toBe(true);
    expect(a.out).toContain("====== KL divergence statistics ======");
    const b = await run(["perplexity", "--kl-divergence-base", BASE, "--kl-divergence", "-m", q4, "--chunks", "10", "-q"]);
    expect(b.out).toBe(a.out);
    // llama.cpp over all 40 chunks (kld_summaries.txt): mean KLD 0.015970, same top 93.9..94 %; 10 chunks are close
    const kld = Number(/Mean {4}KLD: +(-?\d+\.\d+)/.exec(a.out)![1]);
    expect(kld).toBeGreaterThan(0.01);
    expect(kld).toBeLessThan(0.025);
    const top = Number(/Same top p: +(\d+\.\d+)/.exec(a.out)![1]);
    expect(top).toBeGreaterThan(90);
    expect(top).toBeLessThan(97);
  });

  it("usage errors: no --base, no -m, a bad --chunks (exit 2); a missing base file is a typed error", async () => {
    for (const args of [["kld", "-m", MODEL], ["kld", "--base", BASE], ["kld", "--base", BASE, "-m", MODEL, "--chunks", "0"]]) {
      const r = await run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toContain("[CLI_USAGE]");
    }
    const r = await run(["kld", "--base", "/nonexistent/base.bin", "-m", MODEL]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("error [CLI_FILE_NOT_FOUND]: --base: cannot read '/nonexistent/base.bin'");
  });
});
