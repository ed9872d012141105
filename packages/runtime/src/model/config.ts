/**
 * Hyper-parameters from GGUF metadata, as llama.cpp's `llama_model::load_hparams` (src/llama-model.cpp) reads them
 * for the llama family: `<arch>.embedding_length`, `.block_count`, `.attention.head_count(_kv)`, `.rope.*`, ...
 */
import { getNumber, getString, type GgufFile } from "@quantlab/gguf";
import type { RopeOptions } from "@quantlab/kernels";
import { ModelError } from "./errors.js";

/** Architectures the forward pass implements (llama.cpp `llm_build_llama`, `llm_build_qwen2`, `llm_build_qwen3`). */
export type ModelArch = "llama" | "mistral" | "qwen2" | "qwen3";
export const SUPPORTED_ARCHS: readonly ModelArch[] = ["llama", "mistral", "qwen2", "qwen3"];

export interface ModelConfig {
  readonly arch: ModelArch;
  readonly name: string | undefined;
  readonly nVocab: number;
  /** `<arch>.context_length`. */
  readonly nCtxTrain: number;
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nKvHead: number;
  /** Per-head dimension of q/k (`.attention.key_length`, default nEmbd / nHead). */
  readonly headDim: number;
  readonly nFf: number;
  readonly rmsEps: number;
  readonly rope: RopeOptions;
  /** Attention score scale: 1/sqrt(headDim). */
  readonly attnScale: number;
  /** `output.weight` is absent: the output projection uses `token_embd.weight`. */
  readonly tiedOutput: boolean;
  /** q/k/v biases (qwen2). */
  readonly qkvBias: boolean;
  /** Per-head RMSNorm of q and k before RoPE (qwen3). */
  readonly qkNorm: boolean;
}

/** Reads the config; `nVocab` and `tiedOutput` come from the tensor table. */
export function readModelConfig(file: GgufFile): ModelConfig {
  const where = { file: file.file };
  const arch = getString(file, "general.architecture");
  if (arch === undefined || !(SUPPORTED_ARCHS as readonly string[]).includes(arch)) {
    throw new ModelError(
      "MODEL_UNSUPPORTED_ARCH",
      `architecture '${arch ?? "(missing general.architecture)"}' is not supported (supported: ${SUPPORTED_ARCHS.join(", ")})`,
      where,
    );
  }
  const num = (key: string, dflt?: number): number => {
    const v = getNumber(file, `${arch}.${key}`);
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw new ModelError("MODEL_BAD_METADATA", `missing metadata key '${arch}.${key}'`, { ...where, key: `${arch}.${key}` });
    }
    if (!Number.isFinite(v)) throw new ModelError("MODEL_BAD_METADATA", `'${arch}.${key}' is ${v}`, { ...where, key: `${arch}.${key}` });
    return v;
  };
  const positive = (key: string, v: number): number => {
    if (!(v > 0) || !Number.isInteger(v)) throw new ModelError("MODEL_BAD_METADATA", `'${arch}.${key}' must be a positive integer, got ${v}`, { ...where, key: `${arch}.${key}` });
    return v;
  };
  const nEmbd = positive("embedding_length", num("embedding_length"));
  const nLayer = positive("block_count", num("block_count"));
  const nHead = positive("attention.head_count", num("attention.head_count"));
  const nKvHead = positive("attention.head_count_kv", num("attention.head_count_kv", nHead));
  if (nHead % nKvHead !== 0) {
    throw new ModelError("MODEL_BAD_METADATA", `head_count ${nHead} is not a multiple of head_count_kv ${nKvHead}`, where);
  }
  const headDim = positive("attention.key_length", num("attention.key_length", Math.floor(nEmbd / nHead)));
  const valueLength = num("attention.value_length", headDim);
  if (valueLength !== headDim) {
    throw new ModelError("MODEL_BAD_METADATA", `attention.value_length ${valueLength} != key_length ${headDim} is not supported`, where);
  }
  const nFf = positive("feed_forward_length", num("feed_forward_length"));
  const rmsEps = num("attention.layer_norm_rms_epsilon", 1e-5);
  const nRot = num("rope.dimension_count", headDim);
  if (nRot > headDim || nRot % 2 !== 0) throw new ModelError("MODEL_BAD_METADATA", `rope.dimension_count ${nRot} must be even and ≤ ${headDim}`, where);
  const freqBase = num("rope.freq_base", 10000);
  // llama.cpp: rope_freq_scale_train = 1/rope.scaling.factor for linear (and yarn) scaling; none → 1.
  const scalingType = getString(file, `${arch}.rope.scaling.type`) ?? "none";
  let freqScale = 1;
  if (scalingType === "linear") {
    const factor = num("rope.scaling.factor", 1);
    freqScale = factor === 0 ? 1 : 1 / factor;
  } else if (scalingType !== "none") {
    throw new ModelError("MODEL_BAD_METADATA", `rope scaling type '${scalingType}' is not supported (only none and linear)`, { ...where, key: `${arch}.rope.scaling.type` });
  } else {
    const factor = getNumber(file, `${arch}.rope.scale_linear`);
    if (factor !== undefined && factor !== 0) freqScale = 1 / factor;
  }
  const neox = arch === "qwen2" || arch === "qwen3";
  return {
    arch: arch as ModelArch,
    name: getString(file, "general.name"),
    nVocab: 0,
    nCtxTrain: num("context_length", 2048),
    nEmbd,
    nLayer,
    nHead,
    nKvHead,
    headDim,
    nFf,
    rmsEps,
    rope: { mode: neox ? 2 : 0, nRot, freqBase, freqScale },
    attnScale: 1 / Math.sqrt(headDim),
    tiedOutput: false,
    qkvBias: false,
    qkNorm: arch === "qwen3",
  };
}
