/**
 * Per-tensor KLD sensitivity for the budget planner (quant-core's `planBudget({ sensitivity })`). Not in llama.cpp.
 *
 * The planner minimises Σ_t s_t · E_t(τ_t), where E_t(τ) = Σ_rows Σ_j w_j (x − x̂)² is tensor t's measured
 * (importance-weighted, w = imatrix column importance or 1) squared error in type τ. With s_t = 1 a unit of error
 * costs the same in every matrix, which it does not: the imatrix only weighs the *input* side of a matmul (E[x_j²]);
 * how much the matmul's output error reaches the final distribution depends on where the tensor sits.
 *
 * What s_t should be, so that the objective approximates the KLD of the quantized model against the F32 one:
 * - For a small weight perturbation δ, KLD(p‖p_δ) ≈ ½ δᵀ F δ (F = Fisher information; the first-order term vanishes
 *   at the reference). Quantization noise of different tensors (and, to first order, of different weights) is
 *   uncorrelated, so the cross terms average out and KLD ≈ Σ_t KLD_t: additive over tensors.
 * - Within tensor t, F's diagonal for weight (i, j) is ≈ E[x_j²] · E[g_i²] (input activation power × output gradient
 *   power). The imatrix is E[x_j²], so E_t already carries the input factor; what is missing is a per-tensor
 *   factor: KLD_t ≈ s_t · E_t with s_t ≈ ½ · mean output-gradient power of t (relative to how E_t was weighted).
 * - So s_t is measured as a ratio, on the same weighting the planner uses: quantize t alone to a probe type (every
 *   other tensor as stored), run a few calibration chunks, and divide the KLD against the unmodified model's logits
 *   by E_t(probe). KLD is then ≈ Σ_t s_t E_t(τ_t) in nats per token, and the planner's total error reads as a KLD
 *   estimate. The ratio is constant in the linear (small-error) regime; a low-bit probe (default q3_K) measures it
 *   where the budget's hard choices are made (2–4 bits), so mild super-linearity at the low end is included.
 *
 * Cost: one forward pass over the calibration tokens per tensor (plus one for the reference). The runtime is not
 * modified: the model is loaded from a view of the file whose one tensor reads as F32 quantize→dequantize values.
 */
import { GGMLQuantizationType as T, ggmlTypeByName, ggmlTypeInfo, type GgufFile, type GgufTensorInfo, openGguf } from "@quantlab/gguf";
import {
  builtinRegistry,
  dequantizeTensor,
  planQuantization,
  quantizeTensorParallel,
  shapeFallbackC392e50,
  weightedSquaredError,
  type BudgetImatrix,
  type ImatrixData,
} from "@quantlab/quant-core";
import { loadModel, type BackendChoice, type KernelRegistry, type Model } from "@quantlab/runtime";
import { EvalErrorCode, evalError } from "./errors.js";
import { bosPolicy, evaluateChunk } from "./perplexity.js";

export interface SensitivityOptions {
  /** Probe type: each tensor is quantized alone to this (default `q3_K`; a shape fallback is used where it does not fit). */
  readonly probeType?: string | undefined;
  /** Importance data: the same as given to the planner, so that s_t · E_t is in KLD units with its weighting. */
  readonly imatrix?: BudgetImatrix | undefined;
  /** `--include-weights` / `--exclude-weights`, as given to the planner. */
  readonly includeWeights?: readonly string[] | undefined;
  readonly excludeWeights?: readonly string[] | undefined;
  /** Context of each calibration chunk (default 256). */
  readonly nCtx?: number | undefined;
  /** Number of chunks (default 4; fewer if the text is short). */
  readonly chunks?: number | undefined;
  /** Tensors to measure (default: the ones llama.cpp would quantize and the planner chooses a type for). */
  readonly tensors?: readonly string[] | undefined;
  /** Runtime backend (default `cpu`). */
  readonly backend?: BackendChoice | undefined;
  /** A kernel registry shared by every load (not disposed here). */
  readonly registry?: KernelRegistry | undefined;
  /** Threads for quantization (and the runtime when no registry is given). */
  readonly threads?: number | undefined;
  readonly onProgress?: ((p: SensitivityProgress) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface SensitivityProgress {
  /** Tensors measured so far and the number to measure. */
  readonly done: number;
  readonly total: number;
  readonly tensor: string;
}

export interface TensorSensitivity {
  readonly name: string;
  /** Probe type used for this tensor. */
  readonly probeType: string;
  /** Mean KLD per scored token (nats) with only this tensor quantized to the probe. */
  readonly kld: number;
  /** Weighted squared error E_t(probe), with the planner's weighting. */
  readonly error: number;
  /** kld / error (0 when error is 0). */
  readonly sensitivity: number;
}

export interface SensitivityResult {
  /** Tensor name → sensitivity s_t (KLD per unit of weighted squared error). */
  readonly sensitivity: Map<string, number>;
  readonly tensors: readonly TensorSensitivity[];
  /** Tokens whose KLD was scored (second half of each chunk, as llama-perplexity --kl-divergence). */
  readonly nScored: number;
  readonly chunks: number;
  readonly seconds: number;
}

function importanceFor(name: string, opts: SensitivityOptions): Float32Array | undefined {
  const im = opts.imatrix;
  if (!im) return undefined;
  const inc = opts.includeWeights ?? [];
  const exc = opts.excludeWeights ?? [];
  if (exc.some((s) => name.includes(s))) return undefined;
  if (inc.length > 0 && !inc.some((s) => name.includes(s))) return undefined;
  if ("entries" in im && "format" in im) return (im as ImatrixData).entries.get(name)?.importance;
  return (im as ReadonlyMap<string, Float32Array>).get(name);
}

/** A view of `file` whose tensor `name` reads as F32 `values`; every tensor's bytes are cached across views. */
function overrideView(file: GgufFile, cache: Map<string, Uint8Array>, name: string | undefined, values: Float32Array | undefined): GgufFile {
  const info0 = name !== undefined ? file.tensor(name) : undefined;
  const patch: Record<string | symbol, unknown> = { type: T.F32, typeName: "f32", nBytes: (values?.length ?? 0) * 4 };
  const info: GgufTensorInfo | undefined =
    info0 && new Proxy(info0, { get: (target, prop, receiver) => (prop in patch ? patch[prop] : Reflect.get(target, prop, receiver)) as unknown });
  const read = async (n: string | GgufTensorInfo): Promise<Uint8Array> => {
    const key = typeof n === "string" ? n : n.name;
    if (info && key === name) return new Uint8Array(values!.buffer, values!.byteOffset, values!.byteLength);
    let b = cache.get(key);
    if (!b) {
      b = await file.readTensorData(key);
      cache.set(key, b);
    }
    return b;
  };
  return new Proxy(file, {
    get(target, prop, receiver) {
      if (prop === "readTensorData") return read;
      if (prop === "tensor") return (n: string) => (info && n === name ? info : target.tensor(n));
      if (prop === "close") return async () => {};
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Natural log-softmax of each row into `out` (double accumulation). */
function logSoftmaxRows(logits: Float32Array, first: number, nRows: number, nVocab: number, out: Float64Array, outOffset: number): void {
  for (let r = 0; r < nRows; r++) {
    const o = (first + r) * nVocab;
    let max = -Infinity;
    for (let v = 0; v < nVocab; v++) if (logits[o + v] > max) max = logits[o + v];
    let sum = 0;
    for (let v = 0; v < nVocab; v++) sum += Math.exp(logits[o + v] - max);
    const lse = max + Math.log(sum);
    const d = outOffset + r * nVocab;
    for (let v = 0; v < nVocab; v++) out[d + v] = logits[o + v] - lse;
  }
}

/**
 * Estimates each quantizable tensor's KLD sensitivity s_t (see the module comment for the normalisation):
 * s_t = KLD(model with t alone quantized to the probe ‖ model as stored) / E_t(probe), the KLD measured on
 * `chunks` chunks of `nCtx` calibration tokens (second half of each chunk scored, as llama-perplexity does).
 * `text` is tokenized with the model's tokenizer (BOS per chunk as llama-perplexity); token ids are taken as is.
 */
export async function estimateTensorSensitivity(
  source: string | GgufFile,
  text: string | ArrayLike<number>,
  opts: SensitivityOptions = {},
): Promise<SensitivityResult> {
  const t0 = performance.now();
  const file = typeof source === "string" ? await openGguf(source) : source;
  const models: Model[] = [];
  try {
    const nCtx = opts.nCtx ?? 256;
    if (!Number.isInteger(nCtx) || nCtx < 4) throw evalError(EvalErrorCode.EVAL_BAD_OPTION, `nCtx must be an integer >= 4, got ${nCtx}`);
    const probe = ggmlTypeByName((opts.probeType ?? "q3_K").trim());
    if (!probe || !builtinRegistry().findByType(probe.id)) throw evalError(EvalErrorCode.EVAL_BAD_OPTION, `unknown probe type '${String(opts.probeType)}'`);
    const cache = new Map<string, Uint8Array>();
    const load = async (name?: string, values?: Float32Array): Promise<Model> => {
      const m = await loadModel(overrideView(file, cache, name, values), {
        backend: opts.backend ?? "cpu",
        ...(opts.registry ? { registry: opts.registry } : opts.threads !== undefined ? { threads: opts.threads } : {}),
      });
      models.push(m);
      return m;
    };
    const ref = await load();
    const tokens = typeof text === "string" ? ref.tokenizer.encode(text, { addBos: true }) : Array.from(text);
    const chunks = Math.min(opts.chunks ?? 4, Math.floor(tokens.length / nCtx));
    if (chunks < 1) throw evalError(EvalErrorCode.PPL_TOO_FEW_TOKENS, `the calibration text has ${tokens.length} tokens; need at least ${nCtx}`);
    const { addBos, bos } = bosPolicy(ref.tokenizer, {});
    const first = nCtx >> 1;
    const nScoredPerChunk = nCtx - 1 - first;
    const nVocab = ref.nVocab;
    const chunkTokens: Int32Array[] = [];
    for (let c = 0; c < chunks; c++) chunkTokens.push(Int32Array.from(tokens.slice(c * nCtx, (c + 1) * nCtx)));
    // reference log-probabilities of the scored rows (rows first .. nCtx-2 predict tokens first+1 .. nCtx-1)
    const refLogp = new Float64Array(chunks * nScoredPerChunk * nVocab);
    for (let c = 0; c < chunks; c++) {
      const logits = await evaluateChunk(ref, chunkTokens[c], addBos, bos);
      logSoftmaxRows(logits, first, nScoredPerChunk, nVocab, refLogp, c * nScoredPerChunk * nVocab);
    }
    await ref.dispose();
    models.length = 0;

    let names: string[];
    if (opts.tensors) names = [...opts.tensors];
    else {
      const plan = planQuantization(file, "Q8_0", { pure: true, allowRequantize: true });
      names = plan.tensors.filter((t) => t.reason === "default").map((t) => t.name);
    }
    const rowLogp = new Float64Array(nVocab);
    const out: TensorSensitivity[] = [];
    for (let i = 0; i < names.length; i++) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? evalError(EvalErrorCode.EVAL_BAD_OPTION, "aborted");
      const name = names[i];
      opts.onProgress?.({ done: i, total: names.length, tensor: name });
      const info = file.tensor(name);
      if (!info) throw evalError(EvalErrorCode.EVAL_BAD_OPTION, `tensor ${name} is not in the file`, { tensor: name });
      const ne0 = info.shape[0] ?? 1;
      const n = info.shape.reduce((a, b) => a * b, 1);
      const nSlices = info.shape.slice(2).reduce((a, b) => a * b, 1);
      const rows = n / ne0 / nSlices;
      let ty: number | undefined = probe.id;
      if (ne0 % (ggmlTypeInfo(ty)?.blockSize ?? 1) !== 0) ty = shapeFallbackC392e50(ty, ne0);
      if (ty === undefined || ne0 % (ggmlTypeInfo(ty)?.blockSize ?? 1) !== 0 || !builtinRegistry().findByType(ty)) {
        throw evalError(EvalErrorCode.EVAL_BAD_OPTION, `probe type ${probe.name} does not fit rows of ${ne0} in ${name}`, { tensor: name });
      }
      const scheme = builtinRegistry().byType(ty);
      // source values as f32
      const raw = await file.readTensorData(info);
      const x = new Float32Array(new SharedArrayBuffer(n * 4));
      if (info.type === T.F32) x.set(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + n * 4)));
      else {
        const src = builtinRegistry().findByType(info.type);
        if (!src) throw evalError(EvalErrorCode.EVAL_BAD_OPTION, `cannot read ${info.typeName} as floats`, { tensor: name });
        dequantizeTensor(src, raw, n, x, name);
      }
      const imp = importanceFor(name, opts);
      const importance = imp && imp.length === ne0 * nSlices ? imp : undefined;
      const deq = new Float32Array(n);
      let error = 0;
      for (let s = 0; s < nSlices; s++) {
        const m = rows * ne0;
        const xs = x.subarray(s * m, (s + 1) * m);
        const w = importance ? importance.subarray(s * ne0, (s + 1) * ne0) : undefined;
        const q = await quantizeTensorParallel(scheme.name, xs, rows, ne0, { importance: w ?? null, threads: opts.threads, tensorName: name });
        const ds = deq.subarray(s * m, (s + 1) * m);
        dequantizeTensor(scheme, q, m, ds, name);
        error += weightedSquaredError(xs, ds, rows, ne0, w);
      }
      // KLD of the model with only this tensor replaced
      const model = await load(name, deq);
      let kldSum = 0;
      for (let c = 0; c < chunks; c++) {
        const logits = await evaluateChunk(model, chunkTokens[c], addBos, bos);
        for (let r = 0; r < nScoredPerChunk; r++) {
          logSoftmaxRows(logits, first + r, 1, nVocab, rowLogp, 0);
          const o = (c * nScoredPerChunk + r) * nVocab;
          let k = 0;
          for (let v = 0; v < nVocab; v++) {
            const lp = refLogp[o + v];
            k += Math.exp(lp) * (lp - rowLogp[v]);
          }
          kldSum += k;
        }
      }
      await model.dispose();
      models.length = 0;
      const kld = Math.max(0, kldSum / (chunks * nScoredPerChunk));
      out.push({ name, probeType: scheme.name, kld, error, sensitivity: error > 0 ? kld / error : 0 });
    }
    opts.onProgress?.({ done: names.length, total: names.length, tensor: "" });
    return {
      sensitivity: new Map(out.map((t) => [t.name, t.sensitivity])),
      tensors: out,
      nScored: chunks * nScoredPerChunk,
      chunks,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    for (const m of models) await m.dispose();
    if (typeof source === "string") await file.close();
  }
}
