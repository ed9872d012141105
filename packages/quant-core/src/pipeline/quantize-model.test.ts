/**
 * quantizeModel against llama-quantize itself (llama.cpp c392e50): every GGUF kept in
 * ../shared/golden/llamacpp-c392e50/{stories260K,tinystories-5m}/ is re-made from the F32 model with the same preset
 * (and imatrix) and compared tensor by tensor and as a whole file (sha256). Dry-run sizes against results.tsv,
 * refusals, bad inputs and abort.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { GGUFValueType, QuantlabError, openGgufModel, parseGgufBytes, writeGgufSplit, ggufWriteSpecFrom, openGguf, writeGguf, writeGgufToBytes, ggufValue } from "@quantlab/gguf";
import { buildGguf, readShared, sharedPath } from "@quantlab/testing/fixtures";
import { parseImatrixDat, type ImatrixData } from "../imatrix-file.js";
import { quantizeModel, type QuantizeModelOptions } from "./quantize-model.js";
import { parseKvOverride } from "./kv-override.js";

const GOLDEN = ["golden", "llamacpp-c392e50"] as const;
const MODELS = {
  stories260K: sharedPath("models", "stories260K.gguf"),
  "tinystories-5m": sharedPath("models", "tinystories-5m-f32.gguf"),
} as const;
const IMATRIX = {
  stories260K: sharedPath(...GOLDEN, "stories260K", "stories260K.imatrix.dat"),
  "tinystories-5m": sharedPath(...GOLDEN, "tinystories-5m", "imatrix.dat"),
} as const;
type ModelName = keyof typeof MODELS;

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "quantlab-qm-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

function readTsv(...parts: string[]): Record<string, string>[] {
  const lines = new TextDecoder().decode(readShared(...parts)).split("\n").filter((l) => l.length > 0);
  const head = lines[0]!.split("\t");
  return lines.slice(1).map((l) => {
    const c = l.split("\t");
    return Object.fromEntries(head.map((h, i) => [h, c[i] ?? ""]));
  });
}

/**
 * The imatrix as llama-quantize saw it. For stories260K the golden files' `quantize.imatrix.dataset` KV still holds
 * the relative path `data/calibration/wikitext2_train_5k.txt` while the trailer of the kept .dat was rewritten to
 * the base name afterwards (README: "rewritten to base names after the fact"), so the dataset string is taken from
 * the golden output, like the file string.
 */
function imatrixFor(model: ModelName, golden: Uint8Array | undefined): { data: ImatrixData; file: string } {
  const data = parseImatrixDat(new Uint8Array(readFileSync(IMATRIX[model])), IMATRIX[model]);
  if (!golden) return { data, file: "imatrix.dat" };
  const g = parseGgufBytes(golden);
  const dataset = g.get("quantize.imatrix.dataset");
  return { data: { ...data, datasets: typeof dataset === "string" ? [dataset] : data.datasets }, file: String(g.get("quantize.imatrix.file")) };
}

/** Every kept llama-quantize output: `<model>-<PRESET>[-imatrix].gguf`. */
const kept = (["stories260K", "tinystories-5m"] as const).flatMap((model) =>
  readdirSync(sharedPath(...GOLDEN, model))
    .filter((f) => f.endsWith(".gguf"))
    .map((f) => {
      const m = new RegExp(`^${model}-(.+?)(-imatrix)?\\.gguf$`).exec(f)!;
      return { model, file: f, preset: m[1]!, imatrix: m[2] !== undefined };
    }),
);

function goldenFileSize(file: string): number {
  return readShared(...GOLDEN, "stories260K", file).byteLength;
}

function expectSameGguf(ours: Uint8Array, ref: Uint8Array): void {
  const a = parseGgufBytes(ours);
  const b = parseGgufBytes(ref);
  expect([...a.metadata.keys()]).toEqual([...b.metadata.keys()]);
  expect(a.tensors.map((t) => [t.name, t.typeName, t.shape.join("x"), t.offset])).toEqual(b.tensors.map((t) => [t.name, t.typeName, t.shape.join("x"), t.offset]));
  const bad: string[] = [];
  for (const t of b.tensors) {
    const x = ours.subarray(a.tensor(t.name)!.absoluteOffset, a.tensor(t.name)!.absoluteOffset + t.nBytes);
    const y = ref.subarray(t.absoluteOffset, t.absoluteOffset + t.nBytes);
    if (sha256(x) !== sha256(y)) bad.push(t.name);
  }
  expect(bad).toEqual([]);
  expect(ours.byteLength).toBe(ref.byteLength);
  expect(sha256(ours)).toBe(sha256(ref));
}

describe("quantizeModel: byte-identical to llama-quantize c392e50", () => {
  it("the golden folders hold the 16 kept files the brief lists", () => {
    expect(kept.map((k) => k.file).sort()).toEqual(
      [
        "stories260K-BF16", "stories260K-F16", "stories260K-Q2_K", "stories260K-Q3_K_M", "stories260K-Q4_K_M", "stories260K-Q4_K_M-imatrix",
        "stories260K-Q5_K_M", "stories260K-Q6_K", "tinystories-5m-IQ2_XXS-imatrix", "tinystories-5m-IQ4_XS", "tinystories-5m-Q2_K",
        "tinystories-5m-Q3_K_M", "tinystories-5m-Q4_K_M", "tinystories-5m-Q4_K_M-imatrix", "tinystories-5m-Q6_K", "tinystories-5m-Q8_0",
      ].map((f) => `${f}.gguf`).sort(),
    );
  });

  // tinystories-5m at 2 threads, stories260K at 1 (its tensors are below the parallel threshold anyway)
  for (const k of kept) {
    const threads = k.model === "tinystories-5m" ? 2 : 1;
    const name = `${k.file}: every tensor and the whole file (sha256)${k.model === "stories260K" && k.imatrix ? " (imatrix dataset string taken from the golden: the kept .dat trailer was rewritten afterwards)" : ""}`;
    it(name, async () => {
      const ref = readShared(...GOLDEN, k.model, k.file);
      const out = join(tempDir(), "out.gguf");
      const im = k.imatrix ? imatrixFor(k.model, ref) : undefined;
      const report = await quantizeModel(MODELS[k.model], out, { type: k.preset, imatrix: im?.data, imatrixFile: im?.file, threads });
      const ours = new Uint8Array(readFileSync(out));
      expectSameGguf(ours, ref);
      expect(report.fileBytes).toBe(ref.byteLength);
      expect(report.outputs).toEqual([out]);
    });
  }

  it("thread counts 1 and 2 give identical files (Q6_K and Q2_K at 1 thread equal the goldens checked at 2)", async () => {
    for (const preset of ["Q6_K", "Q2_K"]) {
      const out = join(tempDir(), "t1.gguf");
      await quantizeModel(MODELS["tinystories-5m"], out, { type: preset, threads: 1 });
      expect(sha256(readFileSync(out))).toBe(sha256(readShared(...GOLDEN, "tinystories-5m", `tinystories-5m-${preset}.gguf`)));
    }
  });

  it("a split input is quantized like the whole model; --keep-split writes one output per shard", async () => {
    const dir = tempDir();
    const src = await openGguf(MODELS.stories260K);
    const spec = ggufWriteSpecFrom(src);
    await writeGgufSplit(join(dir, "in"), spec, { maxTensors: 20 });
    const out = join(dir, "q.gguf");
    await quantizeModel(join(dir, "in-00002-of-00003.gguf"), out, { type: "Q4_K_M" });
    await src.close();
    // split.* keys are removed, so the output equals llama-quantize's from the unsplit model
    expect(sha256(readFileSync(out))).toBe(sha256(readShared(...GOLDEN, "stories260K", "stories260K-Q4_K_M.gguf")));

    const r = await quantizeModel(join(dir, "in-00001-of-00003.gguf"), join(dir, "ks"), { type: "Q4_K_M", keepSplit: true });
    expect(r.outputs).toEqual([1, 2, 3].map((i) => join(dir, `ks-0000${i}-of-00003.gguf`)));
    const model = await openGgufModel(r.outputs[0]!);
    const ref = parseGgufBytes(readShared(...GOLDEN, "stories260K", "stories260K-Q4_K_M.gguf"));
    expect(model.shards.map((s) => s.tensors.length)).toEqual([20, 20, 8]);
    expect(model.shards[1]!.metadata.size).toBe(3); // gguf_init_empty + split.no / split.count / split.tensors.count
    expect(model.get("split.tensors.count")).toBe(48);
    for (const t of ref.tensors) {
      const ours = await model.readTensorData(t.name);
      expect(sha256(ours), t.name).toBe(sha256(await ref.readTensorData(t)));
    }
    await model.close();
    expect(readdirSync(dir).filter((f) => f.includes(".part-") || f.includes(".tmp-"))).toEqual([]);

    // one input shard: still a shard name, no split keys; tensors in input file order (sorted by shard, offset)
    const one = await quantizeModel(MODELS.stories260K, join(dir, "single"), { type: "Q4_K_M", keepSplit: true });
    expect(one.outputs).toEqual([join(dir, "single-00001-of-00001.gguf")]);
    const g = parseGgufBytes(new Uint8Array(readFileSync(one.outputs[0]!)));
    expect(g.has("split.count")).toBe(false);
    expect(g.tensors.map((t) => t.name)).toEqual(parseGgufBytes(readShared("models", "stories260K.gguf")).tensors.map((t) => t.name));
    for (const t of ref.tensors) expect(sha256(await g.readTensorData(t.name)), t.name).toBe(sha256(await ref.readTensorData(t)));
  });

  it("a GGUF imatrix (in_sum2 / counts) gives the same tensors as the .dat it was made from", async () => {
    const dir = tempDir();
    const dat = parseImatrixDat(readShared(...GOLDEN, "stories260K", "stories260K.imatrix.dat"));
    const tensors = [...dat.entries.values()].flatMap((e) => [
      { name: `${e.name}.in_sum2`, shape: [e.stored.length, 1], type: 0, data: new Uint8Array(e.stored.buffer.slice(0)) },
      { name: `${e.name}.counts`, shape: [1, 1], type: 0, data: new Uint8Array(new Float32Array([e.ncall]).buffer) },
    ]);
    const path = join(dir, "imatrix.gguf");
    await writeGguf(path, {
      metadata: {
        "general.type": ggufValue.string("imatrix"),
        "imatrix.datasets": ggufValue.array(GGUFValueType.STRING, ["wikitext2_train_5k.txt"]),
        "imatrix.chunk_count": ggufValue.uint32(20),
        "imatrix.chunk_size": ggufValue.uint32(256),
      },
      tensors,
    });
    const out = join(dir, "q.gguf");
    await quantizeModel(MODELS.stories260K, out, { type: "Q4_K_M", imatrix: path });
    const ours = parseGgufBytes(new Uint8Array(readFileSync(out)));
    const ref = parseGgufBytes(readShared(...GOLDEN, "stories260K", "stories260K-Q4_K_M-imatrix.gguf"));
    expect(ours.get("quantize.imatrix.entries_count")).toBe(35);
    expect(ours.get("quantize.imatrix.chunks_count")).toBe(20);
    expect(ours.get("quantize.imatrix.file")).toBe(path);
    for (const t of ref.tensors) expect(sha256(await ours.readTensorData(t.name)), t.name).toBe(sha256(await ref.readTensorData(t)));
  });
});

describe("quantizeModel: dry run", () => {
  const cases: { model: ModelName; preset: string; imatrix: boolean; size: number }[] = [
    ...readTsv(...GOLDEN, "tinystories-5m", "results.tsv")
      .filter((r) => r.preset !== "F32") // the F32 row is the input model itself, not a llama-quantize output
      .map((r) => ({ model: "tinystories-5m" as const, preset: r.preset!, imatrix: r.imatrix === "yes", size: Number(r.size_bytes) })),
    ...readTsv(...GOLDEN, "stories260K", "results.tsv").map((r) => ({
      model: "stories260K" as const,
      preset: r.llama_quantize_ftype!,
      imatrix: r.model!.includes("imatrix"),
      size: Number(r.size_bytes),
    })),
  ];
  it(`file sizes equal results.tsv size_bytes for all ${cases.length} preset rows`, async () => {
    const dir = tempDir();
    const got: string[] = [];
    const want: string[] = [];
    for (const c of cases) {
      const golden = c.model === "stories260K" && c.imatrix ? readShared(...GOLDEN, "stories260K", "stories260K-Q4_K_M-imatrix.gguf") : undefined;
      const im = c.imatrix ? imatrixFor(c.model, golden) : undefined;
      const r = await quantizeModel(MODELS[c.model], join(dir, "never.gguf"), { type: c.preset, imatrix: im?.data, imatrixFile: im?.file, dryRun: true });
      expect(r.ok, `${c.model} ${c.preset}`).toBe(true);
      got.push(`${c.model} ${c.preset} ${c.imatrix} ${r.fileBytes}`);
      want.push(`${c.model} ${c.preset} ${c.imatrix} ${c.size}`);
    }
    expect(got).toEqual(want);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("reports a refusal without throwing or writing", async () => {
    const dir = tempDir();
    const r = await quantizeModel(MODELS.stories260K, join(dir, "x.gguf"), { type: "Q8_0", dryRun: true });
    expect(r.ok).toBe(false);
    expect(r.refusal).toMatch(/blk\.0\.ffn_down\.weight/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

/** A one-layer llama-like model with given F32 tensors (data written after buildGguf's layout). */
function tinyModel(tensors: { name: string; shape: number[]; values: Float32Array }[]): Uint8Array {
  const bytes = buildGguf({
    kvs: [
      { key: "general.architecture", type: GGUFValueType.STRING, value: "llama" },
      { key: "llama.block_count", type: GGUFValueType.UINT32, value: 1 },
      { key: "llama.attention.head_count", type: GGUFValueType.UINT32, value: 2 },
    ],
    tensors: tensors.map((t) => ({ name: t.name, dims: t.shape })),
  });
  const g = parseGgufBytes(bytes);
  for (const t of tensors) bytes.set(new Uint8Array(t.values.buffer), g.tensor(t.name)!.absoluteOffset);
  return bytes;
}

/** The same with our GGUF writer (buildGguf's byte builder cannot grow inside a DataView write; see the report). */
function tinyModelWritten(tensors: { name: string; shape: number[]; values: Float32Array }[]): Promise<Uint8Array> {
  return writeGgufToBytes({
    metadata: {
      "general.architecture": ggufValue.string("llama"),
      "llama.block_count": ggufValue.uint32(1),
      "llama.attention.head_count": ggufValue.uint32(2),
    },
    tensors: tensors.map((t) => ({ name: t.name, shape: t.shape, type: 0, data: new Uint8Array(t.values.buffer) })),
  });
}

async function expectRejects(p: Promise<unknown>, code: string | RegExp): Promise<QuantlabError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(QuantlabError.isInstance(err), String(err)).toBe(true);
  expect((err as QuantlabError).code).toMatch(code);
  return err as QuantlabError;
}

describe("quantizeModel: refusals and errors leave nothing behind", () => {
  it("IQ2_XXS without an imatrix: refused up front", async () => {
    const dir = tempDir();
    const e = await expectRejects(quantizeModel(MODELS["tinystories-5m"], join(dir, "o.gguf"), { type: "iq2_xxs" }), "RECIPE_IMATRIX_REQUIRED");
    expect(e.message).toContain("Please do not use IQ1_S, IQ1_M, IQ2_S, IQ2_XXS, IQ2_XS or Q2_K_S quantization without an importance matrix");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("IQ2_M without an imatrix: the tensor that needs one is named (failed.tsv)", async () => {
    const dir = tempDir();
    const e = await expectRejects(quantizeModel(MODELS["tinystories-5m"], join(dir, "o.gguf"), { type: "IQ2_M" }), "RECIPE_IMATRIX_MISSING");
    expect(e.message).toContain("Missing importance matrix for tensor blk.0.attn_k.weight in a very low-bit quantization");
    expect(e.context.tensor).toBe("blk.0.attn_k.weight");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("an imatrix entry of the wrong length names the tensor (token_embd is only warned about)", async () => {
    const dir = tempDir();
    const data = parseImatrixDat(readShared(...GOLDEN, "stories260K", "stories260K.imatrix.dat"));
    const entries = new Map(data.entries);
    const e0 = entries.get("blk.1.ffn_up.weight")!;
    entries.set("blk.1.ffn_up.weight", { ...e0, importance: e0.importance.subarray(0, 32) });
    const e = await expectRejects(quantizeModel(MODELS.stories260K, join(dir, "o.gguf"), { type: "Q4_K_M", imatrix: { ...data, entries } }), "RECIPE_IMATRIX_SIZE");
    expect(e.context.tensor).toBe("blk.1.ffn_up.weight");
    const entries2 = new Map(data.entries);
    entries2.set("token_embd.weight", { ...e0, name: "token_embd.weight", importance: new Float32Array(7).fill(1) });
    const r = await quantizeModel(MODELS.stories260K, join(dir, "ok.gguf"), { type: "Q4_K_M", imatrix: { ...data, entries: entries2 } });
    expect(r.warnings.some((w) => w.includes("token_embd.weight"))).toBe(true);
    expect(r.tensors.find((t) => t.name === "token_embd.weight")!.usesImatrix).toBe(false);
    expect(readdirSync(dir)).toEqual(["ok.gguf"]);
  });

  it("Q8_0 on stories260K: ffn_down rows of 172 are refused, naming the tensor", async () => {
    const dir = tempDir();
    const e = await expectRejects(quantizeModel(MODELS.stories260K, join(dir, "o.gguf"), { type: "Q8_0" }), "RECIPE_UNSUPPORTED_SHAPE");
    expect(e.context.tensor).toBe("blk.0.ffn_down.weight");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a file that is not GGUF", async () => {
    const dir = tempDir();
    const input = join(dir, "notes.txt");
    writeFileSync(input, "this is not a model\n".repeat(10));
    await expectRejects(quantizeModel(input, join(dir, "o.gguf"), { type: "Q4_K_M" }), /^GGUF_/);
    expect(readdirSync(dir)).toEqual(["notes.txt"]);
  });

  it("requantizing needs allowRequantize", async () => {
    const dir = tempDir();
    const input = sharedPath(...GOLDEN, "stories260K", "stories260K-Q6_K.gguf");
    const e = await expectRejects(quantizeModel(input, join(dir, "o.gguf"), { type: "Q4_K_M" }), "RECIPE_REQUANTIZE_DISABLED");
    expect(e.message).toMatch(/requantizing from type q8_0 is disabled/);
    expect(readdirSync(dir)).toEqual([]);
    const r = await quantizeModel(input, join(dir, "o.gguf"), { type: "Q4_K_M", allowRequantize: true });
    const g = parseGgufBytes(new Uint8Array(readFileSync(join(dir, "o.gguf"))));
    expect(g.tensors.map((t) => t.typeName)).toEqual(r.tensors.map((t) => t.to));
    expect(r.tensors.find((t) => t.name === "blk.0.attn_q.weight")).toMatchObject({ from: "q8_0", to: "q5_0", quantized: true });
  });

  it("NaN weights: error naming the tensor and row, no output", async () => {
    const dir = tempDir();
    const w = new Float32Array(64 * 4).map((_, i) => Math.sin(i));
    w[2 * 64 + 5] = Number.NaN;
    const input = join(dir, "nan.gguf");
    writeFileSync(input, tinyModel([
      { name: "blk.0.ffn_up.weight", shape: [64, 4], values: w },
      { name: "output_norm.weight", shape: [64], values: new Float32Array(64).fill(1) },
    ]));
    const e = await expectRejects(quantizeModel(input, join(dir, "o.gguf"), { type: "Q8_0" }), "QUANTIZE_NONFINITE_WEIGHTS");
    expect(e.context).toMatchObject({ tensor: "blk.0.ffn_up.weight", row: 2, column: 5 });
    expect(readdirSync(dir)).toEqual(["nan.gguf"]);
  });

  it("weights beyond the type's range: 'quantized data validation failed' naming tensor and row (F16, Q4_0)", async () => {
    const dir = tempDir();
    const w = new Float32Array(64 * 4).map((_, i) => Math.cos(i));
    w[1 * 64 + 3] = 1e6; // F16: +inf; Q4_0: d = 1e6 / -8 overflows fp16
    const input = join(dir, "big.gguf");
    writeFileSync(input, await tinyModelWritten([
      { name: "blk.0.ffn_up.weight", shape: [64, 4], values: w },
      { name: "blk.0.ffn_norm.weight", shape: [64, 1, 1], values: new Float32Array(64).fill(1) },
    ]));
    for (const type of ["F16", "Q4_0"]) {
      const e = await expectRejects(quantizeModel(input, join(dir, "o.gguf"), { type }), "QUANTIZE_VALIDATION_FAILED");
      expect(e.context).toMatchObject({ tensor: "blk.0.ffn_up.weight", row: 1 });
    }
    expect(readdirSync(dir)).toEqual(["big.gguf"]);
    await quantizeModel(input, join(dir, "o.gguf"), { type: "Q8_0" }); // d = 1e6 / 127 fits
    expect(readdirSync(dir).sort()).toEqual(["big.gguf", "o.gguf"]);
    // gguf writes ggml_n_dims dimensions: a stored [64, 1, 1] comes out as [64]
    expect(parseGgufBytes(new Uint8Array(readFileSync(join(dir, "o.gguf")))).tensor("blk.0.ffn_norm.weight")!.shape).toEqual([64]);
  });

  it("abort mid-way: QUANTIZE_ABORTED and no file, no temp file", async () => {
    const dir = tempDir();
    const ac = new AbortController();
    const seen: number[] = [];
    const opts: QuantizeModelOptions = {
      type: "Q4_K_M",
      signal: ac.signal,
      onProgress: (p) => {
        seen.push(p.index);
        if (p.index === 5) ac.abort();
      },
    };
    await expectRejects(quantizeModel(MODELS["tinystories-5m"], join(dir, "o.gguf"), opts), "QUANTIZE_ABORTED");
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("quantizeModel: metadata options", () => {
  it("--override-kv: user keys after general.file_type, before the imatrix keys; types as gguf_set_val_*", async () => {
    const dir = tempDir();
    const out = join(dir, "o.gguf");
    const im = imatrixFor("stories260K", undefined);
    await quantizeModel(MODELS.stories260K, out, {
      type: "Q4_K_M",
      imatrix: im.data,
      imatrixFile: "im.dat",
      overrideKv: ["general.name=str:renamed", "test.n=int:-7", "test.f=float:0.1", "test.b=bool:true"],
    });
    const g = parseGgufBytes(new Uint8Array(readFileSync(out)));
    const keys = [...g.metadata.keys()];
    expect(keys.slice(-10)).toEqual([
      "general.quantization_version", "general.file_type", "general.name", "test.n", "test.f", "test.b",
      "quantize.imatrix.file", "quantize.imatrix.dataset", "quantize.imatrix.entries_count", "quantize.imatrix.chunks_count",
    ]);
    expect(g.getTyped("test.n")).toEqual({ type: GGUFValueType.INT32, value: -7 });
    expect(g.getTyped("test.f")).toEqual({ type: GGUFValueType.FLOAT32, value: Math.fround(0.1) });
    expect(g.get("test.b")).toBe(true);
    expect(g.get("general.name")).toBe("renamed");
  });

  it("--include-weights / --exclude-weights filter the imatrix (entries_count counts what is left)", async () => {
    const dir = tempDir();
    const im = imatrixFor("stories260K", undefined);
    const inc = await quantizeModel(MODELS.stories260K, join(dir, "i.gguf"), { type: "Q4_K_M", imatrix: im.data, includeWeights: ["attn_q", "ffn_up"] });
    expect(inc.imatrix?.entries).toBe(10);
    expect(inc.tensors.filter((t) => t.usesImatrix).map((t) => t.name).sort()).toEqual(
      [0, 1, 2, 3, 4].flatMap((l) => [`blk.${l}.attn_q.weight`, `blk.${l}.ffn_up.weight`]).sort(),
    );
    expect(parseGgufBytes(new Uint8Array(readFileSync(join(dir, "i.gguf")))).get("quantize.imatrix.entries_count")).toBe(10);
    const exc = await quantizeModel(MODELS.stories260K, join(dir, "e.gguf"), { type: "Q4_K_M", imatrix: im.data, excludeWeights: ["blk."], dryRun: true });
    expect(exc.imatrix).toBeUndefined(); // nothing left: no imatrix at all, as prepare_imatrix
    expect(exc.fileBytes).toBe(goldenFileSize("stories260K-Q4_K_M.gguf"));
  });

  it("parseKvOverride follows string_parse_kv_override", () => {
    expect(parseKvOverride("a.b=int:12x")).toEqual({ key: "a.b", tag: "int", value: 12 });
    expect(() => parseKvOverride("a.b=bool:yes")).toThrow(/invalid boolean/);
    expect(() => parseKvOverride("a.b=u8:1")).toThrow(/invalid type/);
    expect(() => parseKvOverride("novalue")).toThrow(/malformed/);
    expect(() => parseKvOverride(`k=str:${"x".repeat(128)}`)).toThrow(/127/);
  });

  it("--output-tensor-type, --tensor-type and --prune-layers reach the plan and the file", async () => {
    const dir = tempDir();
    const out = join(dir, "o.gguf");
    const progress: { index: number; count: number; bytesDone: number; bytesTotal: number }[] = [];
    const r = await quantizeModel(MODELS.stories260K, out, {
      onProgress: (p) => progress.push(p),
      type: "Q4_K_M",
      outputTensorType: "f16",
      tensorTypeOverrides: ["attn_q=q8_0"],
      tensorTypeFile: "# comment\n\nATTN_K=Q5_1\n",
      pruneLayers: [1],
    });
    const g = parseGgufBytes(new Uint8Array(readFileSync(out)));
    expect(g.get("llama.block_count")).toBe(4);
    expect([...g.metadata.keys()].at(-1)).toBe("llama.block_count");
    expect(g.tensor("output.weight")!.typeName).toBe("f16");
    expect(g.tensor("blk.0.attn_q.weight")!.typeName).toBe("q8_0");
    expect(g.tensor("blk.0.attn_k.weight")!.typeName).toBe("q5_1");
    expect(g.tensors.filter((t) => t.name.startsWith("blk.")).length).toBe(4 * 9);
    expect(r.tensors.length).toBe(g.tensors.length);
    expect(progress.map((p) => p.index)).toEqual(g.tensors.map((_, i) => i + 1));
    expect(progress.at(-1)).toMatchObject({ count: g.tensors.length, bytesDone: progress.at(-1)!.bytesTotal });
    expect(progress.at(-1)!.bytesTotal).toBe(r.sourceBytes);
  });
});
