import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseGgufBytes } from "@quantlab/gguf";
import { sharedPath } from "@quantlab/testing/fixtures";
import type { SweepReport } from "../report/types.js";
import { createDefaultEvaluator } from "./evaluator.js";
import { planSweepJobs, recommend, runSweep, type SweepEvent, type SweepEvaluator } from "./sweep.js";

const MODEL = sharedPath("models", "stories260K.gguf");
const TEXT = readFileSync(sharedPath("data", "tinystories", "tinystories_val_hf_head.txt"), "utf8");
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "quantlab-sweep-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const modelInfo = { file: "stories260K.gguf", arch: "llama", fileBytes: 1_185_376, nWeights: 292_928, nLayer: 5 };

describe("runSweep on stories260K (real quantization and evaluation)", () => {
  const out = tempDir();
  const settings = { text: "tinystories_val_hf_head.txt", ctx: 256, chunks: 4, backend: "cpu", threads: 1 };
  const evaluator = (): SweepEvaluator =>
    createDefaultEvaluator({ workDir: out, text: TEXT, textName: settings.text, ctx: 256, chunks: 4, prompts: ["Once upon a time"], maxTokens: 12, threads: 1 });
  let report: SweepReport;

  it("quantizes and evaluates each preset; quality falls with the bits; writes json/md/html/svg", async () => {
    const events: SweepEvent[] = [];
    const r = await runSweep({
      model: MODEL,
      outDir: out,
      presets: ["Q6_K", "Q4_K_M", "Q2_K"],
      imatrix: sharedPath("golden", "llamacpp-c392e50", "stories260K", "stories260K.imatrix.dat"),
      compareWithoutImatrix: false,
      evaluator: evaluator(),
      threads: 1,
      reportSettings: settings,
      prompts: ["Once upon a time"],
      modelInfo,
      onEvent: (e) => events.push(e),
    });
    report = r.report;
    expect(report.rows.map((x) => x.label)).toEqual(["Q6_K-imatrix", "Q4_K_M-imatrix", "Q2_K-imatrix"]);
    expect(report.rows.every((x) => x.status === "ok")).toBe(true);
    const [q6, q4, q2] = report.rows;
    // The quantized tensors are llama-quantize's (golden stories260K-Q4_K_M-imatrix.gguf, tensor by tensor; the
    // header differs only by the dataset string, which the golden README says was stored with its folder).
    const ours = parseGgufBytes(new Uint8Array(readFileSync(q4!.file!)));
    const ref = parseGgufBytes(new Uint8Array(readFileSync(sharedPath("golden", "llamacpp-c392e50", "stories260K", "stories260K-Q4_K_M-imatrix.gguf"))));
    for (const t of ref.tensors) expect(Buffer.from(await ours.readTensorData(t.name)).equals(Buffer.from(await ref.readTensorData(t))), t.name).toBe(true);
    expect(q6!.meanKld!).toBeLessThan(q4!.meanKld!);
    expect(q4!.meanKld!).toBeLessThan(q2!.meanKld!);
    expect(q6!.bpw!).toBeGreaterThan(q4!.bpw!);
    expect(report.baseline.ppl).toBeGreaterThan(1);
    expect(q2!.ppl!).toBeGreaterThan(report.baseline.ppl!);
    expect(report.baseline.answers![0]!.length).toBeGreaterThan(0);
    for (const f of ["report.json", "report.md", "report.html", "kld-vs-bpw.svg", "ppl-vs-bpw.svg"]) expect(existsSync(join(out, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(out, "report.json"), "utf8")).rows.length).toBe(3);
    expect(events.filter((e) => e.kind === "row" && !e.reused).length).toBe(4); // baseline + 3
  });

  it("resumes: a second run reuses every finished row without quantizing or evaluating again", async () => {
    const events: SweepEvent[] = [];
    let evaluated = 0;
    const base = evaluator();
    const counting: SweepEvaluator = {
      settingsKey: base.settingsKey,
      baseline: async (f) => (evaluated++, base.baseline(f)),
      evaluate: async (f, l) => (evaluated++, base.evaluate(f, l)),
    };
    const r = await runSweep({
      model: MODEL,
      outDir: out,
      presets: ["Q6_K", "Q4_K_M", "Q2_K"],
      imatrix: sharedPath("golden", "llamacpp-c392e50", "stories260K", "stories260K.imatrix.dat"),
      compareWithoutImatrix: false,
      evaluator: counting,
      reportSettings: settings,
      modelInfo,
      onEvent: (e) => events.push(e),
    });
    expect(evaluated).toBe(0);
    expect(events.filter((e) => e.kind === "row").every((e) => e.kind === "row" && e.reused)).toBe(true);
    expect(r.report.rows.map((x) => x.meanKld)).toEqual(report.rows.map((x) => x.meanKld));
  });

  it("a failing preset is reported and the others go on", async () => {
    const dir = tempDir();
    const r = await runSweep({
      model: MODEL,
      outDir: dir,
      presets: ["Q6_K", "Q2_K", "Q8_0"],
      evaluator: {
        settingsKey: "fake",
        baseline: async () => ({ ppl: 10 }),
        evaluate: async (_f, label) => {
          if (label === "Q6_K") throw new Error("evaluation exploded");
          return { ppl: 11, meanKld: 0.01 };
        },
      },
      reportSettings: { ctx: 256, backend: "cpu", threads: 1 },
      modelInfo,
    });
    // Q8_0 is refused like llama-quantize refuses it: stories260K's n_ff = 172 is not a multiple of 32.
    expect(r.report.rows.map((x) => [x.label, x.status])).toEqual([["Q6_K", "failed"], ["Q2_K", "ok"], ["Q8_0", "refused"]]);
    expect(r.report.rows[0]!.error).toContain("evaluation exploded");
    expect(readFileSync(join(dir, "report.md"), "utf8")).toContain("Q6_K: failed — evaluation exploded");
  });

  it("plans rows: imatrix-only presets get no plain row; recommend picks within VRAM", () => {
    expect(planSweepJobs(["IQ2_XXS", "q4_k_m"], true, true).map((j) => j.label)).toEqual(["IQ2_XXS-imatrix", "Q4_K_M", "Q4_K_M-imatrix"]);
    expect(() => planSweepJobs(["Q9_Z"], false, false)).toThrow(/unknown preset/);
    const rows = [
      { label: "A", preset: "A", imatrix: false, status: "ok" as const, meanKld: 0.001, fileBytes: 900, fits: false },
      { label: "B", preset: "B", imatrix: false, status: "ok" as const, meanKld: 0.01, fileBytes: 500, fits: true },
      { label: "C", preset: "C", imatrix: false, status: "ok" as const, meanKld: 0.1, fileBytes: 300, fits: true },
    ];
    expect(recommend(rows, true)!.label).toBe("B");
    expect(recommend(rows, false)!.label).toBe("B"); // smallest with KLD ≤ 0.01
    expect(recommend(rows.map((x) => ({ ...x, fits: false })), true)!.label).toBe("none");
  });
});
