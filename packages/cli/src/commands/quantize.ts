import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { estimateTensorSensitivity, parseSize } from "@quantlab/eval";
import { openGguf } from "@quantlab/gguf";
import {
  builtinRecipeRegistry,
  formatBudgetSummary,
  loadImatrixFile,
  parseTensorTypeFile,
  parseTensorTypeOverride,
  planBudget,
  quantizeModel,
  type BudgetPlan,
  type QuantizeReport,
  type TensorTypeOverride,
} from "@quantlab/quant-core";
import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";
import { fmtBytes, fmtDuration, print, printJson, Progress, table } from "../io.js";

const SUFFIX = ".gguf";

/**
 * llama-quantize's positionals: `in.gguf [out.gguf] TYPE [nthreads]`. When the second one parses as a type there is
 * no output name and it becomes `<input dir>/ggml-model-<TYPE>.gguf` (no `.gguf` with --keep-split); with
 * --keep-split an output name loses its `.gguf`, since shards are named `<out>-00001-of-0000n.gguf`.
 * @see main (examples/quantize/quantize.cpp, llama.cpp c392e50)
 */
function positionals(ps: readonly string[], keepSplit: boolean): { input: string; output: string; type: string; threads: number | undefined } {
  const reg = builtinRecipeRegistry();
  const input = ps[0]!;
  let i = 1;
  let output: string;
  let type: string;
  const first = ps[i] !== undefined ? reg.find(ps[i]!) : undefined;
  if (first) {
    const slash = Math.max(input.lastIndexOf("/"), input.lastIndexOf("\\"));
    output = `${slash >= 0 ? input.slice(0, slash + 1) : ""}ggml-model-${first.name}${keepSplit ? "" : SUFFIX}`;
    type = first.name;
    i++;
  } else {
    output = ps[i] ?? "";
    if (output === "") throw new UsageError("missing TYPE; usage: quantlab quantize [options] in.gguf [out.gguf] TYPE [threads]", "quantize");
    if (keepSplit && output.endsWith(SUFFIX)) output = output.slice(0, -SUFFIX.length);
    i++;
    const t = ps[i];
    if (t === undefined) throw new UsageError("missing ftype (TYPE)", "quantize");
    const r = reg.find(t);
    if (!r) throw new UsageError(`invalid ftype '${t}'; see 'quantlab types' or --help for the presets`, "quantize");
    type = r.name;
    i++;
  }
  let threads: number | undefined;
  if (ps[i] !== undefined) {
    threads = Number(ps[i]);
    if (!Number.isInteger(threads)) throw new UsageError(`invalid nthread '${ps[i]}'`, "quantize");
    i++;
  }
  if (ps[i] !== undefined) throw new UsageError(`unexpected argument '${ps[i]}'`, "quantize");
  return { input, output, type, threads };
}

/** A positive size for `flag` (`2500000`, `2.5MB`, `2.4MiB`), read by eval's {@link parseSize}. */
export function parseByteSize(s: string, flag: string): number {
  let v: number;
  try {
    v = parseSize(s);
  } catch {
    throw new UsageError(`${flag}: '${s}' is not a size (e.g. 2500000, 2.5MB, 2.4MiB)`, "quantize");
  }
  if (!(v > 0)) throw new UsageError(`${flag}: '${s}' must be a positive size`, "quantize");
  return v;
}

function list(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : [];
}

function jsonReport(r: QuantizeReport): unknown {
  return {
    input: r.input,
    outputs: r.outputs,
    recipe: r.recipe,
    ftype: r.ftype,
    dryRun: r.dryRun,
    ok: r.ok,
    refusal: r.refusal,
    threads: r.threads,
    seconds: r.seconds,
    totals: {
      tensors: r.tensors.length,
      quantized: r.tensors.filter((t) => t.quantized).length,
      weights: r.nWeights,
      sourceBytes: r.sourceBytes,
      bytes: r.totalBytes,
      inputFileBytes: r.inputFileBytes,
      fileBytes: r.fileBytes,
      bpw: r.bpw,
      sourceBpw: r.nWeights > 0 ? (r.sourceBytes * 8) / r.nWeights : 0,
    },
    typeCounts: r.typeCounts,
    imatrix: r.imatrix,
    warnings: r.warnings,
    tensors: r.tensors.map((t) => ({
      name: t.name,
      shape: t.shape,
      from: t.from,
      to: t.to,
      quantized: t.quantized,
      imatrix: t.usesImatrix,
      sourceBytes: t.sourceBytes,
      bytes: t.bytes,
      bpw: t.bpw,
      seconds: t.seconds,
    })),
  };
}

function histogram(r: QuantizeReport): string {
  return Object.entries(r.typeCounts)
    .sort((a, b) => b[1] - a[1])
    .map(([t, n]) => `${t} ×${n}`)
    .join(", ");
}

interface BudgetRequest {
  readonly targetBpw: number | undefined;
  readonly targetFileBytes: number | undefined;
  readonly imatrix: string | undefined;
  readonly includeWeights: readonly string[];
  readonly excludeWeights: readonly string[];
  readonly fixed: readonly TensorTypeOverride[];
  readonly candidates: readonly string[] | undefined;
  readonly leaveOutputTensor: boolean;
  readonly allowRequantize: boolean;
  readonly threads: number;
  readonly progress: Progress;
  /** Calibration text file: weigh each tensor's error by its measured KLD sensitivity (eval's estimateTensorSensitivity). */
  readonly calibrate?: string | undefined;
  readonly calibrateChunks?: number | undefined;
  readonly calibrateProgress?: Progress | undefined;
}

/** Measures every candidate on every tensor of `input` and solves for the budget (quant-core's `planBudget`). */
async function planForBudget(input: string, r: BudgetRequest): Promise<BudgetPlan> {
  const file = await openGguf(input);
  try {
    const imatrix = r.imatrix !== undefined ? await loadImatrixFile(r.imatrix) : undefined;
    let sensitivity: ((name: string) => number) | undefined;
    if (r.calibrate !== undefined) {
      // s_t = KLD per unit of weighted error, on the planner's own weighting: Σ s_t·E_t then approximates the KLD
      const text = await readFile(r.calibrate, "utf8");
      const est = await estimateTensorSensitivity(file, text, {
        imatrix,
        includeWeights: r.includeWeights,
        excludeWeights: r.excludeWeights,
        chunks: r.calibrateChunks,
        threads: r.threads,
        onProgress: (p) => r.calibrateProgress?.update({ done: p.done, total: p.total, label: p.tensor, unit: "tensors", scale: 1 }),
      });
      r.calibrateProgress?.done();
      const known = [...est.sensitivity.values()].filter((v) => v > 0).sort((a, b) => a - b);
      const fallback = known.length > 0 ? known[known.length >> 1]! : 1; // unmeasured tensors: the median
      sensitivity = (name) => {
        const v = est.sensitivity.get(name);
        return v !== undefined && v > 0 ? v : fallback;
      };
    }
    const plan = await planBudget(file, {
      targetBpw: r.targetBpw,
      targetFileBytes: r.targetFileBytes,
      sensitivity,
      imatrix,
      includeWeights: r.includeWeights,
      excludeWeights: r.excludeWeights,
      fixed: r.fixed,
      candidates: r.candidates,
      leaveOutputTensor: r.leaveOutputTensor,
      allowRequantize: r.allowRequantize,
      threads: r.threads,
      onProgress: (p) => r.progress.update({ done: p.done, total: p.total, label: p.tensor, unit: "tensors", scale: 1 }),
    });
    r.progress.done();
    return plan;
  } finally {
    await file.close();
  }
}

function budgetJson(p: BudgetPlan): unknown {
  return {
    budgetBytes: p.budgetBytes,
    totalBytes: p.totalBytes,
    estimatedFileBytes: p.estimatedFileBytes,
    bpw: p.bpw,
    totalError: p.totalError,
    weightedRmse: p.weightedRmse,
    lowerBound: p.lowerBound,
    solver: p.solver,
    typeHistogram: p.typeHistogram,
    warnings: p.warnings,
    tensors: p.tensors.map((t) => ({ name: t.name, type: t.typeName, bytes: t.bytes, bpw: t.bpw, error: t.error, role: t.role })),
  };
}

/** `quantlab quantize`: llama-quantize, same arguments, same output bytes. */
export const quantizeCommand = defineCommand(
  {
    name: "quantize",
    summary: "quantize a GGUF model like llama-quantize (same presets, options and output bytes)",
    usage: "[options] in.gguf [out.gguf] TYPE [threads]",
    positionals: [
      { name: "in.gguf", description: "input model (F32/F16/BF16; any shard of a split model)" },
      { name: "out.gguf", description: "output (default: ggml-model-<TYPE>.gguf beside the input)", optional: true },
      { name: "type", description: "preset name (Q4_K_M, IQ2_XS, F16, COPY, ...; case-insensitive) or ftype number", optional: true },
      { name: "threads", description: "worker threads (as --threads)", optional: true },
    ],
    options: [
      { name: "imatrix", flags: ["--imatrix"], kind: "string", arg: "FILE", description: "importance matrix (.dat or GGUF imatrix)" },
      { name: "includeWeights", flags: ["--include-weights"], kind: "list", arg: "NAME", description: "use the imatrix only for tensors whose name contains NAME" },
      { name: "excludeWeights", flags: ["--exclude-weights"], kind: "list", arg: "NAME", description: "do not use the imatrix for tensors whose name contains NAME" },
      { name: "outputTensorType", flags: ["--output-tensor-type"], kind: "string", arg: "TYPE", description: "ggml type for output.weight" },
      { name: "tokenEmbeddingType", flags: ["--token-embedding-type"], kind: "string", arg: "TYPE", description: "ggml type for token_embd.weight" },
      { name: "tensorType", flags: ["--tensor-type"], kind: "list", arg: "REGEX=TYPE", description: "ggml type for tensors whose name matches REGEX" },
      { name: "tensorTypeFile", flags: ["--tensor-type-file"], kind: "string", arg: "FILE", description: "a file of REGEX=TYPE lines" },
      { name: "pure", flags: ["--pure"], kind: "boolean", description: "no k-quant mixtures: every tensor gets the default type" },
      { name: "leaveOutputTensor", flags: ["--leave-output-tensor"], kind: "boolean", description: "leave output.weight un(re)quantized" },
      { name: "allowRequantize", flags: ["--allow-requantize"], kind: "boolean", description: "allow tensors that are already quantized as input" },
      { name: "overrideKv", flags: ["--override-kv"], kind: "list", arg: "KEY=TYPE:VALUE", description: "set a metadata key (TYPE int, float, bool or str)" },
      { name: "keepSplit", flags: ["--keep-split"], kind: "boolean", description: "write one output shard per input shard" },
      { name: "pruneLayers", flags: ["--prune-layers"], kind: "string", arg: "L0,L1,...", description: "drop these layers and renumber the rest" },
      { name: "dryRun", flags: ["--dry-run"], kind: "boolean", description: "print the per-tensor plan and the final size; write nothing" },
      { name: "threads", flags: ["-t", "--threads"], kind: "number", arg: "N", description: "worker threads (default: all cores)" },
      { name: "targetBpw", flags: ["--target-bpw"], kind: "number", arg: "X", description: "choose per-tensor types to reach X bits per weight at the least weighted error (not in llama.cpp)" },
      { name: "targetSize", flags: ["--target-size"], kind: "string", arg: "BYTES", description: "as --target-bpw for a file size (2500000, 2.5MB, 2.4MiB)" },
      { name: "budgetCalibrate", flags: ["--budget-calibrate"], kind: "string", arg: "FILE", description: "for --target-*: weigh each tensor's error by its KLD sensitivity, measured on this text (one forward pass per tensor)" },
      { name: "budgetCalibrateChunks", flags: ["--budget-calibrate-chunks"], kind: "number", arg: "N", description: "chunks of 256 tokens for --budget-calibrate (default 4)" },
      { name: "budgetTypes", flags: ["--budget-types"], kind: "string", arg: "T1,T2,...", description: "candidate types for --target-* (default q2_K..q6_K,q8_0; IQ types added with --imatrix)" },
    ],
    details: [
      "examples:",
      "  quantlab quantize model-f32.gguf model-Q4_K_M.gguf Q4_K_M 8",
      "  quantlab quantize --imatrix imatrix.dat model-f32.gguf IQ2_XS",
      "  quantlab quantize --dry-run --tensor-type 'ffn_down=q6_K' model-f32.gguf out.gguf Q4_K_M",
      "  quantlab quantize --target-bpw 4.2 --imatrix imatrix.dat model-f32.gguf model-4.2bpw.gguf Q4_K_M",
      "The output is byte-identical to llama-quantize (llama.cpp c392e50) for the same arguments.",
      "--target-bpw / --target-size measure every candidate type on every tensor (importance-weighted squared error)",
      "and choose the mix with the least total error within the budget; TYPE still sets general.file_type and the types",
      "of tensors the budget does not choose. --tensor-type, --output-tensor-type and --token-embedding-type pin tensors.",
    ].join("\n"),
  },
  async ({ io, mode, args, signal }) => {
    const o = args.options;
    const keepSplit = o.keepSplit === true;
    const pos = positionals(args.positionals, keepSplit);
    const threadOpt = typeof o.threads === "number" ? o.threads : undefined;
    const threads = pos.threads ?? threadOpt ?? availableParallelism();
    const at = (p: string) => resolve(io.cwd, p);
    let pruneLayers: number[] | undefined;
    if (typeof o.pruneLayers === "string") {
      pruneLayers = o.pruneLayers.split(",").map((s) => {
        const n = Number(s.trim());
        if (s.trim() === "" || !Number.isInteger(n) || n < 0) throw new UsageError(`--prune-layers: bad layer '${s}'`, "quantize");
        return n;
      });
    }
    if (list(o.includeWeights).length > 0 && list(o.excludeWeights).length > 0) {
      throw new UsageError("--include-weights and --exclude-weights cannot be used together", "quantize");
    }
    const tensorTypeFile = typeof o.tensorTypeFile === "string" ? await readFile(at(o.tensorTypeFile), "utf8") : undefined;
    const imatrix = typeof o.imatrix === "string" ? o.imatrix : undefined;
    const dryRun = o.dryRun === true;
    const targetBpw = typeof o.targetBpw === "number" ? o.targetBpw : undefined;
    const targetFileBytes = typeof o.targetSize === "string" ? parseByteSize(o.targetSize, "--target-size") : undefined;
    if (typeof o.budgetCalibrate === "string" && targetBpw === undefined && targetFileBytes === undefined) {
      throw new UsageError("--budget-calibrate needs --target-bpw or --target-size", "quantize");
    }
    if (o.budgetCalibrateChunks !== undefined && !(typeof o.budgetCalibrateChunks === "number" && Number.isInteger(o.budgetCalibrateChunks) && o.budgetCalibrateChunks > 0)) {
      throw new UsageError(`--budget-calibrate-chunks must be a positive integer`, "quantize");
    }
    let budget: BudgetPlan | undefined;
    if (targetBpw !== undefined || targetFileBytes !== undefined) {
      if (targetBpw !== undefined && targetFileBytes !== undefined) throw new UsageError("give only one of --target-bpw and --target-size", "quantize");
      if (targetBpw !== undefined && !(targetBpw > 0)) throw new UsageError(`--target-bpw must be > 0, got ${targetBpw}`, "quantize");
      if (pruneLayers) throw new UsageError("--prune-layers cannot be combined with --target-bpw/--target-size (the budget is planned on the unpruned model)", "quantize");
      if (keepSplit) throw new UsageError("--keep-split cannot be combined with --target-bpw/--target-size", "quantize");
      if (o.pure === true) throw new UsageError("--pure contradicts --target-bpw/--target-size (a budget mixes types)", "quantize");
      budget = await planForBudget(at(pos.input), {
        targetBpw,
        targetFileBytes,
        imatrix: imatrix !== undefined ? at(imatrix) : undefined,
        includeWeights: list(o.includeWeights),
        excludeWeights: list(o.excludeWeights),
        fixed: [
          ...list(o.tensorType).map(parseTensorTypeOverride),
          ...(tensorTypeFile !== undefined ? parseTensorTypeFile(tensorTypeFile) : []),
          ...(typeof o.outputTensorType === "string" ? [{ pattern: "^output\\.weight$", type: o.outputTensorType }] : []),
          ...(typeof o.tokenEmbeddingType === "string" ? [{ pattern: "^token_embd\\.weight$", type: o.tokenEmbeddingType }] : []),
        ],
        candidates: typeof o.budgetTypes === "string" ? o.budgetTypes.split(",").map((t) => t.trim()).filter(Boolean) : undefined,
        leaveOutputTensor: o.leaveOutputTensor === true,
        allowRequantize: o.allowRequantize === true,
        threads,
        progress: new Progress(io, mode, "measure"),
        calibrate: typeof o.budgetCalibrate === "string" ? at(o.budgetCalibrate) : undefined,
        calibrateChunks: typeof o.budgetCalibrateChunks === "number" ? o.budgetCalibrateChunks : undefined,
        calibrateProgress: new Progress(io, mode, "sensitivity"),
      });
      if (!mode.json && !mode.quiet) {
        print(io, formatBudgetSummary(budget));
        print(io);
      }
    }
    const progress = new Progress(io, mode, "quantize");
    const report = await quantizeModel(at(pos.input), at(pos.output), {
      type: pos.type,
      imatrix: imatrix !== undefined ? at(imatrix) : undefined,
      imatrixFile: imatrix, // llama-quantize records the path as given
      includeWeights: list(o.includeWeights),
      excludeWeights: list(o.excludeWeights),
      outputTensorType: typeof o.outputTensorType === "string" ? o.outputTensorType : undefined,
      tokenEmbeddingType: typeof o.tokenEmbeddingType === "string" ? o.tokenEmbeddingType : undefined,
      // A budget's per-tensor choices come first (first match wins); the user's own patterns were pinned in it.
      tensorTypeOverrides: [...(budget?.overrides ?? []), ...list(o.tensorType)],
      tensorTypeFile,
      pure: o.pure === true,
      leaveOutputTensor: o.leaveOutputTensor === true,
      allowRequantize: o.allowRequantize === true,
      overrideKv: list(o.overrideKv),
      keepSplit,
      pruneLayers,
      dryRun,
      threads,
      signal,
      onProgress: (p) => progress.update({ done: p.bytesDone, total: p.bytesTotal, label: p.tensor, unit: "MB", scale: 1e6 }),
    });
    progress.done();
    if (mode.json) {
      printJson(io, { ...(jsonReport(report) as object), ...(budget ? { budget: budgetJson(budget) } : {}) });
      return report.ok ? 0 : 1;
    }
    if (dryRun) {
      print(
        io,
        table(
          ["tensor", "shape", "from", "to", "size", "bpw"],
          report.tensors.map((t) => [t.name, t.shape.join("x"), t.from, t.to, fmtBytes(t.bytes), Number(t.bpw.toFixed(4))]),
        ),
      );
      print(io);
      if (!report.ok) {
        print(io, `llama-quantize would refuse: ${report.refusal}`);
        return 1;
      }
      print(io, `dry run ${report.recipe} (ftype ${report.ftype}): ${report.outputs.join(", ")} would be ${report.fileBytes} bytes (${fmtBytes(report.fileBytes)}), ${report.bpw.toFixed(4)} bpw`);
      print(io, `types: ${histogram(report)}`);
      return 0;
    }
    if (!mode.quiet) {
      for (const w of report.warnings) io.stderr.write(`warning: ${w}\n`);
    }
    const srcBpw = report.nWeights > 0 ? (report.sourceBytes * 8) / report.nWeights : 0;
    print(io, `quantized ${report.input} -> ${report.outputs.join(", ")} as ${report.recipe} (ftype ${report.ftype})`);
    print(io, `model size: ${fmtBytes(report.sourceBytes)} (${srcBpw.toFixed(2)} bpw) -> ${fmtBytes(report.totalBytes)} (${report.bpw.toFixed(4)} bpw)`);
    print(io, `file size:  ${report.inputFileBytes} -> ${report.fileBytes} bytes`);
    print(io, `types:      ${histogram(report)}`);
    if (report.imatrix) print(io, `imatrix:    ${report.imatrix.entries} entries from ${report.imatrix.file}`);
    print(io, `time:       ${fmtDuration(report.seconds)} with ${report.threads} thread${report.threads === 1 ? "" : "s"} (${(report.sourceBytes / 1e6 / Math.max(report.seconds, 1e-9)).toFixed(1)} MB/s)`);
    return 0;
  },
);
