/**
 * The recipe plugin contract. A recipe is what llama-quantize calls a file type (`Q4_K_M`, `IQ2_XS`, ...): a default
 * tensor type plus small rules that move some tensors to other types (more bits for attn_v and some ffn_down
 * layers, a bigger output tensor, ...). Recipes are plain objects, versioned by the literal `specVersion` field,
 * like schemes.
 *
 * The host ({@link planQuantization}) does everything llama.cpp does around the rules: the tensor order, which
 * tensors are quantized at all, the layer counters, the shape fallbacks, the user's type options and the refusals.
 * A rule function only answers "which type for this tensor".
 */
import type { GGMLQuantizationType, LlamaFileType } from "@quantlab/gguf";

export const RECIPE_SPEC_VERSION = "quantlab.recipe/v1" as const;
export type RecipeSpecVersion = typeof RECIPE_SPEC_VERSION;

/**
 * The tensor roles llama.cpp's type selection distinguishes, found by name in the order of the if/else chain of
 * `llama_tensor_get_type` (src/llama-quant.cpp, c392e50): `output.weight`, `token_embd.weight`, then substrings
 * `attn_v.weight`, `attn_k.weight`, `attn_q.weight`, `ffn_down`, `attn_output.weight`, `attn_qkv.weight`,
 * `ffn_gate`, `ffn_up`.
 */
export type TensorCategory =
  | "output"
  | "token_embd"
  | "attn_v"
  | "attn_k"
  | "attn_q"
  | "ffn_down"
  | "attn_output"
  | "attn_qkv"
  | "ffn_gate"
  | "ffn_up"
  | "other";

/** Model hyperparameters the rules look at (what `llama_model::load_hparams` reads). */
export interface ModelHparams {
  /** `<arch>.block_count`. */
  readonly nLayer: number;
  /** `<arch>.attention.head_count` (of layer 0). */
  readonly nHead: number;
  /** `<arch>.attention.head_count_kv` (of layer 0); defaults to `nHead`. */
  readonly nHeadKv?: number | undefined;
  /** Per-layer KV head counts when the file has an array; 0 marks a layer without attention. */
  readonly nHeadKvArr?: readonly number[] | undefined;
  /** `<arch>.expert_count`; 0 or absent for dense models. */
  readonly nExpert?: number | undefined;
  /** Vocabulary size (only used to guess the model size class). */
  readonly nVocab?: number | undefined;
  /**
   * llama.cpp's size class (`LLM_TYPE_*` without the prefix, e.g. `"70B"`). Only `"70B"` changes a rule. When absent
   * it is guessed for the `llama`, `qwen2` and `deci` architectures from the layer count, as llama.cpp does.
   */
  readonly modelType?: string | undefined;
}

/** Hyperparameters after defaults, as rules see them. */
export interface ResolvedHparams {
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly nExpert: number;
  /** `llama_hparams::n_gqa()`: nHead / nHeadKv (integer division), 0 when nHeadKv is 0. */
  readonly nGqa: number;
  readonly modelType: string | undefined;
}

/** One tensor of the input model, in file order. */
export interface PlanModelTensor {
  readonly name: string;
  /** Dimensions in ggml order, as stored in GGUF: `shape[0]` (ne0) is the row length. */
  readonly shape: readonly number[];
  /** ggml type id of the stored data. */
  readonly type: GGMLQuantizationType | number;
}

/** What the planner needs to know about a model: its architecture, its tensors and a few hyperparameters. */
export interface PlanModel {
  /** `general.architecture` (`llama`, `falcon`, ...). */
  readonly arch: string;
  readonly tensors: readonly PlanModelTensor[];
  readonly hparams: ModelHparams;
  /** `general.file_type` of the input, used only by the COPY recipe (written unchanged). */
  readonly fileType?: number | undefined;
}

/** Layer counters of `quantize_state_impl`, as they stand when the rule for one tensor runs. */
export interface LayerCounters {
  /** Index of this attn_v tensor among the attn_v tensors typed so far (`qs.i_attention_wv`). */
  readonly iAttentionWv: number;
  /** Number of attn_v / attn_qkv / attn_kv_b tensors in the model (`qs.n_attention_wv`). */
  readonly nAttentionWv: number;
  readonly iFfnDown: number;
  /** `hparams.n_layer` (`qs.n_ffn_down`), also for gate and up. */
  readonly nFfnDown: number;
  readonly iFfnGate: number;
  readonly nFfnGate: number;
  readonly iFfnUp: number;
  readonly nFfnUp: number;
}

/** Everything a rule function may look at for one tensor. */
export interface RecipeTensorContext {
  /** Tensor name (after `pruneLayers` renumbering). */
  readonly name: string;
  readonly shape: readonly number[];
  readonly sourceType: number;
  readonly category: TensorCategory;
  readonly arch: string;
  readonly hparams: ResolvedHparams;
  /** The recipe's file type. */
  readonly ftype: number;
  /** The type the tensor gets when no rule applies (the recipe's default type). */
  readonly defaultType: GGMLQuantizationType;
  /** True when an importance matrix was given (llama.cpp's `qs.has_imatrix`), whether or not this tensor has data. */
  readonly hasImatrix: boolean;
  /** True when the model has `output.weight`; without it `token_embd.weight` is also the output (tied embeddings). */
  readonly hasOutput: boolean;
  readonly counters: LayerCounters;
  /**
   * `layer_info` of llama-quant.cpp: for dense models returns `[i, n]` unchanged; for MoE models (nExpert > 1) reads
   * the layer from the `blk.N.` prefix of the name and throws `RECIPE_BAD_LAYER` when it cannot.
   */
  layerInfo(i: number, n: number): readonly [iLayer: number, nLayer: number];
  /** The user's `outputTensorType` / `tokenEmbeddingType`, which llama.cpp also consults inside the rules. */
  readonly outputTensorType: GGMLQuantizationType | undefined;
  readonly tokenEmbeddingType: GGMLQuantizationType | undefined;
}

/** A rule function: the type for this tensor, or `undefined` to keep the default type. */
export type RecipeRules = (ctx: RecipeTensorContext) => GGMLQuantizationType | undefined;

export interface Recipe {
  readonly specVersion: RecipeSpecVersion;
  /** Preset name as llama-quantize spells it (`Q4_K_M`); matched case-insensitively. */
  readonly name: string;
  /** `general.file_type` written to the output (for COPY: ignored, the input's is kept). */
  readonly ftype: LlamaFileType | number;
  /** Type of every eligible tensor that no rule moves (`default_type` in llama_model_quantize_impl). */
  readonly defaultType: GGMLQuantizationType;
  readonly description: string;
  /**
   * Per-tensor rules (`llama_tensor_get_type`). The host calls them only for eligible tensors, only when the
   * default type is a quantized type and `pure` is off, exactly where llama.cpp calls its function.
   */
  readonly rules?: RecipeRules | undefined;
  /** The preset is refused up front without an importance matrix (quantize.cpp: "Please do not use ..."). */
  readonly requiresImatrix?: boolean | undefined;
  /**
   * Whether a tensor with this target type must have importance data. Default: llama.cpp c392e50's rule
   * (IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S always; IQ1_M except token_embd/output; Q2_K in a Q2_K_S file except token_embd).
   */
  readonly tensorRequiresImatrix?: ((name: string, type: GGMLQuantizationType, ftype: number) => boolean) | undefined;
  /** COPY: no tensor is converted; the output keeps the input's file type. */
  readonly onlyCopy?: boolean | undefined;
  /** For an alias (`Q4_K` → `Q4_K_M`): the name of the recipe it stands for. Aliases are not found by ftype. */
  readonly aliasOf?: string | undefined;
  /** Where the rules come from, e.g. `"llama.cpp c392e50"`. */
  readonly source?: string | undefined;
}

/** Input for {@link defineRecipe}: the contract minus the version field. */
export type RecipeDefinition = Omit<Recipe, "specVersion">;
