/**
 * Whole-model quantization: what `llama-quantize in.gguf out.gguf TYPE [threads]` does, streamed.
 *
 * @see llama_model_quantize_impl (src/llama-quant.cpp, llama.cpp c392e50): metadata (copy every input KV, then
 * `general.quantization_version` = 2 and `general.file_type` = ftype, remove `split.*`, then the KV overrides;
 * `gguf_set_val_*` removes a key and appends it, so every key it sets moves to the end), the tensor loop (read,
 * convert to F32, `llama_tensor_quantize_impl` per expert slice with that slice's importance vector), the output
 * layout (header, then each tensor's data padded to the alignment) and `--keep-split` (one output per input shard,
 * tensors sorted by shard and offset, `split.*` keys appended to every shard).
 * @see main / prepare_imatrix / load_imatrix (examples/quantize/quantize.cpp, c392e50): the imatrix is filtered by
 * `--exclude-weights` / `--include-weights`, each value divided by `ncall`, and four `quantize.imatrix.*` KV
 * overrides are added after the user's own.
 *
 * The per-tensor types, their order and every refusal come from {@link planQuantization}; a refusal is thrown as the
 * planner's `RecipeError` before anything is written.
 */
import { rename, rm } from "node:fs/promises";
import {
  GGMLQuantizationType as T,
  GGUFValueType,
  GgufModel,
  ggmlTypeInfo,
  ggmlTypeName,
  openGgufModel,
  serializeGgufHeader,
  shardPath,
  writeGguf,
  KEY_SPLIT_COUNT,
  KEY_SPLIT_NO,
  KEY_SPLIT_TENSORS_COUNT,
  type GgufMetadata,
  type GgufValue,
  type GgufWriteSpec,
  type GgufWriteTensor,
  type GGMLQuantizationType,
} from "@quantlab/gguf";
import { builtinRegistry } from "../builtin.js";
import type { ImatrixData } from "../imatrix-file.js";
import { quantizeTensorParallel } from "../parallel.js";
import { dequantizeTensor } from "../registry.js";
import type { RecipeRegistry } from "../recipes/builtin.js";
import { ggmlNDims, planQuantization, type PlannedTensor, type QuantizationPlan, type TensorTypeOverride } from "../recipes/plan.js";
import { dryRunSummary, type DryRunSummary } from "../recipes/summary.js";
import type { Recipe } from "../recipes/types.js";
import { QuantizePipelineError } from "./errors.js";
import { loadImatrixFile } from "./imatrix-load.js";
import { firstInvalidBlock } from "./validate.js";
import { kvOverrideValue, parseKvOverride, truncateUtf8, type KvOverride } from "./kv-override.js";

/** `GGML_QNT_VERSION` (ggml.h). */
export const GGML_QNT_VERSION = 2;

/** Progress after each tensor. */
export interface QuantizeProgress {
  /** Output name of the tensor just written. */
  readonly tensor: string;
  /** 1-based index of that tensor in the output order. */
  readonly index: number;
  readonly count: number;
  /** Source (input) tensor bytes processed so far and in all. */
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

/** Options, with llama-quantize's meaning. */
export interface QuantizeModelOptions {
  /** The preset (`Q4_K_M`, case-insensitive), its ftype number, or a recipe object. */
  readonly type: string | number | Recipe;
  /** `--imatrix`: parsed data, or the path of a `.dat` or GGUF imatrix file. */
  readonly imatrix?: ImatrixData | string | undefined;
  /**
   * The string written to `quantize.imatrix.file` (llama-quantize writes the path as given on its command line).
   * Default: the path given in `imatrix`, else `imatrix.file`, else "".
   */
  readonly imatrixFile?: string | undefined;
  /** `--include-weights` (repeatable). */
  readonly includeWeights?: readonly string[] | undefined;
  /** `--exclude-weights` (repeatable). */
  readonly excludeWeights?: readonly string[] | undefined;
  /** `--output-tensor-type` (ggml type name or id). */
  readonly outputTensorType?: string | number | undefined;
  /** `--token-embedding-type`. */
  readonly tokenEmbeddingType?: string | number | undefined;
  /** `--tensor-type REGEX=TYPE` (repeatable): `"REGEX=TYPE"` strings or parsed overrides. */
  readonly tensorTypeOverrides?: readonly (string | TensorTypeOverride)[] | undefined;
  /** `--tensor-type-file`: the text of such a file, one `REGEX=TYPE` per line (`#` comments, blank lines). */
  readonly tensorTypeFile?: string | undefined;
  /** `--pure`. */
  readonly pure?: boolean | undefined;
  /** `--leave-output-tensor`. */
  readonly leaveOutputTensor?: boolean | undefined;
  /** `--allow-requantize`. */
  readonly allowRequantize?: boolean | undefined;
  /** `--override-kv KEY=TYPE:VALUE` (repeatable). */
  readonly overrideKv?: readonly (string | KvOverride)[] | undefined;
  /**
   * `--keep-split`: one output shard per input shard, named `<output>-0000i-of-0000n.gguf` (also for a model of one
   * shard, which gets `-00001-of-00001.gguf` and no `split.*` keys, as llama-quantize does).
   */
  readonly keepSplit?: boolean | undefined;
  /** `--prune-layers`. */
  readonly pruneLayers?: readonly number[] | undefined;
  /** `--dry-run`: plan and size only; nothing is read or written (refusals are reported, not thrown). */
  readonly dryRun?: boolean | undefined;
  /** Worker threads per tensor (default 1: inline). */
  readonly threads?: number | undefined;
  readonly onProgress?: ((p: QuantizeProgress) => void) | undefined;
  /** Aborts between tensors (Ctrl-C): the temp output is removed and `QUANTIZE_ABORTED` thrown. */
  readonly signal?: AbortSignal | undefined;
  /** Recipe registry (default: the built-in presets). */
  readonly registry?: RecipeRegistry | undefined;
}

export interface QuantizeTensorReport {
  readonly name: string;
  readonly shape: readonly number[];
  readonly from: string;
  readonly to: string;
  readonly quantized: boolean;
  readonly usesImatrix: boolean;
  readonly sourceBytes: number;
  readonly bytes: number;
  readonly bpw: number;
  /** Seconds spent on this tensor (read, convert, quantize); 0 in a dry run. */
  readonly seconds: number;
}

export interface QuantizeReport {
  readonly input: string;
  /** Files written (one, or one per shard with keepSplit); the would-be names in a dry run. */
  readonly outputs: readonly string[];
  readonly recipe: string;
  readonly ftype: number;
  readonly dryRun: boolean;
  /** False only in a dry run that llama-quantize would refuse (`refusal` says why). */
  readonly ok: boolean;
  readonly refusal: string | undefined;
  readonly tensors: readonly QuantizeTensorReport[];
  /** Weights of every tensor, 1-D included (llama.cpp's BPW denominator). */
  readonly nWeights: number;
  /** Tensor data bytes before and after (`total_size_org`, `total_size_new`). */
  readonly sourceBytes: number;
  readonly totalBytes: number;
  /** Size of the input file(s) and of the output file(s) (computed exactly in a dry run; 0 when refused). */
  readonly inputFileBytes: number;
  readonly fileBytes: number;
  readonly bpw: number;
  readonly typeCounts: Readonly<Record<string, number>>;
  readonly seconds: number;
  readonly threads: number;
  readonly warnings: readonly string[];
  readonly imatrix: { readonly file: string; readonly dataset: string | undefined; readonly entries: number; readonly chunks: number | undefined } | undefined;
  readonly summary: DryRunSummary;
  readonly plan: QuantizationPlan;
}

/** `parse_tensor_type` (tools/quantize/quantize.cpp): `REGEX=TYPE`, the pattern lower-cased. */
export function parseTensorTypeOverride(spec: string): TensorTypeOverride {
  const eq = spec.indexOf("=");
  if (eq < 0) throw new QuantizePipelineError("QUANTIZE_BAD_OPTIONS", `malformed tensor type '${spec}'`);
  if (eq === 0) throw new QuantizePipelineError("QUANTIZE_BAD_OPTIONS", `missing tensor name in '${spec}'`);
  if (eq === spec.length - 1) throw new QuantizePipelineError("QUANTIZE_BAD_OPTIONS", `missing quantization type in '${spec}'`);
  return { pattern: spec.slice(0, eq).toLowerCase(), type: spec.slice(eq + 1) };
}

/** The lines of a tensor-type file, each `REGEX=TYPE`; blank lines and `#` comments are skipped. */
export function parseTensorTypeFile(text: string): TensorTypeOverride[] {
  const out: TensorTypeOverride[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    out.push(parseTensorTypeOverride(line));
  }
  return out;
}

/** Sets a key the way `gguf_set_val_*` does: remove it, then append it. */
function setKv(md: GgufMetadata, key: string, value: GgufValue): void {
  md.delete(key);
  md.set(key, value);
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new QuantizePipelineError("QUANTIZE_ABORTED", "quantization aborted", {}, { cause: signal.reason });
}

/** Index of the first NaN/Inf value of F32/F16/BF16 data (`ggml_validate_row_data`), or -1. */
function firstInvalidFloat(bytes: Uint8Array, type: number, n: number): number {
  if (type === T.F32 && bytes.byteOffset % 4 === 0) {
    // Aligned (the usual case): a typed-array scan is several times faster than DataView reads.
    const u = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) if ((u[i]! & 0x7f800000) === 0x7f800000) return i;
    return -1;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === T.F32) {
    for (let i = 0; i < n; i++) if ((view.getUint32(i * 4, true) & 0x7f800000) === 0x7f800000) return i;
  } else if (type === T.F16) {
    for (let i = 0; i < n; i++) if ((view.getUint16(i * 2, true) & 0x7c00) === 0x7c00) return i;
  } else if (type === T.BF16) {
    for (let i = 0; i < n; i++) if ((view.getUint16(i * 2, true) & 0x7f80) === 0x7f80) return i;
  }
  return -1;
}

/** The tensor's values as float32 (`llama_tensor_dequantize_impl`: F32 as is, else the type's to_float). */
function toF32(bytes: Uint8Array, type: number, n: number, name: string): Float32Array {
  if (type === T.F32) {
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    return new Float32Array(bytes.slice(0, n * 4).buffer);
  }
  const scheme = builtinRegistry().findByType(type);
  if (!scheme) throw new QuantizePipelineError("QUANTIZE_UNSUPPORTED", `cannot dequantize/convert tensor type ${ggmlTypeName(type)}`, { tensor: name });
  return dequantizeTensor(scheme, bytes, n, undefined, name);
}

interface ResolvedImatrix {
  readonly vectors: Map<string, Float32Array>;
  readonly file: string;
  readonly dataset: string | undefined;
  readonly chunks: number | undefined;
}

/** prepare_imatrix (quantize.cpp): drop excluded names, keep only included ones; empty → no imatrix at all. */
async function resolveImatrix(options: QuantizeModelOptions): Promise<ResolvedImatrix | undefined> {
  const src = options.imatrix;
  if (src === undefined) return undefined;
  const data = typeof src === "string" ? await loadImatrixFile(src) : src;
  const include = options.includeWeights ?? [];
  const exclude = options.excludeWeights ?? [];
  const vectors = new Map<string, Float32Array>();
  for (const [name, e] of data.entries) {
    if (exclude.some((s) => name.includes(s))) continue;
    if (include.length > 0 && !include.some((s) => name.includes(s))) continue;
    vectors.set(name, e.importance);
  }
  if (vectors.size === 0) return undefined;
  return {
    vectors,
    file: options.imatrixFile ?? (typeof src === "string" ? src : (data.file ?? "")),
    dataset: data.datasets[0],
    chunks: data.chunkCount,
  };
}

/** The KV pairs of the output (of shard 0), in llama-quantize's order. */
function outputMetadata(model: GgufModel, plan: QuantizationPlan, options: QuantizeModelOptions, imatrix: ResolvedImatrix | undefined): GgufMetadata {
  const md: GgufMetadata = new Map(model.metadata);
  setKv(md, "general.quantization_version", { type: GGUFValueType.UINT32, value: GGML_QNT_VERSION });
  setKv(md, "general.file_type", { type: GGUFValueType.UINT32, value: plan.ftype });
  md.delete(KEY_SPLIT_NO);
  md.delete(KEY_SPLIT_COUNT);
  md.delete(KEY_SPLIT_TENSORS_COUNT);
  // quantize.cpp: the user's overrides first, then the imatrix ones
  const overrides: KvOverride[] = (options.overrideKv ?? []).map((o) => (typeof o === "string" ? parseKvOverride(o) : o));
  if (imatrix) {
    overrides.push({ key: "quantize.imatrix.file", tag: "str", value: truncateUtf8(imatrix.file, 127) });
    if (imatrix.dataset !== undefined && imatrix.dataset !== "") {
      overrides.push({ key: "quantize.imatrix.dataset", tag: "str", value: truncateUtf8(imatrix.dataset, 127) });
    }
    overrides.push({ key: "quantize.imatrix.entries_count", tag: "int", value: imatrix.vectors.size });
    if (imatrix.chunks !== undefined && imatrix.chunks > 0) overrides.push({ key: "quantize.imatrix.chunks_count", tag: "int", value: imatrix.chunks });
  }
  for (const o of overrides) setKv(md, o.key, kvOverrideValue(o));
  if ((options.pruneLayers ?? []).length > 0) {
    const arch = model.get("general.architecture");
    setKv(md, `${String(arch)}.block_count`, { type: GGUFValueType.UINT32, value: plan.blockCount });
  }
  return md;
}

/**
 * Quantizes a GGUF model file (or a split model: pass any shard's name) to `output`, as llama-quantize c392e50 does,
 * byte for byte. The output appears under its final name only when complete (temp file + rename); on any error or
 * abort nothing is left behind.
 */
export async function quantizeModel(input: string, output: string, options: QuantizeModelOptions): Promise<QuantizeReport> {
  const t0 = performance.now();
  const threads = Math.max(1, Math.floor(options.threads ?? 1));
  if (!Number.isFinite(threads)) throw new QuantizePipelineError("QUANTIZE_BAD_OPTIONS", `bad thread count ${String(options.threads)}`);
  checkAbort(options.signal);
  const overrides: TensorTypeOverride[] = [
    ...(options.tensorTypeOverrides ?? []).map((o) => (typeof o === "string" ? parseTensorTypeOverride(o) : o)),
    ...(options.tensorTypeFile !== undefined ? parseTensorTypeFile(options.tensorTypeFile) : []),
  ];
  const imatrix = await resolveImatrix(options);
  const model = await openGgufModel(input);
  try {
    for (const s of model.shards) {
      if (!s.littleEndian) throw new QuantizePipelineError("QUANTIZE_UNSUPPORTED", "big-endian GGUF files are not supported", { file: s.file });
    }
    const header = {
      tensors: model.tensors.map((t) => t.info),
      get: (k: string) => model.get(k),
      file: input,
    };
    const plan = planQuantization(header, options.type, {
      imatrix: imatrix?.vectors ?? false,
      includeWeights: options.includeWeights,
      excludeWeights: options.excludeWeights,
      pure: options.pure,
      leaveOutputTensor: options.leaveOutputTensor,
      outputTensorType: options.outputTensorType,
      tokenEmbeddingType: options.tokenEmbeddingType,
      tensorTypeOverrides: overrides,
      allowRequantize: options.allowRequantize,
      pruneLayers: options.pruneLayers,
      registry: options.registry,
    });
    if (!plan.ok && options.dryRun !== true) throw plan.refusal!;

    // tensor order: llama.cpp's (the plan's); with --keep-split by input shard, then offset
    const bySource = new Map(model.tensors.map((t) => [t.info.name, t]));
    let order: PlannedTensor[] = [...plan.tensors];
    let nSplit = 1;
    if (options.keepSplit === true) {
      order.sort((a, b) => {
        const x = bySource.get(a.sourceName)!;
        const y = bySource.get(b.sourceName)!;
        return x.shard !== y.shard ? x.shard - y.shard : x.info.offset - y.info.offset;
      });
      for (const t of order) nSplit = Math.max(nSplit, bySource.get(t.sourceName)!.shard + 1);
    }
    const md0 = outputMetadata(model, plan, options, imatrix);
    const shardTensors: PlannedTensor[][] = Array.from({ length: nSplit }, () => []);
    for (const t of order) shardTensors[nSplit > 1 ? bySource.get(t.sourceName)!.shard : 0]!.push(t);
    const shardMetadata = shardTensors.map((_, i) => {
      const md: GgufMetadata = i === 0 ? new Map(md0) : new Map();
      if (nSplit > 1) {
        setKv(md, KEY_SPLIT_NO, { type: GGUFValueType.UINT16, value: i });
        setKv(md, KEY_SPLIT_COUNT, { type: GGUFValueType.UINT16, value: nSplit });
        setKv(md, KEY_SPLIT_TENSORS_COUNT, { type: GGUFValueType.INT32, value: model.tensors.length });
      }
      return md;
    });
    // with --keep-split the output is always named as a shard (llama_split_path), even for a single one
    const outputs = options.keepSplit === true ? shardTensors.map((_, i) => shardPath(output, i, nSplit)) : [output];

    // Read-ahead: while tensor i is converted and quantized, tensor i+1 is already being read (one extra tensor in
    // memory at most), so the disk and the CPU overlap.
    const nextOf = new Map<string, string>();
    order.forEach((t, i) => {
      const next = order[i + 1];
      if (next) nextOf.set(t.sourceName, next.sourceName);
    });
    const ahead = new Map<string, Promise<Uint8Array>>();
    const reader: TensorReader = {
      readTensorData(name: string): Promise<Uint8Array> {
        const p = ahead.get(name) ?? model.readTensorData(name);
        ahead.delete(name);
        const next = nextOf.get(name);
        if (next !== undefined && !ahead.has(next)) {
          const q = model.readTensorData(next);
          q.catch(() => undefined); // a failed read-ahead is reported when (if) that tensor is produced
          ahead.set(next, q);
        }
        return p;
      },
    };

    const summary = dryRunSummary(plan);
    const bytesTotal = plan.tensors.reduce((a, t) => a + t.sourceBytes, 0);
    const seconds = new Map<string, number>();
    let failure: unknown;
    let bytesDone = 0;
    let index = 0;

    const tensorSpec = (t: PlannedTensor): GgufWriteTensor => ({
      name: t.name,
      // gguf_write: n_dims = ggml_n_dims (trailing dimensions of 1 are not written)
      shape: t.shape.slice(0, ggmlNDims(t.shape)),
      type: t.targetType,
      nBytes: t.bytes,
      data: async () => {
        try {
          const start = performance.now();
          checkAbort(options.signal);
          const bytes = await produceTensor(reader, t, imatrix, threads, options.signal);
          seconds.set(t.name, (performance.now() - start) / 1000);
          bytesDone += t.sourceBytes;
          options.onProgress?.({ tensor: t.name, index: ++index, count: order.length, bytesDone, bytesTotal });
          checkAbort(options.signal);
          return bytes;
        } catch (e) {
          failure ??= e;
          throw e;
        }
      },
    });
    const specs: GgufWriteSpec[] = shardTensors.map((ts, i) => ({ metadata: shardMetadata[i]!, tensors: ts.map(tensorSpec), version: 3 }));

    let fileBytes = 0;
    if (options.dryRun === true) {
      // a refused plan may hold types the row length does not fit: no size then
      const a = md0.get("general.alignment");
      const alignment = a?.type === GGUFValueType.UINT32 ? a.value : 32;
      if (plan.ok) {
        for (const [i, spec] of specs.entries()) {
          fileBytes += serializeGgufHeader(spec).byteLength;
          for (const t of shardTensors[i]!) fileBytes += Math.ceil(t.bytes / alignment) * alignment;
        }
      }
    } else {
      // every output goes to a temp name first (writeGguf), shards are renamed only when all are complete
      const temps: string[] = [];
      try {
        for (const [i, spec] of specs.entries()) {
          const target = nSplit > 1 ? `${outputs[i]}.part-${Math.random().toString(36).slice(2, 10)}` : outputs[i]!;
          if (nSplit > 1) temps.push(target);
          const res = await writeGguf(target, spec);
          fileBytes += res.bytesWritten;
        }
        for (const [i, tmp] of temps.entries()) await rename(tmp, outputs[i]!);
      } catch (e) {
        await Promise.all(temps.map((p) => rm(p, { force: true })));
        throw failure ?? e;
      }
    }

    const tensors: QuantizeTensorReport[] = order.map((t) => ({
      name: t.name,
      shape: t.shape,
      from: ggmlTypeName(t.sourceType),
      to: ggmlTypeName(t.targetType),
      quantized: t.quantize,
      usesImatrix: t.usesImatrix,
      sourceBytes: t.sourceBytes,
      bytes: t.bytes,
      bpw: t.nElements > 0 ? (t.bytes * 8) / t.nElements : 0,
      seconds: seconds.get(t.name) ?? 0,
    }));
    const inputFileBytes = model.shards.reduce((a, s) => a + (s.fileSize ?? 0), 0);
    return {
      input,
      outputs,
      recipe: plan.recipe.name,
      ftype: plan.ftype,
      dryRun: options.dryRun === true,
      ok: plan.ok,
      refusal: plan.refusal?.message,
      tensors,
      nWeights: summary.nWeights,
      sourceBytes: summary.sourceBytes,
      totalBytes: summary.totalBytes,
      inputFileBytes,
      fileBytes,
      bpw: summary.bpw,
      typeCounts: summary.typeCounts,
      seconds: (performance.now() - t0) / 1000,
      threads,
      warnings: plan.warnings,
      imatrix: imatrix ? { file: imatrix.file, dataset: imatrix.dataset, entries: imatrix.vectors.size, chunks: imatrix.chunks } : undefined,
      summary,
      plan,
    };
  } finally {
    await model.close();
  }
}

/** Reads one tensor and returns its output bytes (`llama_tensor_quantize_impl` per expert slice). */
/** What {@link produceTensor} needs of the source: its tensors' bytes by name. */
interface TensorReader {
  readTensorData(name: string): Promise<Uint8Array>;
}

async function produceTensor(
  model: TensorReader,
  t: PlannedTensor,
  imatrix: ResolvedImatrix | undefined,
  threads: number,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const raw = await model.readTensorData(t.sourceName);
  const ne0 = t.shape[0] ?? 1;
  // llama_model_loader with check_tensors: float data must be finite
  const bad = firstInvalidFloat(raw, t.sourceType, t.nElements);
  if (bad >= 0) {
    const row = Math.floor(bad / ne0);
    throw new QuantizePipelineError(
      "QUANTIZE_NONFINITE_WEIGHTS",
      `tensor '${t.sourceName}' has invalid data: value ${bad - row * ne0} of row ${row} is NaN or infinite`,
      { tensor: t.sourceName, row, column: bad - row * ne0 },
    );
  }
  if (!t.quantize) return raw;
  if ((t.shape[3] ?? 1) > 1) throw new QuantizePipelineError("QUANTIZE_UNSUPPORTED", `4-D tensors cannot be quantized`, { tensor: t.sourceName });
  const f32 = toF32(raw, t.sourceType, t.nElements, t.sourceName);
  const ne1 = t.shape[1] ?? 1;
  const ne2 = t.shape[2] ?? 1;
  const info = ggmlTypeInfo(t.targetType)!;
  const sliceBytes = (ne1 * ne0 / info.blockSize) * info.typeSize;
  const out = new Uint8Array(sliceBytes * ne2);
  const imp = t.usesImatrix ? imatrix?.vectors.get(t.sourceName) : undefined;
  const scheme = ggmlTypeName(t.targetType as GGMLQuantizationType);
  for (let i03 = 0; i03 < ne2; i03++) {
    if (signal?.aborted) checkAbort(signal);
    await quantizeTensorParallel(scheme, f32.subarray(i03 * ne0 * ne1, (i03 + 1) * ne0 * ne1), ne1, ne0, {
      importance: imp ? imp.subarray(i03 * ne0, (i03 + 1) * ne0) : null,
      threads,
      tensorName: t.name,
      skipFiniteCheck: true,
      dst: out.subarray(i03 * sliceBytes, (i03 + 1) * sliceBytes),
    });
  }
  // llama_tensor_quantize_impl: ggml_validate_row_data on the result
  const layout = builtinRegistry().byType(t.targetType).layout;
  const blocksPerRow = ne0 / layout.blockSize;
  const badBlock = firstInvalidBlock(layout, out, blocksPerRow * ne1 * ne2);
  if (badBlock >= 0) {
    const row = Math.floor(badBlock / blocksPerRow);
    throw new QuantizePipelineError("QUANTIZE_VALIDATION_FAILED", `quantized data validation failed: row ${row} of ${scheme} has a NaN or infinite scale`, {
      tensor: t.name,
      row,
    });
  }
  return out;
}

