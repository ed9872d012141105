/**
 * Prints the error of rtn_q4_g64 beside q4_0 and q4_K on real weights of tinystories-5m, with and without the
 * llama.cpp imatrix of that model. From the repository root:
 *
 *   TSX_TSCONFIG_PATH=docs/examples/rtn-int4/tsconfig.json node --conditions=source --import tsx docs/examples/rtn-int4/compare.ts
 */
import { builtinSchemes, createSchemeRegistry } from "@quantlab/quant-core";
import { readShared, sharedPath } from "@quantlab/testing";
import { evaluateSchemes } from "./evaluate.js";
import { rtnInt4 } from "./rtn-int4.js";

const registry = createSchemeRegistry([...builtinSchemes, rtnInt4]);
const rows = await evaluateSchemes({
  registry,
  schemes: ["q4_0", "q4_K", "rtn_q4_g64"],
  modelPath: sharedPath("models", "tinystories-5m-f32.gguf"),
  imatrixBytes: readShared("golden", "llamacpp-c392e50", "tinystories-5m", "imatrix.dat"),
  tensors: ["blk.0.attn_q.weight", "blk.3.ffn_up.weight", "blk.5.ffn_down.weight"],
});

const header = ["tensor", "scheme", "bpw", "rel. RMSE", "weighted err", "weighted err, imatrix"];
const table = rows.map((r) => [
  r.tensor,
  r.scheme,
  r.bpw.toFixed(2),
  r.relRmse.toFixed(4),
  r.weightedErr.toExponential(3),
  r.weightedErrImatrix.toExponential(3),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
console.log(line(header));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const row of table) console.log(line(row));
