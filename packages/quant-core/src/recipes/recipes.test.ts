/**
 * Unit tests of the recipe layer on synthetic models: registry, options (pure, leave-output-tensor, output and
 * token-embedding types, overrides, include/exclude weights, requantize, prune), shape fallbacks, eligibility,
 * order, and the rules the two golden models do not reach (GQA ≥ 4, MoE, tied embeddings, 70B, MXFP4_MOE).
 */
import { describe, expect, it } from "vitest";
import { GGMLQuantizationType as T, LlamaFileType as F } from "@quantlab/gguf";
import { builtinRecipeRegistry, builtinRecipes, createRecipeRegistry, defineRecipe } from "./builtin.js";
import { RecipeError } from "./errors.js";
import { shapeFallbackC392e50, useMoreBits } from "./llama-mix.js";
import { compareWeightNames, ggmlNDims, llamaTensorOrder, planQuantization, type PlanOptions } from "./plan.js";
import { dryRunSummary } from "./summary.js";
import type { PlanModel, PlanModelTensor } from "./types.js";

interface LlamaShape {
  nLayer: number;
  nEmbd?: number;
  nFf?: number;
  nHead?: number;
  nHeadKv?: number;
  nVocab?: number;
  tied?: boolean;
  nExpert?: number;
  arch?: string;
  type?: number;
}

/** A llama-style model in convert_hf_to_gguf file order (token_embd, blocks, output_norm, output). */
function llama(s: LlamaShape): PlanModel {
  const e = s.nEmbd ?? 256;
  const ff = s.nFf ?? 768;
  const nHead = s.nHead ?? 8;
  const nHeadKv = s.nHeadKv ?? nHead;
  const kv = (e / nHead) * nHeadKv;
  const ty = s.type ?? T.F32;
  const tensors: PlanModelTensor[] = [{ name: "token_embd.weight", shape: [e, s.nVocab ?? 512], type: ty }];
  for (let i = 0; i < s.nLayer; i++) {
    const b = `blk.${i}.`;
    tensors.push(
      { name: `${b}attn_norm.weight`, shape: [e], type: T.F32 },
      { name: `${b}attn_q.weight`, shape: [e, e], type: ty },
      { name: `${b}attn_k.weight`, shape: [e, kv], type: ty },
      { name: `${b}attn_v.weight`, shape: [e, kv], type: ty },
      { name: `${b}attn_output.weight`, shape: [e, e], type: ty },
      { name: `${b}ffn_norm.weight`, shape: [e], type: T.F32 },
    );
    if (s.nExpert) {
      tensors.push(
        { name: `${b}ffn_gate_inp.weight`, shape: [e, s.nExpert], type: T.F32 },
        { name: `${b}ffn_gate_exps.weight`, shape: [e, ff, s.nExpert], type: ty },
        { name: `${b}ffn_up_exps.weight`, shape: [e, ff, s.nExpert], type: ty },
        { name: `${b}ffn_down_exps.weight`, shape: [ff, e, s.nExpert], type: ty },
      );
    } else {
      tensors.push(
        { name: `${b}ffn_gate.weight`, shape: [e, ff], type: ty },
        { name: `${b}ffn_up.weight`, shape: [e, ff], type: ty },
        { name: `${b}ffn_down.weight`, shape: [ff, e], type: ty },
      );
    }
  }
  tensors.push({ name: "output_norm.weight", shape: [e], type: T.F32 });
  if (!s.tied) tensors.push({ name: "output.weight", shape: [e, s.nVocab ?? 512], type: ty });
  return { arch: s.arch ?? "llama", tensors, hparams: { nLayer: s.nLayer, nHead, nHeadKv, nExpert: s.nExpert ?? 0 }, fileType: 0 };
}

function typesOf(model: PlanModel, recipe: string, options: PlanOptions = {}): Map<string, number> {
  const plan = planQuantization(model, recipe, options);
  return new Map(plan.tensors.map((t) => [t.name, t.targetType]));
}

const tiny = llama({ nLayer: 6, nHeadKv: 4 }); // same geometry as tinystories-5m
const narrow = llama({ nLayer: 5, nEmbd: 64, nFf: 172, nHeadKv: 4 }); // same geometry as stories260K

describe("registry", () => {
  const reg = builtinRecipeRegistry();

  it("has every llama-quantize preset plus aliases and MXFP4_MOE", () => {
    const names = builtinRecipes.map((r) => r.name);
    for (const n of [
      "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S",
      "Q5_K_M", "Q6_K", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
      "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4_MOE", "F16", "BF16", "F32", "COPY", "Q3_K", "Q4_K", "Q5_K",
    ]) {
      expect(names).toContain(n);
    }
  });

  it("looks up by name case-insensitively and by ftype number (aliases and COPY excluded)", () => {
    expect(reg.get("q4_k_m").ftype).toBe(F.MOSTLY_Q4_K_M);
    expect(reg.get("Q4_K").aliasOf).toBe("Q4_K_M");
    expect(reg.get(F.MOSTLY_Q4_K_M).name).toBe("Q4_K_M");
    expect(reg.get(0).name).toBe("F32");
    expect(reg.get(" 7 ").name).toBe("Q8_0");
    expect(reg.get("copy").onlyCopy).toBe(true);
    expect(reg.find("Q9_K")).toBeUndefined();
    expect(() => reg.get("Q9_K")).toThrow(RecipeError);
    expect(reg.get(F.MOSTLY_IQ2_S).defaultType).toBe(T.IQ2_XS); // sic, as in llama.cpp
  });

  it("rejects duplicates (case-insensitive) and invalid recipes", () => {
    const mine = defineRecipe({ name: "q4_k_m", ftype: F.MOSTLY_Q4_K_M, defaultType: T.Q4_K, description: "x" });
    expect(() => reg.with(mine)).toThrow(expect.objectContaining({ code: "RECIPE_DUPLICATE" }));
    const bad = { ...mine, name: "X", specVersion: "v0" } as never;
    expect(() => createRecipeRegistry([bad])).toThrow(expect.objectContaining({ code: "RECIPE_INVALID" }));
    const badType = defineRecipe({ name: "Y", ftype: 1, defaultType: 4 as T, description: "" });
    expect(() => createRecipeRegistry([badType])).toThrow(expect.objectContaining({ code: "RECIPE_INVALID" }));
    const alias = defineRecipe({ name: "Z", ftype: 1, defaultType: T.F16, description: "", aliasOf: "nope" });
    expect(() => createRecipeRegistry([alias])).toThrow(expect.objectContaining({ code: "RECIPE_INVALID" }));
  });

  it("an alias plans like its target", () => {
    const a = planQuantization(tiny, "Q4_K").tensors.map((t) => t.targetType);
    const b = planQuantization(tiny, "Q4_K_M").tensors.map((t) => t.targetType);
    expect(a).toEqual(b);
  });

  it("takes a plugin recipe with its own rules", () => {
    const plugin = defineRecipe({
      name: "ATTN8",
      ftype: F.MOSTLY_Q4_K_M,
      defaultType: T.Q4_K,
      description: "Q4_K with Q8_0 attention",
      rules: (ctx) => (ctx.name.includes(".attn_") ? T.Q8_0 : undefined),
    });
    const reg2 = reg.with(plugin);
    const types = typesOf(tiny, "attn8", { registry: reg2 });
    expect(types.get("blk.3.attn_q.weight")).toBe(T.Q8_0);
    expect(types.get("blk.3.ffn_up.weight")).toBe(T.Q4_K);
    expect(types.get("output.weight")).toBe(T.Q4_K); // plugin rules replace llama.cpp's, output included
    // a recipe without rules still gets the shape fallback, like llama_tensor_get_type without any mixture rule
    const bare = defineRecipe({ name: "BARE", ftype: F.MOSTLY_Q4_K_S, defaultType: T.Q4_K, description: "" });
    const narrowPlan = planQuantization(narrow, bare);
    expect(narrowPlan.ok).toBe(true);
    expect(new Set(narrowPlan.tensors.filter((t) => t.quantize).map((t) => t.targetType))).toEqual(new Set([T.Q5_0, T.F16]));
  });
});

describe("order and eligibility", () => {
  it("orders like weight_name_comparer: non-layer tensors first by name, then by layer number, then by name", () => {
    const names = ["blk.10.a.weight", "token_embd.weight", "blk.9.b.weight", "output.weight", "blk.9.a.weight", "blk.2.z.weight"];
    expect(llamaTensorOrder(names.map((name) => ({ name }))).map((t) => t.name)).toEqual([
      "output.weight", "token_embd.weight", "blk.2.z.weight", "blk.9.a.weight", "blk.9.b.weight", "blk.10.a.weight",
    ]);
    expect(compareWeightNames("blk.1.x", "blk.1.x")).toBe(0);
    expect(() => llamaTensorOrder([{ name: "a" }, { name: "a" }])).toThrow(RecipeError);
  });

  it("ggml_n_dims ignores trailing 1s", () => {
    expect(ggmlNDims([64])).toBe(1);
    expect(ggmlNDims([64, 1])).toBe(1);
    expect(ggmlNDims([64, 1, 1, 1])).toBe(1);
    expect(ggmlNDims([64, 2])).toBe(2);
    expect(ggmlNDims([64, 1, 8])).toBe(3);
  });

  it("leaves 1-D, norm, bias, gating, positional and [n,1] tensors alone", () => {
    const model: PlanModel = {
      arch: "llama",
      hparams: { nLayer: 1, nHead: 8 },
      tensors: [
        { name: "blk.0.attn_q.weight", shape: [256, 256], type: T.F32 },
        { name: "blk.0.attn_q.bias", shape: [256, 2], type: T.F32 },
        { name: "blk.0.attn_norm.weight", shape: [256, 2], type: T.F32 },
        { name: "blk.0.ffn_gate_inp.weight", shape: [256, 8], type: T.F32 },
        { name: "position_embd.weight", shape: [256, 64], type: T.F32 },
        { name: "blk.0.ssm_conv1d.weight", shape: [4, 256], type: T.F32 },
        { name: "blk.0.attn_rel_b.weight", shape: [256, 32], type: T.F32 },
        { name: "blk.0.col.weight", shape: [256, 1], type: T.F32 },
      ],
    };
    const plan = planQuantization(model, "Q8_0");
    const by = new Map(plan.tensors.map((t) => [t.name, t]));
    expect(by.get("blk.0.attn_q.weight")!.targetType).toBe(T.Q8_0);
    for (const n of ["blk.0.attn_q.bias", "blk.0.attn_norm.weight", "blk.0.ffn_gate_inp.weight", "position_embd.weight", "blk.0.ssm_conv1d.weight", "blk.0.attn_rel_b.weight", "blk.0.col.weight"]) {
      expect(by.get(n)!.quantize, n).toBe(false);
      expect(by.get(n)!.targetType, n).toBe(T.F32);
      expect(by.get(n)!.reason, n).toBe("not-eligible");
    }
  });
});

describe("options", () => {
  it("pure: every eligible tensor gets the default type", () => {
    const plan = planQuantization(tiny, "Q4_K_M", { pure: true });
    for (const t of plan.tensors) expect(t.targetType, t.name).toBe(t.shape.length >= 2 ? T.Q4_K : T.F32);
    expect(plan.ok).toBe(true);
  });

  it("pure with a type the rows do not fit: c392e50 has no fallback on that path, so it is refused", () => {
    const plan = planQuantization(narrow, "Q4_K_M", { pure: true });
    expect(plan.ok).toBe(false);
    expect(plan.refusal!.code).toBe("RECIPE_UNSUPPORTED_SHAPE");
    expect(planQuantization(narrow, "Q4_0", { pure: true }).refusal!.tensor).toBe("blk.0.ffn_down.weight"); // 172 % 32
  });

  it("leaveOutputTensor keeps output.weight as stored and does not make token_embd the output", () => {
    const plan = planQuantization(tiny, "Q4_K_M", { leaveOutputTensor: true });
    const out = plan.tensors.find((t) => t.name === "output.weight")!;
    expect(out.quantize).toBe(false);
    expect(out.targetType).toBe(T.F32);
    expect(out.reason).toBe("leave-output-tensor");
    expect(plan.tensors.find((t) => t.name === "token_embd.weight")!.targetType).toBe(T.Q4_K);
  });

  it("outputTensorType and tokenEmbeddingType win over the rules, also with pure", () => {
    for (const pure of [false, true]) {
      const types = typesOf(tiny, "Q4_K_M", { outputTensorType: "q8_0", tokenEmbeddingType: T.Q6_K, pure });
      expect(types.get("output.weight")).toBe(T.Q8_0);
      expect(types.get("token_embd.weight")).toBe(T.Q6_K);
    }
    const plan = planQuantization(tiny, "Q4_K_M", { outputTensorType: "Q5_K" });
    expect(plan.tensors.find((t) => t.name === "output.weight")!.reason).toBe("output-tensor-type");
    expect(() => planQuantization(tiny, "Q4_K_M", { outputTensorType: "q9_9" })).toThrow(expect.objectContaining({ code: "RECIPE_BAD_OPTIONS" }));
  });

  it("a forced output type the rows do not fit is refused (no fallback for user types in c392e50)", () => {
    const plan = planQuantization(narrow, "Q8_0", { outputTensorType: "q4_K" });
    expect(plan.refusal?.code).toBe("RECIPE_UNSUPPORTED_SHAPE");
    expect(plan.refusal?.tensor).toBe("output.weight");
  });

  it("tensorTypeOverrides: first match wins, regex search, skips the rules (counters too), still falls back", () => {
    const types = typesOf(tiny, "Q4_K_M", {
      tensorTypeOverrides: [
        { pattern: /blk\.[01]\.ffn_down/, type: "q8_0" },
        { pattern: "ffn_down", type: "q5_K" },
        { pattern: "blk.2.attn_v", type: T.Q3_K },
      ],
    });
    expect(types.get("blk.0.ffn_down.weight")).toBe(T.Q8_0);
    expect(types.get("blk.1.ffn_down.weight")).toBe(T.Q8_0);
    expect(types.get("blk.4.ffn_down.weight")).toBe(T.Q5_K);
    expect(types.get("blk.2.attn_v.weight")).toBe(T.Q3_K);
    // blk.2.attn_v did not advance i_attention_wv, so blk.3 is the third counted (i = 2): use_more_bits(2, 6)
    expect(types.get("blk.3.attn_v.weight")).toBe(T.Q6_K);
    expect(types.get("blk.5.attn_v.weight")).toBe(T.Q4_K);
    // on rows of 64 a Q4_K override falls back like the rules do
    const narrowPlan = planQuantization(narrow, "Q8_0", { tensorTypeOverrides: [{ pattern: "attn_q", type: "q4_K" }] });
    const q = narrowPlan.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
    expect(q.targetType).toBe(T.Q5_0);
    expect(q.fallbackFrom).toBe(T.Q4_K);
    expect(q.reason).toBe("override");
    expect(() => planQuantization(tiny, "Q4_K_M", { tensorTypeOverrides: [{ pattern: "(", type: "q8_0" }] })).toThrow(RecipeError);
  });

  it("allowRequantize: a quantized source is refused unless allowed", () => {
    const q8 = llama({ nLayer: 2, type: T.Q8_0 });
    const refused = planQuantization(q8, "Q4_K_M");
    expect(refused.refusal?.code).toBe("RECIPE_REQUANTIZE_DISABLED");
    expect(refused.refusal?.message).toContain("requantizing from type q8_0 is disabled");
    expect(planQuantization(q8, "Q4_K_M", { allowRequantize: true }).ok).toBe(true);
    // a tensor already in the target type is copied, not requantized
    const same = planQuantization(q8, "Q8_0");
    expect(same.ok).toBe(true);
    expect(same.tensors.filter((t) => t.shape.length > 1).every((t) => !t.quantize && t.targetType === T.Q8_0)).toBe(true);
    // F16 / BF16 sources are converted without the flag
    expect(planQuantization(llama({ nLayer: 2, type: T.F16 }), "Q4_K_M").ok).toBe(true);
  });

  it("imatrix: include/exclude weights, per-tensor refusals, size check, non-finite values", () => {
    const names = tiny.tensors.filter((t) => t.name.startsWith("blk.") && t.shape.length > 1).map((t) => t.name);
    const full = new Map(names.map((n) => [n, new Float32Array(tiny.tensors.find((t) => t.name === n)!.shape[0]!).fill(1)]));
    expect(planQuantization(tiny, "IQ2_XXS", { imatrix: full }).ok).toBe(true);
    expect(planQuantization(tiny, "IQ2_XXS", { imatrix: new Set(names) }).ok).toBe(true);
    expect(planQuantization(tiny, "IQ2_XXS", { imatrix: true }).ok).toBe(true);

    const excl = planQuantization(tiny, "IQ2_XXS", { imatrix: full, excludeWeights: ["attn_q"] });
    expect(excl.refusal?.code).toBe("RECIPE_IMATRIX_MISSING");
    expect(excl.refusal?.tensor).toBe("blk.0.attn_q.weight");
    expect(excl.tensors.find((t) => t.name === "blk.0.attn_k.weight")!.usesImatrix).toBe(true);

    const incl = planQuantization(tiny, "IQ2_XXS", { imatrix: full, includeWeights: ["ffn_"] });
    expect(incl.refusal?.tensor).toBe("blk.0.attn_k.weight");
    // nothing left after filtering: the up-front refusal
    expect(planQuantization(tiny, "IQ2_XXS", { imatrix: full, includeWeights: ["nothing"] }).refusal?.code).toBe("RECIPE_IMATRIX_REQUIRED");
    expect(() => planQuantization(tiny, "IQ2_XXS", { imatrix: full, includeWeights: ["a"], excludeWeights: ["b"] })).toThrow(
      expect.objectContaining({ code: "RECIPE_BAD_OPTIONS" }),
    );

    const wrong = new Map(full);
    wrong.set("blk.1.ffn_up.weight", new Float32Array(3));
    const sized = planQuantization(tiny, "Q4_K_M", { imatrix: wrong });
    expect(sized.refusal?.code).toBe("RECIPE_IMATRIX_SIZE");
    expect(sized.refusal?.tensor).toBe("blk.1.ffn_up.weight");

    const nan = new Map(full);
    nan.set("blk.1.ffn_up.weight", new Float32Array(256).fill(Number.NaN));
    expect(planQuantization(tiny, "Q4_K_M", { imatrix: nan }).refusal?.code).toBe("RECIPE_IMATRIX_NONFINITE");
  });

  it("pruneLayers drops and renumbers blocks; counters keep the original layer count", () => {
    const plan = planQuantization(tiny, "Q4_K_M", { pruneLayers: [3, 1, 3] });
    expect(plan.blockCount).toBe(4);
    const blk = plan.tensors.filter((t) => t.name.startsWith("blk.") && t.name.endsWith("attn_v.weight"));
    expect(blk.map((t) => `${t.name}<-${t.sourceName}`)).toEqual([
      "blk.0.attn_v.weight<-blk.0.attn_v.weight",
      "blk.1.attn_v.weight<-blk.2.attn_v.weight",
      "blk.2.attn_v.weight<-blk.4.attn_v.weight",
      "blk.3.attn_v.weight<-blk.5.attn_v.weight",
    ]);
    expect(plan.ok).toBe(true);
    // n_attention_wv = 4: use_more_bits(i, 4) is true for i = 2 ((i - 0) % 3 == 2) and i = 3 (≥ 7n/8)
    expect(blk.map((t) => t.targetType)).toEqual([T.Q4_K, T.Q4_K, T.Q6_K, T.Q6_K]);
    // ffn_down counters still use n_layer = 6: use_more_bits(i, 6) for i = 0..3 → i = 2 only
    const down = plan.tensors.filter((t) => t.name.endsWith("ffn_down.weight")).map((t) => t.targetType);
    expect(down).toEqual([0, 1, 2, 3].map((i) => (useMoreBits(i, 6) ? T.Q6_K : T.Q4_K)));
  });

  it("COPY converts nothing and keeps the input's file type", () => {
    const plan = planQuantization({ ...tiny, fileType: 1 }, "COPY");
    expect(plan.tensors.every((t) => !t.quantize && t.targetType === t.sourceType)).toBe(true);
    expect(plan.ftype).toBe(1);
    const { fileType: _, ...noFt } = tiny;
    expect(planQuantization(noFt, "COPY").ftype).toBe(F.ALL_F32 | F.GUESSED);
  });
});

describe("shape fallbacks (c392e50 table)", () => {
  it("maps each block-256 type and then F16 when 32 does not divide either", () => {
    for (const t of [T.Q2_K, T.Q3_K, T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ3_XXS, T.IQ3_S, T.IQ1_S, T.IQ1_M, T.IQ4_XS]) {
      expect(shapeFallbackC392e50(t, 64)).toBe(T.IQ4_NL);
    }
    expect(shapeFallbackC392e50(T.Q4_K, 64)).toBe(T.Q5_0);
    expect(shapeFallbackC392e50(T.Q5_K, 64)).toBe(T.Q5_1);
    expect(shapeFallbackC392e50(T.Q6_K, 64)).toBe(T.Q8_0);
    expect(shapeFallbackC392e50(T.TQ1_0, 64)).toBe(T.Q4_0);
    expect(shapeFallbackC392e50(T.TQ2_0, 64)).toBe(T.Q4_0);
    for (const t of [T.Q2_K, T.Q4_K, T.Q5_K, T.Q6_K, T.TQ1_0]) expect(shapeFallbackC392e50(t, 172)).toBe(T.F16);
    expect(shapeFallbackC392e50(T.Q4_0, 48)).toBeUndefined();
  });

  it("plans the fallbacks on rows of 64 and 172 (stories260K geometry)", () => {
    const plan = planQuantization(narrow, "Q6_K");
    const by = new Map(plan.tensors.map((t) => [t.name, t]));
    expect(by.get("blk.0.attn_q.weight")!.targetType).toBe(T.Q8_0);
    expect(by.get("blk.0.attn_q.weight")!.reason).toBe("fallback");
    expect(by.get("blk.0.ffn_down.weight")!.targetType).toBe(T.F16);
    expect(by.get("output.weight")!.targetType).toBe(T.Q8_0); // nx % 256 != 0 → Q8_0 before the fallback
    expect(plan.nFallback).toBe(5 * 7 + 1); // token_embd + 7 matrices a layer; output is not a fallback
    const tq = typesOf(narrow, "TQ1_0");
    expect(tq.get("blk.0.attn_q.weight")).toBe(T.Q4_0);
    expect(tq.get("token_embd.weight")).toBe(T.Q5_0); // Q4_K → Q5_0
  });

  it("a type with no fallback is refused (Unsupported tensor size encountered)", () => {
    const odd = llama({ nLayer: 1, nEmbd: 48, nFf: 96, nHead: 3, nHeadKv: 3 });
    const plan = planQuantization(odd, "Q4_0");
    expect(plan.ok).toBe(false);
    expect(plan.refusal!.message).toContain("Unsupported tensor size encountered");
  });
});

describe("rules the golden models do not reach", () => {
  it("use_more_bits", () => {
    expect([0, 1, 2, 3, 4, 5].map((i) => useMoreBits(i, 6))).toEqual([false, false, true, false, false, true]);
    const n32 = Array.from({ length: 32 }, (_, i) => i).filter((i) => useMoreBits(i, 32));
    expect(n32).toEqual([0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
  });

  it("GQA ≥ 4 bumps attn_v", () => {
    const gqa4 = llama({ nLayer: 8, nHead: 8, nHeadKv: 2 });
    expect(typesOf(gqa4, "Q2_K").get("blk.0.attn_v.weight")).toBe(T.Q4_K);
    expect(typesOf(gqa4, "IQ4_XS").get("blk.3.attn_v.weight")).toBe(T.Q5_K);
    expect(typesOf(gqa4, "IQ3_S").get("blk.3.attn_v.weight")).toBe(T.Q4_K);
    expect(typesOf(gqa4, "IQ2_XXS", { imatrix: true }).get("blk.3.attn_v.weight")).toBe(T.Q4_K);
    expect(typesOf(tiny, "Q2_K").get("blk.0.attn_v.weight")).toBe(T.Q3_K); // GQA 2
  });

  it("tied embeddings: token_embd gets the output rule", () => {
    const tied = llama({ nLayer: 4, tied: true });
    expect(typesOf(tied, "Q4_K_M").get("token_embd.weight")).toBe(T.Q6_K);
    expect(typesOf(tied, "IQ2_XS", { imatrix: true }).get("token_embd.weight")).toBe(T.Q5_K);
    expect(typesOf(tied, "Q4_K_M", { outputTensorType: "q8_0" }).get("token_embd.weight")).toBe(T.Q8_0);
  });

  it("MoE with 8 experts: attn_v/attn_k Q8_0, attn_output Q5_K, layer from the name", () => {
    const moe = llama({ nLayer: 8, nExpert: 8, nHeadKv: 8 });
    const t = typesOf(moe, "Q4_K_M");
    expect(t.get("blk.0.attn_v.weight")).toBe(T.Q8_0);
    expect(t.get("blk.0.attn_k.weight")).toBe(T.Q8_0);
    expect(t.get("blk.0.attn_output.weight")).toBe(T.Q5_K);
    expect(t.get("blk.0.ffn_gate_inp.weight")).toBe(T.F32);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => t.get(`blk.${i}.ffn_down_exps.weight`))).toEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (useMoreBits(i, 8) ? T.Q6_K : T.Q4_K)),
    );
    const iq3m = typesOf(moe, "IQ3_M");
    expect([0, 1, 2, 3].map((i) => iq3m.get(`blk.${i}.ffn_down_exps.weight`))).toEqual([T.Q4_K, T.IQ3_S, T.IQ3_S, T.Q4_K]); // i < n/8, or use_more_bits(i, 8) (i = 3)
    // a MoE tensor outside blk.N cannot be placed
    const bad: PlanModel = { ...moe, tensors: [...moe.tensors, { name: "extra.ffn_down.weight", shape: [768, 256], type: T.F32 }] };
    expect(planQuantization(bad, "Q4_K_M").refusal?.code).toBe("RECIPE_BAD_LAYER");
  });

  it("70B (80 layers, GQA): attn_v Q3_K/Q4_K → Q5_K", () => {
    const big: PlanModel = { ...llama({ nLayer: 1, nHeadKv: 2 }), hparams: { nLayer: 80, nHead: 8, nHeadKv: 2 } };
    // only one block in the tensor list: the attention count check fails, but the rule is visible
    expect(typesOf(big, "Q3_K_S").get("blk.0.attn_v.weight")).toBe(T.Q5_K);
    expect(planQuantization(big, "Q3_K_S").refusal?.code).toBe("RECIPE_ATTN_COUNT");
  });

  it("falcon: output Q8_0, attn_output Q4_K in Q3_K_L", () => {
    const falcon = llama({ nLayer: 4, arch: "falcon" });
    const t = typesOf(falcon, "Q3_K_L");
    expect(t.get("output.weight")).toBe(T.Q8_0);
    expect(t.get("blk.0.attn_output.weight")).toBe(T.Q4_K);
    expect(t.get("blk.0.ffn_down.weight")).toBe(T.Q4_K);
  });

  it("IQ3_XS: attn_q/k IQ3_XXS, middle ffn_gate/up IQ3_XXS", () => {
    const m = llama({ nLayer: 16 });
    const t = typesOf(m, "IQ3_XS");
    expect(t.get("blk.0.attn_q.weight")).toBe(T.IQ3_XXS);
    expect(t.get("blk.0.ffn_gate.weight")).toBe(T.IQ3_S);
    expect(t.get("blk.2.ffn_gate.weight")).toBe(T.IQ3_XXS);
    expect(t.get("blk.13.ffn_up.weight")).toBe(T.IQ3_XXS);
    expect(t.get("blk.14.ffn_up.weight")).toBe(T.IQ3_S);
  });

  it("MXFP4_MOE (post-c392e50): 3-D expert tensors MXFP4, the rest Q8_0", () => {
    const moe = llama({ nLayer: 2, nExpert: 4 });
    const t = typesOf(moe, "MXFP4_MOE");
    expect(t.get("blk.0.ffn_up_exps.weight")).toBe(T.MXFP4);
    expect(t.get("blk.0.attn_q.weight")).toBe(T.Q8_0);
    expect(t.get("output.weight")).toBe(T.Q8_0);
    expect(t.get("token_embd.weight")).toBe(T.Q8_0);
  });
});

describe("dryRunSummary", () => {
  it("sums bytes and weights (1-D tensors included) and counts types", () => {
    const s = dryRunSummary(planQuantization(tiny, "Q8_0"));
    const nWeights = tiny.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    expect(s.nWeights).toBe(nWeights);
    const norms = tiny.tensors.filter((t) => t.shape.length === 1).reduce((a, t) => a + t.shape[0]! * 4, 0);
    const mats = nWeights - norms / 4;
    expect(s.totalBytes).toBe(norms + (mats / 32) * 34);
    expect(s.bpw).toBeCloseTo((s.totalBytes * 8) / nWeights, 12);
    expect(s.typeCounts).toEqual({ q8_0: 6 * 7 + 2, f32: 6 * 2 + 1 });
    expect(s.ok).toBe(true);
  });
});
