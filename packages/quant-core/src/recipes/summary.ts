/**
 * A dry-run summary of a plan: what `llama-quantize --dry-run` prints (per-tensor target type and size, total size)
 * and the effective bits per weight llama.cpp reports.
 */
import { GGUF_DEFAULT_ALIGNMENT, ggmlTypeName } from "@quantlab/gguf";
import type { QuantizationPlan } from "./plan.js";

export interface DryRunTensorRow {
  readonly name: string;
  readonly shape: readonly number[];
  readonly sourceType: string;
  readonly targetType: string;
  readonly quantize: boolean;
  readonly sourceBytes: number;
  readonly bytes: number;
  /** Bits per weight of this tensor after quantization. */
  readonly bpw: number;
}

export interface DryRunSummary {
  readonly recipe: string;
  readonly ftype: number;
  readonly tensors: readonly DryRunTensorRow[];
  /** Number of weights of every tensor, 1-D ones included (the denominator llama.cpp uses). */
  readonly nWeights: number;
  /** Sum of tensor data bytes before and after (`total_size_org`, `total_size_new`). */
  readonly sourceBytes: number;
  readonly totalBytes: number;
  /** Tensor data bytes with each tensor padded to `GGUF_DEFAULT_ALIGNMENT` (32), as laid out in the file. */
  readonly paddedBytes: number;
  /** Effective bits per weight: totalBytes * 8 / nWeights. */
  readonly bpw: number;
  /** Count of tensors per target type name. */
  readonly typeCounts: Readonly<Record<string, number>>;
  readonly ok: boolean;
  readonly refusal: string | undefined;
}

/** Summarises a plan (see {@link planQuantization}). */
export function dryRunSummary(plan: QuantizationPlan): DryRunSummary {
  let nWeights = 0;
  let sourceBytes = 0;
  let totalBytes = 0;
  let paddedBytes = 0;
  const typeCounts: Record<string, number> = {};
  const rows: DryRunTensorRow[] = plan.tensors.map((t) => {
    nWeights += t.nElements;
    sourceBytes += t.sourceBytes;
    totalBytes += t.bytes;
    paddedBytes += Math.ceil(t.bytes / GGUF_DEFAULT_ALIGNMENT) * GGUF_DEFAULT_ALIGNMENT;
    const targetType = ggmlTypeName(t.targetType);
    typeCounts[targetType] = (typeCounts[targetType] ?? 0) + 1;
    return {
      name: t.name,
      shape: t.shape,
      sourceType: ggmlTypeName(t.sourceType),
      targetType,
      quantize: t.quantize,
      sourceBytes: t.sourceBytes,
      bytes: t.bytes,
      bpw: t.nElements > 0 ? (t.bytes * 8) / t.nElements : 0,
    };
  });
  return {
    recipe: plan.recipe.name,
    ftype: plan.ftype,
    tensors: rows,
    nWeights,
    sourceBytes,
    totalBytes,
    paddedBytes,
    bpw: nWeights > 0 ? (totalBytes * 8) / nWeights : 0,
    typeCounts,
    ok: plan.ok,
    refusal: plan.refusal?.message,
  };
}
