/**
 * Budget-driven mixes vs llama.cpp's fixed presets at the same size, on tinystories-5m (../shared/models) with
 * llama.cpp's importance matrix (../shared/golden/llamacpp-c392e50/tinystories-5m/imatrix.dat).
 *
 *   pnpm bench budget                 (default: 2 threads)
 *   pnpm bench budget -- --threads 4
 *
 * Quality metric: total importance-weighted RMSE, √(Σ_tensors Σ_rows Σ_j w_j (x − x̂)² / Σ w), w = imatrix column
 * importance (1 for token_embd/output, which the imatrix does not cover). There is no eval package yet, so this is
 * a proxy, not KLD; the presets' measured KLD (results.tsv, same imatrix) is printed for context only.
 *
 * For each preset P (Q2_K, Q3_K_M, Q4_K_M, Q5_K_M): the budget is P's tensor data bytes (planQuantization with the
 * imatrix); its file size is results.tsv's size_bytes, and since the header is the same, a mix with no more tensor
 * bytes gives a file no larger than P's. The preset's error is measured with the same metric on its own per-tensor
 * types (quantized with the imatrix, as llama-quantize --imatrix does).
 */
import { readFileSync } from "node:fs";
import { openGguf } from "@quantlab/gguf";
import { sharedPath } from "@quantlab/testing";
import {
  DEFAULT_BUDGET_CANDIDATES,
  evaluateAssignment,
  formatBudgetSummary,
  measureBudgetCandidates,
  parseImatrixDat,
  planQuantization,
  solveBudget,
  terminateQuantizePool,
  type BudgetMeasurements,
} from "../src/index.js";

const args = process.argv.slice(2);
const ti = args.indexOf("--threads");
const threads = ti >= 0 ? Number(args[ti + 1]) : 2;
const verbose = args.includes("--verbose");

const dir = ["golden", "llamacpp-c392e50", "tinystories-5m"];
const file = await openGguf(sharedPath("models", "tinystories-5m-f32.gguf"));
const imatrix = parseImatrixDat(readFileSync(sharedPath(...dir, "imatrix.dat")));

interface Row { size: number; kld: number }
const results = new Map<string, Row>();
{
  const [head, ...lines] = readFileSync(sharedPath(...dir, "results.tsv"), "utf8").trim().split("\n");
  const cols = head!.split("\t");
  for (const l of lines) {
    const c = l.split("\t");
    results.set(`${c[cols.indexOf("preset")]}/${c[cols.indexOf("imatrix")]}`, {
      size: Number(c[cols.indexOf("size_bytes")]),
      kld: Number(c[cols.indexOf("mean_kld")]),
    });
  }
}

/** The same measurements restricted to some candidate types (pinned and kept tensors unchanged). */
function restrict(m: BudgetMeasurements, types: readonly string[]): BudgetMeasurements {
  return {
    ...m,
    candidates: types,
    tensors: m.tensors.map((t) => (t.role === "optimise" ? { ...t, options: t.options.filter((o) => types.includes(o.typeName)) } : t)),
  };
}

async function measure(withImatrix: boolean): Promise<[BudgetMeasurements, number]> {
  const t0 = performance.now();
  let lastPrint = 0;
  const m = await measureBudgetCandidates(file, {
    imatrix: withImatrix ? imatrix : undefined,
    threads,
    onProgress: (p) => {
      if (p.done === p.total || performance.now() - lastPrint > 5000) {
        lastPrint = performance.now();
        process.stderr.write(`  measuring ${p.done}/${p.total} ${p.tensor}\n`);
      }
    },
  });
  return [m, (performance.now() - t0) / 1000];
}

const PRESETS = ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M"];

function table(title: string, m: BudgetMeasurements, sets: [string, BudgetMeasurements][], imatrixKey: "yes" | "no"): void {
  console.log(`\n### ${title}`);
  const head = ["preset", "file bytes", "data bytes", "preset bpw", "preset wRMSE", "preset KLD*", ...sets.flatMap(([n]) => [`${n} bpw`, `${n} wRMSE`, `${n} Δ`])];
  const rows: string[][] = [];
  for (const p of PRESETS) {
    const plan = planQuantization(file, p, { imatrix: imatrixKey === "yes" ? imatrix.entries : undefined });
    const ref = evaluateAssignment(m, plan);
    const r = results.get(`${p}/${imatrixKey}`)!;
    const row = [p, String(r.size), String(ref.totalBytes), ref.bpw.toFixed(4), ref.weightedRmse.toExponential(4), r.kld.toFixed(6)];
    for (const [, ms] of sets) {
      const ours = solveBudget(ms, { targetBytes: ref.totalBytes });
      if (ours.totalBytes > ref.totalBytes) throw new Error("budget exceeded");
      row.push(ours.bpw.toFixed(4), ours.weightedRmse.toExponential(4), `${((ours.weightedRmse / ref.weightedRmse - 1) * 100).toFixed(1)} %`);
      if (verbose) console.log(`${p}:\n${formatBudgetSummary(ours)}\n`);
    }
    rows.push(row);
  }
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => `| ${r.map((c, i) => c.padStart(w[i]!)).join(" | ")} |`;
  console.log(fmt(head));
  console.log(`|${w.map((n) => "-".repeat(n + 2)).join("|")}|`);
  for (const r of rows) console.log(fmt(r));
}

console.log(`tinystories-5m, ${file.tensors.length} tensors, ${threads} threads`);
const [mi, ti1] = await measure(true);
console.log(`measured ${mi.candidates.join(", ")} with the imatrix in ${ti1.toFixed(1)} s`);
const kOnly = restrict(mi, DEFAULT_BUDGET_CANDIDATES);
table("with imatrix (presets = llama-quantize --imatrix; ours: K-quants+q8_0 | K+IQ ladder)", mi, [["K", kOnly], ["K+IQ", mi]], "yes");

const [mn, tn] = await measure(false);
console.log(`\nmeasured ${mn.candidates.join(", ")} without imatrix (w = 1) in ${tn.toFixed(1)} s`);
table("without imatrix (w = 1; presets = plain llama-quantize)", mn, [["K", mn]], "no");

console.log("\nwRMSE = total importance-weighted RMSE (lower is better); Δ = ours vs the preset at no more tensor bytes.");
console.log("* preset KLD: llama-perplexity mean KLD from results.tsv (context only; ours was not run through an eval yet).");
const four = solveBudget(mi, { targetBpw: 4.5 });
console.log(`\nexample, --target-bpw 4.5 with the K+IQ ladder:\n${formatBudgetSummary(four)}`);
await terminateQuantizePool();
