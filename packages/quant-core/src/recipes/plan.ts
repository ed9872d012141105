/**
 * The quantization planner: for each tensor of a model, the type llama-quantize would write, and why.
 *
 * @see llama_model_quantize_impl (src/llama-quant.cpp, llama.cpp c392e50): tensor order (the loader's
 * `weights_map`, sorted by `weight_name_comparer`), the counters, which tensors are quantized, the user's type
 * options, the "Missing importance matrix" refusal and the requantize check.
 * @see main (examples/quantize/quantize.cpp, c392e50): the up-front imatrix check and `--include-weights` /
 * `--exclude-weights`.
 *
 * Options that llama.cpp added after c392e50 follow the later code, which c392e50 did not have:
 * `tensorTypeOverrides` (`--tensor-type`, as of PR #18952/#22572: first match wins, the rules are skipped for that
 * tensor, the shape fallback still applies, works with `pure`) and `pruneLayers` (`--prune-layers`, PR #13037).
 */
import { GGMLQuantizationType as T, LlamaFileType as F, ggmlTypeByName, ggmlTypeInfo, ggmlTypeName } from "@quantlab/gguf";
import { builtinRecipeRegistry, type RecipeRegistry } from "./builtin.js";
import { RecipeError } from "./errors.js";
import { planModelFromGguf, type GgufHeaderLike } from "./model.js";
import { shapeFallbackC392e50, tensorCategoryC392e50, tensorRequiresImatrixC392e50 } from "./llama-mix.js";
import type { LayerCounters, PlanModel, PlanModelTensor, Recipe, RecipeTensorContext, ResolvedHparams, TensorCategory } from "./types.js";

/** `--tensor-type regex=type`: tensors whose name the pattern finds (search, not full match) get `type`. */
export interface TensorTypeOverride {
  readonly pattern: RegExp | string;
  /** A ggml type id or name (`q4_K`, `Q4_K`, case-insensitive). */
  readonly type: T | number | string;
}

/** Importance data as far as planning needs it. */
export type ImatrixInput =
  /** `true`: every tensor has importance data; `false`: none. */
  | boolean
  /** Names of the tensors that have data. */
  | ReadonlySet<string>
  | readonly string[]
  /** Name → importance vector (or an `ImatrixEntry`-like `{ importance }`): sizes and values are checked too. */
  | ReadonlyMap<string, ArrayLike<number> | { readonly importance: ArrayLike<number> }>;

/** Options, mirroring llama-quantize's command line. */
export interface PlanOptions {
  /** `--imatrix`. */
  readonly imatrix?: ImatrixInput | undefined;
  /** `--include-weights` (repeatable): use importance data only for tensors whose name contains one of these. */
  readonly includeWeights?: readonly string[] | undefined;
  /** `--exclude-weights` (repeatable): never use importance data for tensors whose name contains one of these. */
  readonly excludeWeights?: readonly string[] | undefined;
  /** `--pure`: no mixture rules, every eligible tensor gets the default type. */
  readonly pure?: boolean | undefined;
  /** `--leave-output-tensor`: output.weight is not quantized. */
  readonly leaveOutputTensor?: boolean | undefined;
  /** `--output-tensor-type`. */
  readonly outputTensorType?: T | number | string | undefined;
  /** `--token-embedding-type`. */
  readonly tokenEmbeddingType?: T | number | string | undefined;
  /** `--tensor-type` (post-c392e50 semantics, see the module comment). */
  readonly tensorTypeOverrides?: readonly TensorTypeOverride[] | undefined;
  /** `--allow-requantize`: allow sources that are already quantized. */
  readonly allowRequantize?: boolean | undefined;
  /** `--prune-layers`: drop these `blk.N` layers and renumber the rest (post-c392e50). */
  readonly pruneLayers?: readonly number[] | undefined;
  /** Registry to resolve a recipe name in (default: the built-in presets). */
  readonly registry?: RecipeRegistry | undefined;
}

/** Why a tensor gets its type. */
export type PlanReason =
  /** Not eligible for quantization (1-D, norm, not a weight, ...); kept as stored. */
  | "not-eligible"
  /** `leaveOutputTensor`. */
  | "leave-output-tensor"
  /** COPY recipe. */
  | "only-copy"
  /** The recipe's default type (no rule moved it, or `pure`, or a float recipe). */
  | "default"
  /** A recipe rule chose another type. */
  | "rule"
  /** The row length does not fit the chosen type; llama.cpp's fallback type. */
  | "fallback"
  /** A `tensorTypeOverrides` pattern matched. */
  | "override"
  | "output-tensor-type"
  | "token-embedding-type";

export interface PlannedTensor {
  /** Name in the output (differs from `sourceName` only with `pruneLayers`). */
  readonly name: string;
  readonly sourceName: string;
  readonly shape: readonly number[];
  readonly nElements: number;
  readonly sourceType: number;
  readonly targetType: number;
  /** True when the data is converted (eligible and target type ≠ source type). */
  readonly quantize: boolean;
  readonly reason: PlanReason;
  /** Human detail for `reason` (which rule, which fallback). */
  readonly detail: string;
  readonly category: TensorCategory;
  /** Type before the shape fallback, when one happened. */
  readonly fallbackFrom?: number | undefined;
  /** Importance data will be used for this tensor. */
  readonly usesImatrix: boolean;
  /** Bytes of tensor data in the source and in the output (`ggml_nbytes`, no alignment padding). */
  readonly sourceBytes: number;
  readonly bytes: number;
}

export interface QuantizationPlan {
  readonly recipe: Recipe;
  /** `general.file_type` of the output. */
  readonly ftype: number;
  readonly defaultType: number;
  /** Tensors in output order (llama.cpp's order, which is also the output file order). */
  readonly tensors: readonly PlannedTensor[];
  /** `qs.has_imatrix`. */
  readonly hasImatrix: boolean;
  /** `<arch>.block_count` of the output (changes only with `pruneLayers`). */
  readonly blockCount: number;
  /** Tensors that needed a shape fallback (`qs.n_fallback`) and that fitted (`qs.n_k_quantized`). */
  readonly nFallback: number;
  readonly nKQuantized: number;
  /** True when llama-quantize would finish. */
  readonly ok: boolean;
  /** Every reason llama-quantize would stop, in the order it would meet them. */
  readonly errors: readonly RecipeError[];
  /** The first of `errors`: what llama-quantize reports. */
  readonly refusal: RecipeError | undefined;
  /** Messages llama.cpp logs as warnings (no importance data for a tensor, fallbacks). */
  readonly warnings: readonly string[];
}

/** The layer of a tensor as `sscanf(name, "blk.%d.", &layer)` reads it, or -1. */
export function blkLayer(name: string): number {
  const m = /^blk\.\s*([+-]?\d+)/.exec(name);
  return m ? Number.parseInt(m[1], 10) : -1;
}

/** Byte order of UTF-8 strings (= code point order), as `std::string::operator<`. */
function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(j)!;
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return i < a.length ? 1 : j < b.length ? -1 : 0;
}

/** `llama_model_loader::weight_name_comparer`: by `blk.N` layer (-1 for other tensors), then by name. */
export function compareWeightNames(a: string, b: string): number {
  const la = blkLayer(a);
  const lb = blkLayer(b);
  if (la !== lb) return la < lb ? -1 : 1;
  return compareBytes(a, b);
}

/** The tensors in the order llama.cpp iterates and writes them. Throws `RECIPE_INVALID` on a duplicate name. */
export function llamaTensorOrder<TT extends { readonly name: string }>(tensors: readonly TT[]): TT[] {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new RecipeError("RECIPE_INVALID", `invalid model: tensor '${t.name}' is duplicated`, { tensor: t.name });
    seen.add(t.name);
  }
  return [...tensors].sort((x, y) => compareWeightNames(x.name, y.name));
}

/** `ggml_n_dims`: the number of dimensions, ignoring trailing dimensions of size 1 (at least 1). */
export function ggmlNDims(shape: readonly number[]): number {
  for (let i = shape.length - 1; i >= 1; i--) if (shape[i] > 1) return i + 1;
  return 1;
}

function nElementsOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `ggml_nbytes` of a tensor of this type and shape (rows of whole blocks; a partial block counts as one). */
export function tensorBytes(type: number, shape: readonly number[]): number {
  const info = ggmlTypeInfo(type);
  if (!info) return Number.NaN;
  const ne0 = shape[0] ?? 1;
  const rows = nElementsOf(shape) / (ne0 || 1);
  return Math.ceil(ne0 / info.blockSize) * info.typeSize * rows;
}

/** Hyperparameters with llama.cpp's defaults; the 70B class guessed as `llama_model::load_hparams` does. */
export function resolveHparams(arch: string, h: PlanModel["hparams"]): ResolvedHparams {
  const nHead = h.nHead;
  const nHeadKv = h.nHeadKv ?? nHead;
  const nExpert = h.nExpert ?? 0;
  let modelType = h.modelType;
  if (modelType === undefined && h.nLayer === 80) {
    if (arch === "llama" && nExpert !== 8) modelType = nHead === nHeadKv ? "65B" : "70B";
    else if (arch === "qwen2" || arch === "deci") modelType = "70B";
  }
  return {
    nLayer: h.nLayer,
    nHead,
    nHeadKv,
    nExpert,
    nGqa: nHeadKv === 0 ? 0 : Math.trunc(nHead / nHeadKv),
    modelType,
  };
}

/** `general.file_type` the loader assumes for a file without one: from the most common tensor type, | GUESSED. */
export function guessFileType(tensors: readonly PlanModelTensor[]): number {
  const counts = new Map<number, number>();
  let nMax = 0;
  let typeMax: number = T.F32;
  for (const t of tensors) {
    const c = (counts.get(t.type) ?? 0) + 1;
    counts.set(t.type, c);
    if (nMax < c) {
      nMax = c;
      typeMax = t.type;
    }
  }
  const map: Partial<Record<number, F>> = {
    [T.F32]: F.ALL_F32, [T.F16]: F.MOSTLY_F16, [T.BF16]: F.MOSTLY_BF16, [T.Q4_0]: F.MOSTLY_Q4_0, [T.Q4_1]: F.MOSTLY_Q4_1,
    [T.Q5_0]: F.MOSTLY_Q5_0, [T.Q5_1]: F.MOSTLY_Q5_1, [T.Q8_0]: F.MOSTLY_Q8_0, [T.Q2_K]: F.MOSTLY_Q2_K,
    [T.Q3_K]: F.MOSTLY_Q3_K_M, [T.Q4_K]: F.MOSTLY_Q4_K_M, [T.Q5_K]: F.MOSTLY_Q5_K_M, [T.Q6_K]: F.MOSTLY_Q6_K,
    [T.TQ1_0]: F.MOSTLY_TQ1_0, [T.TQ2_0]: F.MOSTLY_TQ2_0, [T.IQ2_XXS]: F.MOSTLY_IQ2_XXS, [T.IQ2_XS]: F.MOSTLY_IQ2_XS,
    [T.IQ2_S]: F.MOSTLY_IQ2_S, [T.IQ3_XXS]: F.MOSTLY_IQ3_XXS, [T.IQ1_S]: F.MOSTLY_IQ1_S, [T.IQ1_M]: F.MOSTLY_IQ1_M,
    [T.IQ4_NL]: F.MOSTLY_IQ4_NL, [T.IQ4_XS]: F.MOSTLY_IQ4_XS, [T.IQ3_S]: F.MOSTLY_IQ3_S,
  };
  return (map[typeMax] ?? F.ALL_F32) | F.GUESSED;
}

/** Why llama-quantize leaves a tensor alone regardless of the recipe, or undefined when it is eligible. */
function notEligibleReason(name: string, shape: readonly number[], leaveOutput: boolean): [PlanReason, string] | undefined {
  if (!name.endsWith("weight")) return ["not-eligible", "name does not end in 'weight'"];
  if (ggmlNDims(shape) < 2) return ["not-eligible", "1-D tensor"];
  if (name.includes("_norm.weight")) return ["not-eligible", "norm tensor"];
  if (leaveOutput && name === "output.weight") return ["leave-output-tensor", "--leave-output-tensor"];
  return undefined;
}

/** The name checks that come after `only_copy` in llama_model_quantize_impl (c392e50). */
function excludedByName(name: string): string | undefined {
  if (name.includes("ffn_gate_inp.weight")) return "expert gating tensor";
  if (name === "position_embd.weight" || name === "token_types.weight") return "positional / token-type embeddings";
  if (name.includes("ssm_conv1d.weight")) return "Mamba conv1d tensor";
  for (const s of ["time_mix_first.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight"]) {
    if (name.includes(s)) return "RWKV time-mix tensor";
  }
  if (name.includes("attn_rel_b.weight")) return "relative position bias";
  return undefined;
}

function parseType(v: T | number | string | undefined, what: string): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "number") {
    if (!ggmlTypeInfo(v)) throw new RecipeError("RECIPE_BAD_OPTIONS", `${what}: ${v} is not a live ggml type id`);
    return v as T;
  }
  const info = ggmlTypeByName(v.trim());
  if (!info) throw new RecipeError("RECIPE_BAD_OPTIONS", `${what}: invalid ggml_type '${v}'`);
  return info.id;
}

function compilePattern(p: RegExp | string): RegExp {
  try {
    return typeof p === "string" ? new RegExp(p) : new RegExp(p.source, p.flags.replace(/[gy]/g, ""));
  } catch (e) {
    throw new RecipeError("RECIPE_BAD_OPTIONS", `tensorTypeOverrides: bad pattern '${String(p)}'`, {}, { cause: e });
  }
}

interface ImatrixLookup {
  readonly nonEmpty: boolean;
  /** undefined = no data for this tensor; null = data, size unknown; otherwise the vector. */
  get(name: string): ArrayLike<number> | null | undefined;
  readonly vectors: Iterable<[string, ArrayLike<number>]>;
}

function imatrixLookup(input: ImatrixInput | undefined, include: readonly string[], exclude: readonly string[], names: readonly string[]): ImatrixLookup {
  // prepare_imatrix (quantize.cpp): drop names containing an excluded substring; keep only names containing an included one
  const passes = (n: string): boolean =>
    !exclude.some((s) => n.includes(s)) && (include.length === 0 || include.some((s) => n.includes(s)));
  if (input === undefined || input === false) return { nonEmpty: false, get: () => undefined, vectors: [] };
  if (input === true) {
    return { nonEmpty: names.some(passes), get: (n) => (passes(n) ? null : undefined), vectors: [] };
  }
  if (input instanceof Map) {
    const m = new Map<string, ArrayLike<number>>();
    for (const [k, v] of input as ReadonlyMap<string, ArrayLike<number> | { readonly importance: ArrayLike<number> }>) {
      if (!passes(k)) continue;
      m.set(k, "importance" in v ? v.importance : v);
    }
    return { nonEmpty: m.size > 0, get: (n) => m.get(n), vectors: m };
  }
  const s = new Set<string>();
  for (const k of input as Iterable<string>) if (passes(k)) s.add(k);
  return { nonEmpty: s.size > 0, get: (n) => (s.has(n) ? null : undefined), vectors: [] };
}

/**
 * `remap_layer` (src/llama-quant.cpp, after c392e50): the output name of a tensor when layers are pruned, or "" when
 * its layer is pruned. `state` carries `mapped` and `next_id` across calls, which must come in llama.cpp's order.
 */
function remapLayer(orig: string, prune: readonly number[], state: { mapped: Map<number, string>; nextId: number }): string {
  if (prune.length === 0) return orig;
  const m = /blk\.(\d+)\./.exec(orig);
  if (!m) return orig;
  const blk = Number.parseInt(m[1], 10);
  if (!state.mapped.has(blk)) {
    if (prune.includes(blk)) {
      state.mapped.set(blk, "");
    } else if (blk < prune[0]) {
      state.mapped.set(blk, String(blk));
      state.nextId = blk + 1;
    } else {
      state.mapped.set(blk, String(state.nextId));
      ++state.nextId;
    }
  }
  const to = state.mapped.get(blk)!;
  if (to === "") return "";
  const start = m.index + 4; // after "blk."
  return orig.slice(0, start) + to + orig.slice(start + m[1].length);
}

/**
 * Plans a quantization: the type llama-quantize (c392e50) would give every tensor of a model (a {@link PlanModel},
 * or an opened GGUF file, read with {@link planModelFromGguf}) with this recipe and these options, in its output order, with every refusal it would make. Never throws for a refusal (they are in
 * `errors`); throws `RecipeError` only for bad arguments (unknown recipe, bad options, duplicate tensor names).
 */
export function planQuantization(modelOrGguf: PlanModel | GgufHeaderLike, recipeOrName: Recipe | string | number, options: PlanOptions = {}): QuantizationPlan {
  const model: PlanModel = "get" in modelOrGguf && typeof modelOrGguf.get === "function" ? planModelFromGguf(modelOrGguf) : (modelOrGguf as PlanModel);
  const recipe = typeof recipeOrName === "object" ? recipeOrName : (options.registry ?? builtinRecipeRegistry()).get(recipeOrName);
  const include = options.includeWeights ?? [];
  const exclude = options.excludeWeights ?? [];
  if (include.length > 0 && exclude.length > 0) {
    throw new RecipeError("RECIPE_BAD_OPTIONS", "includeWeights and excludeWeights cannot be used together");
  }
  const outputTensorType = parseType(options.outputTensorType, "outputTensorType");
  const tokenEmbeddingType = parseType(options.tokenEmbeddingType, "tokenEmbeddingType");
  const overrides = (options.tensorTypeOverrides ?? []).map((o) => ({
    re: compilePattern(o.pattern),
    type: parseType(o.type, `tensorTypeOverrides '${String(o.pattern)}'`)!,
  }));
  const prune = [...new Set(options.pruneLayers ?? [])].sort((a, b) => a - b);
  if (prune.some((p) => !Number.isInteger(p) || p < 0)) {
    throw new RecipeError("RECIPE_BAD_OPTIONS", `pruneLayers must be non-negative integers, got ${prune.join(",")}`);
  }
  const pure = options.pure === true;
  const onlyCopy = recipe.onlyCopy === true;
  const defaultType = recipe.defaultType;
  const defaultQuantized = ggmlTypeInfo(defaultType)?.quantized === true;
  const ftypeOut = onlyCopy ? (model.fileType ?? guessFileType(model.tensors)) : recipe.ftype;
  // the per-tensor imatrix rule keys on params->ftype (the requested one, also for COPY)
  const paramsFtype = recipe.ftype;
  const requiresImatrix = recipe.tensorRequiresImatrix ?? tensorRequiresImatrixC392e50;

  const hparams = resolveHparams(model.arch, model.hparams);
  const ordered = llamaTensorOrder(model.tensors);
  const errors: RecipeError[] = [];
  const warnings: string[] = [];
  const imatrix = imatrixLookup(options.imatrix, include, exclude, ordered.map((t) => t.name));
  const hasImatrix = imatrix.nonEmpty;

  // quantize.cpp main(): presets that are refused before anything is read
  if (recipe.requiresImatrix && !hasImatrix) {
    errors.push(
      new RecipeError("RECIPE_IMATRIX_REQUIRED", "Please do not use IQ1_S, IQ1_M, IQ2_S, IQ2_XXS, IQ2_XS or Q2_K_S quantization without an importance matrix", {
        recipe: recipe.name,
      }),
    );
  }
  // check imatrix for nans or infs
  outer: for (const [k, v] of imatrix.vectors) {
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) {
        errors.push(new RecipeError("RECIPE_IMATRIX_NONFINITE", `imatrix contains non-finite value ${String(v[i])}`, { tensor: k }));
        break outer;
      }
    }
  }

  // make a list of weights (with --prune-layers: drop and renumber)
  const pruneState = { mapped: new Map<number, string>(), nextId: 0 };
  const list: { src: PlanModelTensor; name: string }[] = [];
  for (const t of ordered) {
    const name = remapLayer(t.name, prune, pruneState);
    if (name !== "") list.push({ src: t, name });
  }
  const blockCount = prune.length > 0 ? pruneState.nextId : hparams.nLayer;

  let nAttentionWv = 0;
  let hasOutput = false;
  for (const { name } of list) {
    if (name.includes("attn_v.weight") || name.includes("attn_qkv.weight") || name.includes("attn_kv_b.weight")) ++nAttentionWv;
    else if (name === "output.weight") hasOutput = true;
  }
  // sanity check for models that have attention layers (GGML_ASSERT in the C)
  if (nAttentionWv !== 0 && prune.length === 0) {
    const arr = model.hparams.nHeadKvArr;
    let nAttnLayer = hparams.nLayer;
    for (let il = 0; il < hparams.nLayer; il++) if ((arr?.[il] ?? hparams.nHeadKv) === 0) nAttnLayer--;
    if (model.arch === "t5" || model.arch === "t5encoder") nAttnLayer *= 3;
    if (nAttentionWv !== nAttnLayer) {
      errors.push(new RecipeError("RECIPE_ATTN_COUNT", `n_attention_wv is unexpected: ${nAttentionWv} attention-V tensors for ${nAttnLayer} attention layers`));
    }
  }

  const counters = {
    iAttentionWv: 0,
    nAttentionWv,
    iFfnDown: 0,
    nFfnDown: hparams.nLayer,
    iFfnGate: 0,
    nFfnGate: hparams.nLayer,
    iFfnUp: 0,
    nFfnUp: hparams.nLayer,
  };
  let nFallback = 0;
  let nKQuantized = 0;
  const out: PlannedTensor[] = [];

  for (const { src, name } of list) {
    const shape = src.shape;
    const ne0 = shape[0] ?? 1;
    const sourceType = src.type;
    const category = tensorCategoryC392e50(name);
    const fail = (code: string, message: string): void => {
      errors.push(new RecipeError(code, message, { tensor: name, recipe: recipe.name }));
    };

    let quantize = true;
    let reason: PlanReason = "default";
    let detail = "";
    let targetType: number = sourceType;
    let fallbackFrom: number | undefined;
    let usesImatrix = false;

    const ne = notEligibleReason(name, shape, options.leaveOutputTensor === true);
    if (ne) {
      quantize = false;
      [reason, detail] = ne;
    } else if (onlyCopy) {
      quantize = false;
      reason = "only-copy";
      detail = "COPY";
    } else {
      const ex = excludedByName(name);
      if (ex !== undefined) {
        quantize = false;
        reason = "not-eligible";
        detail = ex;
      }
    }

    if (quantize) {
      let newType: number = defaultType;
      let manual = false;
      if (defaultQuantized && overrides.length > 0) {
        for (const o of overrides) {
          if (o.re.test(name)) {
            newType = o.type;
            manual = true;
            reason = "override";
            detail = `matched /${o.re.source}/`;
            break;
          }
        }
      }
      let shapeChecked = false;
      if (!manual && !pure && defaultQuantized) {
        // llama_tensor_get_type: the rules, then the counters, then the shape fallback (also without rules)
        let ruled: number | undefined;
        if (recipe.rules) {
          const ctx = makeContext(name, src, category, hparams, model.arch, recipe, defaultType, hasImatrix, hasOutput, counters, outputTensorType, tokenEmbeddingType);
          try {
            ruled = recipe.rules(ctx);
          } catch (e) {
            if (e instanceof RecipeError) errors.push(e);
            else throw e;
          }
        }
        if (category === "attn_v") ++counters.iAttentionWv;
        else if (category === "ffn_down") ++counters.iFfnDown;
        else if (category === "ffn_gate") ++counters.iFfnGate;
        else if (category === "ffn_up") ++counters.iFfnUp;
        if (ruled !== undefined && ruled !== newType) {
          newType = ruled;
          reason = "rule";
          detail = `${recipe.name} rule for ${category === "token_embd" && !hasOutput ? "output (tied token_embd)" : category}`;
        }
        shapeChecked = true;
      }
      if (shapeChecked || manual) {
        const qk = ggmlTypeInfo(newType)?.blockSize ?? 1;
        if (ne0 % qk !== 0) {
          const fb = shapeFallbackC392e50(newType, ne0);
          if (fb === undefined) {
            fail("RECIPE_UNSUPPORTED_SHAPE", `Unsupported tensor size encountered: tensor cols ${ne0} are not divisible by ${qk}, required for ${ggmlTypeName(newType)}`);
          } else {
            warnings.push(`${name}: tensor cols ${ne0} x ${shape[1] ?? 1} are not divisible by ${qk}, required for ${ggmlTypeName(newType)} - using fallback quantization ${ggmlTypeName(fb)}`);
            fallbackFrom = newType;
            detail = `${detail ? `${detail}; ` : ""}${ggmlTypeName(newType)} needs rows of ${qk}, ${ne0} is not: fallback ${ggmlTypeName(fb)}`;
            newType = fb;
            reason = manual ? reason : "fallback";
            ++nFallback;
          }
        } else {
          ++nKQuantized;
        }
      }
      if (tokenEmbeddingType !== undefined && name === "token_embd.weight") {
        newType = tokenEmbeddingType;
        reason = "token-embedding-type";
        detail = "--token-embedding-type";
        fallbackFrom = undefined;
      }
      if (outputTensorType !== undefined && name === "output.weight") {
        newType = outputTensorType;
        reason = "output-tensor-type";
        detail = "--output-tensor-type";
        fallbackFrom = undefined;
      }
      targetType = newType;
      // If we've decided to quantize to the same type the tensor is already in then there's nothing to do.
      quantize = sourceType !== newType;
    }

    if (quantize) {
      const qk = ggmlTypeInfo(targetType)?.blockSize ?? 1;
      if (ne0 % qk !== 0 && !errors.some((e) => e.tensor === name)) {
        // c392e50 has no fallback on this path (pure, or a type the user forced): ggml would abort
        fail("RECIPE_UNSUPPORTED_SHAPE", `tensor cols ${ne0} are not divisible by ${qk}, required for ${ggmlTypeName(targetType)}`);
      }
      const data = imatrix.get(src.name);
      if (data === undefined) {
        if (hasImatrix) warnings.push(`did not find weights for ${name}`);
      } else if (data === null) {
        usesImatrix = true;
      } else {
        const want = ne0 * (shape[2] ?? 1);
        if (data.length === want) {
          usesImatrix = true;
        } else if (name !== "token_embd.weight") {
          fail("RECIPE_IMATRIX_SIZE", `imatrix size ${data.length} is different from tensor size ${want} for ${name}`);
        } else {
          warnings.push(`imatrix size ${data.length} is different from tensor size ${want} for ${name}`);
        }
      }
      if (!usesImatrix && requiresImatrix(name, targetType as T, paramsFtype)) {
        fail("RECIPE_IMATRIX_MISSING", `Missing importance matrix for tensor ${name} in a very low-bit quantization`);
      }
      const srcInfo = ggmlTypeInfo(sourceType);
      if (sourceType !== T.F32) {
        if (srcInfo?.quantized && options.allowRequantize !== true) {
          fail("RECIPE_REQUANTIZE_DISABLED", `requantizing from type ${ggmlTypeName(sourceType)} is disabled`);
        } else if (!srcInfo?.quantized && sourceType !== T.F16 && sourceType !== T.BF16) {
          fail("RECIPE_CANNOT_CONVERT", `cannot dequantize/convert tensor type ${ggmlTypeName(sourceType)}`);
        }
      }
    } else if (reason === "default" || reason === "rule" || reason === "fallback" || reason === "override" || reason === "output-tensor-type" || reason === "token-embedding-type") {
      detail = `${detail ? `${detail}; ` : ""}already ${ggmlTypeName(targetType)}`;
    }
    out.push(
      Object.freeze({
        name,
        sourceName: src.name,
        shape,
        nElements: nElementsOf(shape),
        sourceType,
        targetType,
        quantize,
        reason,
        detail,
        category,
        fallbackFrom,
        usesImatrix,
        sourceBytes: tensorBytes(sourceType, shape),
        bytes: tensorBytes(targetType, shape),
      }),
    );
  }

  return Object.freeze({
    recipe,
    ftype: ftypeOut,
    defaultType,
    tensors: Object.freeze(out),
    hasImatrix,
    blockCount,
    nFallback,
    nKQuantized,
    ok: errors.length === 0,
    errors: Object.freeze(errors),
    refusal: errors[0],
    warnings: Object.freeze(warnings),
  });
}

function makeContext(
  name: string,
  src: PlanModelTensor,
  category: TensorCategory,
  hparams: ResolvedHparams,
  arch: string,
  recipe: Recipe,
  defaultType: T,
  hasImatrix: boolean,
  hasOutput: boolean,
  counters: LayerCounters,
  outputTensorType: T | undefined,
  tokenEmbeddingType: T | undefined,
): RecipeTensorContext {
  const snapshot: LayerCounters = { ...counters };
  const nExpert = Math.max(1, hparams.nExpert);
  return {
    name,
    shape: src.shape,
    sourceType: src.type,
    category,
    arch,
    hparams,
    ftype: recipe.ftype,
    defaultType,
    hasImatrix,
    hasOutput,
    counters: snapshot,
    outputTensorType,
    tokenEmbeddingType,
    layerInfo(i: number, n: number): readonly [number, number] {
      if (nExpert > 1) {
        // "experts" are not consecutive in some MoE files: read the layer from the name
        const m = /^blk\.\s*([+-]?\d+)/.exec(name);
        if (!m) throw new RecipeError("RECIPE_BAD_LAYER", `Failed to determine layer for tensor ${name}`, { tensor: name });
        const il = Number.parseInt(m[1], 10);
        if (il < 0 || il >= n) throw new RecipeError("RECIPE_BAD_LAYER", `Bad layer ${il} for tensor ${name}. Must be in [0, ${n})`, { tensor: name });
        return [il, n];
      }
      return [i, n];
    },
  };
}
