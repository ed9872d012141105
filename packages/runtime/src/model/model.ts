/**
 * The transformer forward pass for the llama family, as llama.cpp builds it (`llm_build_llama`, `llm_build_qwen2`,
 * `llm_build_qwen3` in src/llama-model.cpp):
 *
 *   x = token_embd[tokens]
 *   per layer:  h = rms_norm(x)·attn_norm;  q,k,v = Wq·h (+bq), Wk·h (+bk), Wv·h (+bv)
 *               [qwen3: q,k = rms_norm per head · attn_q_norm / attn_k_norm];  q,k = rope(q,k)
 *               x = x + Wo·attention(q, K cache, V cache)
 *               h = rms_norm(x)·ffn_norm;  x = x + Wdown·(silu(Wgate·h) ⊙ Wup·h)
 *   logits = output · (rms_norm(x)·output_norm)
 *
 * Prompts go through in batches: every matmul sees the whole `[nTokens, nEmbd]` activation block. All working buffers
 * are allocated once per model (grown to the largest batch), KV caches once per sequence; nothing is allocated per
 * token or layer on the hot path except small typed-array views.
 */
import { ActivationRounder, type ActivationMode } from "./activations.js";
import { openGguf, type GgufFile } from "@quantlab/gguf";
import {
  builtinBackends,
  createKernelRegistry,
  type BackendChoice,
  type BackendName,
  type KernelRegistry,
  type ResolvedKernels,
} from "@quantlab/kernels";
import { loadTokenizer, type Tokenizer } from "../tokenizer/tokenizer.js";
import { readModelConfig, type ModelConfig } from "./config.js";
import { ModelError } from "./errors.js";
import { loadWeights, type ModelWeights } from "./weights.js";

export interface ForwardHooks {
  /**
   * Called with the input activations of every matmul against a named weight, before the matmul: x is
   * `[nTokens, nCols]` (a view into a reused buffer: copy if you keep it). Not called (no work done) when absent.
   */
  onMatmulInput?(weightName: string, x: Float32Array, nTokens: number, nCols: number): void;
}

export interface EvaluateOptions {
  /** `"all"` (default): logits of every token, `[tokens.length, nVocab]`; `"last"`: only the last token's `[nVocab]`. */
  readonly logits?: "all" | "last";
  /** Tokens per forward batch (default: all of them, at most the context). */
  readonly nBatch?: number;
  readonly hooks?: ForwardHooks;
}

export interface AppendOptions {
  /** `"last"` (default): the last token's logits; `"all"`: `[tokens.length, nVocab]`. */
  readonly logits?: "all" | "last";
  readonly nBatch?: number;
  readonly hooks?: ForwardHooks;
}

/** An incremental sequence with its own KV cache (for generation). */
export interface Session {
  readonly nCtx: number;
  /** Tokens in the KV cache. */
  readonly nPast: number;
  /** Evaluates `tokens` after the ones already in the cache; returns logits (see {@link AppendOptions}). */
  append(tokens: ArrayLike<number>, opts?: AppendOptions): Promise<Float32Array>;
  /** Forgets every token (the cache is reused). */
  reset(): void;
}

export interface Model {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  readonly nVocab: number;
  /** The backend chosen (matmuls of schemes it lacks fall back; see `kernels.describe()`). */
  readonly backend: BackendName;
  /** The dispatching kernels (which backend ran what: `kernels.describe()`). */
  readonly kernels: ResolvedKernels;
  /** Bytes of weight data held in memory. */
  readonly weightBytes: number;
  /**
   * Fresh sequence (KV cache cleared): evaluates tokens in batches (default nBatch = all, ≤ nCtx) and returns logits
   * `[tokens.length, nVocab]` row-major, or only the last row with `logits: "last"`.
   */
  evaluate(tokens: ArrayLike<number>, opts?: EvaluateOptions): Promise<Float32Array>;
  /** Incremental use for generation: a session keeps its KV cache. Default nCtx: min(context_length, 4096). */
  createSession(opts?: { nCtx?: number }): Session;
  dispose(): Promise<void>;
}

export interface LoadModelOptions {
  /** Backend choice (default `"auto"`: the best whose probe passes). */
  readonly backend?: BackendChoice;
  /** Threads for the cpu backend (ignored when `registry` is given). */
  readonly threads?: number;
  /** A registry to use instead of `createKernelRegistry(builtinBackends({ threads }))`. It is not disposed by the model. */
  readonly registry?: KernelRegistry;
  /**
   * `"ggml"` (default): before each matmul the activations are rounded to the weight type's `vec_dot_type` (q8_0,
   * q8_K, f16, bf16) as ggml's CPU backend does, so perplexity/KLD figures mean what llama.cpp's mean.
   * `"f32"`: exact f32 activations (slightly better quality than llama.cpp measures). See activations.ts.
   */
  readonly activations?: ActivationMode;
}

/** Opens (when given a path/URL) and loads a GGUF model: metadata, tokenizer, weights in their block formats. */
export async function loadModel(source: string | GgufFile, opts: LoadModelOptions = {}): Promise<Model> {
  const file = typeof source === "string" ? await openGguf(source) : source;
  try {
    const cfg0 = readModelConfig(file);
    const tokenizer = loadTokenizer(file);
    const { weights, config } = await loadWeights(file, cfg0);
    const ownRegistry = opts.registry === undefined;
    const registry = opts.registry ?? createKernelRegistry(builtinBackends(opts.threads === undefined ? {} : { threads: opts.threads }));
    const kernels = await registry.resolve(opts.backend ?? "auto");
    return new TransformerModel(config, tokenizer, weights, kernels, ownRegistry ? registry : undefined, new ActivationRounder(opts.activations ?? "ggml"));
  } finally {
    if (typeof source === "string") await file.close();
  }
}

/** One sequence's KV cache: per layer `[nCtx, nKvHead, headDim]` f32. */
class KvCache {
  readonly k: Float32Array[] = [];
  readonly v: Float32Array[] = [];
  nPast = 0;
  constructor(
    readonly nCtx: number,
    nLayer: number,
    kvDim: number,
  ) {
    for (let il = 0; il < nLayer; il++) {
      this.k.push(new Float32Array(nCtx * kvDim));
      this.v.push(new Float32Array(nCtx * kvDim));
    }
  }
}

class TransformerModel implements Model {
  readonly nVocab: number;
  readonly backend: BackendName;
  readonly weightBytes: number;
  private disposed = false;
  private lock: Promise<unknown> = Promise.resolve();
  private evalCache: KvCache | undefined;
  // Working buffers, grown to the largest batch (capacity in tokens).
  private cap = 0;
  private x = new Float32Array(0);
  private xn = new Float32Array(0);
  private q = new Float32Array(0);
  private attnOut = new Float32Array(0);
  private proj = new Float32Array(0);
  private gate = new Float32Array(0);
  private up = new Float32Array(0);
  private positions = new Int32Array(0);
  private readonly embRow: Float32Array;
  private readonly qDim: number;
  private readonly kvDim: number;

  constructor(
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    private readonly weights: ModelWeights,
    readonly kernels: ResolvedKernels,
    private readonly ownRegistry: KernelRegistry | undefined,
    private readonly act: ActivationRounder,
  ) {
    this.nVocab = config.nVocab;
    this.backend = kernels.backend;
    this.weightBytes = weights.bytes;
    this.embRow = new Float32Array(config.nEmbd);
    this.qDim = config.nHead * config.headDim;
    this.kvDim = config.nKvHead * config.headDim;
  }

  private ensureCapacity(n: number): void {
    if (n <= this.cap) return;
    const c = this.config;
    this.cap = n;
    this.x = new Float32Array(n * c.nEmbd);
    this.xn = new Float32Array(n * Math.max(c.nEmbd, this.qDim));
    this.q = new Float32Array(n * this.qDim);
    this.attnOut = new Float32Array(n * this.qDim);
    this.proj = new Float32Array(n * c.nEmbd);
    this.gate = new Float32Array(n * c.nFf);
    this.up = new Float32Array(n * c.nFf);
    this.positions = new Int32Array(n);
  }

  private checkAlive(): void {
    if (this.disposed) throw new ModelError("MODEL_DISPOSED", "the model was disposed");
  }

  /** Runs `fn` after every earlier forward call finished (buffers are shared; async backends may interleave). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private checkTokens(tokens: ArrayLike<number>): void {
    const nVocab = this.nVocab;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= nVocab) {
        throw new ModelError("MODEL_BAD_INPUT", `token ${t} at index ${i} is outside the vocabulary [0, ${nVocab})`);
      }
    }
  }

  async evaluate(tokens: ArrayLike<number>, opts: EvaluateOptions = {}): Promise<Float32Array> {
    this.checkAlive();
    const n = tokens.length;
    if (n === 0) throw new ModelError("MODEL_BAD_INPUT", "evaluate needs at least one token");
    this.checkTokens(tokens);
    return this.exclusive(async () => {
      if (!this.evalCache || this.evalCache.nCtx < n) this.evalCache = new KvCache(n, this.config.nLayer, this.kvDim);
      const cache = this.evalCache;
      cache.nPast = 0;
      return this.run(cache, tokens, opts.logits ?? "all", opts.nBatch, opts.hooks);
    });
  }

  createSession(opts: { nCtx?: number } = {}): Session {
    this.checkAlive();
    const nCtx = opts.nCtx ?? Math.min(this.config.nCtxTrain, 4096);
    if (!Number.isInteger(nCtx) || nCtx < 1) throw new ModelError("MODEL_BAD_INPUT", `nCtx must be a positive integer, got ${nCtx}`);
    const cache = new KvCache(nCtx, this.config.nLayer, this.kvDim);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const model = this;
    return {
      nCtx,
      get nPast() {
        return cache.nPast;
      },
      async append(tokens, o: AppendOptions = {}) {
        model.checkAlive();
        if (tokens.length === 0) throw new ModelError("MODEL_BAD_INPUT", "append needs at least one token");
        model.checkTokens(tokens);
        return model.exclusive(() => model.run(cache, tokens, o.logits ?? "last", o.nBatch, o.hooks));
      },
      reset() {
        cache.nPast = 0;
      },
    };
  }

  /** Evaluates `tokens` after `cache.nPast` in batches; returns a fresh logits array. */
  private async run(cache: KvCache, tokens: ArrayLike<number>, mode: "all" | "last", nBatch: number | undefined, hooks: ForwardHooks | undefined): Promise<Float32Array> {
    const n = tokens.length;
    if (cache.nPast + n > cache.nCtx) {
      throw new ModelError("MODEL_BAD_INPUT", `${cache.nPast} + ${n} tokens exceed the context of ${cache.nCtx}`);
    }
    const batch = Math.max(1, Math.min(nBatch ?? n, n));
    this.ensureCapacity(batch);
    const nVocab = this.nVocab;
    const out = new Float32Array(mode === "all" ? n * nVocab : nVocab);
    for (let b0 = 0; b0 < n; b0 += batch) {
      const nb = Math.min(batch, n - b0);
      const isLast = b0 + nb === n;
      await this.forwardBatch(cache, tokens, b0, nb, hooks);
      if (mode === "all") await this.outputLogits(0, nb, out.subarray(b0 * nVocab, (b0 + nb) * nVocab), hooks);
      else if (isLast) await this.outputLogits(nb - 1, 1, out, hooks);
    }
    return out;
  }

  /** Final norm + output projection of `nt` rows of the residual starting at row `t0`, into `out`. */
  private async outputLogits(t0: number, nt: number, out: Float32Array, hooks: ForwardHooks | undefined): Promise<void> {
    const K = this.kernels;
    const c = this.config;
    const W = this.weights;
    const src = t0 === 0 ? this.x : this.x.subarray(t0 * c.nEmbd, (t0 + nt) * c.nEmbd);
    let r = K.rmsnorm(src, nt, c.nEmbd, W.outputNorm, c.rmsEps, this.xn);
    if (r) await r;
    hooks?.onMatmulInput?.("output.weight", this.xn.subarray(0, nt * c.nEmbd), nt, c.nEmbd);
    r = K.matmul(this.act.round(this.xn, nt, W.output.cols, W.output.scheme), nt, W.output, out);
    if (r) await r;
  }

  /** One batch of `n` tokens (tokens[off .. off+n)) at positions nPast.. through every layer; leaves the residual in x. */
  private async forwardBatch(cache: KvCache, tokens: ArrayLike<number>, off: number, n: number, hooks: ForwardHooks | undefined): Promise<void> {
    const K = this.kernels;
    const c = this.config;
    const W = this.weights;
    const { nEmbd, nHead, nKvHead, headDim, nFf, rmsEps } = c;
    const qDim = this.qDim;
    const kvDim = this.kvDim;
    const { x, xn, q, attnOut, proj, gate, up, positions, embRow } = this;
    const p0 = cache.nPast;
    const hook = hooks?.onMatmulInput ? hooks : undefined;
    let r: unknown;

    for (let t = 0; t < n; t++) positions[t] = p0 + t;
    // get_rows(token_embd, tokens): only the needed rows are decoded.
    for (let t = 0; t < n; t++) {
      r = K.dequantize(W.tokenEmbd, tokens[off + t]!, 1, embRow);
      if (r) await r;
      x.set(embRow, t * nEmbd);
    }

    for (let il = 0; il < c.nLayer; il++) {
      const L = W.layers[il]!;
      const kc = cache.k[il]!;
      const vc = cache.v[il]!;
      const kView = kc.subarray(p0 * kvDim, (p0 + n) * kvDim);
      const vView = vc.subarray(p0 * kvDim, (p0 + n) * kvDim);

      // attention block
      r = K.rmsnorm(x, n, nEmbd, L.attnNorm, rmsEps, xn);
      if (r) await r;
      if (hook) {
        const xv = xn.subarray(0, n * nEmbd);
        hook.onMatmulInput!(L.wq.name, xv, n, nEmbd);
        hook.onMatmulInput!(L.wk.name, xv, n, nEmbd);
        hook.onMatmulInput!(L.wv.name, xv, n, nEmbd);
      }
      r = K.matmul(this.act.round(xn, n, L.wq.cols, L.wq.scheme), n, L.wq, q);
      if (r) await r;
      r = K.matmul(this.act.round(xn, n, L.wk.cols, L.wk.scheme, true), n, L.wk, kView);
      if (r) await r;
      r = K.matmul(this.act.round(xn, n, L.wv.cols, L.wv.scheme, true), n, L.wv, vView);
      if (r) await r;
      if (L.bq) addBias(q, n, qDim, L.bq);
      if (L.bk) addBias(kView, n, kvDim, L.bk);
      if (L.bv) addBias(vView, n, kvDim, L.bv);
      if (L.qNorm && L.kNorm) {
        // qwen3: RMSNorm over each head's vector before RoPE.
        r = K.rmsnorm(q, n * nHead, headDim, L.qNorm, rmsEps, q);
        if (r) await r;
        r = K.rmsnorm(kView, n * nKvHead, headDim, L.kNorm, rmsEps, kView);
        if (r) await r;
      }
      r = K.rope(q, n, nHead, headDim, positions, c.rope);
      if (r) await r;
      r = K.rope(kView, n, nKvHead, headDim, positions, c.rope);
      if (r) await r;
      r = K.attention(q, n, positions, kc, vc, nHead, nKvHead, headDim, c.attnScale, attnOut);
      if (r) await r;
      if (hook) hook.onMatmulInput!(L.wo.name, attnOut.subarray(0, n * qDim), n, qDim);
      r = K.matmul(this.act.round(attnOut, n, L.wo.cols, L.wo.scheme), n, L.wo, proj);
      if (r) await r;
      if (L.bo) addBias(proj, n, nEmbd, L.bo);
      addInPlace(x, proj, n * nEmbd);

      // feed-forward block
      r = K.rmsnorm(x, n, nEmbd, L.ffnNorm, rmsEps, xn);
      if (r) await r;
      if (hook) {
        const xv = xn.subarray(0, n * nEmbd);
        hook.onMatmulInput!(L.wGate.name, xv, n, nEmbd);
        hook.onMatmulInput!(L.wUp.name, xv, n, nEmbd);
      }
      r = K.matmul(this.act.round(xn, n, L.wGate.cols, L.wGate.scheme), n, L.wGate, gate);
      if (r) await r;
      r = K.matmul(this.act.round(xn, n, L.wUp.cols, L.wUp.scheme, true), n, L.wUp, up);
      if (r) await r;
      r = K.swiglu(gate, up, n * nFf, gate);
      if (r) await r;
      if (hook) hook.onMatmulInput!(L.wDown.name, gate.subarray(0, n * nFf), n, nFf);
      r = K.matmul(this.act.round(gate, n, L.wDown.cols, L.wDown.scheme), n, L.wDown, proj);
      if (r) await r;
      addInPlace(x, proj, n * nEmbd);
    }
    cache.nPast = p0 + n;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.lock;
    this.evalCache = undefined;
    await this.ownRegistry?.dispose();
  }
}

/** `x[t, i] += b[i]` (ggml_add with a broadcast bias). */
function addBias(x: Float32Array, n: number, dim: number, b: Float32Array): void {
  for (let t = 0; t < n; t++) {
    const o = t * dim;
    for (let i = 0; i < dim; i++) x[o + i] = x[o + i]! + b[i]!;
  }
}

/** `x += y` over `n` values (the residual ggml_add). */
function addInPlace(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] = x[i]! + y[i]!;
}
