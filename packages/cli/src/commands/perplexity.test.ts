import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KLD_CHUNK_HEADER, parseKldSummaryText } from "@quantlab/eval";
import { sharedPath } from "@quantlab/testing/fixtures";
import { runCli } from "../main.js";
import { capture } from "../test-utils/capture.js";

const MODEL = sharedPath("models", "stories260K.gguf");
const TEXT = sharedPath("data", "tinystories", "tinystories_val_hf_head.txt");
const HELLASWAG = sharedPath("data", "hellaswag", "hellaswag_val_first1000.txt");
const GOLDEN = sharedPath("golden", "llamacpp-c392e50", "stories260K");
const BASE = join(GOLDEN, "stories260K-f32-kld-base.tinystories_c256_40chunks.bin");

/** One `### <file>` block of the golden kld_summaries.txt, as numbers. */
function goldenSummary(file: string): Record<string, number[]> {
  const all = readFileSync(join(GOLDEN, "kld_summaries.txt"), "utf8");
  const block = all.split(/^### /m).find((b) => b.startsWith(`${file}\n`))!;
  return parseKldSummaryText(block);
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const cap = capture();
  const code = await runCli(args, cap.io);
  return { code, out: cap.out(), err: cap.err() };
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "quantlab-cli-ppl-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("quantlab perplexity", () => {
  it("-c 256 --chunks 40 --kl-divergence-base: PPL = llama.cpp's base PPL, and the base file has llama.cpp's header and tokens", async () => {
    const dir = tempDir();
    const out = join(dir, "base.bin");
    const r = await run(["perplexity", "-m", MODEL, "-f", TEXT, "-c", "256", "--chunks", "40", "-t", "1", "--kl-divergence-base", out, "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ mode: "perplexity", nCtx: 256, nChunk: 40, count: 40 * (256 - 1 - 128), kldBaseFile: out });
    expect(j.chunkPpl).toHaveLength(40);
    // golden `Mean PPL(base)` = 3.823272 comes from llama.cpp's uint16-packed log-probs of the F32 model; a plain
    // PPL from float logits differs from it by the packing error only (eval README: < 0.003 % on this data)
    const golden = goldenSummary("stories260K-Q4_K_M.gguf")["Mean PPL(base)"]!;
    expect(golden[0]).toBe(3.823272);
    expect(Math.abs(j.ppl / golden[0]! - 1)).toBeLessThan(1e-4);
    expect(Math.abs(j.pplError / golden[1]! - 1)).toBeLessThan(1e-3);
    // header ("_logits_", n_ctx, n_vocab, n_chunk) and the 40·256 tokens are byte-identical to llama-perplexity's file
    const ours = readFileSync(out);
    const ref = readFileSync(BASE);
    expect(ours.length).toBe(ref.length);
    const head = 8 + 3 * 4 + 40 * 256 * 4;
    expect(Buffer.compare(ours.subarray(0, head), ref.subarray(0, head))).toBe(0);
    expect(readdirSync(dir)).toEqual(["base.bin"]); // the temp file was renamed, nothing else left
  });

  it("prints the running [i]ppl line and llama.cpp's final estimate", async () => {
    const r = await run(["perplexity", "-m", MODEL, "-f", TEXT, "-c", "256", "--chunks", "3", "-b", "64"]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines[0]).toMatch(/^\[1\]\d+\.\d{4},\[2\]\d+\.\d{4},\[3\](\d+\.\d{4}),$/);
    expect(lines[1]).toMatch(/^Final estimate: PPL = \d+\.\d{4} \+\/- \d+\.\d{5}$/);
    expect(lines[1]).toContain(`PPL = ${/\[3\](\d+\.\d{4})/.exec(lines[0]!)![1]}`);
    expect(r.err).toContain("perplexity");
    // -b is the forward pass's batch size: the figures do not depend on it
    const a = JSON.parse((await run(["perplexity", "-m", MODEL, "-f", TEXT, "-c", "256", "--chunks", "3", "-b", "64", "--json"])).out);
    const b = JSON.parse((await run(["perplexity", "-m", MODEL, "-f", TEXT, "-c", "256", "--chunks", "3", "--json"])).out);
    expect(a.nBatch).toBe(64);
    expect(a.ppl).toBeCloseTo(b.ppl, 6);
    expect(lines[1]).toContain(`PPL = ${b.ppl.toFixed(4)} +/- ${b.pplError.toFixed(5)}`);
  });

  it("--kl-divergence against llama.cpp's base file: Mean PPL(base) line exact, the rest close to llama.cpp's Q4_K_M figures", async () => {
    const q4 = join(GOLDEN, "stories260K-Q4_K_M.gguf");
    const r = await run(["perplexity", "-m", q4, "--kl-divergence-base", BASE, "--kl-divergence", "-q"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe("");
    const lines = r.out.split("\n");
    expect(lines[0]).toBe(KLD_CHUNK_HEADER);
    expect(lines.filter((l) => /^ {2}\d{2} {5,}\d/.test(l) || /^ {3}\d {5,}\d/.test(l))).toHaveLength(40);
    expect(r.out).toContain("Mean PPL(base)                :   3.823272 ±   0.096862\n");
    const ours = parseKldSummaryText(r.out);
    const ref = goldenSummary("stories260K-Q4_K_M.gguf");
    expect(Math.abs(ours["Mean PPL(Q)"]![0]! / ref["Mean PPL(Q)"]![0]! - 1)).toBeLessThan(0.002);
    expect(Math.abs(ours["Mean KLD"]![0]! / ref["Mean KLD"]![0]! - 1)).toBeLessThan(0.05);
    expect(Math.abs(ours["Same top p"]![0]! - ref["Same top p"]![0]!)).toBeLessThan(1); // percent points
  });

  it("--hellaswag prints llama.cpp's running lines; --json has every figure", async () => {
    let r = await run(["perplexity", "-m", MODEL, "-f", HELLASWAG, "--hellaswag", "--hellaswag-tasks", "8", "-c", "256", "-q"]);
    expect(r.code, r.err).toBe(0);
    const rows = r.out.trim().split("\n");
    expect(rows[0]).toBe("task\tacc_norm\t95% confidence interval");
    expect(rows.slice(1)).toHaveLength(8);
    for (const [i, l] of rows.slice(1).entries()) expect(l).toMatch(new RegExp(`^${i + 1}\\t\\d+\\.\\d{8}%\\t\\[\\d+\\.\\d{4}%, \\d+\\.\\d{4}%\\]$`));
    r = await run(["perplexity", "-m", MODEL, "-f", HELLASWAG, "--hellaswag", "--hellaswag-tasks", "8", "-c", "256", "--json"]);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ mode: "hellaswag", n: 8 });
    expect(j.accuracy).toBeCloseTo(j.nCorrect / 8, 12);
    expect(j.wilson95[0]).toBeLessThanOrEqual(j.accuracy);
    expect(rows[8]).toContain(`${((j.nCorrect / 8) * 100).toFixed(8)}%`);
  });

  it("--multiple-choice on an ARC .jsonl: running lines, then llama.cpp's Final result / Random chance", async () => {
    const arc = sharedPath("data", "arc", "ARC-Easy-test.jsonl");
    const r = await run(["perplexity", "-m", MODEL, "-f", arc, "--multiple-choice", "--multiple-choice-tasks", "6", "-c", "256", "-q"]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines[0]).toBe("task\tacc_norm");
    expect(lines.slice(1, 7).map((l) => l.split("\t")[0])).toEqual(["1", "2", "3", "4", "5", "6"]);
    const m = /^Final result: (\d+\.\d{4}) \+\/- \d+\.\d{4}$/m.exec(r.out);
    expect(m).not.toBeNull();
    expect(lines[6]).toMatch(/^6\t\d+\.\d{8}$/);
    expect(Number(lines[6]!.split("\t")[1])).toBeCloseTo(Number(m![1]), 3);
    expect(r.out).toMatch(/^Random chance: 25\.0000 \+\/- \d+\.\d{4}$/m);
  });

  it("usage errors exit 2 with CLI_USAGE; a missing file is a typed error naming it", async () => {
    for (const args of [
      ["perplexity", "-f", TEXT],
      ["perplexity", "-m", MODEL],
      ["perplexity", "-m", MODEL, "--kl-divergence"],
      ["perplexity", "-m", MODEL, "-f", TEXT, "--backend", "tpu"],
      ["perplexity", "-m", MODEL, "-f", TEXT, "-c", "abc"],
      ["perplexity", "-m", MODEL, "-f", TEXT, "--hellaswag", "--multiple-choice"],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toContain("[CLI_USAGE]");
    }
    const r = await run(["perplexity", "-m", MODEL, "-f", "/nonexistent/text.txt", "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).error).toMatchObject({ code: "CLI_FILE_NOT_FOUND", context: { file: "/nonexistent/text.txt" } });
  });
});
