/**
 * Measurement for the budget planner: for every tensor that llama-quantize would quantize, each candidate type is
 * actually applied (quantize with the tensor's importance data, then dequantize) and the importance-weighted squared
 * error `Σ_rows Σ_j w_j (x_j − x̂_j)²` is recorded with the tensor's byte size in that type.
 *
 * Which tensors are quantized at all comes from {@link planQuantization} (llama.cpp c392e50's eligibility: weights of
 * two or more dimensions, no norms, no positional/gating/conv tensors, `leaveOutputTensor`), so the budget planner
 * never touches a tensor that a recipe would leave alone.
 */
import { GGMLQuantizationType as T, LlamaFileType as F, GGUF_DEFAULT_ALIGNMENT, ggmlTypeByName, ggmlTypeInfo, ggmlTypeName } from "@quantlab/gguf";
import { builtinRegistry } from "../builtin.js";
import type { ImatrixData } from "../imatrix-file.js";
import { quantizeTensorParallel } from "../parallel.js";
import { dequantizeTensor } from "../registry.js";
import { planQuantization, tensorBytes, type TensorTypeOverride } from "../recipes/plan.js";
import type { GgufHeaderLike } from "../recipes/model.js";
import { shapeFallbackC392e50, tensorRequiresImatrixC392e50 } from "../recipes/llama-mix.js";
import { BudgetError } from "./errors.js";

/** The default candidate ladder: the K-quants and Q8_0. */
export const DEFAULT_BUDGET_CANDIDATES: readonly string[] = Object.freeze(["q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_0"]);
/** Added to the default ladder when an importance matrix is given (the IQ types are made for one). */
export const DEFAULT_BUDGET_IMATRIX_CANDIDATES: readonly string[] = Object.freeze(["iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq4_xs"]);

/** The GGUF input as the budget planner reads it: an opened {@link GgufFile} fits. */
export interface BudgetSource extends GgufHeaderLike {
  readTensorData(name: string): Promise<Uint8Array>;
  /** Size of the header (absolute offset of the tensor data), used to estimate the file size. */
  readonly dataOffset?: number | undefined;
  readonly alignment?: number | undefined;
}

/** Importance data: a parsed imatrix file, or tensor name → per-column importance (`ne0 · ne2` values). */
export type BudgetImatrix = ImatrixData | ReadonlyMap<string, Float32Array>;

export interface MeasureOptions {
  /** ggml type names to choose from (see {@link DEFAULT_BUDGET_CANDIDATES}). */
  readonly candidates?: readonly string[] | undefined;
  readonly imatrix?: BudgetImatrix | undefined;
  /** `--include-weights`: use importance data only for tensors whose name contains one of these. */
  readonly includeWeights?: readonly string[] | undefined;
  /** `--exclude-weights`: never use importance data for tensors whose name contains one of these. */
  readonly excludeWeights?: readonly string[] | undefined;
  /** Worker threads for quantization (`quantizeTensorParallel`). */
  readonly threads?: number | undefined;
  /**
   * Tensors whose type is pinned rather than chosen: first matching pattern wins (search, like `--tensor-type`).
   * Their bytes count against the budget. 1-D tensors and norms are never quantized anyway (llama.cpp keeps them).
   */
  readonly fixed?: readonly TensorTypeOverride[] | undefined;
  /** Keep `output.weight` as stored (`--leave-output-tensor`). */
  readonly leaveOutputTensor?: boolean | undefined;
  /** Allow tensors that are already quantized in the source (they are dequantized first). */
  readonly allowRequantize?: boolean | undefined;
  readonly onProgress?: ((p: BudgetProgress) => void) | undefined;
}

export interface BudgetProgress {
  readonly phase: "measure";
  /** Tensors measured so far (before this one) and the number to measure. */
  readonly done: number;
  readonly total: number;
  readonly tensor: string;
}

/** One measured choice for one tensor. */
export interface CandidateMeasurement {
  readonly type: number;
  readonly typeName: string;
  /** `ggml_nbytes` in this type. */
  readonly bytes: number;
  /** Σ_rows Σ_j w_j (x − x̂)², in double precision. */
  readonly error: number;
}

export interface TensorMeasurement {
  /** Name (output name = source name). */
  readonly name: string;
  readonly shape: readonly number[];
  readonly nElements: number;
  readonly sourceType: number;
  /**
   * `optimise`: its type is chosen among `options`; `pinned`: `fixed` chose it (one option);
   * `kept`: not quantized by llama.cpp's rules (1-D, norms, ...), stored as is (one option, error 0).
   * `output.weight` with `leaveOutputTensor` is `pinned` to its stored type (error 0).
   */
  readonly role: "optimise" | "pinned" | "kept";
  /** Why it is pinned or kept. */
  readonly detail: string;
  readonly options: readonly CandidateMeasurement[];
  /** Importance data was used (quantization and error weights). */
  readonly usesImatrix: boolean;
  /** Σ_rows Σ_j w_j: the weighted-RMSE denominator (0 for kept tensors). */
  readonly weightMass: number;
}

export interface BudgetMeasurements {
  readonly tensors: readonly TensorMeasurement[];
  /** Number of weights of every tensor, 1-D ones included (the denominator of llama.cpp's bpw). */
  readonly nWeights: number;
  readonly candidates: readonly string[];
  readonly hasImatrix: boolean;
  /** Header bytes of the source file, when known (for file-size budgets). */
  readonly headerBytes: number | undefined;
  readonly alignment: number;
  readonly warnings: readonly string[];
}

/** Name → importance, filtered as `prepare_imatrix` (quantize.cpp) filters with include / exclude substrings. */
function importanceMap(im: BudgetImatrix | undefined, include: readonly string[], exclude: readonly string[]): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  if (!im) return m;
  if (include.length > 0 && exclude.length > 0) {
    throw new BudgetError("BUDGET_BAD_OPTIONS", "includeWeights and excludeWeights cannot be used together");
  }
  const passes = (n: string): boolean => !exclude.some((s) => n.includes(s)) && (include.length === 0 || include.some((s) => n.includes(s)));
  const entries: Iterable<[string, Float32Array]> =
    "entries" in im && "format" in im
      ? [...(im as ImatrixData).entries].map(([k, e]): [string, Float32Array] => [k, e.importance])
      : (im as ReadonlyMap<string, Float32Array>);
  for (const [k, v] of entries) if (passes(k)) m.set(k, v);
  return m;
}

function parseTypeName(name: string | number, what: string): number {
  const info = typeof name === "number" ? ggmlTypeInfo(name) : ggmlTypeByName(name.trim());
  if (!info || !builtinRegistry().findByType(info.id)) {
    throw new BudgetError("BUDGET_BAD_OPTIONS", `${what}: '${String(name)}' is not a ggml type this library can write`);
  }
  return info.id;
}

/** The source tensor as float32 in shared memory (so worker threads read it in place). */
function toF32(name: string, type: number, bytes: Uint8Array, n: number, allowRequantize: boolean, file: string | undefined): Float32Array {
  const out = new Float32Array(new SharedArrayBuffer(n * 4));
  if (type === T.F32) {
    out.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * 4)));
    return out;
  }
  const info = ggmlTypeInfo(type);
  const scheme = builtinRegistry().findByType(type);
  const isFloat = type === T.F16 || type === T.BF16;
  if (!scheme || !info || (!isFloat && !allowRequantize)) {
    throw new BudgetError(
      "BUDGET_SOURCE_TYPE",
      isFloat || !scheme ? `cannot read tensor type ${ggmlTypeName(type)} as floats` : `requantizing from type ${ggmlTypeName(type)} is disabled (allowRequantize)`,
      { tensor: name, file },
    );
  }
  dequantizeTensor(scheme, bytes, n, out, name);
  return out;
}

/**
 * Quantizes every eligible tensor with every candidate type valid for it and measures size and weighted error.
 * A candidate whose block size does not divide a tensor's row length is replaced, for that tensor, by llama.cpp's
 * fallback type (`q4_K` → `q5_0`, ...); types that need importance data are skipped for tensors without any.
 */
export async function measureBudgetCandidates(file: BudgetSource, options: MeasureOptions = {}): Promise<BudgetMeasurements> {
  const imatrix = importanceMap(options.imatrix, options.includeWeights ?? [], options.excludeWeights ?? []);
  const hasImatrix = imatrix.size > 0;
  const candidateNames = options.candidates ?? (hasImatrix ? [...DEFAULT_BUDGET_CANDIDATES, ...DEFAULT_BUDGET_IMATRIX_CANDIDATES] : DEFAULT_BUDGET_CANDIDATES);
  if (candidateNames.length === 0) throw new BudgetError("BUDGET_BAD_OPTIONS", "candidates is empty");
  const candidates = [...new Set(candidateNames.map((c) => parseTypeName(c, "candidates")))];
  const fixed = (options.fixed ?? []).map((o) => {
    let re: RegExp;
    try {
      re = typeof o.pattern === "string" ? new RegExp(o.pattern) : new RegExp(o.pattern.source, o.pattern.flags.replace(/[gy]/g, ""));
    } catch (e) {
      throw new BudgetError("BUDGET_BAD_OPTIONS", `fixed: bad pattern '${String(o.pattern)}'`, {}, { cause: e });
    }
    return { re, type: parseTypeName(o.type, `fixed '${String(o.pattern)}'`) };
  });
  const allowRequantize = options.allowRequantize === true;

  // llama.cpp's eligibility (and order) through the planner: a pure Q8_0 plan, only `reason` is used
  const plan = planQuantization(file, "Q8_0", {
    pure: true,
    leaveOutputTensor: options.leaveOutputTensor === true,
    allowRequantize: true,
  });
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const warnings: string[] = [];
  const nToMeasure = plan.tensors.filter((t) => t.reason === "default").length;
  let done = 0;
  let nWeights = 0;
  const out: TensorMeasurement[] = [];

  for (const pt of plan.tensors) {
    nWeights += pt.nElements;
    const shape = pt.shape;
    const sourceBytes = tensorBytes(pt.sourceType, shape);
    if (pt.reason !== "default") {
      out.push({
        name: pt.name,
        shape,
        nElements: pt.nElements,
        sourceType: pt.sourceType,
        // leaveOutputTensor: pinned to the stored type, so the overrides keep it even if the pipeline is not told
        role: pt.reason === "leave-output-tensor" ? "pinned" : "kept",
        detail: pt.detail || pt.reason,
        options: [{ type: pt.sourceType, typeName: ggmlTypeName(pt.sourceType), bytes: sourceBytes, error: 0 }],
        usesImatrix: false,
        weightMass: 0,
      });
      continue;
    }
    const ne0 = shape[0] ?? 1;
    const nSlices = shape.slice(2).reduce((a, b) => a * b, 1);
    const rowsPerSlice = pt.nElements / ne0 / nSlices;
    const imp = imatrix.get(pt.sourceName);
    let importance: Float32Array | undefined;
    if (imp) {
      if (imp.length === ne0 * nSlices) importance = imp;
      else warnings.push(`${pt.name}: importance vector has ${imp.length} values, expected ${ne0 * nSlices}; not used`);
    } else if (hasImatrix) {
      warnings.push(`${pt.name}: no importance data; error weights are 1`);
    }

    // the types to measure for this tensor
    const pin = fixed.find((f) => f.re.test(pt.name));
    let role: TensorMeasurement["role"] = "optimise";
    let detail = "";
    let types: number[] = [];
    if (pin) {
      const bs = ggmlTypeInfo(pin.type)?.blockSize ?? 1;
      if (ne0 % bs !== 0) {
        throw new BudgetError("BUDGET_BAD_OPTIONS", `fixed: ${ggmlTypeName(pin.type)} needs rows of a multiple of ${bs}; ${pt.name} has ${ne0}`, { tensor: pt.name });
      }
      role = "pinned";
      detail = `matched /${pin.re.source}/`;
      types = [pin.type];
    } else {
      for (const c of candidates) {
        let ty: number | undefined = c;
        if (ne0 % (ggmlTypeInfo(c)?.blockSize ?? 1) !== 0) {
          ty = shapeFallbackC392e50(c, ne0);
          if (ty !== undefined && ne0 % (ggmlTypeInfo(ty)?.blockSize ?? 1) !== 0) ty = undefined;
          if (ty === undefined || !builtinRegistry().findByType(ty)) continue;
        }
        const scheme = builtinRegistry().byType(ty);
        if (!importance && (scheme.needs.importance === "required" || tensorRequiresImatrixC392e50(pt.name, ty, F.MOSTLY_Q8_0))) continue;
        if (!types.includes(ty)) types.push(ty);
      }
      if (types.length === 0) {
        role = "pinned";
        detail = `no candidate type fits rows of ${ne0}: kept as ${ggmlTypeName(pt.sourceType)}`;
        warnings.push(`${pt.name}: ${detail}`);
        types = [pt.sourceType];
      }
    }

    options.onProgress?.({ phase: "measure", done, total: nToMeasure, tensor: pt.name });
    const src = byName.get(pt.sourceName);
    if (!src) throw new BudgetError("BUDGET_BAD_OPTIONS", `tensor ${pt.sourceName} is not in the file`, { tensor: pt.sourceName });
    const raw = await file.readTensorData(pt.sourceName);
    const x = toF32(pt.name, pt.sourceType, raw, pt.nElements, allowRequantize, file.file);

    // weight mass Σ_rows Σ_j w_j
    let weightMass = 0;
    if (importance) {
      for (let s = 0; s < nSlices; s++) {
        let sw = 0;
        for (let j = 0; j < ne0; j++) sw += importance[s * ne0 + j];
        weightMass += sw * rowsPerSlice;
      }
    } else {
      weightMass = pt.nElements;
    }

    const deq = new Float32Array(rowsPerSlice * ne0);
    const opts: CandidateMeasurement[] = [];
    for (const ty of types) {
      const bytes = tensorBytes(ty, shape);
      if (ty === pt.sourceType && ty === T.F32) {
        opts.push({ type: ty, typeName: ggmlTypeName(ty), bytes, error: 0 });
        continue;
      }
      const scheme = builtinRegistry().byType(ty);
      let error = 0;
      for (let s = 0; s < nSlices; s++) {
        const n = rowsPerSlice * ne0;
        const xs = x.subarray(s * n, (s + 1) * n);
        const w = importance ? importance.subarray(s * ne0, (s + 1) * ne0) : undefined;
        const q = await quantizeTensorParallel(scheme.name, xs, rowsPerSlice, ne0, {
          importance: w ?? null,
          threads: options.threads,
          tensorName: pt.name,
        });
        dequantizeTensor(scheme, q, n, deq, pt.name);
        error += weightedSquaredError(xs, deq, rowsPerSlice, ne0, w);
      }
      opts.push({ type: ty, typeName: ggmlTypeName(ty), bytes, error });
    }
    done++;
    out.push({
      name: pt.name,
      shape,
      nElements: pt.nElements,
      sourceType: pt.sourceType,
      role,
      detail,
      options: opts,
      usesImatrix: importance !== undefined,
      weightMass,
    });
  }
  if (nToMeasure > 0) options.onProgress?.({ phase: "measure", done, total: nToMeasure, tensor: "" });
  return {
    tensors: out,
    nWeights,
    candidates: candidates.map(ggmlTypeName),
    hasImatrix,
    headerBytes: file.dataOffset,
    alignment: file.alignment ?? GGUF_DEFAULT_ALIGNMENT,
    warnings,
  };
}

/** Σ_rows Σ_j w_j (x − y)² in double (w = 1 when absent). */
export function weightedSquaredError(x: Float32Array, y: Float32Array, nRows: number, nPerRow: number, w?: Float32Array): number {
  let total = 0;
  for (let r = 0; r < nRows; r++) {
    const o = r * nPerRow;
    let sum = 0;
    if (w) {
      for (let j = 0; j < nPerRow; j++) {
        const d = x[o + j] - y[o + j];
        sum += w[j] * d * d;
      }
    } else {
      for (let j = 0; j < nPerRow; j++) {
        const d = x[o + j] - y[o + j];
        sum += d * d;
      }
    }
    total += sum;
  }
  return total;
}
