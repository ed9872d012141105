/**
 * `pnpm bench [name...] [-- args]`: runs the benchmark scripts (each prints its own table with ratios against a
 * baseline measured in the same run or recorded by the reference on this machine class).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const BENCHES: Record<string, string> = {
  gguf: "packages/gguf/bench/header.bench.ts",
  quant: "packages/quant-core/bench/quantize.bench.ts",
  quantize: "packages/quant-core/bench/quantize-model.bench.ts",
  budget: "packages/quant-core/bench/budget.bench.ts",
  matmul: "packages/kernels/bench/matmul.ts",
  gpu: "packages/kernels/bench/gpu.ts",
  forward: "packages/runtime/bench/forward.ts",
  perplexity: "packages/eval/bench/perplexity.bench.ts",
  imatrix: "packages/imatrix/bench/golden-check.ts",
};
/** Long runs (minutes) only run when named. */
const ON_REQUEST = new Set(["imatrix"]);

const argv = process.argv.slice(2);
const dd = argv.indexOf("--");
const names = (dd >= 0 ? argv.slice(0, dd) : argv).filter((a) => !a.startsWith("-"));
const passthrough = dd >= 0 ? argv.slice(dd + 1) : argv.filter((a) => a.startsWith("-"));
const selected = names.length ? names : Object.keys(BENCHES).filter((n) => !ON_REQUEST.has(n));
let failed = 0;
for (const name of selected) {
  const file = BENCHES[name];
  if (!file) {
    console.error(`unknown benchmark '${name}'; known: ${Object.keys(BENCHES).join(", ")}`);
    failed++;
    continue;
  }
  if (!existsSync(file)) {
    console.log(`## ${name}: not written yet (${file})`);
    continue;
  }
  console.log(`## ${name} (${file})`);
  const r = spawnSync(process.execPath, ["--conditions=source", "--import", "tsx", file, ...passthrough], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
