import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sharedPath } from "@quantlab/testing/fixtures";
import { runCli } from "../main.js";
import { capture } from "../test-utils/capture.js";

const MODEL = sharedPath("models", "stories260K.gguf");
const dir = mkdtempSync(join(tmpdir(), "quantlab-cli-sweep-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Debian's chromium (installed by .ci/setup-chromium.sh); the browser check is skipped visibly without it. */
function findChromium(): string | undefined {
  for (const c of [process.env.QUANTLAB_CHROMIUM, "chromium", "chromium-browser", "google-chrome"]) {
    if (!c) continue;
    const r = spawnSync(c, ["--version"], { encoding: "utf8" });
    if (r.status === 0) return c;
  }
  return undefined;
}
const chromium = findChromium();

describe("quantlab sweep (stories260K, 3 presets + imatrix, real evaluation)", () => {
  const out = join(dir, "report");
  const prompts = join(dir, "prompts.txt");
  writeFileSync(prompts, "Once upon a time\nThe cat sat\n");
  const argv = [
    "sweep", "-q", "-m", MODEL, "-o", out,
    "--presets", "Q6_K,Q4_K_M,Q2_K",
    "--imatrix", sharedPath("golden", "llamacpp-c392e50", "stories260K", "stories260K.imatrix.dat"),
    "--text", sharedPath("data", "tinystories", "tinystories_val_hf_head.txt"),
    "-c", "256", "--chunks", "3",
    "--mc", `arc=${sharedPath("data", "arc", "ARC-Easy-test.jsonl")}`, "--mc-tasks", "20",
    "--prompts", prompts, "-n", "8",
    "--vram", "1MiB", "--ctx", "256",
    "-t", "1",
  ];

  it("runs end to end: report.json/md/html + SVG charts, rows with and without imatrix, recommendation within VRAM", async () => {
    const cap = capture();
    expect(await runCli(argv, cap.io), cap.err()).toBe(0);
    for (const f of ["report.json", "report.md", "report.html", "kld-vs-bpw.svg", "ppl-vs-bpw.svg", "arc-accuracy-vs-bpw.svg"]) expect(existsSync(join(out, f)), f).toBe(true);
    const r = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    expect(r.rows.map((x: { label: string }) => x.label)).toEqual(["Q6_K", "Q6_K-imatrix", "Q4_K_M", "Q4_K_M-imatrix", "Q2_K", "Q2_K-imatrix"]);
    for (const row of r.rows) {
      expect(row.status).toBe("ok");
      expect(row.mc[0].tasks).toBe(20);
      expect(row.answers.length).toBe(2);
      expect(typeof row.fits).toBe("boolean");
    }
    const kld = (l: string) => r.rows.find((x: { label: string }) => x.label === l).meanKld as number;
    expect(kld("Q6_K")).toBeLessThan(kld("Q4_K_M"));
    expect(kld("Q4_K_M")).toBeLessThan(kld("Q2_K"));
    expect(kld("Q2_K-imatrix")).toBeLessThan(kld("Q2_K")); // the imatrix helps at low bits
    expect(r.recommendation.label).toBeDefined();
    expect(cap.out()).toContain("recommendation:");
  });

  it("a second run resumes from the saved rows (no re-quantization)", async () => {
    const cap = capture();
    const t0 = performance.now();
    expect(await runCli(argv.filter((a) => a !== "-q"), cap.io), cap.err()).toBe(0);
    expect(cap.err()).toContain("Q2_K-imatrix (saved)");
    expect(performance.now() - t0).toBeLessThan(30_000);
  });

  const browser = chromium ? it : it.skip;
  browser(`report.html renders in headless chromium with every chart point and no console errors${chromium ? "" : " (SKIPPED: no chromium; run .ci/setup-chromium.sh)"}`, () => {
    const html = join(out, "report.html");
    const r = spawnSync(chromium!, ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0", "--dump-dom", `file://${html}`], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const dom = r.stdout;
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    const n = report.rows.length; // 6 quantized rows, every one with a KLD > 0, a PPL and an ARC accuracy
    expect((dom.match(/<circle class="point"/g) ?? []).length).toBe(3 * n);
    expect((dom.match(/<svg /g) ?? []).length).toBe(3);
    expect(dom).toContain("Quantization study: stories260K.gguf");
    expect(r.stderr).not.toMatch(/CONSOLE|Uncaught|ERR_FILE_NOT_FOUND/);
  });
});
