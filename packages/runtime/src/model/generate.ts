/**
 * Text generation on a {@link Model}: greedy (temperature 0) or sampled. The sampler chain follows llama.cpp's default
 * order (common/sampling.cpp: top_k → top_p → temperature → dist), with our own deterministic PRNG (mulberry32, seeded),
 * so a seed reproduces the same text here, not the same text as llama.cpp (which uses std::mt19937).
 */
import type { Model } from "./model.js";
import { ModelError } from "./errors.js";

export interface GenerateOptions {
  /** Tokens to generate at most (default 128). */
  readonly maxTokens?: number;
  /** 0 (default) = greedy argmax. */
  readonly temperature?: number;
  /** Keep the k most likely tokens (default 40; 0 = all). Sampling only. */
  readonly topK?: number;
  /** Nucleus: keep the smallest set with probability ≥ p (default 0.95; 1 = all). Sampling only. */
  readonly topP?: number;
  /** PRNG seed (default 0). */
  readonly seed?: number;
  /** Stop at the vocab's EOS token (default true; the EOS token is not yielded). */
  readonly stopAtEos?: boolean;
  /** For a string prompt: add BOS as the vocab says (default true, llama.cpp's add_special). */
  readonly addSpecial?: boolean;
  /** Context size of the session (default: prompt + maxTokens, at most the model's context length). */
  readonly nCtx?: number;
  readonly signal?: AbortSignal;
}

export interface GenerateStep {
  /** The generated token id. */
  readonly token: number;
  /** Its text (UTF-8 bytes of split characters are held back until complete). */
  readonly text: string;
  /** 0-based index among the generated tokens. */
  readonly index: number;
  readonly promptTokens: number;
  /** Prompt processing speed (tokens/s). */
  readonly promptTokensPerSecond: number;
  /** Generation speed so far, excluding the prompt (tokens/s; counts the decode of each generated token). */
  readonly tokensPerSecond: number;
}

/** A deterministic 32-bit PRNG (mulberry32), uniform in [0, 1). */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index of the largest logit (the first one on ties). */
export function argmax(logits: Float32Array, from = 0, n = logits.length - from): number {
  let best = 0;
  let bv = logits[from]!;
  for (let i = 1; i < n; i++) {
    const v = logits[from + i]!;
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

export interface SamplerOptions {
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly seed?: number;
}

/** A token sampler over logits: greedy at temperature 0, else top-k → top-p → temperature → draw. */
export function createSampler(opts: SamplerOptions = {}): (logits: Float32Array) => number {
  const temperature = opts.temperature ?? 0;
  if (!(temperature > 0)) return (logits) => argmax(logits);
  const topK = opts.topK ?? 40;
  const topP = opts.topP ?? 0.95;
  const rng = createRng(opts.seed ?? 0);
  let idx: number[] = [];
  let p = new Float64Array(0);
  return (logits) => {
    const nVocab = logits.length;
    if (idx.length !== nVocab) {
      idx = Array.from({ length: nVocab }, (_, i) => i);
      p = new Float64Array(nVocab);
    }
    for (let i = 0; i < nVocab; i++) idx[i] = i;
    // Sort candidates by logit (descending; ties by id for determinism).
    idx.sort((a, b) => logits[b]! - logits[a]! || a - b);
    let n = topK > 0 ? Math.min(topK, nVocab) : nVocab;
    // top-p on the softmax at temperature 1 (llama_sampler_top_p_apply).
    if (topP < 1) {
      const max = logits[idx[0]!]!;
      let sum = 0;
      for (let i = 0; i < n; i++) sum += p[i] = Math.exp(logits[idx[i]!]! - max);
      let cum = 0;
      let keep = n;
      for (let i = 0; i < n; i++) {
        cum += p[i]! / sum;
        if (cum >= topP) {
          keep = i + 1;
          break;
        }
      }
      n = Math.max(1, keep);
    }
    // temperature, softmax, draw.
    const max = logits[idx[0]!]! / temperature;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += p[i] = Math.exp(logits[idx[i]!]! / temperature - max);
    let u = rng() * sum;
    for (let i = 0; i < n; i++) {
      u -= p[i]!;
      if (u < 0) return idx[i]!;
    }
    return idx[n - 1]!;
  };
}

/**
 * Generates from a prompt (text, tokenized with BOS as the vocab says, or token ids), yielding each token and its
 * text piece. Stops at EOS (by default) or after `maxTokens`.
 */
export async function* generate(model: Model, prompt: string | ArrayLike<number>, opts: GenerateOptions = {}): AsyncGenerator<GenerateStep, void, void> {
  const tok = model.tokenizer;
  const promptIds = typeof prompt === "string" ? tok.encode(prompt, { addSpecial: opts.addSpecial ?? true }) : Array.from(prompt);
  if (promptIds.length === 0) throw new ModelError("MODEL_BAD_INPUT", "the prompt is empty (no tokens)");
  const maxTokens = opts.maxTokens ?? 128;
  const nCtx = opts.nCtx ?? Math.min(model.config.nCtxTrain, promptIds.length + maxTokens);
  if (promptIds.length + Math.min(maxTokens, 1) > nCtx) {
    throw new ModelError("MODEL_BAD_INPUT", `the prompt (${promptIds.length} tokens) does not fit the context of ${nCtx}`);
  }
  const session = model.createSession({ nCtx });
  const sample = createSampler(opts);
  const stopAtEos = opts.stopAtEos ?? true;
  const eos = tok.eos;
  const decoder = new TextDecoder("utf-8");

  const t0 = performance.now();
  let logits = await session.append(promptIds);
  const promptMs = performance.now() - t0;
  const promptTps = (promptIds.length * 1000) / Math.max(promptMs, 1e-6);
  let genMs = 0;
  for (let i = 0; i < maxTokens; i++) {
    opts.signal?.throwIfAborted();
    const token = sample(logits);
    if (stopAtEos && token === eos) break;
    const text = decoder.decode(tok.tokenToPieceBytes(token, true), { stream: true });
    const last = i + 1 === maxTokens || session.nPast + 1 > session.nCtx;
    if (!last) {
      const t1 = performance.now();
      logits = await session.append([token]);
      genMs += performance.now() - t1;
    }
    yield {
      token,
      text,
      index: i,
      promptTokens: promptIds.length,
      promptTokensPerSecond: promptTps,
      tokensPerSecond: genMs > 0 ? ((last ? i : i + 1) * 1000) / genMs : 0,
    };
    if (last) break;
  }
}
