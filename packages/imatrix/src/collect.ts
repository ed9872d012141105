/**
 * `collectImatrix`: llama-imatrix's `compute_imatrix` on top of a forward pass with matmul hooks.
 *
 * @see compute_imatrix (tools/imatrix/imatrix.cpp; examples/imatrix/imatrix.cpp at c392e50)
 * - tokenize the whole text with the vocab's special tokens (BOS when the vocab adds one);
 * - drop `fromChunk * nCtx` tokens, refuse fewer than `2 * nCtx` tokens;
 * - chunks of `nCtx` tokens, at most `chunks`; the first token of each chunk is replaced by BOS when the vocab adds
 *   BOS; each chunk is evaluated from an empty KV cache with all logits (llama-imatrix asks for every output so the
 *   last layer's FFN sees every token, and for the perplexity);
 * - perplexity over the second half of each chunk (`first = nCtx / 2`), printed by the C as `[i]ppl,`.
 */
import { ImatrixCollector } from "./collector.js";
import { ImatrixError } from "./errors.js";
import type { Imatrix } from "./imatrix.js";

/** The tokenizer part of a model that collection needs (satisfied by `@quantlab/runtime`'s Tokenizer). */
export interface ImatrixTokenizer {
  encode(text: string, options?: { addSpecial?: boolean; addBos?: boolean; parseSpecial?: boolean }): number[];
  /** BOS token id. */
  readonly bos: number | undefined;
  /** `tokenizer.ggml.add_bos_token` (llama_vocab_get_add_bos). */
  readonly addBosToken: boolean;
}

/** Hooks a forward pass calls; `x` is only valid during the call. */
export interface ImatrixHooks {
  /** Before every matmul against a named weight: its input activations `[nTokens, nCols]` (row-major). */
  onMatmulInput?(weightName: string, x: Float32Array, nTokens: number, nCols: number): void;
}

/** The model part collection needs: structurally satisfied by `@quantlab/runtime`'s `Model`. */
export interface ImatrixModel {
  readonly tokenizer: ImatrixTokenizer;
  readonly nVocab: number;
  /** Evaluates `tokens` from an empty KV cache; with `logits: "all"` returns `[tokens.length, nVocab]` logits. */
  evaluate(tokens: number[], options: { logits?: "all" | "last"; hooks?: ImatrixHooks }): Promise<Float32Array>;
}

export interface CollectProgress {
  /** Chunks done (1-based after the first). */
  readonly chunk: number;
  readonly nChunks: number;
  readonly tokens: number;
  readonly elapsedSeconds: number;
  readonly tokensPerSecond: number;
  readonly etaSeconds: number;
  /** Running perplexity (`[i]ppl` of the C), when computed. */
  readonly ppl: number | undefined;
}

export interface CollectOptions {
  /** Context size = tokens per chunk (`-c`, llama-imatrix default 512). */
  readonly nCtx?: number | undefined;
  /** Maximum chunks (`--chunks`; default all). */
  readonly chunks?: number | undefined;
  /** Skip the first N chunks (`--chunk` / `--from-chunk`). */
  readonly fromChunk?: number | undefined;
  /** Tokenize special-token texts (`--parse-special`). */
  readonly parseSpecial?: boolean | undefined;
  /** Also collect `output.weight` (`--process-output`). */
  readonly processOutput?: boolean | undefined;
  /** Compute the perplexity (default true; `--no-ppl` = false). */
  readonly computePpl?: boolean | undefined;
  /** Keep Σx (`in_sum`) too (default true, as current llama-imatrix). */
  readonly activations?: boolean | undefined;
  /** Dataset name recorded in the result (llama-imatrix records the `-f` path as given). */
  readonly dataset?: string | undefined;
  /** Continue from an existing imatrix (`--in-file`). */
  readonly initial?: Imatrix | undefined;
  /** Call `onSave` every N chunks (`--output-frequency`, default 10; 0 = never). */
  readonly outputFrequency?: number | undefined;
  /** Call `onSave` with `snapshot: true` every N chunks (`--save-frequency`, default 0 = never). */
  readonly saveFrequency?: number | undefined;
  /** Intermediate results: the CLI writes them to the output file (or `<out>.at_<chunk>` for snapshots). */
  onSave?(imatrix: Imatrix, chunkCount: number, snapshot: boolean): void | Promise<void>;
  onProgress?(progress: CollectProgress): void;
  /** Pre-tokenized input instead of tokenizing `text`. */
  readonly tokens?: readonly number[] | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface CollectResult {
  readonly imatrix: Imatrix;
  readonly nChunks: number;
  /** Tokens evaluated (`nChunks * nCtx`). */
  readonly tokens: number;
  readonly seconds: number;
  readonly tokensPerSecond: number;
  /** Final estimate `PPL ± stderr`, when computed. */
  readonly ppl: { readonly value: number; readonly stderr: number } | undefined;
  /** Running perplexity after each chunk. */
  readonly chunkPpl: number[];
}

/**
 * `log_softmax` of the C for one row: max in float, Σexp in double of float `expf`, result in double.
 * @see log_softmax (tools/imatrix/imatrix.cpp)
 */
export function logSoftmaxOf(logits: Float32Array, offset: number, nVocab: number, tok: number): number {
  let max = logits[offset]!;
  for (let i = 1; i < nVocab; i++) if (logits[offset + i]! > max) max = logits[offset + i]!;
  let sumExp = 0;
  for (let i = 0; i < nVocab; i++) sumExp += Math.fround(Math.exp(Math.fround(logits[offset + i]! - max)));
  return Math.fround(logits[offset + tok]! - max) - Math.log(sumExp);
}

/** Collects an importance matrix over `text` (or `options.tokens`) like `llama-imatrix -f text -c nCtx`. */
export async function collectImatrix(model: ImatrixModel, text: string, options: CollectOptions = {}): Promise<CollectResult> {
  const nCtx = options.nCtx ?? 512;
  if (!Number.isInteger(nCtx) || nCtx <= 0) throw new ImatrixError("IMATRIX_BAD_ARGUMENT", `imatrix tool requires a context size > 0, got ${nCtx}`);
  const tok = model.tokenizer;
  const addBos = tok.addBosToken;
  if (addBos && tok.bos === undefined) throw new ImatrixError("IMATRIX_BAD_ARGUMENT", "the vocab adds BOS but has no BOS token");
  let tokens = options.tokens ? [...options.tokens] : tok.encode(text, { addSpecial: true, addBos: true, parseSpecial: options.parseSpecial ?? false });
  const iChunk = options.fromChunk ?? 0;
  if (iChunk > 0) {
    if ((iChunk + 2) * nCtx >= tokens.length) {
      throw new ImatrixError("IMATRIX_TOO_FEW_TOKENS", `there will be not enough tokens left after removing ${iChunk} chunks`);
    }
    tokens = tokens.slice(iChunk * nCtx);
  }
  if (tokens.length < 2 * nCtx) {
    throw new ImatrixError("IMATRIX_TOO_FEW_TOKENS", `you need at least ${2 * nCtx} tokens for a context of ${nCtx} tokens; the data tokenizes to only ${tokens.length} tokens`);
  }
  const nChunkMax = Math.floor(tokens.length / nCtx);
  const nChunk = options.chunks === undefined || options.chunks < 0 ? nChunkMax : Math.min(options.chunks, nChunkMax);
  const computePpl = options.computePpl ?? true;
  const nVocab = model.nVocab;
  const outFreq = options.outputFrequency ?? 10;
  const saveFreq = options.saveFrequency ?? 0;

  const collector = new ImatrixCollector({
    chunkSize: nCtx,
    processOutput: options.processOutput,
    activations: options.activations,
    initial: options.initial,
    datasets: options.dataset === undefined ? [] : [options.dataset],
  });
  const hooks: ImatrixHooks = {
    onMatmulInput(name, x, nTokens, nCols) {
      if (collector.wants(name, nTokens)) collector.addMatmulInput(name, x, nTokens, nCols);
    },
  };

  let nll = 0;
  let nll2 = 0;
  let count = 0;
  const chunkPpl: number[] = [];
  const t0 = performance.now();
  const batch = new Array<number>(nCtx);
  for (let i = 0; i < nChunk; i++) {
    if (options.signal?.aborted) throw new ImatrixError("IMATRIX_ABORTED", "collection aborted", {}, { cause: options.signal.reason });
    const start = i * nCtx;
    for (let k = 0; k < nCtx; k++) batch[k] = tokens[start + k]!;
    // add BOS token for the first batch of each chunk
    if (addBos) batch[0] = tok.bos!;
    const before = collector.chunkCount;
    // always all logits: with "last" a forward pass may skip the last layer's FFN rows that no output needs
    // (llama.cpp does), and llama-imatrix requests every output for that reason
    const logits = await model.evaluate(batch, { logits: "all", hooks });
    if (computePpl) {
      const first = nCtx >> 1;
      if (logits.length < nCtx * nVocab) throw new ImatrixError("IMATRIX_BAD_ARGUMENT", `evaluate returned ${logits.length} logits, expected ${nCtx * nVocab}`);
      for (let k = 0; k < nCtx - 1 - first; k++) {
        const v = -logSoftmaxOf(logits, (first + k) * nVocab, nVocab, tokens[start + first + k + 1]!);
        nll += v;
        nll2 += v * v;
      }
      count += nCtx - first - 1;
      chunkPpl.push(Math.exp(nll / count));
    }
    const elapsed = (performance.now() - t0) / 1000;
    const done = (i + 1) * nCtx;
    options.onProgress?.({
      chunk: i + 1,
      nChunks: nChunk,
      tokens: done,
      elapsedSeconds: elapsed,
      tokensPerSecond: done / Math.max(elapsed, 1e-9),
      etaSeconds: (elapsed / (i + 1)) * (nChunk - i - 1),
      ppl: computePpl ? chunkPpl[chunkPpl.length - 1] : undefined,
    });
    const last = collector.chunkCount;
    if (options.onSave && last > before) {
      const step = last - before;
      if (outFreq > 0 && Math.floor((last % outFreq) / step) === 0) await options.onSave(collector.snapshot(), last, false);
      if (saveFreq > 0 && Math.floor((last % saveFreq) / step) === 0) await options.onSave(collector.snapshot(), last, true);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  let ppl: CollectResult["ppl"];
  if (computePpl && count > 0) {
    const mean = nll / count;
    const value = Math.exp(mean);
    const varNll = nll2 / count - mean * mean;
    ppl = { value, stderr: varNll > 0 ? Math.sqrt(varNll / (count - 1)) * value : Number.NaN };
  }
  return { imatrix: collector.snapshot(), nChunks: nChunk, tokens: nChunk * nCtx, seconds, tokensPerSecond: (nChunk * nCtx) / Math.max(seconds, 1e-9), ppl, chunkPpl };
}
