import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openGguf } from "@quantlab/gguf";
import { loadTokenizer } from "@quantlab/runtime";
import { sharedPath } from "@quantlab/testing/fixtures";
import { runCli } from "../main.js";
import { capture } from "../test-utils/capture.js";
import { processEscapes } from "./tokenize.js";

const STORIES = sharedPath("models", "stories260K.gguf");
const GPT2 = sharedPath("models", "vocab", "ggml-vocab-gpt-2.gguf");
const LLAMA_SPM = sharedPath("models", "vocab", "ggml-vocab-llama-spm.gguf");

/** Ids of vocab entries by their text (so the expected values come from the file, not from our encoder). */
async function vocabIds(path: string, texts: string[]): Promise<number[]> {
  const f = await openGguf(path);
  const tok = loadTokenizer(f);
  await f.close();
  return texts.map((t) => tok.textToToken(t)!);
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const cap = capture();
  const code = await runCli(args, cap.io);
  return { code, out: cap.out(), err: cap.err() };
}

describe("quantlab tokenize", () => {
  it("prints one `id -> 'piece'` line per token, BOS first for a llama vocab", async () => {
    const r = await run(["tokenize", "-m", STORIES, "-p", "Once upon a time"]);
    expect(r.code).toBe(0);
    const [once, upon, a, time] = await vocabIds(STORIES, ["▁Once", "▁upon", "▁a", "▁time"]);
    const line = (id: number, piece: string): string => `${String(id).padStart(6)} -> '${piece}'\n`;
    expect(r.out).toBe(line(1, "<s>") + line(once!, " Once") + line(upon!, " upon") + line(a!, " a") + line(time!, " time"));
  });

  it("--ids prints one [..] line; --no-bos drops BOS; --show-count adds the total", async () => {
    const r = await run(["tokenize", "-m", STORIES, "-p", "Once upon a time", "--ids", "--no-bos", "--show-count"]);
    expect(r.code).toBe(0);
    const ids = await vocabIds(STORIES, ["▁Once", "▁upon", "▁a", "▁time"]);
    expect(r.out).toBe(`[${ids.join(", ")}]\nTotal number of tokens: 4\n`);
  });

  it("matches llama.cpp's test vectors for a llama-spm and a gpt-2 vocab (no BOS)", async () => {
    // lines of ggml-vocab-llama-spm.gguf.out / ggml-vocab-gpt-2.gguf.out for " Hello, world!"
    let r = await run(["tokenize", "-m", LLAMA_SPM, "-p", " Hello, world!", "--ids", "--no-bos"]);
    expect(r.out).toBe("[29871, 15043, 29892, 3186, 29991]\n");
    r = await run(["tokenize", "-m", GPT2, "-p", " Hello, world!", "--ids"]);
    expect(r.out).toBe("[18435, 11, 995, 0]\n"); // gpt-2 vocabs do not add BOS
  });

  it("parses special tokens unless --no-parse-special, and processes escapes unless --no-escape", async () => {
    let r = await run(["tokenize", "-m", STORIES, "-p", "<s>\\n", "--ids", "--no-bos"]);
    // <s> is BOS; the text after a special token gets the SPM space prefix: "▁", then "\n" as byte token <0x0A>
    expect(r.out).toBe(`[1, ${(await vocabIds(STORIES, ["▁", "<0x0A>"])).join(", ")}]\n`);
    r = await run(["tokenize", "-m", STORIES, "-p", "<s>", "--ids", "--no-bos", "--no-parse-special"]);
    expect(r.out).not.toBe("[1]\n");
    r = await run(["tokenize", "-m", STORIES, "-p", "a\\nb", "--ids", "--no-bos", "--no-escape"]);
    expect(r.out).not.toContain(` ${(await vocabIds(STORIES, ["<0x0A>"]))[0]}`);
  });

  it("reads -f files and writes --json", async () => {
    const dir = mkdtempSync(join(tmpdir(), "quantlab-tok-"));
    const f = join(dir, "p.txt");
    writeFileSync(f, "Once upon a time");
    const r = await run(["tokenize", "-m", STORIES, "-f", f, "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.ids).toEqual([1, ...(await vocabIds(STORIES, ["▁Once", "▁upon", "▁a", "▁time"]))]);
    expect(j.count).toBe(5);
    expect(j.pieces).toEqual(["<s>", " Once", " upon", " a", " time"]);
    expect(j.tokenizer).toMatchObject({ type: "spm", model: "llama", vocabSize: 512, bos: 1, eos: 2 });
  });

  it("fails with a usage error without a model or a prompt", async () => {
    expect((await run(["tokenize", "-p", "x"])).code).toBe(2);
    expect((await run(["tokenize", "-m", STORIES])).code).toBe(2);
  });

  it("processEscapes follows string_process_escapes", () => {
    expect(processEscapes("a\\nb\\tc\\\\d\\x41\\q")).toBe("a\nb\tc\\dA\\q");
  });
});
