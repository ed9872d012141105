import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compareImatrix, loadImatrix, sortedNames } from "@quantlab/imatrix";
import { sharedPath } from "@quantlab/testing/fixtures";
import { runCli } from "../main.js";
import { capture } from "../test-utils/capture.js";

const MODEL = sharedPath("models", "stories260K.gguf");
const CALIB = sharedPath("data", "calibration", "wikitext2_train_5k.txt");
const GOLDEN_DAT = sharedPath("golden", "llamacpp-c392e50", "stories260K", "stories260K.imatrix.dat");

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const cap = capture();
  const code = await runCli(args, cap.io);
  return { code, out: cap.out(), err: cap.err() };
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "quantlab-cli-imx-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("quantlab imatrix", () => {
  it("-c 256 --chunks 20 on the calibration text = llama-imatrix's stories260K.imatrix.dat (max rel err <= 1e-3)", async () => {
    const dir = tempDir();
    const out = join(dir, "x.gguf");
    const r = await run(["imatrix", "-m", MODEL, "-f", CALIB, "-c", "256", "--chunks", "20", "-o", out, "-t", "1", "--save-frequency", "10"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^\[1\]\d+\.\d{4},.*\[20\]\d+\.\d{4},$/m);
    expect(r.out).toMatch(/^Final estimate: PPL = \d+\.\d{4} \+\/- \d+\.\d{5}$/m);
    expect(r.out).toContain(`saved imatrix to ${out} (gguf, 35 entries, 20 chunks)`);
    // snapshots at chunks 10 and 20 (--save-frequency 10) and the result; no temp files left behind
    expect(readdirSync(dir).sort()).toEqual(["x.gguf", "x.gguf.at_10", "x.gguf.at_20"]);
    const ours = await loadImatrix(out);
    const ref = await loadImatrix(GOLDEN_DAT, { chunkSize: 256 });
    expect(ours.format).toBe("gguf");
    expect(ours.chunkCount).toBe(20);
    expect(ours.chunkSize).toBe(256);
    const diff = compareImatrix(ours, ref);
    expect(diff.missing).toEqual([]);
    expect(diff.extra).toEqual([]);
    expect(diff.sizeMismatch).toEqual([]);
    expect(sortedNames(ours)).toEqual(sortedNames(ref));
    expect(diff.maxRelError).toBeLessThanOrEqual(1e-3);
    const snap = await loadImatrix(join(dir, "x.gguf.at_10"));
    expect(snap.chunkCount).toBe(10);
  });

  it("--in-file golden.dat -o y.gguf converts; back to .dat gives the same values", async () => {
    const dir = tempDir();
    const y = join(dir, "y.gguf");
    let r = await run(["imatrix", "--in-file", GOLDEN_DAT, "-c", "256", "-o", y]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`to ${y} (gguf, 35 entries, 20 chunks)`);
    const z = join(dir, "z.dat");
    r = await run(["imatrix", "--in-file", y, "-o", z, "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ format: "dat", entries: 35, chunkCount: 20, chunkSize: 256 });
    const ref = await loadImatrix(GOLDEN_DAT, { chunkSize: 256 });
    const back = await loadImatrix(z, { chunkSize: 256 });
    expect(back.format).toBe("dat");
    expect(sortedNames(back)).toEqual(sortedNames(ref));
    for (const name of sortedNames(ref)) {
      expect(Array.from(back.entries.get(name)!.sums), name).toEqual(Array.from(ref.entries.get(name)!.sums));
      expect(Array.from(back.entries.get(name)!.counts), name).toEqual(Array.from(ref.entries.get(name)!.counts));
    }
    // two --in-file: combined (counts and chunks add up)
    const w = join(dir, "w.gguf");
    r = await run(["imatrix", "--in-file", GOLDEN_DAT, "--in-file", y, "-c", "256", "-o", w, "-q"]);
    expect(r.code, r.err).toBe(0);
    const both = await loadImatrix(w);
    expect(both.chunkCount).toBe(40);
    const e = both.entries.get("blk.0.attn_q.weight")!;
    expect(e.counts[0]).toBe(2 * ref.entries.get("blk.0.attn_q.weight")!.counts[0]!);
  });

  it("--show-statistics prints a row per entry (and a row per layer)", async () => {
    const r = await run(["imatrix", "--in-file", GOLDEN_DAT, "-c", "256", "--show-statistics"]);
    expect(r.code, r.err).toBe(0);
    const [tensors, layers] = r.out.split("Computing layer statistics");
    const rows = tensors!.split("\n").filter((l) => /^ +\d+\t/.test(l));
    expect(rows).toHaveLength(35);
    const ref = await loadImatrix(GOLDEN_DAT, { chunkSize: 256 });
    // each row names its layer and tensor kind, e.g. "    0\tattn_q   ..."; every entry appears once
    const names = rows.map((l) => {
      const [layer, kind] = l.split("\t").map((s) => s.trim());
      return `blk.${layer}.${kind}.weight`;
    });
    expect(names.sort()).toEqual(sortedNames(ref));
    expect(layers!.split("\n").filter((l) => /^ +\d+\t/.test(l)).length).toBeGreaterThan(0);
  });

  it("usage errors exit 2; missing inputs are typed errors", async () => {
    for (const args of [
      ["imatrix", "-m", MODEL],
      ["imatrix", "--show-statistics"],
      ["imatrix", "-f", CALIB],
      ["imatrix", "--in-file", GOLDEN_DAT, "--output-format", "txt"],
      ["imatrix", "-m", MODEL, "-f", CALIB, "-c", "-5"],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toContain("[CLI_USAGE]");
    }
    const r = await run(["imatrix", "--in-file", "/nonexistent/i.dat", "-o", join(tempDir(), "o.gguf")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("[CLI_FILE_NOT_FOUND]");
  });
});
