/**
 * Perplexity exactly as llama.cpp's `llama-perplexity` computes it (`perplexity()` in
 * examples/perplexity/perplexity.cpp, llama.cpp c392e50):
 *
 * - the whole text is tokenized once with `add_special = true` (a BOS first when the vocab adds one);
 * - `n_chunk = min(--chunks, n_tokens / n_ctx)` chunks of `n_ctx` tokens, each evaluated from an empty KV cache,
 *   with its first token replaced by BOS when the vocab adds BOS;
 * - only the second half of each chunk is scored: positions `first = n_ctx/2 .. n_ctx-2` predict tokens
 *   `first+1 .. n_ctx-1`, i.e. `n_ctx - 1 - n_ctx/2` tokens per chunk;
 * - NLL = -log_softmax in double (float logits, `expf`, double sum), PPL = exp(mean NLL), and the uncertainty
 *   `PPL * sqrt((mean(NLL²) - mean(NLL)²) / (count - 1))`.
 *
 * With `kldBase: true` the same pass also packs every scored row into a KL-divergence base file
 * (`--kl-divergence-base FILE`); then, as in llama.cpp, the NLL comes from the float32 `log_softmax` used for packing.
 */
import { EvalErrorCode, evalError } from "./errors.js";
import { kldBaseHeader, kldRowStride, kldRowsPerChunk, packLogProbRow } from "./kld-base.js";
import type { Cancellable, LogitsModel, TokenizedModel } from "./model.js";

/** Progress after each chunk (llama-perplexity prints `[chunk]ppl,`). */
export interface PerplexityProgress {
  /** 1-based chunk number. */
  readonly chunk: number;
  readonly nChunk: number;
  /** PPL over all tokens scored so far. */
  readonly ppl: number;
  /** Tokens scored so far. */
  readonly count: number;
}

export interface PerplexityOptions extends Cancellable {
  /** Context size (`-c`), default 512 as llama-perplexity. */
  readonly nCtx?: number | undefined;
  /** At most this many chunks (`--chunks`); all when undefined or negative. */
  readonly chunks?: number | undefined;
  /**
   * Replace the first token of each chunk by BOS (llama.cpp: when the vocab adds BOS). Default: the tokenizer's
   * `addBosToken` (true when unknown and a BOS id exists).
   */
  readonly addBos?: boolean | undefined;
  /** The BOS id; default the tokenizer's. */
  readonly bos?: number | undefined;
  /** Called after each chunk. */
  readonly onChunk?: ((p: PerplexityProgress) => void) | undefined;
  /** Also produce the bytes of a KL-divergence base file (`--kl-divergence-base`), returned as `kldBase`. */
  readonly kldBase?: boolean | undefined;
  /**
   * Stream the base file instead of returning it: called with the header + tokens, then with each chunk's packed
   * rows, in file order (awaited). Implies `kldBase` (but `result.kldBase` stays undefined).
   */
  readonly onKldBaseBytes?: ((bytes: Uint8Array) => void | Promise<void>) | undefined;
}

export interface PerplexityResult {
  /** exp(mean NLL). */
  readonly ppl: number;
  /** llama.cpp's `+/-`: `ppl * sqrt(var(NLL) / (count - 1))`. NaN when the variance is not positive. */
  readonly pplError: number;
  /** Mean NLL (nats per token). */
  readonly meanNll: number;
  /** Tokens scored: `nChunk * (nCtx - 1 - nCtx/2)`. */
  readonly count: number;
  readonly nChunk: number;
  readonly nCtx: number;
  /** The running PPL after each chunk (`[1]x,[2]y,...`). */
  readonly chunkPpl: readonly number[];
  /** All tokens of the text (as tokenized, BOS first when added). */
  readonly tokens: Int32Array;
  /** The KL-divergence base file, when `kldBase` was asked for. */
  readonly kldBase?: Uint8Array | undefined;
}

/** Logits of one row → `log_softmax(tok)` in double, the way llama.cpp's plain-PPL path computes it. */
export function logSoftmaxAt(logits: Float32Array, offset: number, nVocab: number, tok: number): number {
  // @see log_softmax(int n_vocab, const float * logits, int tok) (perplexity.cpp)
  let maxLogit = logits[offset];
  for (let i = 1; i < nVocab; i++) if (logits[offset + i] > maxLogit) maxLogit = logits[offset + i];
  let sumExp = 0;
  for (let i = 0; i < nVocab; i++) sumExp += Math.fround(Math.exp(Math.fround(logits[offset + i] - maxLogit)));
  return Math.fround(logits[offset + tok] - maxLogit) - Math.log(sumExp);
}

function checkAborted(opts: Cancellable): void {
  if (opts.signal?.aborted) throw opts.signal.reason ?? new DOMException("aborted", "AbortError");
}

/** Resolve the BOS handling for a model's tokenizer the way llama.cpp does (`llama_vocab_get_add_bos`). */
export function bosPolicy(
  tokenizer: { readonly bos?: number | undefined; readonly addBosToken?: boolean } | undefined,
  opts: { readonly addBos?: boolean | undefined; readonly bos?: number | undefined },
): { addBos: boolean; bos: number | undefined } {
  const bos = opts.bos ?? tokenizer?.bos;
  const addBos = opts.addBos ?? tokenizer?.addBosToken ?? bos !== undefined;
  if (addBos && bos === undefined) throw evalError(EvalErrorCode.EVAL_BAD_OPTION, "BOS replacement asked for, but no BOS token id is known");
  return { addBos, bos };
}

/** Evaluate one chunk with its first token replaced by BOS when asked, checking the logits size. */
export async function evaluateChunk(model: LogitsModel, chunk: Int32Array, addBos: boolean, bos: number | undefined): Promise<Float32Array> {
  const input = chunk.slice();
  if (addBos) input[0] = bos!;
  const logits = await model.evaluate(input, { logits: "all" });
  if (logits.length !== input.length * model.nVocab) {
    throw evalError(EvalErrorCode.EVAL_BAD_LOGITS, `model returned ${logits.length} logits for ${input.length} tokens x ${model.nVocab} vocab`);
  }
  return logits;
}

/** Validate n_ctx / chunk count against the token count, as llama-perplexity does. */
export function planChunks(nTokens: number, nCtx: number, chunks: number | undefined): number {
  if (!Number.isInteger(nCtx) || nCtx < 4) throw evalError(EvalErrorCode.EVAL_BAD_OPTION, `context size ${nCtx} is too small (need an integer >= 4)`);
  if (nTokens < 2 * nCtx) {
    throw evalError(
      EvalErrorCode.PPL_TOO_FEW_TOKENS,
      `you need at least ${2 * nCtx} tokens to evaluate perplexity with a context of ${nCtx}; the text tokenizes to only ${nTokens} tokens`,
    );
  }
  const nChunkMax = Math.floor(nTokens / nCtx);
  return chunks === undefined || chunks < 0 ? nChunkMax : Math.min(chunks, nChunkMax);
}

/** Perplexity of a text: tokenizes with the model's tokenizer (`add_special = true`), then {@link perplexityFromTokens}. */
export async function perplexity(model: TokenizedModel, text: string, opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  const tokens = model.tokenizer.encode(text, { addBos: true, parseSpecial: false });
  const policy = bosPolicy(model.tokenizer, opts);
  return perplexityFromTokens(model, tokens, { ...opts, addBos: policy.addBos, bos: policy.bos });
}

/** Perplexity over already-tokenized text (BOS handling from `opts`; no BOS replacement unless `addBos`). */
export async function perplexityFromTokens(model: LogitsModel, tokensIn: ArrayLike<number>, opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  const nCtx = opts.nCtx ?? 512;
  const tokens = Int32Array.from(tokensIn);
  const nChunk = planChunks(tokens.length, nCtx, opts.chunks);
  const addBos = opts.addBos ?? false;
  const bos = opts.bos;
  if (addBos && bos === undefined) throw evalError(EvalErrorCode.EVAL_BAD_OPTION, "addBos needs a bos token id");
  const nVocab = model.nVocab;
  const first = Math.floor(nCtx / 2);
  const nScored = kldRowsPerChunk(nCtx);
  const stride = kldRowStride(nVocab);

  let header: Uint8Array | undefined;
  let packed: Uint16Array | undefined;
  const sink = opts.onKldBaseBytes;
  if (sink) {
    await sink(kldBaseHeader(nCtx, nVocab, nChunk, tokens));
    packed = new Uint16Array(nScored * stride); // one chunk, reused
  } else if (opts.kldBase) {
    header = kldBaseHeader(nCtx, nVocab, nChunk, tokens);
    packed = new Uint16Array(nChunk * nScored * stride);
  }

  let nll = 0;
  let nll2 = 0;
  let count = 0;
  const chunkPpl: number[] = [];
  for (let i = 0; i < nChunk; i++) {
    checkAborted(opts);
    const start = i * nCtx;
    const logits = await evaluateChunk(model, tokens.subarray(start, start + nCtx), addBos, bos);
    // process_logits(n_vocab, logits + first*n_vocab, tokens + start + first, n_ctx - 1 - first, ...)
    for (let j = 0; j < nScored; j++) {
      const row = (first + j) * nVocab;
      const tok = tokens[start + first + j + 1];
      let v: number;
      if (packed) v = packLogProbRow(logits, row, nVocab, tok, packed, ((sink ? 0 : i * nScored) + j) * stride);
      else v = -logSoftmaxAt(logits, row, nVocab, tok);
      nll += v;
      nll2 += v * v;
    }
    count += nScored;
    if (sink && packed) await sink(new Uint8Array(packed.buffer.slice(0, packed.byteLength)));
    const running = Math.exp(nll / count);
    chunkPpl.push(running);
    opts.onChunk?.({ chunk: i + 1, nChunk, ppl: running, count });
  }

  const meanNll = nll / count;
  const ppl = Math.exp(meanNll);
  let var2 = nll2 / count - meanNll * meanNll;
  let pplError = Number.NaN;
  if (var2 > 0) {
    var2 = Math.sqrt(var2 / (count - 1));
    pplError = var2 * ppl;
  }
  let kldBase: Uint8Array | undefined;
  if (header && packed) {
    kldBase = new Uint8Array(header.length + packed.byteLength);
    kldBase.set(header, 0);
    kldBase.set(new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength), header.length);
  }
  return { ppl, pplError, meanNll, count, nChunk, nCtx, chunkPpl, tokens, kldBase };
}

/** The progress line llama-perplexity prints: `[1]7.1234,[2]...`. */
export function formatChunkPpl(chunkPpl: readonly number[]): string {
  return chunkPpl.map((p, i) => `[${i + 1}]${p.toFixed(4)},`).join("");
}

/** `Final estimate: PPL = 7.0498 +/- 0.20358`. */
export function formatPerplexityFinal(r: Pick<PerplexityResult, "ppl" | "pplError">): string {
  if (!(r.pplError >= 0)) return "Unexpected negative standard deviation of log(prob)";
  return `Final estimate: PPL = ${r.ppl.toFixed(4)} +/- ${r.pplError.toFixed(5)}`;
}
