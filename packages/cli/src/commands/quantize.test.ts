import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseGgufBytes } from "@quantlab/gguf";
import { sharedPath } from "@quantlab/testing/fixtures";
import { runCli } from "../main.js";
import { capture } from "../test-utils/capture.js";

const GOLDEN = sharedPath("golden", "llamacpp-c392e50", "stories260K");
const MODEL = sharedPath("models", "stories260K.gguf");
const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "quantlab-cli-q-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** size_bytes of a stories260K results.tsv row (llama.cpp's own figure). */
function goldenSize(file: string): number {
  const lines = readFileSync(join(GOLDEN, "results.tsv"), "utf8").trim().split("\n");
  const head = lines[0]!.split("\t");
  const row = lines.map((l) => l.split("\t")).find((c) => c[0] === file)!;
  return Number(row[head.indexOf("size_bytes")]);
}

describe("quantlab quantize", () => {
  it("stories260K Q4_K_M: the same bytes as llama-quantize, with a JSON summary", async () => {
    const dir = tempDir();
    const out = join(dir, "q.gguf");
    const cap = capture();
    expect(await runCli(["quantize", "--json", MODEL, out, "Q4_K_M", "1"], cap.io), cap.err()).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(readFileSync(join(GOLDEN, "stories260K-Q4_K_M.gguf"))));
    const r = JSON.parse(cap.out());
    expect(r).toMatchObject({ recipe: "Q4_K_M", ftype: 15, ok: true, threads: 1, outputs: [out] });
    expect(r.totals.fileBytes).toBe(goldenSize("stories260K-Q4_K_M.gguf"));
    expect(r.totals.tensors).toBe(48);
    expect(r.tensors.find((t: { name: string }) => t.name === "blk.0.ffn_down.weight")).toMatchObject({ from: "f32", to: "f16" });
    expect(r.tensors.find((t: { name: string }) => t.name === "blk.0.attn_q.weight")).toMatchObject({ from: "f32", to: "q5_0", quantized: true });
    expect(r.typeCounts).toEqual({ q8_0: 3, f32: 11, q5_0: 29, f16: 5 });
    expect(typeof r.seconds).toBe("number");
  });

  it("plain Q8_0 is refused: ffn_down rows of 172 are not a multiple of 32; nothing is written", async () => {
    const dir = tempDir();
    const cap = capture();
    expect(await runCli(["quantize", MODEL, join(dir, "q.gguf"), "q8_0", "--threads", "2"], cap.io)).toBe(1);
    expect(cap.err()).toContain("RECIPE_UNSUPPORTED_SHAPE");
    expect(cap.err()).toContain("tensor cols 172 are not divisible by 32, required for q8_0");
    expect(cap.err()).toContain("blk.0.ffn_down.weight");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("default output name ggml-model-<TYPE>.gguf beside the input; TYPE by ftype number; human summary", async () => {
    const dir = tempDir();
    const input = join(dir, "stories260K.gguf");
    copyFileSync(MODEL, input);
    const cap = capture();
    expect(await runCli(["quantize", "--quiet", input, "15"], cap.io), cap.err()).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(["ggml-model-Q4_K_M.gguf", "stories260K.gguf"]);
    expect(sha256(readFileSync(join(dir, "ggml-model-Q4_K_M.gguf")))).toBe(sha256(readFileSync(join(GOLDEN, "stories260K-Q4_K_M.gguf"))));
    const text = cap.out();
    expect(text).toContain("as Q4_K_M (ftype 15)");
    expect(text).toContain(`-> ${goldenSize("stories260K-Q4_K_M.gguf")} bytes`);
    expect(text).toMatch(/types: +q5_0 ×29, f32 ×11, f16 ×5, q8_0 ×3/);
  });

  it("--imatrix (path recorded as given) and --dry-run table with the final size", async () => {
    const dir = tempDir();
    const cap = capture();
    const io = { ...cap.io, cwd: GOLDEN };
    const out = join(dir, "qi.gguf");
    expect(await runCli(["quantize", "-q", "--imatrix", "stories260K.imatrix.dat", MODEL, out, "q4_k_m"], io), cap.err()).toBe(0);
    const ours = parseGgufBytes(new Uint8Array(readFileSync(out)));
    const ref = parseGgufBytes(new Uint8Array(readFileSync(join(GOLDEN, "stories260K-Q4_K_M-imatrix.gguf"))));
    expect(ours.get("quantize.imatrix.file")).toBe("stories260K.imatrix.dat");
    expect(ours.get("quantize.imatrix.entries_count")).toBe(35);
    for (const t of ref.tensors) expect(sha256(await ours.readTensorData(t.name)), t.name).toBe(sha256(await ref.readTensorData(t)));

    const cap2 = capture();
    expect(await runCli(["quantize", "--dry-run", MODEL, join(dir, "never.gguf"), "Q5_K_M"], cap2.io)).toBe(0);
    expect(cap2.out()).toMatch(/blk\.0\.ffn_down\.weight +172x64 +f32 +f16/);
    expect(cap2.out()).toContain(`would be ${goldenSize("stories260K-Q5_K_M.gguf")} bytes`);
    expect(readdirSync(dir)).toEqual(["qi.gguf"]);
  });

  it("usage errors: missing TYPE, bad type, include with exclude", async () => {
    for (const argv of [
      ["quantize", MODEL],
      ["quantize", MODEL, "out.gguf", "Q9_Z"],
      ["quantize", "--include-weights", "a", "--exclude-weights", "b", MODEL, "out.gguf", "Q4_K_M"],
    ]) {
      const cap = capture();
      expect(await runCli(argv, cap.io)).toBe(2);
      expect(cap.err()).toContain("CLI_USAGE");
    }
  });

  it("--target-size: the chosen mix fits the file size, is written as planned, and --json reports it", async () => {
    const T5M = sharedPath("models", "tinystories-5m-f32.gguf");
    const dir = tempDir();
    const out = join(dir, "budget.gguf");
    const target = 2_981_920; // llama-quantize's Q4_K_M file size for this model (results.tsv)
    const cap = capture();
    expect(await runCli(["quantize", "--json", "--target-size", String(target), "--output-tensor-type", "q6_K", T5M, out, "Q4_K_M", "2"], cap.io), cap.err()).toBe(0);
    const r = JSON.parse(cap.out());
    const bytes = readFileSync(out);
    expect(bytes.length).toBe(r.totals.fileBytes);
    expect(bytes.length).toBeLessThanOrEqual(target);
    expect(r.budget.totalBytes).toBe(r.totals.bytes);
    // Every tensor in the file has the type the budget chose; the pinned output tensor kept its pinned type.
    const g = parseGgufBytes(new Uint8Array(bytes));
    const chosen = new Map<string, string>(r.budget.tensors.map((t: { name: string; type: string }) => [t.name, t.type]));
    expect(g.tensors.length).toBe(chosen.size);
    for (const t of g.tensors) expect(t.typeName, t.name).toBe(chosen.get(t.name));
    expect(chosen.get("output.weight")).toBe("q6_K");
    expect(new Set(chosen.values()).size).toBeGreaterThan(2); // a real mix, not one type
    expect(g.metadata.get("general.file_type")?.value).toBe(15); // TYPE still sets the ftype (Q4_K_M = 15)
  });

  it("--target-bpw refuses combinations it cannot honour", async () => {
    for (const extra of [["--prune-layers", "1"], ["--pure"], ["--target-size", "2MB"], ["--keep-split"]]) {
      const cap = capture();
      expect(await runCli(["quantize", "--target-bpw", "4", ...extra, MODEL, "out.gguf", "Q4_K_M"], cap.io)).toBe(2);
      expect(cap.err()).toContain("CLI_USAGE");
    }
    const cap = capture();
    expect(await runCli(["quantize", "--target-size", "two", MODEL, "out.gguf", "Q4_K_M"], cap.io)).toBe(2);
    expect(cap.err()).toContain("not a size");
  });
  it("--budget-calibrate: KLD-sensitivity-weighted budget runs on calibration text and fits the target", async () => {
    const dir = tempDir();
    const out = join(dir, "cal.gguf");
    const cal = join(dir, "cal.txt");
    writeFileSync(cal, readFileSync(sharedPath("data", "tinystories", "tinystories_train_split.txt"), "utf8").slice(0, 8000));
    const target = goldenSize("stories260K-Q4_K_M.gguf");
    const cap = capture();
    const argv = ["quantize", "--json", "--target-size", String(target), "--budget-calibrate", cal, "--budget-calibrate-chunks", "1", MODEL, out, "Q4_K_M", "1"];
    expect(await runCli(argv, cap.io), cap.err()).toBe(0);
    const r = JSON.parse(cap.out());
    const bytes = readFileSync(out);
    expect(bytes.length).toBe(r.totals.fileBytes);
    expect(bytes.length).toBeLessThanOrEqual(target);
    const g = parseGgufBytes(new Uint8Array(bytes));
    const chosen = new Map<string, string>(r.budget.tensors.map((t: { name: string; type: string }) => [t.name, t.type]));
    for (const t of g.tensors) expect(t.typeName, t.name).toBe(chosen.get(t.name));
    for (const bad of [["--budget-calibrate", cal], ["--target-bpw", "4", "--budget-calibrate", cal, "--budget-calibrate-chunks", "0"]]) {
      const c = capture();
      expect(await runCli(["quantize", ...bad, MODEL, join(dir, "x.gguf"), "Q4_K_M"], c.io)).toBe(2);
      expect(c.err()).toContain("CLI_USAGE");
    }
  }, 30_000);
});
