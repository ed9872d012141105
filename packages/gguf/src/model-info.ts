/**
 * Typed accessors for well-known metadata keys (llama.cpp `LLM_KV_*` names, gguf-py `Keys`).
 */
import type { GgufFile } from "./file.js";
import { GgufError } from "./gguf-error.js";
import { GGUFValueType, type GgufValue } from "./types.js";

type MetaSource = Pick<GgufFile, "metadata" | "file">;

const NUMERIC = new Set<GGUFValueType>([
  GGUFValueType.UINT8,
  GGUFValueType.INT8,
  GGUFValueType.UINT16,
  GGUFValueType.INT16,
  GGUFValueType.UINT32,
  GGUFValueType.INT32,
  GGUFValueType.FLOAT32,
  GGUFValueType.FLOAT64,
  GGUFValueType.UINT64,
  GGUFValueType.INT64,
]);

function wrongType(f: MetaSource, key: string, want: string, v: GgufValue): never {
  throw new GgufError("GGUF_INVALID_VALUE", `'${key}' is ${GGUFValueType[v.type]}, expected ${want}`, { file: f.file, key });
}

/** A string value, or undefined if absent. Throws `GGUF_INVALID_VALUE` if present with another type. */
export function getString(f: MetaSource, key: string): string | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GGUFValueType.STRING) wrongType(f, key, "STRING", v);
  return v.value;
}

/** A numeric value of any integer or float type as a number (64-bit integers must be safe), or undefined. */
export function getNumber(f: MetaSource, key: string): number | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (!NUMERIC.has(v.type)) wrongType(f, key, "a number", v);
  const n = Number(v.value);
  if (typeof v.value === "bigint" && !Number.isSafeInteger(n)) wrongType(f, key, "a safe integer", v);
  return n;
}

/** A boolean value, or undefined. */
export function getBool(f: MetaSource, key: string): boolean | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GGUFValueType.BOOL) wrongType(f, key, "BOOL", v);
  return v.value;
}

/** An array's elements (any element type), or undefined. */
export function getArray<T = unknown>(f: MetaSource, key: string): T[] | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GGUFValueType.ARRAY) wrongType(f, key, "ARRAY", v);
  return v.value as T[];
}

export interface TokenizerInfo {
  /** `tokenizer.ggml.model` (`llama`, `gpt2`, `bert`, ...). */
  model?: string | undefined;
  /** `tokenizer.ggml.pre`. */
  pre?: string | undefined;
  /** Number of tokens in `tokenizer.ggml.tokens`. */
  vocabSize?: number | undefined;
  tokens?: string[] | undefined;
  scores?: number[] | undefined;
  tokenType?: number[] | undefined;
  merges?: string[] | undefined;
  bosTokenId?: number | undefined;
  eosTokenId?: number | undefined;
  unknownTokenId?: number | undefined;
  separatorTokenId?: number | undefined;
  paddingTokenId?: number | undefined;
  addBosToken?: boolean | undefined;
  addEosToken?: boolean | undefined;
  chatTemplate?: string | undefined;
}

export interface ModelInfo {
  /** `general.architecture` (`llama`, `phi3`, ...). */
  architecture?: string | undefined;
  name?: string | undefined;
  /** `general.alignment` (default 32 when absent). */
  alignment: number;
  /** `general.file_type` (`LlamaFileType`). */
  fileType?: number | undefined;
  quantizationVersion?: number | undefined;
  blockCount?: number | undefined;
  contextLength?: number | undefined;
  embeddingLength?: number | undefined;
  feedForwardLength?: number | undefined;
  headCount?: number | undefined;
  headCountKv?: number | undefined;
  layerNormRmsEpsilon?: number | undefined;
  layerNormEpsilon?: number | undefined;
  ropeFreqBase?: number | undefined;
  ropeDimensionCount?: number | undefined;
  expertCount?: number | undefined;
  expertUsedCount?: number | undefined;
  vocabSize?: number | undefined;
  tokenizer: TokenizerInfo;
}

/** The usual model hyper-parameters and tokenizer settings, read with type checks. */
export function modelInfo(f: MetaSource): ModelInfo {
  const arch = getString(f, "general.architecture");
  const a = (k: string) => (arch === undefined ? undefined : getNumber(f, `${arch}.${k}`));
  const tokens = getArray<string>(f, "tokenizer.ggml.tokens");
  return {
    architecture: arch,
    name: getString(f, "general.name"),
    alignment: getNumber(f, "general.alignment") ?? 32,
    fileType: getNumber(f, "general.file_type"),
    quantizationVersion: getNumber(f, "general.quantization_version"),
    blockCount: a("block_count"),
    contextLength: a("context_length"),
    embeddingLength: a("embedding_length"),
    feedForwardLength: a("feed_forward_length"),
    headCount: a("attention.head_count"),
    headCountKv: a("attention.head_count_kv"),
    layerNormRmsEpsilon: a("attention.layer_norm_rms_epsilon"),
    layerNormEpsilon: a("attention.layer_norm_epsilon"),
    ropeFreqBase: a("rope.freq_base"),
    ropeDimensionCount: a("rope.dimension_count"),
    expertCount: a("expert_count"),
    expertUsedCount: a("expert_used_count"),
    vocabSize: a("vocab_size") ?? tokens?.length,
    tokenizer: {
      model: getString(f, "tokenizer.ggml.model"),
      pre: getString(f, "tokenizer.ggml.pre"),
      vocabSize: tokens?.length,
      tokens,
      scores: getArray<number>(f, "tokenizer.ggml.scores"),
      tokenType: getArray<number>(f, "tokenizer.ggml.token_type"),
      merges: getArray<string>(f, "tokenizer.ggml.merges"),
      bosTokenId: getNumber(f, "tokenizer.ggml.bos_token_id"),
      eosTokenId: getNumber(f, "tokenizer.ggml.eos_token_id"),
      unknownTokenId: getNumber(f, "tokenizer.ggml.unknown_token_id"),
      separatorTokenId: getNumber(f, "tokenizer.ggml.seperator_token_id"),
      paddingTokenId: getNumber(f, "tokenizer.ggml.padding_token_id"),
      addBosToken: getBool(f, "tokenizer.ggml.add_bos_token"),
      addEosToken: getBool(f, "tokenizer.ggml.add_eos_token"),
      chatTemplate: getString(f, "tokenizer.chat_template"),
    },
  };
}
