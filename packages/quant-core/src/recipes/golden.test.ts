/**
 * Recipes against llama-quantize itself (llama.cpp c392e50): for both reference models and every (preset, imatrix)
 * run in ../shared/golden/llamacpp-c392e50/<model>/tensor_types.tsv, the planned type of every tensor, in output
 * order; every refusal of failed.tsv; sizes and bpw of results.tsv.
 */
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ggmlTypeInfo, openGguf } from "@quantlab/gguf";
import { readShared, sharedPath } from "@quantlab/testing";
import { parseImatrixDat } from "../imatrix-file.js";
import { builtinRecipeRegistry } from "./builtin.js";
import { planModelFromGguf } from "./model.js";
import { planQuantization, type PlanOptions } from "./plan.js";
import { dryRunSummary } from "./summary.js";
import type { PlanModel } from "./types.js";

const GOLDEN = ["golden", "llamacpp-c392e50"] as const;

function readTsv(...parts: string[]): Record<string, string>[] {
  const text = new TextDecoder().decode(readShared(...parts));
  const lines = text.split("\n").filter((l) => l.length > 0);
  const head = lines[0]!.split("\t");
  return lines.slice(1).map((l) => {
    const cells = l.split("\t");
    return Object.fromEntries(head.map((h, i) => [h, cells[i] ?? ""]));
  });
}

interface Run {
  preset: string;
  imatrix: boolean;
  tensors: { name: string; type: string }[];
}

function runsOf(rows: Record<string, string>[]): Run[] {
  const runs: Run[] = [];
  for (const r of rows) {
    const imatrix = r.imatrix === "yes";
    let run = runs[runs.length - 1];
    if (!run || run.preset !== r.preset || run.imatrix !== imatrix) {
      run = { preset: r.preset!, imatrix, tensors: [] };
      runs.push(run);
    }
    run.tensors.push({ name: r.tensor!, type: r.type! });
  }
  return runs;
}

const enumName = (t: number): string => ggmlTypeInfo(t)?.enumName ?? `?${t}`;

interface ModelCase {
  dir: string;
  modelFile: string;
  imatrixFile: string;
  /** results.tsv: column names for preset and imatrix (the stories260K table names the file instead). */
  results: { preset: string; imatrix: boolean; size: number; bpw?: number }[];
}

const stories = readTsv(...GOLDEN, "stories260K", "results.tsv");
const tiny = readTsv(...GOLDEN, "tinystories-5m", "results.tsv");

const CASES: ModelCase[] = [
  {
    dir: "stories260K",
    modelFile: "stories260K.gguf",
    imatrixFile: "stories260K.imatrix.dat",
    results: stories.map((r) => ({
      preset: r.llama_quantize_ftype!,
      imatrix: r.model!.includes("-imatrix"),
      size: Number(r.size_bytes),
    })),
  },
  {
    dir: "tinystories-5m",
    modelFile: "tinystories-5m-f32.gguf",
    imatrixFile: "imatrix.dat",
    results: tiny
      .filter((r) => r.preset !== "F32")
      .map((r) => ({ preset: r.preset!, imatrix: r.imatrix === "yes", size: Number(r.size_bytes), bpw: Number(r.bpw) })),
  },
];

const registry = builtinRecipeRegistry();

for (const c of CASES) {
  describe(`llama-quantize c392e50 on ${c.dir}`, async () => {
    const file = await openGguf(sharedPath("models", c.modelFile));
    const model: PlanModel = planModelFromGguf(file);
    await file.close();
    const imatrix = parseImatrixDat(readShared(...GOLDEN, c.dir, c.imatrixFile)).entries;
    const runs = runsOf(readTsv(...GOLDEN, c.dir, "tensor_types.tsv"));
    const opts = (withImatrix: boolean): PlanOptions => (withImatrix ? { imatrix } : {});

    it("plans from the opened file directly as from its PlanModel", async () => {
      const f = await openGguf(sharedPath("models", c.modelFile));
      try {
        const direct = planQuantization(f, "Q4_K_M", { imatrix });
        expect(direct.tensors).toEqual(planQuantization(model, "Q4_K_M", { imatrix }).tensors);
      } finally {
        await f.close();
      }
    });

    it("has the expected runs", () => {
      expect(runs.length).toBeGreaterThan(5);
      for (const r of runs) expect(r.tensors.length).toBe(model.tensors.length);
    });

    for (const run of runs) {
      it(`${run.preset} ${run.imatrix ? "with" : "without"} imatrix: every tensor's type, in output order`, () => {
        const plan = planQuantization(model, run.preset, opts(run.imatrix));
        expect(plan.errors.map((e) => e.message)).toEqual([]);
        const got = plan.tensors.map((t) => ({ name: t.name, type: enumName(t.targetType) }));
        if (run.preset === "F32" && c.dir === "tinystories-5m") {
          // this row is the input model itself (not a llama-quantize output): its own file order
          const byName = new Map(got.map((g) => [g.name, g.type]));
          for (const t of run.tensors) expect(byName.get(t.name), t.name).toBe(t.type);
          expect(plan.tensors.every((t) => !t.quantize)).toBe(true);
        } else {
          expect(got).toEqual(run.tensors);
        }
      });
    }

    it("reproduces every refusal of failed.tsv", () => {
      if (c.dir !== "tinystories-5m") return;
      const failed = readTsv(...GOLDEN, c.dir, "failed.tsv");
      expect(failed.length).toBe(8);
      for (const f of failed) {
        const plan = planQuantization(model, f.preset!, opts(f.imatrix === "yes"));
        expect(plan.ok, f.preset).toBe(false);
        const refusal = plan.refusal!;
        if (f.error!.startsWith("Please do not use")) {
          expect(refusal.code).toBe("RECIPE_IMATRIX_REQUIRED");
          expect(refusal.message).toContain(f.error);
        } else {
          // "llama_model_quantize: failed to quantize: <what()> | main: ..."
          const what = /failed to quantize: (.*?) \|/.exec(f.error!)![1]!;
          expect(refusal.code).toBe("RECIPE_IMATRIX_MISSING");
          expect(refusal.message).toContain(what);
          expect(refusal.tensor).toBe("blk.0.attn_k.weight");
        }
      }
    });

    it("presets that llama-quantize ran without an imatrix plan without refusal", () => {
      for (const run of runs.filter((r) => !r.imatrix)) expect(planQuantization(model, run.preset).ok, run.preset).toBe(true);
    });

    it("tensor data sizes match results.tsv (file size minus a constant header; bpw)", () => {
      // the header (KVs + tensor infos) has the same size for every output; with an imatrix, 4 more KVs
      const headers = new Map<boolean, number>();
      for (const r of c.results) {
        const plan = planQuantization(model, r.preset, opts(r.imatrix));
        const s = dryRunSummary(plan);
        const header = r.size - s.paddedBytes;
        if (!headers.has(r.imatrix)) headers.set(r.imatrix, header);
        expect(header, `${r.preset} imatrix=${r.imatrix}`).toBe(headers.get(r.imatrix));
        if (r.bpw !== undefined) expect(Math.abs(s.bpw - r.bpw), `${r.preset} bpw ${s.bpw}`).toBeLessThan(5.1e-5);
      }
      if (headers.has(true) && headers.has(false)) expect(headers.get(true)! - headers.get(false)!).toBeGreaterThan(0);
    });
  });
}

describe("the quantized GGUF files llama-quantize wrote", () => {
  const kept: { dir: string; model: string; imatrix: string; file: string; preset: string; withImatrix: boolean }[] = [];
  for (const [dir, model, imatrixFile] of [
    ["stories260K", "stories260K.gguf", "stories260K.imatrix.dat"],
    ["tinystories-5m", "tinystories-5m-f32.gguf", "imatrix.dat"],
  ] as const) {
    for (const f of readdirSync(sharedPath(...GOLDEN, dir))) {
      const m = /^[^-]+(?:-5m)?-([A-Z0-9_]+?)(-imatrix)?\.gguf$/.exec(f);
      if (m) kept.push({ dir, model, imatrix: imatrixFile, file: f, preset: m[1]!, withImatrix: m[2] !== undefined });
    }
  }

  it("finds the kept files", () => {
    expect(kept.length).toBe(16);
  });

  for (const k of kept) {
    it(`${k.dir}/${k.file}: tensor order, types, byte sizes, offsets, file type`, async () => {
      const src = await openGguf(sharedPath("models", k.model));
      const model = planModelFromGguf(src);
      await src.close();
      const imatrix = k.withImatrix ? parseImatrixDat(readShared(...GOLDEN, k.dir, k.imatrix)).entries : undefined;
      const plan = planQuantization(model, k.preset, { imatrix });
      expect(plan.ok).toBe(true);
      const out = await openGguf(sharedPath(...GOLDEN, k.dir, k.file));
      try {
        expect(out.tensors.map((t) => t.name)).toEqual(plan.tensors.map((t) => t.name));
        expect(out.tensors.map((t) => enumName(t.type))).toEqual(plan.tensors.map((t) => enumName(t.targetType)));
        expect(out.tensors.map((t) => t.nBytes)).toEqual(plan.tensors.map((t) => t.bytes));
        // tensors are laid out back to back, each padded to 32 bytes
        let offset = 0;
        for (const [i, t] of out.tensors.entries()) {
          expect(t.offset, t.name).toBe(offset);
          offset += Math.ceil(plan.tensors[i]!.bytes / 32) * 32;
        }
        expect(out.dataOffset + dryRunSummary(plan).paddedBytes).toBe(out.fileSize);
        expect(Number(out.get("general.file_type"))).toBe(plan.ftype);
      } finally {
        await out.close();
      }
    });
  }
});

describe("registry lookups of the golden presets", () => {
  it("finds every golden preset by name and by ftype", () => {
    for (const name of ["Q4_K_M", "q4_k_m", "IQ2_XXS", "TQ1_0", "F16", "BF16", "F32"]) expect(registry.get(name).name.toLowerCase()).toBe(name.toLowerCase());
    expect(registry.get(15).name).toBe("Q4_K_M");
    expect(registry.get("12").name).toBe("Q3_K_M");
  });
});
