/**
 * The budget planner on the real tinystories-5m model with llama.cpp's importance matrix (../shared), plus small
 * in-memory models for the edge cases. Candidate measurements are made once per model and shared by the tests.
 */
import { openGguf, type GgufFile, GGMLQuantizationType as T } from "@quantlab/gguf";
import { gaussianMatrix, readShared, sharedPath } from "@quantlab/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseImatrixDat, type ImatrixData } from "../imatrix-file.js";
import { terminateQuantizePool } from "../parallel.js";
import { fp32ToFp16 } from "../math/fp16.js";
import { planQuantization } from "../recipes/plan.js";
import { BudgetError } from "./errors.js";
import { measureBudgetCandidates, type BudgetMeasurements, type BudgetProgress, type BudgetSource } from "./measure.js";
import { evaluateAssignment, formatBudgetSummary, planBudget, solveBudget } from "./plan.js";

const LADDER = ["q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_0"];

let file: GgufFile;
let imatrix: ImatrixData;
let m: BudgetMeasurements;
const progress: BudgetProgress[] = [];

beforeAll(async () => {
  file = await openGguf(sharedPath("models", "tinystories-5m-f32.gguf"));
  imatrix = parseImatrixDat(readShared("golden", "llamacpp-c392e50", "tinystories-5m", "imatrix.dat"));
  m = await measureBudgetCandidates(file, { imatrix, candidates: LADDER, threads: 2, onProgress: (p) => progress.push(p) });
}, 180_000);

afterAll(async () => {
  await terminateQuantizePool();
});

function expectBudgetError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(BudgetError.isInstance(e)).toBe(true);
    expect((e as BudgetError).code).toBe(code);
    return;
  }
  expect.unreachable(`expected ${code}`);
}

describe("budget planner on tinystories-5m (imatrix)", () => {
  it("measures the tensors llama.cpp quantizes and keeps the others as stored", () => {
    expect(m.nWeights).toBe(4_984_064); // results.tsv's bpw denominator
    const optimised = m.tensors.filter((t) => t.role === "optimise");
    const kept = m.tensors.filter((t) => t.role === "kept");
    expect(optimised).toHaveLength(44);
    expect(kept).toHaveLength(13);
    for (const t of kept) expect(t.options).toEqual([{ type: T.F32, typeName: "f32", bytes: t.nElements * 4, error: 0 }]);
    for (const t of optimised) {
      expect(t.options.map((o) => o.typeName)).toEqual(LADDER);
      expect(t.usesImatrix).toBe(t.name !== "token_embd.weight" && t.name !== "output.weight");
      // more bits, less error (on every tensor of this model)
      for (let k = 1; k < t.options.length; k++) expect(t.options[k].error).toBeLessThan(t.options[k - 1].error);
    }
    expect(progress.at(-1)).toEqual({ phase: "measure", done: 44, total: 44, tensor: "" });
  });

  it("respects the budget; more budget never gives more error", () => {
    let last = Infinity;
    for (let bpw = 2.7; bpw <= 9; bpw += 0.2) {
      const plan = solveBudget(m, { targetBpw: bpw });
      expect(plan.bpw).toBeLessThanOrEqual(bpw);
      expect(plan.totalBytes).toBeLessThanOrEqual((bpw * m.nWeights) / 8);
      expect(plan.totalError).toBeLessThanOrEqual(last * (1 + 1e-12));
      expect(plan.lowerBound).toBeLessThanOrEqual(plan.totalError * (1 + 1e-12));
      last = plan.totalError;
    }
  });

  it.each(["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"])("at the size of %s, the mix has no more weighted error than the preset", (preset) => {
    const presetPlan = planQuantization(file, preset, { imatrix: imatrix.entries });
    const ref = evaluateAssignment(m, presetPlan);
    const ours = solveBudget(m, { targetBytes: ref.totalBytes });
    expect(ours.totalBytes).toBeLessThanOrEqual(ref.totalBytes);
    expect(ours.totalError).toBeLessThanOrEqual(ref.totalError);
    expect(ours.weightedRmse).toBeLessThanOrEqual(ref.weightedRmse);
  });

  it("weights tensors by a sensitivity: a sensitive role gets more bytes, the preset comparison still holds", () => {
    const sensitivity = (n: string) => (n.includes("ffn_down") ? 16 : 1);
    const presetPlan = planQuantization(file, "Q4_K_M", { imatrix: imatrix.entries });
    const ref = evaluateAssignment(m, presetPlan, { sensitivity });
    const plain = solveBudget(m, { targetBytes: ref.totalBytes });
    const weighted = solveBudget(m, { targetBytes: ref.totalBytes, sensitivity });
    const downBytes = (p: typeof plain) => p.tensors.filter((t) => t.name.includes("ffn_down")).reduce((s, t) => s + t.bytes, 0);
    expect(downBytes(weighted)).toBeGreaterThan(downBytes(plain));
    expect(weighted.totalError).toBeLessThanOrEqual(ref.totalError);
    expect(() => solveBudget(m, { targetBpw: 4, sensitivity: () => -1 })).toThrow(/sensitivity/);
  });

  it("gives overrides that the planner (and so the pipeline) turns into exactly the chosen types", () => {
    const plan = solveBudget(m, { targetBpw: 4.2 });
    expect(plan.overrides).toHaveLength(44);
    const p = planQuantization(file, "Q4_K_M", { imatrix: imatrix.entries, tensorTypeOverrides: plan.overrides });
    expect(p.ok).toBe(true);
    const chosen = new Map(plan.tensors.map((t) => [t.name, t.type]));
    for (const t of p.tensors) expect(t.targetType).toBe(chosen.get(t.name));
    const summary = formatBudgetSummary(plan);
    expect(summary).toMatch(/^budget \d+ bytes \(4\.2000 bpw\)/);
    expect(summary).toMatch(/\nf32 +13 +13312 /);
  });

  it("fits a file-size target with the header and padding estimated", () => {
    const plan = solveBudget(m, { targetFileBytes: 2_981_920 }); // Q4_K_M's file size (results.tsv)
    expect(plan.estimatedFileBytes).toBeLessThanOrEqual(2_981_920);
    expect(plan.estimatedFileBytes).toBeGreaterThan(2_981_920 - 2048);
  });

  it("throws typed errors for infeasible budgets and bad options", () => {
    expectBudgetError(() => solveBudget(m, { targetBpw: 1.5 }), "BUDGET_INFEASIBLE");
    expectBudgetError(() => solveBudget(m, { targetBytes: 1000 }), "BUDGET_INFEASIBLE");
    expectBudgetError(() => solveBudget(m, {}), "BUDGET_BAD_OPTIONS");
    expectBudgetError(() => solveBudget(m, { targetBpw: 4, targetBytes: 1e6 }), "BUDGET_BAD_OPTIONS");
    expectBudgetError(() => solveBudget(m, { targetBpw: -1 }), "BUDGET_BAD_OPTIONS");
    expectBudgetError(() => evaluateAssignment(m, planQuantization(file, "Q4_0")), "BUDGET_NOT_MEASURED");
  });

  it("planBudget reuses measurements and rejects bad candidates before any work", async () => {
    const plan = await planBudget(file, { targetBpw: 5, measurements: m });
    expect(plan.bpw).toBeLessThanOrEqual(5);
    await expect(planBudget(file, { targetBpw: 1.5, measurements: m })).rejects.toMatchObject({ code: "BUDGET_INFEASIBLE" });
    await expect(planBudget(file, { targetBpw: 5, candidates: ["q4_K", "q9_9"] })).rejects.toMatchObject({ code: "BUDGET_BAD_OPTIONS" });
  });
});

/** A small in-memory llama-like model (2 layers) with some rows that are not a multiple of 256. */
function tinyModel(sourceType: number = T.F32): BudgetSource {
  const shapes: [string, number[]][] = [
    ["token_embd.weight", [96, 64]],
    ["output_norm.weight", [96]],
    ["output.weight", [96, 64]],
  ];
  for (let l = 0; l < 2; l++) {
    shapes.push([`blk.${l}.attn_norm.weight`, [96]]);
    for (const n of ["attn_q", "attn_k", "attn_v", "attn_output"]) shapes.push([`blk.${l}.${n}.weight`, [256, 32]]);
    shapes.push([`blk.${l}.ffn_up.weight`, [256, 64]]);
    shapes.push([`blk.${l}.ffn_down.weight`, [64, 256]]);
  }
  const data = new Map<string, Uint8Array>();
  let seed = 1;
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = gaussianMatrix(1, n, 0x5000 + seed++);
    if (sourceType === T.F16) {
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = fp32ToFp16(x[i]);
      data.set(name, new Uint8Array(h.buffer));
    } else {
      data.set(name, new Uint8Array(x.buffer));
    }
  }
  const kv: Record<string, unknown> = { "general.architecture": "llama", "llama.block_count": 2, "llama.attention.head_count": 4 };
  return {
    tensors: shapes.map(([name, shape]) => ({ name, shape, type: shape.length === 1 ? T.F32 : sourceType })),
    get: (k: string) => kv[k] as never,
    readTensorData: async (name: string) => data.get(name)!,
  };
}

describe("budget planner on small synthetic models", () => {
  it("replaces candidates that do not fit the row length by llama.cpp's fallback; reads F16 sources", async () => {
    const src = tinyModel(T.F16);
    const ms = await measureBudgetCandidates(src, { threads: 1 });
    const embd = ms.tensors.find((t) => t.name === "token_embd.weight")!;
    // rows of 96: q2_K/q3_K → iq4_nl, q4_K → q5_0, q5_K → q5_1, q6_K → q8_0
    expect(embd.options.map((o) => o.typeName)).toEqual(["iq4_nl", "q5_0", "q5_1", "q8_0"]);
    const down = ms.tensors.find((t) => t.name === "blk.0.ffn_down.weight")!;
    expect(down.options.map((o) => o.typeName)).toEqual(["iq4_nl", "q5_0", "q5_1", "q8_0"]);
    const q = ms.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
    expect(q.options.map((o) => o.typeName)).toEqual(LADDER);
    expect(q.usesImatrix).toBe(false);
    expect(q.weightMass).toBe(256 * 32);
    const plan = solveBudget(ms, { targetBpw: 5 });
    expect(plan.bpw).toBeLessThanOrEqual(5);
  });

  it("pins types with `fixed`, leaves the output tensor, skips imatrix-only types without data", async () => {
    const src = tinyModel();
    const imp = new Map([["blk.0.attn_q.weight", new Float32Array(256).fill(2)]]);
    const ms = await measureBudgetCandidates(src, {
      imatrix: imp,
      candidates: ["iq2_xxs", "q4_K", "q8_0"],
      fixed: [{ pattern: /attn_v/, type: "q8_0" }],
      leaveOutputTensor: true,
      threads: 1,
    });
    const byName = new Map(ms.tensors.map((t) => [t.name, t]));
    expect(byName.get("output.weight")!.role).toBe("pinned");
    expect(byName.get("output.weight")!.options).toEqual([{ type: T.F32, typeName: "f32", bytes: 96 * 64 * 4, error: 0 }]);
    expect(byName.get("blk.1.attn_v.weight")!.role).toBe("pinned");
    expect(byName.get("blk.1.attn_v.weight")!.options.map((o) => o.typeName)).toEqual(["q8_0"]);
    expect(byName.get("blk.0.attn_q.weight")!.options.map((o) => o.typeName)).toEqual(["iq2_xxs", "q4_K", "q8_0"]);
    expect(byName.get("blk.0.attn_q.weight")!.weightMass).toBe(2 * 256 * 32);
    expect(byName.get("blk.1.attn_q.weight")!.options.map((o) => o.typeName)).toEqual(["q4_K", "q8_0"]);
    const plan = solveBudget(ms, { targetBpw: 8 });
    expect(plan.overrides.find((o) => o.pattern === "^blk\\.1\\.attn_v\\.weight$")?.type).toBe("q8_0");
    expect(plan.overrides.find((o) => o.pattern === "^output\\.weight$")?.type).toBe("f32");
    expect(plan.overrides.some((o) => String(o.pattern).includes("norm"))).toBe(false);
    const excl = await measureBudgetCandidates(src, { imatrix: imp, excludeWeights: ["attn_q"], candidates: ["q8_0"], threads: 1 });
    expect(excl.hasImatrix).toBe(false);
    expect(excl.tensors.find((t) => t.name === "blk.0.attn_q.weight")!.usesImatrix).toBe(false);
    await expect(measureBudgetCandidates(src, { fixed: [{ pattern: "token_embd", type: "q4_K" }] })).rejects.toMatchObject({
      code: "BUDGET_BAD_OPTIONS",
    });
  });
});
