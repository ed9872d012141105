/**
 * Memory needed to run a GGUF model with llama.cpp-style buffers, and which models fit a memory budget.
 *
 * total = weights + KV cache + compute buffer + output buffer, where
 *
 * - **weights**: exact, the sum of the tensor data sizes in the tensor table (`ggml_nbytes` of every tensor);
 * - **KV cache**: per layer, K and V for every cell: `cells × ggml_row_size(type_k, n_head_kv × head_dim_k)` plus the
 *   same for V. For f16 and head dims that are multiples of 32 this is `2 × n_head_kv × head_dim × cells × bytes`;
 *   block types (q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1) take their bytes-per-block / 32 per element. `cells` is the
 *   context, or `min(ctx, window)` on sliding-window layers (gemma2/gemma3/cohere2 patterns, or the
 *   `*.attention.sliding_window_pattern` key);
 * - **compute buffer** (an estimate, not llama.cpp's graph allocator): f32 activations of one micro-batch
 *   `u = min(n_ubatch, ctx)`: `4 × u × (4 × n_embd + max(att, 3 × n_ff) + n_vocab)`, where `att = n_head × ctx` is the
 *   attention score matrix (0 with flash attention, which never materialises it); it is within about 1.5x of the
 *   "compute buffer size" llama.cpp prints for dense models (conservative, as intended);
 * - **output buffer**: `4 × n_vocab × n_seq` (llama.cpp reserves logits for one token per sequence).
 */
import { GGUFValueType, getArray, getString, openGguf, type GgufFile } from "@quantlab/gguf";
import { EvalErrorCode, evalError } from "./errors.js";

/** KV cache types llama.cpp accepts for `--cache-type-k/-v`. */
export type KvCacheType = "f32" | "f16" | "bf16" | "q8_0" | "q4_0" | "q4_1" | "iq4_nl" | "q5_0" | "q5_1";

/** [elements per block, bytes per block] of each KV cache type (ggml type traits). */
export const KV_CACHE_TYPES: Readonly<Record<KvCacheType, readonly [number, number]>> = {
  f32: [1, 4],
  f16: [1, 2],
  bf16: [1, 2],
  q8_0: [32, 34],
  q4_0: [32, 18],
  q4_1: [32, 20],
  iq4_nl: [32, 18],
  q5_0: [32, 22],
  q5_1: [32, 24],
};

/** Bytes per element of a KV cache type (block bytes / 32 for the block types). */
export function kvBytesPerElement(type: KvCacheType): number {
  const [blk, bytes] = KV_CACHE_TYPES[type];
  return bytes / blk;
}

/** `ggml_row_size(type, n)`: bytes of a row of n elements (n rounded up to whole blocks). */
export function kvRowBytes(type: KvCacheType, n: number): number {
  const [blk, bytes] = KV_CACHE_TYPES[type];
  return Math.ceil(n / blk) * bytes;
}

function kvType(name: string): KvCacheType {
  const t = name.toLowerCase();
  if (!(t in KV_CACHE_TYPES)) throw evalError(EvalErrorCode.EVAL_BAD_OPTION, `unknown KV cache type '${name}' (one of ${Object.keys(KV_CACHE_TYPES).join(", ")})`);
  return t as KvCacheType;
}

/** What the estimate needs to know about a model (read from GGUF metadata with {@link memoryModelInfo}). */
export interface MemoryModelInfo {
  readonly architecture: string;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  /** KV heads of each layer (GQA; per-layer arrays are allowed by GGUF). */
  readonly nHeadKv: readonly number[];
  readonly headDimK: number;
  readonly headDimV: number;
  readonly nFf: number;
  readonly nVocab: number;
  /** `context_length` (the largest context it was trained for). */
  readonly nCtxTrain: number;
  /** Sliding-window size, 0 when none. */
  readonly slidingWindow: number;
  /** Which layers use the sliding window (all false when none). */
  readonly swaLayers: readonly boolean[];
  /** Exact tensor data bytes. */
  readonly weightBytes: number;
  readonly nTensors: number;
}

/** Default SWA layer patterns by architecture (llama.cpp `set_swa_pattern`: layer il is SWA when il % n < n - 1). */
export const SWA_PATTERNS: Readonly<Record<string, number>> = { gemma2: 2, gemma3: 6, cohere2: 4 };

function metaNumberOrArray(f: GgufFile, key: string): number | number[] | boolean[] | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type === GGUFValueType.ARRAY) return (v.value as unknown[]).map((x) => (typeof x === "boolean" ? x : Number(x))) as number[] | boolean[];
  if (v.type === GGUFValueType.BOOL || v.type === GGUFValueType.STRING) return undefined;
  return Number(v.value);
}

/** Read {@link MemoryModelInfo} from a GGUF file's metadata and tensor table. */
export function memoryModelInfo(f: GgufFile, opts: { swaPattern?: number | undefined } = {}): MemoryModelInfo {
  // not @quantlab/gguf's modelInfo: GGUF allows per-layer arrays for several of these keys
  const arch = getString(f, "general.architecture");
  const num = (key: string): number | undefined => {
    const v = metaNumberOrArray(f, `${arch}.${key}`);
    return Array.isArray(v) ? Math.max(...(v as number[])) : v;
  };
  const need = (v: number | undefined, key: string): number => {
    if (v === undefined || !Number.isFinite(v)) throw evalError(EvalErrorCode.FIT_BAD_MODEL, `metadata '${arch}.${key}' is missing`, { file: f.file });
    return v;
  };
  if (arch === undefined) throw evalError(EvalErrorCode.FIT_BAD_MODEL, "metadata 'general.architecture' is missing", { file: f.file });
  const nLayer = need(num("block_count"), "block_count");
  const nEmbd = need(num("embedding_length"), "embedding_length");
  const headRaw = metaNumberOrArray(f, `${arch}.attention.head_count`);
  const nHead = Array.isArray(headRaw) ? Math.max(...(headRaw as number[])) : need(headRaw as number | undefined, "attention.head_count");
  const kvRaw = metaNumberOrArray(f, `${arch}.attention.head_count_kv`);
  const nHeadKv: number[] = Array.isArray(kvRaw) ? (kvRaw as number[]).slice(0, nLayer) : new Array(nLayer).fill(kvRaw ?? nHead);
  if (nHeadKv.length !== nLayer) throw evalError(EvalErrorCode.FIT_BAD_MODEL, `head_count_kv has ${nHeadKv.length} entries for ${nLayer} layers`, { file: f.file });
  const kLen = metaNumberOrArray(f, `${arch}.attention.key_length`);
  const vLen = metaNumberOrArray(f, `${arch}.attention.value_length`);
  const headDimK = typeof kLen === "number" ? kLen : nEmbd / nHead;
  const headDimV = typeof vLen === "number" ? vLen : headDimK;
  const ffRaw = metaNumberOrArray(f, `${arch}.feed_forward_length`);
  const nFf = Array.isArray(ffRaw) ? Math.max(...(ffRaw as number[])) : (ffRaw ?? 4 * nEmbd);
  const nVocab = num("vocab_size") ?? getArray(f, "tokenizer.ggml.tokens")?.length ?? f.tensor("token_embd.weight")?.shape[1] ?? 0;
  const swRaw = metaNumberOrArray(f, `${arch}.attention.sliding_window`);
  const slidingWindow = typeof swRaw === "number" && swRaw > 0 ? swRaw : 0;
  let swaLayers: boolean[] = new Array(nLayer).fill(false);
  if (slidingWindow > 0) {
    const patRaw = metaNumberOrArray(f, `${arch}.attention.sliding_window_pattern`);
    if (Array.isArray(patRaw) && typeof patRaw[0] === "boolean") {
      swaLayers = Array.from({ length: nLayer }, (_, il) => (patRaw as boolean[])[il] === true);
    } else {
      const n = opts.swaPattern ?? (typeof patRaw === "number" ? patRaw : SWA_PATTERNS[arch]);
      // no known pattern: llama.cpp ignores the window for such architectures (e.g. llama with a mistral window)
      if (n !== undefined) swaLayers = Array.from({ length: nLayer }, (_, il) => n === 0 || il % n < n - 1);
    }
  }
  let weightBytes = 0;
  for (const t of f.tensors) weightBytes += t.nBytes;
  return {
    architecture: arch,
    nLayer,
    nEmbd,
    nHead,
    nHeadKv,
    headDimK,
    headDimV,
    nFf,
    nVocab,
    nCtxTrain: num("context_length") ?? 0,
    slidingWindow,
    swaLayers,
    weightBytes,
    nTensors: f.tensors.length,
  };
}

export interface MemoryOptions {
  /** Context size (KV cells per sequence). */
  readonly ctx: number;
  /** KV cache type for K and V (default f16, as llama.cpp). */
  readonly kvType?: KvCacheType | string | undefined;
  /** Override for K only / V only. */
  readonly kvTypeK?: KvCacheType | string | undefined;
  readonly kvTypeV?: KvCacheType | string | undefined;
  /** Micro-batch size (`-ub`, default 512). */
  readonly nUbatch?: number | undefined;
  /** Parallel sequences (`-np`, default 1): each has its own `ctx` cells. */
  readonly nSeq?: number | undefined;
  /** Flash attention: no materialised attention score matrix. Default false. */
  readonly flashAttention?: boolean | undefined;
  /** Keep full-size caches on sliding-window layers (llama.cpp `--swa-full`). */
  readonly swaFull?: boolean | undefined;
}

export interface MemoryEstimate {
  readonly ctx: number;
  readonly weights: number;
  /** Total KV cache bytes. */
  readonly kvCache: number;
  /** KV bytes of each layer (K + V). */
  readonly kvPerLayer: readonly number[];
  readonly compute: number;
  readonly output: number;
  readonly total: number;
}

/** Estimate the memory of a model at a context size (see the module comment for the formulas). */
export function estimateMemory(info: MemoryModelInfo, opts: MemoryOptions): MemoryEstimate {
  const ctx = opts.ctx;
  if (!Number.isInteger(ctx) || ctx < 1) throw evalError(EvalErrorCode.EVAL_BAD_OPTION, `context size ${ctx} must be a positive integer`);
  const tk = kvType(opts.kvTypeK ?? opts.kvType ?? "f16");
  const tv = kvType(opts.kvTypeV ?? opts.kvType ?? "f16");
  const nSeq = opts.nSeq ?? 1;
  const kvPerLayer: number[] = [];
  let kvCache = 0;
  for (let il = 0; il < info.nLayer; il++) {
    const cells = (info.swaLayers[il] && !opts.swaFull ? Math.min(ctx, info.slidingWindow) : ctx) * nSeq;
    const b = cells * (kvRowBytes(tk, info.nHeadKv[il] * info.headDimK) + kvRowBytes(tv, info.nHeadKv[il] * info.headDimV));
    kvPerLayer.push(b);
    kvCache += b;
  }
  const u = Math.min(opts.nUbatch ?? 512, ctx * nSeq);
  const att = opts.flashAttention ? 0 : info.nHead * ctx * nSeq;
  const compute = 4 * u * (4 * info.nEmbd + Math.max(att, 3 * info.nFf) + info.nVocab);
  const output = 4 * info.nVocab * nSeq;
  return { ctx, weights: info.weightBytes, kvCache, kvPerLayer, compute, output, total: info.weightBytes + kvCache + compute + output };
}

const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1024,
  kb: 1e3,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1e12,
  tib: 1024 ** 4,
};

/**
 * Parse a size: `12GiB` (binary), `12GB` (decimal), `800MiB`, `1.5 GiB`, `512` (bytes). Single-letter units
 * (`12G`, `800M`) are binary. Case-insensitive. Throws `FIT_BAD_SIZE`.
 */
export function parseSize(s: string | number): number {
  if (typeof s === "number") {
    if (!(s >= 0) || !Number.isFinite(s)) throw evalError(EvalErrorCode.FIT_BAD_SIZE, `size ${s} is not a non-negative number`);
    return Math.floor(s);
  }
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(s);
  const unit = m ? UNITS[(m[2] || "b").toLowerCase()] : undefined;
  if (!m || unit === undefined) throw evalError(EvalErrorCode.FIT_BAD_SIZE, `cannot parse size '${s}' (examples: 12GiB, 12GB, 800MiB, 1.5 GiB, 4096)`);
  return Math.floor(Number(m[1]) * unit);
}

/** `12.00 GiB`-style display of a byte count. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(2)} ${units[i]}`;
}

export interface FitOptions extends Omit<MemoryOptions, "ctx"> {
  /** Memory available: bytes or a size string (`"12GiB"`). */
  readonly vram: number | string;
  /** Context wanted (default: each model's training context, or 4096 when unknown). */
  readonly ctx?: number | undefined;
  /** Granularity of the largest context reported (default 256, llama.cpp's cache padding). */
  readonly ctxStep?: number | undefined;
  /** SWA pattern override for architectures not in {@link SWA_PATTERNS}. */
  readonly swaPattern?: number | undefined;
}

export interface FitResult {
  readonly file: string;
  readonly info: MemoryModelInfo;
  readonly estimate: MemoryEstimate;
  /** Whether `estimate.total <= vram`. */
  readonly fits: boolean;
  /** The largest context (a multiple of `ctxStep`, at most the training context) that fits; 0 when none does. */
  readonly maxCtx: number;
}

/** The largest context (multiple of `step`, <= `limit`) whose estimate fits in `budget` bytes; 0 if none. */
export function largestContext(info: MemoryModelInfo, budget: number, opts: Omit<MemoryOptions, "ctx">, limit: number, step = 256): number {
  let lo = 0;
  let hi = Math.floor(limit / step);
  const fits = (k: number) => estimateMemory(info, { ...opts, ctx: k * step }).total <= budget;
  if (hi < 1 || !fits(1)) return 0;
  lo = 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo * step;
}

/** Which models fit a memory budget at a context, and the largest context each allows. */
export async function fitModels(files: readonly (string | GgufFile)[], opts: FitOptions): Promise<FitResult[]> {
  const budget = parseSize(opts.vram);
  const out: FitResult[] = [];
  for (const src of files) {
    const f = typeof src === "string" ? await openGguf(src) : src;
    try {
      const info = memoryModelInfo(f, { swaPattern: opts.swaPattern });
      const ctx = opts.ctx ?? (info.nCtxTrain || 4096);
      const estimate = estimateMemory(info, { ...opts, ctx });
      const limit = Math.max(info.nCtxTrain || 0, ctx);
      out.push({
        file: typeof src === "string" ? src : (f.file ?? "<memory>"),
        info,
        estimate,
        fits: estimate.total <= budget,
        maxCtx: largestContext(info, budget, opts, limit, opts.ctxStep ?? 256),
      });
    } finally {
      if (typeof src === "string") await f.close();
    }
  }
  return out;
}
