/**
 * Runs the public SchemeTester conformance suite (@quantlab/testing) over every built-in scheme registered
 * at the time the test runs, with the golden synth-cos vectors of ../shared/golden/quants as its golden input
 * (plain and, where ggml reads it, imatrix).
 */
import { describe, it } from "vitest";
import { describeSchemeConformance, readShared, readSharedF32, readSharedJson, type SchemeGoldenVector } from "@quantlab/testing";
import { builtinSchemes } from "./builtin.js";

interface FileRef { file: string }
interface Variant { q?: FileRef; deq?: FileRef; skipped?: boolean }
interface Manifest {
  types: { type_id: number; inputs?: Record<string, { plain?: Variant; imatrix?: Variant }> }[];
  inputs: { name: string; nrows: number; n_per_row: number; file: string; imatrix_file: string }[];
}

const manifest = readSharedJson<Manifest>("golden", "quants", "manifest.json");
const INPUT = "synth-cos";
const meta = manifest.inputs.find((i) => i.name === INPUT)!;

function goldenFor(ggmlType: number | null): SchemeGoldenVector[] {
  const t = manifest.types.find((x) => x.type_id === ggmlType);
  const v = t?.inputs?.[INPUT];
  if (!v) return [];
  const input = readSharedF32("golden", "quants", "inputs", meta.file);
  const out: SchemeGoldenVector[] = [];
  for (const variant of ["plain", "imatrix"] as const) {
    const e = v[variant];
    if (!e?.q || e.skipped) continue;
    out.push({
      name: `${INPUT} ${variant}`,
      input,
      nRows: meta.nrows,
      nPerRow: meta.n_per_row,
      importance: variant === "imatrix" ? readSharedF32("golden", "quants", "inputs", meta.imatrix_file) : null,
      expected: readShared("golden", "quants", e.q.file),
      ...(e.deq ? { expectedDequantized: readSharedF32("golden", "quants", e.deq.file) } : {}),
    });
  }
  return out;
}

describe("SchemeTester over the built-in schemes", () => {
  if (builtinSchemes.length === 0) it.todo("no built-in schemes registered yet");
  for (const scheme of builtinSchemes) {
    describeSchemeConformance(scheme, { golden: goldenFor(scheme.ggmlType) });
  }
});
