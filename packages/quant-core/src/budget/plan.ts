/**
 * Budget-driven recipes: instead of a fixed preset, choose a type per tensor so that the model fits a size (bits per
 * weight, tensor bytes or file bytes) with the least total importance-weighted quantization error.
 *
 * Not in llama.cpp c392e50 (its presets are fixed rules). The measurement is real: each candidate type is applied to
 * each tensor and the error `Σ_rows Σ_j w_j (x − x̂)²` (w = imatrix column importance, else 1) is what the choice
 * minimises; see {@link measureBudgetCandidates} and {@link solveKnapsack}.
 *
 * The result feeds the quantize pipeline as per-tensor overrides (`tensorTypeOverrides`, exact-name anchored
 * patterns) on top of any quantized recipe: every tensor the recipe would quantize gets an override, so the
 * recipe's own rules never apply.
 */
import { ggmlTypeByName, ggmlTypeInfo, ggmlTypeName } from "@quantlab/gguf";
import type { QuantizationPlan, TensorTypeOverride } from "../recipes/plan.js";
import { BudgetError } from "./errors.js";
import { measureBudgetCandidates, type BudgetMeasurements, type BudgetSource, type MeasureOptions, type TensorMeasurement } from "./measure.js";
import { solveKnapsack, type BudgetSolver, type KnapsackOption } from "./solve.js";

/** Bytes added to the source header to estimate the output header (new keys: quantization version, imatrix info). */
export const FILE_HEADER_SLACK = 1024;

export interface BudgetOptions extends MeasureOptions {
  /** Target bits per weight: 8 × tensor data bytes / number of weights (every tensor, 1-D ones included). */
  readonly targetBpw?: number | undefined;
  /** Target tensor data bytes (sum of `ggml_nbytes`, what llama-quantize prints as the model size). */
  readonly targetBytes?: number | undefined;
  /**
   * Target file size: tensor data padded to the file's alignment plus the header, estimated as the source's header
   * plus {@link FILE_HEADER_SLACK} unless `headerBytes` is given.
   */
  readonly targetFileBytes?: number | undefined;
  /** Header size of the output file, for `targetFileBytes`. */
  readonly headerBytes?: number | undefined;
  /** Knapsack solver (default `auto`: exact when the table is small, which it is for models of any usual shape). */
  readonly solver?: BudgetSolver | undefined;
  /** Measurements from an earlier call on the same file and options (skips all quantization). */
  readonly measurements?: BudgetMeasurements | undefined;
  /**
   * Multiplies each tensor's measured error in the objective and in every reported error total (default 1): a
   * per-tensor sensitivity, e.g. from an eval (how much a unit of this tensor's output error moves the KLD). The
   * plain measured error treats a unit of output error the same in every matrix.
   */
  readonly sensitivity?: ((name: string) => number) | undefined;
}

export interface BudgetTensorChoice {
  readonly name: string;
  readonly shape: readonly number[];
  readonly nElements: number;
  readonly sourceType: number;
  readonly type: number;
  readonly typeName: string;
  readonly bytes: number;
  /** Weighted squared error of this tensor in the chosen type. */
  readonly error: number;
  readonly role: TensorMeasurement["role"];
  /** Bits per weight of this tensor. */
  readonly bpw: number;
}

export interface BudgetPlan {
  /** Every tensor in llama.cpp's output order, with its chosen type. */
  readonly tensors: readonly BudgetTensorChoice[];
  /** The budget the choice was made for: tensor data bytes (padded when the target was a file size). */
  readonly budgetBytes: number;
  /** Tensor data bytes of the choice (`ggml_nbytes` sum, unpadded). */
  readonly totalBytes: number;
  /** Tensor data bytes padded to the alignment, plus the header estimate: the expected file size. */
  readonly estimatedFileBytes: number | undefined;
  readonly nWeights: number;
  /** Achieved bits per weight: 8 × totalBytes / nWeights (results.tsv's and llama.cpp's bpw). */
  readonly bpw: number;
  /** Σ of the tensors' weighted squared errors. */
  readonly totalError: number;
  /** √(totalError / Σ weight mass): the importance-weighted RMS error per weight. */
  readonly weightedRmse: number;
  /** Lower bound on the total error of any choice within the budget (Lagrangian dual). */
  readonly lowerBound: number;
  readonly solver: "exact" | "lagrangian";
  /** The Lagrangian price per byte (error units per byte) at the budget. */
  readonly lambda: number;
  /** `tensorTypeOverrides` for the quantize pipeline: one exact-name anchored pattern per quantized tensor. */
  readonly overrides: readonly TensorTypeOverride[];
  /** Type name → tensor count and bytes, for every tensor. */
  readonly typeHistogram: Readonly<Record<string, { readonly count: number; readonly bytes: number }>>;
  readonly warnings: readonly string[];
  /** The measurements, to plan again for another budget without quantizing again. */
  readonly measurements: BudgetMeasurements;
}

/** A regular expression matching exactly this string. */
export function exactNamePattern(name: string): string {
  return `^${name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`;
}

/** Σ weight mass (× sensitivity): the weighted-RMSE denominator. */
function weightMass(m: BudgetMeasurements, scales: readonly number[]): number {
  let s = 0;
  m.tensors.forEach((t, i) => {
    s += t.weightMass * scales[i];
  });
  return s;
}

function sensitivities(m: BudgetMeasurements, f: ((name: string) => number) | undefined): number[] {
  return m.tensors.map((t) => {
    const v = f ? f(t.name) : 1;
    if (!Number.isFinite(v) || v < 0) throw new BudgetError("BUDGET_BAD_OPTIONS", `sensitivity of ${t.name} must be finite and >= 0, got ${v}`, { tensor: t.name });
    return v;
  });
}

function histogram(rows: readonly { typeName: string; bytes: number }[]): Record<string, { count: number; bytes: number }> {
  const h: Record<string, { count: number; bytes: number }> = {};
  for (const r of rows) {
    const e = (h[r.typeName] ??= { count: 0, bytes: 0 });
    e.count++;
    e.bytes += r.bytes;
  }
  return h;
}

function positive(v: number | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new BudgetError("BUDGET_BAD_OPTIONS", `${what} must be a positive finite number, got ${String(v)}`);
  return v;
}

/**
 * Chooses one type per tensor minimising the total importance-weighted squared error within the budget. Give
 * exactly one of `targetBpw`, `targetBytes`, `targetFileBytes`. Throws `BUDGET_INFEASIBLE` when the budget is below
 * the smallest reachable size, `BUDGET_BAD_OPTIONS` for bad options.
 */
export async function planBudget(file: BudgetSource, options: BudgetOptions): Promise<BudgetPlan> {
  const targetBpw = positive(options.targetBpw, "targetBpw");
  const targetBytes = positive(options.targetBytes, "targetBytes");
  const targetFileBytes = positive(options.targetFileBytes, "targetFileBytes");
  const nTargets = [targetBpw, targetBytes, targetFileBytes].filter((v) => v !== undefined).length;
  if (nTargets !== 1) {
    throw new BudgetError("BUDGET_BAD_OPTIONS", `give exactly one of targetBpw, targetBytes, targetFileBytes (got ${nTargets})`);
  }
  const measurements = options.measurements ?? (await measureBudgetCandidates(file, options));
  return solveBudget(measurements, options);
}

/** The solving half of {@link planBudget}, on measurements already made (synchronous, cheap). */
export function solveBudget(
  measurements: BudgetMeasurements,
  options: Pick<BudgetOptions, "targetBpw" | "targetBytes" | "targetFileBytes" | "headerBytes" | "solver" | "sensitivity">,
): BudgetPlan {
  const targetBpw = positive(options.targetBpw, "targetBpw");
  const targetBytes = positive(options.targetBytes, "targetBytes");
  const targetFileBytes = positive(options.targetFileBytes, "targetFileBytes");
  const nTargets = [targetBpw, targetBytes, targetFileBytes].filter((v) => v !== undefined).length;
  if (nTargets !== 1) {
    throw new BudgetError("BUDGET_BAD_OPTIONS", `give exactly one of targetBpw, targetBytes, targetFileBytes (got ${nTargets})`);
  }
  const align = measurements.alignment;
  const pad = (b: number): number => Math.ceil(b / align) * align;
  const header = options.headerBytes ?? (measurements.headerBytes !== undefined ? pad(measurements.headerBytes + FILE_HEADER_SLACK) : undefined);
  let budget: number;
  const padded = targetFileBytes !== undefined;
  if (targetBpw !== undefined) budget = Math.floor((targetBpw * measurements.nWeights) / 8);
  else if (targetBytes !== undefined) budget = Math.floor(targetBytes);
  else {
    if (header === undefined) throw new BudgetError("BUDGET_BAD_OPTIONS", "targetFileBytes needs headerBytes (the source's header size is unknown)");
    budget = Math.floor(targetFileBytes! - header);
  }

  const scales = sensitivities(measurements, options.sensitivity);
  const items: KnapsackOption[][] = measurements.tensors.map((t, i) =>
    t.options.map((o) => ({ bytes: padded ? pad(o.bytes) : o.bytes, error: o.error * scales[i] })),
  );
  let sol;
  try {
    sol = solveKnapsack(items, budget, options.solver ?? "auto");
  } catch (e) {
    if (e instanceof BudgetError && e.code === "BUDGET_INFEASIBLE") {
      const minBytes = e.minBytes ?? 0;
      const what =
        targetBpw !== undefined
          ? `${targetBpw} bpw (${budget} bytes of tensor data) is below the smallest reachable ${((8 * minBytes) / measurements.nWeights).toFixed(4)} bpw (${minBytes} bytes)`
          : targetBytes !== undefined
            ? `${budget} bytes of tensor data is below the smallest reachable ${minBytes} bytes`
            : `a file of ${targetFileBytes} bytes (${budget} for tensor data after a ${header}-byte header) is below the smallest reachable ${minBytes + header!} bytes`;
      throw new BudgetError("BUDGET_INFEASIBLE", `infeasible budget: ${what}, with candidates ${measurements.candidates.join(", ")}`, {
        minBytes,
        budgetBytes: budget,
      });
    }
    throw e;
  }

  const tensors: BudgetTensorChoice[] = measurements.tensors.map((t, i) => {
    const o = t.options[sol.choice[i]];
    return {
      name: t.name,
      shape: t.shape,
      nElements: t.nElements,
      sourceType: t.sourceType,
      type: o.type,
      typeName: o.typeName,
      bytes: o.bytes,
      error: o.error * scales[i],
      role: t.role,
      bpw: t.nElements > 0 ? (8 * o.bytes) / t.nElements : 0,
    };
  });
  let totalBytes = 0;
  let totalError = 0;
  let paddedBytes = 0;
  for (const t of tensors) {
    totalBytes += t.bytes;
    totalError += t.error;
    paddedBytes += pad(t.bytes);
  }
  const mass = weightMass(measurements, scales);
  return {
    tensors,
    budgetBytes: budget,
    totalBytes,
    estimatedFileBytes: header !== undefined ? header + paddedBytes : undefined,
    nWeights: measurements.nWeights,
    bpw: measurements.nWeights > 0 ? (8 * totalBytes) / measurements.nWeights : 0,
    totalError,
    weightedRmse: mass > 0 ? Math.sqrt(totalError / mass) : 0,
    lowerBound: sol.lowerBound,
    solver: sol.solver,
    lambda: sol.lambda,
    overrides: tensors.filter((t) => t.role !== "kept").map((t) => ({ pattern: exactNamePattern(t.name), type: t.typeName })),
    typeHistogram: histogram(tensors),
    warnings: measurements.warnings,
    measurements,
  };
}

export interface AssignmentEvaluation {
  readonly totalBytes: number;
  readonly totalError: number;
  readonly weightedRmse: number;
  readonly bpw: number;
  readonly typeHistogram: Readonly<Record<string, { readonly count: number; readonly bytes: number }>>;
}

/**
 * Total size and weighted error of a given per-tensor type assignment, from measurements (e.g. a preset's types
 * from {@link planQuantization}: pass the plan). Tensors the assignment does not name keep their measured single
 * option (kept / pinned tensors). Throws `BUDGET_NOT_MEASURED` for a type that was not measured on a tensor.
 */
export function evaluateAssignment(
  measurements: BudgetMeasurements,
  assignment: QuantizationPlan | ReadonlyMap<string, number | string>,
  options: Pick<BudgetOptions, "sensitivity"> = {},
): AssignmentEvaluation {
  const scales = sensitivities(measurements, options.sensitivity);
  const types = new Map<string, number>();
  if (assignment instanceof Map) {
    for (const [k, v] of assignment as ReadonlyMap<string, number | string>) {
      const id = typeof v === "number" ? v : ggmlTypeByName(v)?.id;
      if (id === undefined || !ggmlTypeInfo(id)) throw new BudgetError("BUDGET_BAD_OPTIONS", `assignment: unknown type '${String(v)}' for ${k}`, { tensor: k });
      types.set(k, id);
    }
  } else {
    for (const t of (assignment as QuantizationPlan).tensors) types.set(t.name, t.targetType);
  }
  const rows = measurements.tensors.map((t) => {
    const want = types.get(t.name);
    const o = want === undefined ? (t.options.length === 1 ? t.options[0] : undefined) : t.options.find((x) => x.type === want);
    if (!o) {
      throw new BudgetError(
        "BUDGET_NOT_MEASURED",
        want === undefined
          ? `assignment has no type for ${t.name}`
          : `${ggmlTypeName(want)} was not measured for ${t.name} (measured: ${t.options.map((x) => x.typeName).join(", ")})`,
        { tensor: t.name },
      );
    }
    return o;
  });
  let totalBytes = 0;
  let totalError = 0;
  rows.forEach((o, i) => {
    totalBytes += o.bytes;
    totalError += o.error * scales[i];
  });
  const mass = weightMass(measurements, scales);
  return {
    totalBytes,
    totalError,
    weightedRmse: mass > 0 ? Math.sqrt(totalError / mass) : 0,
    bpw: measurements.nWeights > 0 ? (8 * totalBytes) / measurements.nWeights : 0,
    typeHistogram: histogram(rows),
  };
}

/** A printable summary: totals, then the type histogram. */
export function formatBudgetSummary(plan: BudgetPlan): string {
  const lines: string[] = [];
  const mib = (b: number) => (b / 1048576).toFixed(2);
  lines.push(
    `budget ${plan.budgetBytes} bytes (${((8 * plan.budgetBytes) / plan.nWeights).toFixed(4)} bpw); chosen ${plan.totalBytes} bytes = ${mib(plan.totalBytes)} MiB, ${plan.bpw.toFixed(4)} bpw` +
      (plan.estimatedFileBytes !== undefined ? `, file ≈ ${plan.estimatedFileBytes} bytes` : ""),
  );
  const gap = plan.totalError > 0 ? (1 - plan.lowerBound / plan.totalError) * 100 : 0;
  lines.push(
    `weighted squared error ${plan.totalError.toExponential(4)} (RMSE ${plan.weightedRmse.toExponential(4)}), ${plan.solver} solver, ` +
      `lower bound ${plan.lowerBound.toExponential(4)} (gap ≤ ${Math.max(0, gap).toFixed(2)} %)`,
  );
  const entries = Object.entries(plan.typeHistogram).sort((a, b) => b[1].bytes - a[1].bytes);
  const w = Math.max(4, ...entries.map(([k]) => k.length));
  lines.push(`${"type".padEnd(w)}  tensors      bytes  share`);
  for (const [k, v] of entries) {
    lines.push(`${k.padEnd(w)}  ${String(v.count).padStart(7)}  ${String(v.bytes).padStart(9)}  ${((100 * v.bytes) / plan.totalBytes).toFixed(1).padStart(4)} %`);
  }
  return lines.join("\n");
}
