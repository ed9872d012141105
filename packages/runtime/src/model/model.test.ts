import { describe, expect, it } from "vitest";
import { ggufWriteSpecFrom, ggufValue, parseGgufBytes, writeGgufToBytes, type GgufFile } from "@quantlab/gguf";
import { readShared, sharedPath } from "@quantlab/testing";
import { argmax, createSampler, generate, loadModel, type Model } from "../index.js";

// The oracle backend: deterministic and independent of the optimised backends (their agreement is checked in
// packages/kernels/src/conformance.test.ts and packages/eval/src/golden-logits.test.ts).
const BACKEND = "cpu-ref" as const;

const STORIES = sharedPath("models", "stories260K.gguf");
const TINY = sharedPath("models", "tinystories-5m-f32.gguf");

async function withModel<T>(path: string, fn: (m: Model) => Promise<T>): Promise<T> {
  const m = await loadModel(path, { backend: BACKEND });
  try {
    return await fn(m);
  } finally {
    await m.dispose();
  }
}

describe("loadModel", () => {
  it("reads the llama hyper-parameters of stories260K (MODELS.md)", async () => {
    await withModel(STORIES, async (m) => {
      expect(m.backend).toBe("cpu-ref");
      expect(m.config).toMatchObject({
        arch: "llama",
        nVocab: 512,
        nEmbd: 64,
        nLayer: 5,
        nHead: 8,
        nKvHead: 4,
        headDim: 8,
        nFf: 172,
        nCtxTrain: 2048,
        tiedOutput: false,
        qkvBias: false,
        qkNorm: false,
        rope: { mode: 0, nRot: 8, freqBase: 10000, freqScale: 1 },
      });
      expect(m.config.rmsEps).toBeCloseTo(1e-5, 10);
      expect(m.nVocab).toBe(512);
    });
  });

  it("accepts a GgufFile and keeps weights in a SharedArrayBuffer", async () => {
    const file = parseGgufBytes(readShared("golden/llamacpp-c392e50/tinystories-5m/tinystories-5m-Q4_K_M.gguf"));
    const m = await loadModel(file, { backend: BACKEND });
    try {
      expect(m.config).toMatchObject({ nEmbd: 256, nLayer: 6, nHead: 8, nKvHead: 4, headDim: 32, nFf: 768, nCtxTrain: 256 });
      expect(m.weightBytes).toBeGreaterThan(2_500_000);
      expect(m.weightBytes).toBeLessThan(3_100_000); // ≈ the file size: nothing dequantized in bulk
      const logits = await m.evaluate([1, 403, 407], { logits: "last" });
      expect(logits.length).toBe(512);
      expect(logits.every(Number.isFinite)).toBe(true);
      expect(m.kernels.usage().some((u) => u.op === "matmul" && u.scheme === "q4_K")).toBe(true);
    } finally {
      await m.dispose();
    }
  });
});

describe("evaluate and sessions", () => {
  it("batch, split batches and token-by-token sessions give bit-identical logits", async () => {
    await withModel(STORIES, async (m) => {
      const tokens = m.tokenizer.encode("Once upon a time, there was a little dog named Max.", { addSpecial: true });
      const all = await m.evaluate(tokens);
      expect(all.length).toBe(tokens.length * 512);
      const split = await m.evaluate(tokens, { nBatch: 5 });
      expect(Array.from(split)).toEqual(Array.from(all));
      const last = await m.evaluate(tokens, { logits: "last" });
      expect(Array.from(last)).toEqual(Array.from(all.subarray((tokens.length - 1) * 512)));

      const s = m.createSession({ nCtx: 64 });
      for (let i = 0; i < tokens.length; i++) {
        const l = await s.append([tokens[i]!]);
        expect(s.nPast).toBe(i + 1);
        expect(Array.from(l)).toEqual(Array.from(all.subarray(i * 512, (i + 1) * 512)));
      }
      s.reset();
      expect(s.nPast).toBe(0);
      const again = await s.append(tokens.slice(0, 4), { logits: "all" });
      expect(Array.from(again)).toEqual(Array.from(all.subarray(0, 4 * 512)));
    });
  });

  it("calls onMatmulInput for every weight matmul with its input shape", async () => {
    await withModel(STORIES, async (m) => {
      const seen = new Map<string, [number, number, number]>();
      const tokens = [1, 403, 407, 261, 378];
      const plain = await m.evaluate(tokens);
      const hooked = await m.evaluate(tokens, {
        hooks: {
          onMatmulInput(name, x, n, cols) {
            expect(x.length).toBe(n * cols);
            let ss = 0;
            for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
            seen.set(name, [n, cols, ss]);
          },
        },
      });
      expect(Array.from(hooked)).toEqual(Array.from(plain));
      expect(seen.size).toBe(5 * 7 + 1);
      expect(seen.get("blk.0.attn_q.weight")!.slice(0, 2)).toEqual([5, 64]);
      expect(seen.get("blk.0.attn_q.weight")![2]).toBe(seen.get("blk.0.attn_v.weight")![2]);
      expect(seen.get("blk.4.ffn_down.weight")!.slice(0, 2)).toEqual([5, 172]);
      expect(seen.get("blk.2.attn_output.weight")!.slice(0, 2)).toEqual([5, 64]);
      expect(seen.get("output.weight")!.slice(0, 2)).toEqual([5, 64]);
    });
  });

  it("rejects bad input with typed errors", async () => {
    await withModel(STORIES, async (m) => {
      await expect(m.evaluate([])).rejects.toMatchObject({ code: "MODEL_BAD_INPUT" });
      await expect(m.evaluate([1, 512])).rejects.toMatchObject({ code: "MODEL_BAD_INPUT" });
      const s = m.createSession({ nCtx: 4 });
      await s.append([1, 2, 3]);
      await expect(s.append([4, 5])).rejects.toMatchObject({ code: "MODEL_BAD_INPUT" });
    });
  });
});

describe("generate", () => {
  it("greedy on tinystories-5m: deterministic, equal to argmax of evaluate, and llama.cpp's greedy text", async () => {
    await withModel(TINY, async (m) => {
      const run = async () => {
        const ids: number[] = [];
        let text = "";
        for await (const step of generate(m, "Once upon a time", { maxTokens: 24 })) {
          ids.push(step.token);
          text += step.text;
          expect(step.tokensPerSecond).toBeGreaterThanOrEqual(0);
        }
        return { ids, text };
      };
      const a = await run();
      const b = await run();
      expect(b).toEqual(a);
      expect(a.ids.length).toBe(24);
      // batch path: argmax of evaluate over prompt + the tokens generated so far
      const prompt = m.tokenizer.encode("Once upon a time", { addSpecial: true });
      const seq = [...prompt];
      for (const id of a.ids.slice(0, 8)) {
        const l = await m.evaluate(seq, { logits: "last" });
        expect(argmax(l)).toBe(id);
        seq.push(id);
      }
      // llama-simple's greedy continuation of this prompt (tinystories-5m README, "Greedy generation").
      const llamaSimple =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, she went\nto the park with her mommy.";
      const ours = "Once upon a time" + a.text;
      expect(ours.length).toBeGreaterThan(80);
      expect(llamaSimple.replace("\n", " ").startsWith(ours)).toBe(true);
    });
  });

  it("sampling is reproducible for a seed", async () => {
    await withModel(STORIES, async (m) => {
      const run = async (seed: number) => {
        const ids: number[] = [];
        for await (const s of generate(m, "Lily saw a", { maxTokens: 30, temperature: 0.9, topK: 40, topP: 0.95, seed, stopAtEos: false })) ids.push(s.token);
        return ids;
      };
      const a = await run(42);
      expect(a.length).toBe(30);
      expect(await run(42)).toEqual(a);
      expect(a.every((t) => t >= 0 && t < 512)).toBe(true);
    });
  });

  it("the sampler: greedy at temperature 0, top-k 1 is greedy", () => {
    const logits = Float32Array.from([0.1, 2, -1, 2, 0.5]);
    expect(createSampler()(logits)).toBe(1);
    const s = createSampler({ temperature: 1, topK: 1, seed: 3 });
    for (let i = 0; i < 5; i++) expect(s(logits)).toBe(1);
  });
});

describe("typed errors naming the file and tensor", () => {
  const base = parseGgufBytes(readShared("models", "stories260K.gguf"), {});
  async function variant(edit: (meta: Map<string, unknown>, tensors: ReturnType<typeof ggufWriteSpecFrom>["tensors"]) => ReturnType<typeof ggufWriteSpecFrom>["tensors"]): Promise<GgufFile> {
    const spec = ggufWriteSpecFrom(base, new Map(base.metadata));
    const tensors = edit(spec.metadata as Map<string, unknown>, spec.tensors);
    return parseGgufBytes(await writeGgufToBytes({ ...spec, tensors }));
  }

  it("unsupported architecture", async () => {
    const f = await variant((meta, t) => {
      meta.set("general.architecture", ggufValue.string("gpt2"));
      return t;
    });
    await expect(loadModel(f, { backend: BACKEND })).rejects.toMatchObject({ code: "MODEL_UNSUPPORTED_ARCH" });
  });

  it("missing tensor", async () => {
    const f = await variant((_m, t) => t.filter((x) => x.name !== "blk.3.ffn_up.weight"));
    await expect(loadModel(f, { backend: BACKEND })).rejects.toMatchObject({ code: "MODEL_MISSING_TENSOR", tensor: "blk.3.ffn_up.weight" });
  });

  it("wrong shape", async () => {
    const f = await variant((_m, t) => t.map((x) => (x.name === "blk.1.attn_k.weight" ? { ...x, shape: [32, 64] } : x)));
    await expect(loadModel(f, { backend: BACKEND })).rejects.toMatchObject({ code: "MODEL_BAD_SHAPE", tensor: "blk.1.attn_k.weight" });
  });
});
