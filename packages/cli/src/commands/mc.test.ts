import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sharedPath } from "@quantlab/testing/fixtures";
import { runCli } from "../main.js";
import { capture } from "../test-utils/capture.js";

const MODEL = sharedPath("models", "stories260K.gguf");
const HELLASWAG = sharedPath("data", "hellaswag", "hellaswag_val_first1000.txt");
const ARC = sharedPath("data", "arc", "ARC-Easy-test.jsonl");
const MMLU_DEV = sharedPath("data", "mmlu", "dev");

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const cap = capture();
  const code = await runCli(args, cap.io);
  return { code, out: cap.out(), err: cap.err() };
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "quantlab-cli-mc-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("quantlab mc", () => {
  it("ARC --no-shuffle: the first N questions of the file, accuracy ± stderr = sqrt(p(1-p)/(n-1)), chance 1/4", async () => {
    const r = await run(["mc", "-m", MODEL, "--task", "arc", "-f", ARC, "--tasks", "12", "--no-shuffle", "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    // the ids of the first 12 lines of the file, in order (read here with JSON.parse, not by the library)
    const ids = readFileSync(ARC, "utf8").split("\n").slice(0, 12).map((l) => (JSON.parse(l) as { id: string }).id);
    expect(j.tasks.map((t: { id: string }) => t.id)).toEqual(ids);
    expect(j.n).toBe(12);
    const correct = j.tasks.filter((t: { correct: boolean }) => t.correct).length;
    expect(j.nCorrect).toBe(correct);
    const p = correct / 12;
    expect(j.accuracy).toBeCloseTo(p, 12);
    expect(j.stderr).toBeCloseTo(Math.sqrt((p * (1 - p)) / 11), 6); // llama.cpp computes it in float
    expect(j.randomChance.value).toBeCloseTo(0.25, 12);
    for (const t of j.tasks) expect(t.predicted).toBe(t.scores.indexOf(Math.max(...t.scores)));
    // without --no-shuffle: llama.cpp's random pick, 12 distinct questions of the file
    const all = new Set(readFileSync(ARC, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { id: string }).id));
    const picked = JSON.parse((await run(["mc", "-m", MODEL, "--task", "arc", "-f", ARC, "--tasks", "12", "--json"])).out).tasks.map((t: { id: string }) => t.id);
    expect(new Set(picked).size).toBe(12);
    expect(picked.every((id: string) => all.has(id))).toBe(true);
    expect(picked).not.toEqual(ids);
  });

  it("HellaSwag: running lines and the accuracy line with the 95 % Wilson interval", async () => {
    const r = await run(["mc", "-m", MODEL, "--task", "hellaswag", "-f", HELLASWAG, "--tasks", "6"]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines[0]).toBe("task\tacc_norm\t95% confidence interval");
    expect(lines.slice(1, 7).every((l, i) => l.startsWith(`${i + 1}\t`))).toBe(true);
    const last = lines[lines.length - 1]!;
    const m = /^hellaswag: accuracy (\d+\.\d\d)% ± (\d+\.\d\d)% \((\d)\/6\), 95% Wilson interval \[(\d+\.\d\d)%, (\d+\.\d\d)%\]; random chance 25\.00%$/.exec(last);
    expect(m, last).not.toBeNull();
    expect(Number(m![1])).toBeCloseTo((Number(m![3]) / 6) * 100, 2);
    expect(r.err).toContain("1000 tasks in");
  });

  it("MMLU: a folder of subject csv files", async () => {
    const r = await run(["mc", "-m", MODEL, "--task", "mmlu", "-f", MMLU_DEV, "--tasks", "5", "--no-shuffle", "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    const first = readdirSync(MMLU_DEV).filter((n) => n.endsWith(".csv")).sort()[0]!;
    expect(j.n).toBe(5);
    expect(j.tasks[0].id).toContain(first);
  });

  it("usage errors exit 2 (unknown --task, missing -f / -m / --task); a malformed task file names the file and line", async () => {
    for (const args of [
      ["mc", "-m", MODEL, "--task", "winogrande", "-f", ARC],
      ["mc", "-m", MODEL, "--task", "arc"],
      ["mc", "--task", "arc", "-f", ARC],
      ["mc", "-m", MODEL, "-f", ARC],
      ["mc", "-m", MODEL, "--task", "arc", "-f", ARC, "--tasks", "-3"],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toContain("[CLI_USAGE]");
    }
    const dir = tempDir();
    const bad = join(dir, "bad.txt");
    writeFileSync(bad, "a context\nX\none\ntwo\nthree\nfour\n");
    let r = await run(["mc", "-m", MODEL, "--task", "hellaswag", "-f", bad, "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).error).toMatchObject({ code: "MC_PARSE", context: { file: bad, line: 2 } });
    const badArc = join(dir, "bad.jsonl");
    writeFileSync(badArc, `${readFileSync(ARC, "utf8").split("\n")[0]}\n{"question": "q?"\n`);
    r = await run(["mc", "-m", MODEL, "--task", "arc", "-f", badArc]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\[MC_PARSE\].*line 2/);
    expect(r.err).toContain(badArc);
  });
});
