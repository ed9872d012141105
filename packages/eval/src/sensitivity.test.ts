import { readFileSync } from "node:fs";
import { openGguf, type GgufFile } from "@quantlab/gguf";
import { sharedPath } from "@quantlab/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estimateTensorSensitivity, type SensitivityResult } from "./sensitivity.js";

describe("estimateTensorSensitivity (stories260K)", () => {
  let file: GgufFile;
  let text: string;
  let r: SensitivityResult;
  const progress: number[] = [];

  beforeAll(async () => {
    file = await openGguf(sharedPath("models", "stories260K.gguf"));
    text = readFileSync(sharedPath("data", "tinystories", "tinystories_train_split.txt"), "utf8").slice(0, 20000);
    r = await estimateTensorSensitivity(file, text, { nCtx: 64, chunks: 2, threads: 1, onProgress: (p) => progress.push(p.done) });
  }, 60_000);
  afterAll(async () => {
    await file?.close();
  });

  it("gives a finite, positive sensitivity for every quantizable tensor", () => {
    // llama.cpp quantizes every 2-D weight of this model: 5 layers × 7 + token_embd + output
    expect(r.tensors.length).toBe(37);
    expect(r.sensitivity.size).toBe(37);
    for (const t of r.tensors) {
      expect(Number.isFinite(t.sensitivity), t.name).toBe(true);
      expect(t.sensitivity, t.name).toBeGreaterThan(0);
      expect(t.error, t.name).toBeGreaterThan(0);
      expect(t.kld, t.name).toBeGreaterThan(0);
      expect(t.sensitivity).toBeCloseTo(t.kld / t.error, 12);
    }
    expect(r.chunks).toBe(2);
    expect(r.nScored).toBe(2 * (64 - 1 - 32));
    expect(progress[0]).toBe(0);
    expect(progress[progress.length - 1]).toBe(37);
    // the file is left open and usable
    expect(file.tensor("output.weight")).toBeDefined();
  });

  it("finds attn_v more sensitive per unit of error than attn_q in every layer", () => {
    // measured: attn_v's output feeds the residual stream directly (through Wo), attn_q only moves attention weights
    for (let il = 0; il < 5; il++) {
      const v = r.sensitivity.get(`blk.${il}.attn_v.weight`)!;
      const q = r.sensitivity.get(`blk.${il}.attn_q.weight`)!;
      expect(v, `layer ${il}`).toBeGreaterThan(q);
    }
  });

  it("measures only the tensors asked for, with the probe type asked for", async () => {
    const one = await estimateTensorSensitivity(file, text, { nCtx: 64, chunks: 1, tensors: ["blk.0.attn_v.weight"], probeType: "q4_0", threads: 1 });
    expect([...one.sensitivity.keys()]).toEqual(["blk.0.attn_v.weight"]);
    expect(one.tensors[0]!.probeType).toBe("q4_0");
    expect(one.tensors[0]!.sensitivity).toBeGreaterThan(0);
  }, 20_000);

  it("rejects an unknown probe type and too little text", async () => {
    await expect(estimateTensorSensitivity(file, text, { probeType: "q9_Z" })).rejects.toMatchObject({ code: "EVAL_BAD_OPTION" });
    await expect(estimateTensorSensitivity(file, "Once upon a time", { nCtx: 64 })).rejects.toMatchObject({ code: "PPL_TOO_FEW_TOKENS" });
  });
});
