/**
 * The kernel contract: ops, their argument layouts, backends and kernel definitions.
 *
 * Layout conventions (all row-major, f32 unless said otherwise), chosen to match ggml's so the C can be read beside us:
 * - A weight matrix is `[rows, cols]` with `cols` = ggml `ne[0]` (the input features, the contiguous dimension) and
 *   `rows` = ggml `ne[1]` (the output features). Row `r` occupies `cols / blockSize * typeSize` bytes.
 * - Activations are `[nTokens, dim]`.
 * - `matmul(x, w)` computes `out[t, r] = Σ_c x[t, c] · W[r, c]` (ggml_mul_mat(W, x)).
 *
 * Every op writes its result into a caller-provided buffer and allocates nothing per call on the hot path.
 * CPU backends run synchronously; a GPU backend may return a Promise, so callers `await` op results
 * (`MaybePromise`), which costs nothing measurable for the synchronous ones.
 */

/** Backend names, in default priority order for `auto` (highest first: gpu, cpu, cpu-ref). */
export type BackendName = "cpu-ref" | "cpu" | "gpu";
export type BackendChoice = BackendName | "auto";

export type MaybePromise<T> = T | Promise<T>;

/** A 2-D weight in any block format, as stored in a GGUF file. */
export interface QuantMatrix {
  /** Tensor name, for error messages and hooks (e.g. `blk.0.attn_q.weight`). */
  readonly name: string;
  /** ggml type name (the scheme name: `f32`, `q4_K`, `iq2_xxs`, …). */
  readonly scheme: string;
  /** ggml type id. */
  readonly typeId: number;
  /** Output features (ggml ne[1]). */
  readonly rows: number;
  /** Input features (ggml ne[0]); a multiple of the scheme's block size. */
  readonly cols: number;
  /** The raw block bytes, `rows * rowBytes` long. */
  readonly data: Uint8Array;
  /** Bytes per row. */
  readonly rowBytes: number;
}

/** RoPE parameters (llama.cpp `ggml_rope_ext`). */
export interface RopeOptions {
  /** 0 = normal (llama: rotate adjacent pairs (2i, 2i+1)); 2 = NeoX (qwen2/qwen3: rotate (i, i + nRot/2)). */
  readonly mode: 0 | 2;
  /** Rotated dimensions per head (≤ headDim; usually headDim). */
  readonly nRot: number;
  readonly freqBase: number;
  /** Linear scaling: positions are multiplied by this (1 / rope.scaling.factor for linear scaling; 1 when none). */
  readonly freqScale: number;
}

/** The ops and their signatures. Buffers are never resized by an op; sizes are in elements. */
export interface OpSignatures {
  /** Rows `[rowStart, rowStart + nRows)` of `w` to f32: `out[(r - rowStart) * cols + c]`. */
  dequantize(w: QuantMatrix, rowStart: number, nRows: number, out: Float32Array): MaybePromise<void>;
  /** `out[t * w.rows + r] = Σ_c x[t * w.cols + c] · W[r, c]` for t < nTokens. Never dequantizes all of `w` at once. */
  matmul(x: Float32Array, nTokens: number, w: QuantMatrix, out: Float32Array): MaybePromise<void>;
  /** `out[t, i] = x[t, i] / sqrt(mean_i(x[t,:]²) + eps) * weight[i]` (ggml_rms_norm then ggml_mul). In-place allowed. */
  rmsnorm(x: Float32Array, nTokens: number, dim: number, weight: Float32Array, eps: number, out: Float32Array): MaybePromise<void>;
  /** In place on `x` laid out `[nTokens, nHeads, headDim]`, token t at position `positions[t]`. */
  rope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, positions: Int32Array, opts: RopeOptions): MaybePromise<void>;
  /** Row-wise softmax in place over `[rows, cols]`. */
  softmax(x: Float32Array, rows: number, cols: number): MaybePromise<void>;
  /** `out[i] = silu(gate[i]) * up[i]`, silu(x) = x / (1 + e^-x). In-place into `gate` allowed. */
  swiglu(gate: Float32Array, up: Float32Array, n: number, out: Float32Array): MaybePromise<void>;
  /**
   * Causal multi-head attention with GQA against a KV cache.
   * q: `[nTokens, nHead, headDim]`; kCache, vCache: `[nCtx, nKvHead, headDim]` holding positions 0..(max position);
   * token t attends to cache positions `0..positions[t]` inclusive. Scores are scaled by `scale`
   * (1/sqrt(headDim) for llama). out: `[nTokens, nHead * headDim]`. Head h reads kv head `floor(h / (nHead / nKvHead))`.
   */
  attention(
    q: Float32Array,
    nTokens: number,
    positions: Int32Array,
    kCache: Float32Array,
    vCache: Float32Array,
    nHead: number,
    nKvHead: number,
    headDim: number,
    scale: number,
    out: Float32Array,
  ): MaybePromise<void>;
}

export type OpName = keyof OpSignatures;

/** One kernel: an implementation of one op on one backend, for some schemes (matmul/dequantize) or all. */
export interface KernelDef<O extends OpName = OpName> {
  readonly op: O;
  readonly backend: BackendName;
  /** Scheme names this kernel handles (ops on weights); `"*"` = any (also the only value for weight-less ops). */
  readonly schemes: readonly string[] | "*";
  /** Higher wins among kernels of the same backend for the same (op, scheme). Default 0. */
  readonly priority?: number;
  readonly run: OpSignatures[O];
}

/** A backend: a name, a capability probe, and its kernels. */
export interface Backend {
  readonly name: BackendName;
  /** Whether this backend can run here (e.g. WebAssembly SIMD present, a WebGPU adapter found). Cached by the registry. */
  probe(): MaybePromise<boolean>;
  readonly kernels: readonly KernelDef[];
  /**
   * Whether `auto` may pick this backend once its probe passed (default true). A GPU backend running on a software
   * driver (lavapipe, SwiftShader) declines: it works, and is tested, but is slower than the CPU backend.
   */
  autoEligible?(): boolean;
  /** Releases resources (GPU device, worker threads). */
  dispose?(): MaybePromise<void>;
}
