/**
 * Whole-model quantization: models/tinystories-5m-f32.gguf to Q4_K_M and Q8_0 at 1 and 2 threads, wall time and
 * peak RSS, printed beside llama-quantize's figures (../shared/golden/llamacpp-c392e50/tinystories-5m/PERF.md).
 *
 *   pnpm bench quantize                 (best of 3)
 *   pnpm bench quantize -- --runs 1
 *
 * Each run is a fresh child process (so peak RSS is that run's own): `process.resourceUsage().maxRSS` at the end
 * (worker threads included). "quantize s" is the quantizeModel call alone; "process s" is spawn to exit, which
 * includes Node's start and loading the TypeScript sources through tsx, as llama-quantize's wall time includes its
 * own start. The "(no-op)" row is a child that loads the same modules and quantizes nothing: the RSS floor of
 * Node + tsx. The reference was measured on a noisy 2-vCPU machine; compare ratios from one run, not absolutes.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sharedPath } from "@quantlab/testing";
import { quantizeModel, terminateQuantizePool } from "../src/index.js";

const MODEL = sharedPath("models", "tinystories-5m-f32.gguf");
const args = process.argv.slice(2);

if (args[0] === "--child") {
  const [, type, threads, out] = args;
  const t0 = performance.now();
  await quantizeModel(MODEL, out!, { type: type!, threads: Number(threads) });
  const seconds = (performance.now() - t0) / 1000;
  await terminateQuantizePool();
  process.stdout.write(`${JSON.stringify({ seconds, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
  process.exit(0);
}

if (args[0] === "--child-baseline") {
  // the same process with the same modules loaded, quantizing nothing: Node + tsx + sources
  process.stdout.write(`${JSON.stringify({ seconds: 0, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
  process.exit(0);
}

const runsIdx = args.indexOf("--runs");
const runs = runsIdx >= 0 ? Number(args[runsIdx + 1]) : 3;

/** llama-quantize rows of PERF.md: type → threads → { wall, rssMiB }. */
function reference(): Map<string, { wall: number; rssMiB: number }> {
  const text = readFileSync(sharedPath("golden", "llamacpp-c392e50", "tinystories-5m", "PERF.md"), "utf8");
  const m = new Map<string, { wall: number; rssMiB: number }>();
  for (const line of text.split("\n")) {
    const c = /^\|\s*(Q\w+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+) MiB\s*\|$/.exec(line);
    if (c) m.set(`${c[1]}/${c[2]}`, { wall: Number(c[3]), rssMiB: Number(c[4]) });
  }
  return m;
}

const self = fileURLToPath(import.meta.url);
const ref = reference();
const dir = mkdtempSync(join(tmpdir(), "quantlab-bench-"));
const rows: string[][] = [];
try {
  {
    const t0 = performance.now();
    const res = spawnSync(process.execPath, [...process.execArgv, self, "--child-baseline"], { encoding: "utf8" });
    const wall = (performance.now() - t0) / 1000;
    const j = JSON.parse(res.stdout.trim().split("\n").at(-1)!) as { maxRssKiB: number };
    rows.push(["(no-op)", "-", "-", wall.toFixed(2), (j.maxRssKiB / 1024).toFixed(1), "-", "-", "-", "-"]);
  }
  for (const type of ["Q8_0", "Q4_K_M"]) {
    for (const threads of [1, 2]) {
      let best = { seconds: Infinity, process: Infinity, rss: Infinity };
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        const res = spawnSync(process.execPath, [...process.execArgv, self, "--child", type, String(threads), join(dir, `${type}-${threads}.gguf`)], { encoding: "utf8" });
        const wall = (performance.now() - t0) / 1000;
        if (res.status !== 0) throw new Error(`child failed: ${res.stderr}`);
        const j = JSON.parse(res.stdout.trim().split("\n").at(-1)!) as { seconds: number; maxRssKiB: number };
        best = { seconds: Math.min(best.seconds, j.seconds), process: Math.min(best.process, wall), rss: Math.min(best.rss, j.maxRssKiB / 1024) };
      }
      const g = ref.get(`${type}/${threads}`);
      rows.push([
        type,
        String(threads),
        best.seconds.toFixed(2),
        best.process.toFixed(2),
        best.rss.toFixed(1),
        g ? g.wall.toFixed(2) : "-",
        g ? g.rssMiB.toFixed(1) : "-",
        g ? `${(best.seconds / g.wall).toFixed(1)}x` : "-",
        g ? `${(best.rss / g.rssMiB).toFixed(1)}x` : "-",
      ]);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const head = ["type", "threads", "quantize s", "process s", "peak RSS MiB", "llama-quantize s", "llama RSS MiB", "time ratio", "RSS ratio"];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const fmt = (r: string[]) => r.map((c, i) => c.padStart(widths[i]!)).join("  ");
console.log(`tinystories-5m-f32.gguf (19.95 MB F32), best of ${runs}; llama-quantize: PERF.md (best of 3, same machine class)`);
console.log(fmt(head));
console.log(fmt(widths.map((w) => "-".repeat(w))));
for (const r of rows) console.log(fmt(r));
