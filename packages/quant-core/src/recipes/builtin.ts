/**
 * llama-quantize's presets as recipes, and the recipe registry.
 *
 * Names, order and descriptions: `QUANT_OPTIONS` in examples/quantize/quantize.cpp (llama.cpp c392e50), plus
 * MXFP4_MOE (added to llama.cpp after c392e50). Default types: the `switch (params->ftype)` at the top of
 * `llama_model_quantize_impl` (src/llama-quant.cpp, c392e50).
 */
import { GGMLQuantizationType as T, LlamaFileType as F, ggmlTypeInfo } from "@quantlab/gguf";
import { RecipeError } from "./errors.js";
import { llamaMixRules } from "./llama-mix.js";
import { RECIPE_SPEC_VERSION, type Recipe, type RecipeDefinition, type RecipeRules } from "./types.js";

/** Stamps the current contract version on a recipe definition. */
export function defineRecipe(def: RecipeDefinition): Recipe {
  return Object.freeze({ specVersion: RECIPE_SPEC_VERSION, ...def });
}

/** The llama.cpp mixture rules bound to one file type. */
export function llamaMix(ftype: number): RecipeRules {
  return (ctx) => llamaMixRules(ctx, ftype);
}

const C392E50 = "llama.cpp c392e50";

function preset(name: string, ftype: F, defaultType: T, description: string, extra: Partial<RecipeDefinition> = {}): Recipe {
  return defineRecipe({ name, ftype, defaultType, description, rules: llamaMix(ftype), source: C392E50, ...extra });
}

const needsImatrix = { requiresImatrix: true } as const;

/** Every llama-quantize preset, in QUANT_OPTIONS order (c392e50), then MXFP4_MOE. */
export const builtinRecipes: readonly Recipe[] = Object.freeze([
  preset("Q4_0", F.MOSTLY_Q4_0, T.Q4_0, "4.34G, +0.4685 ppl @ Llama-3-8B"),
  preset("Q4_1", F.MOSTLY_Q4_1, T.Q4_1, "4.78G, +0.4511 ppl @ Llama-3-8B"),
  preset("Q5_0", F.MOSTLY_Q5_0, T.Q5_0, "5.21G, +0.1316 ppl @ Llama-3-8B"),
  preset("Q5_1", F.MOSTLY_Q5_1, T.Q5_1, "5.65G, +0.1062 ppl @ Llama-3-8B"),
  preset("IQ2_XXS", F.MOSTLY_IQ2_XXS, T.IQ2_XXS, "2.06 bpw quantization", needsImatrix),
  preset("IQ2_XS", F.MOSTLY_IQ2_XS, T.IQ2_XS, "2.31 bpw quantization", needsImatrix),
  preset("IQ2_S", F.MOSTLY_IQ2_S, T.IQ2_XS, "2.5  bpw quantization", needsImatrix), // default IQ2_XS (sic, as in C)
  preset("IQ2_M", F.MOSTLY_IQ2_M, T.IQ2_S, "2.7  bpw quantization"),
  preset("IQ1_S", F.MOSTLY_IQ1_S, T.IQ1_S, "1.56 bpw quantization", needsImatrix),
  preset("IQ1_M", F.MOSTLY_IQ1_M, T.IQ1_M, "1.75 bpw quantization", needsImatrix),
  preset("TQ1_0", F.MOSTLY_TQ1_0, T.TQ1_0, "1.69 bpw ternarization"),
  preset("TQ2_0", F.MOSTLY_TQ2_0, T.TQ2_0, "2.06 bpw ternarization"),
  preset("Q2_K", F.MOSTLY_Q2_K, T.Q2_K, "2.96G, +3.5199 ppl @ Llama-3-8B"),
  preset("Q2_K_S", F.MOSTLY_Q2_K_S, T.Q2_K, "2.96G, +3.1836 ppl @ Llama-3-8B", needsImatrix),
  preset("IQ3_XXS", F.MOSTLY_IQ3_XXS, T.IQ3_XXS, "3.06 bpw quantization"),
  preset("IQ3_S", F.MOSTLY_IQ3_S, T.IQ3_S, "3.44 bpw quantization"),
  preset("IQ3_M", F.MOSTLY_IQ3_M, T.IQ3_S, "3.66 bpw quantization mix"),
  preset("Q3_K", F.MOSTLY_Q3_K_M, T.Q3_K, "alias for Q3_K_M", { aliasOf: "Q3_K_M" }),
  preset("IQ3_XS", F.MOSTLY_IQ3_XS, T.IQ3_S, "3.3 bpw quantization"),
  preset("Q3_K_S", F.MOSTLY_Q3_K_S, T.Q3_K, "3.41G, +1.6321 ppl @ Llama-3-8B"),
  preset("Q3_K_M", F.MOSTLY_Q3_K_M, T.Q3_K, "3.74G, +0.6569 ppl @ Llama-3-8B"),
  preset("Q3_K_L", F.MOSTLY_Q3_K_L, T.Q3_K, "4.03G, +0.5562 ppl @ Llama-3-8B"),
  preset("IQ4_NL", F.MOSTLY_IQ4_NL, T.IQ4_NL, "4.50 bpw non-linear quantization"),
  preset("IQ4_XS", F.MOSTLY_IQ4_XS, T.IQ4_XS, "4.25 bpw non-linear quantization"),
  preset("Q4_K", F.MOSTLY_Q4_K_M, T.Q4_K, "alias for Q4_K_M", { aliasOf: "Q4_K_M" }),
  preset("Q4_K_S", F.MOSTLY_Q4_K_S, T.Q4_K, "4.37G, +0.2689 ppl @ Llama-3-8B"),
  preset("Q4_K_M", F.MOSTLY_Q4_K_M, T.Q4_K, "4.58G, +0.1754 ppl @ Llama-3-8B"),
  preset("Q5_K", F.MOSTLY_Q5_K_M, T.Q5_K, "alias for Q5_K_M", { aliasOf: "Q5_K_M" }),
  preset("Q5_K_S", F.MOSTLY_Q5_K_S, T.Q5_K, "5.21G, +0.1049 ppl @ Llama-3-8B"),
  preset("Q5_K_M", F.MOSTLY_Q5_K_M, T.Q5_K, "5.33G, +0.0569 ppl @ Llama-3-8B"),
  preset("Q6_K", F.MOSTLY_Q6_K, T.Q6_K, "6.14G, +0.0217 ppl @ Llama-3-8B"),
  preset("Q8_0", F.MOSTLY_Q8_0, T.Q8_0, "7.96G, +0.0026 ppl @ Llama-3-8B"),
  preset("MXFP4_MOE", F.MOSTLY_MXFP4_MOE, T.MXFP4, "MXFP4 MoE", { source: "llama.cpp 2025-08 (after c392e50)" }),
  preset("F16", F.MOSTLY_F16, T.F16, "14.00G, +0.0020 ppl @ Mistral-7B"),
  preset("BF16", F.MOSTLY_BF16, T.BF16, "14.00G, -0.0050 ppl @ Mistral-7B"),
  preset("F32", F.ALL_F32, T.F32, "26.00G              @ 7B"),
  // COPY comes after F32 so that ftype 0 finds F32 (as in quantize.cpp)
  defineRecipe({ name: "COPY", ftype: F.ALL_F32, defaultType: T.F32, description: "only copy tensors, no quantizing", onlyCopy: true, source: C392E50 }),
]);

export interface RecipeRegistry {
  /** All recipes in registration order. */
  readonly recipes: readonly Recipe[];
  /**
   * The recipe for a name (case-insensitive) or a file-type number (a number, or a string of digits), like
   * llama-quantize's `try_parse_ftype`: by number, the first non-alias, non-COPY recipe with that ftype.
   * Throws `RECIPE_NOT_FOUND`.
   */
  get(nameOrFtype: string | number): Recipe;
  find(nameOrFtype: string | number): Recipe | undefined;
  has(nameOrFtype: string | number): boolean;
  /** A new registry with these recipes added (duplicates rejected). */
  with(...recipes: Recipe[]): RecipeRegistry;
}

/** Validates one recipe object; throws `RECIPE_INVALID`. */
export function validateRecipe(r: Recipe, position = 0): void {
  const label = typeof r?.name === "string" && r.name ? r.name : `<recipe at position ${position}>`;
  const bad = (msg: string): never => {
    throw new RecipeError("RECIPE_INVALID", msg, { recipe: label });
  };
  if (typeof r !== "object" || r === null) bad("a recipe must be an object");
  if (r.specVersion !== RECIPE_SPEC_VERSION) bad(`unsupported specVersion ${String(r.specVersion)}; this host supports ${RECIPE_SPEC_VERSION}`);
  if (typeof r.name !== "string" || !/^[A-Za-z0-9_.+-]+$/.test(r.name)) bad("name must be a non-empty identifier");
  if (/^[0-9]+$/.test(r.name)) bad("name must not be a number (numbers look up file types)");
  if (!Number.isInteger(r.ftype) || r.ftype < 0) bad("ftype must be a non-negative integer");
  if (!ggmlTypeInfo(r.defaultType)) bad(`defaultType ${String(r.defaultType)} is not a live ggml type id`);
  if (typeof r.description !== "string") bad("description must be a string");
  if (r.rules !== undefined && typeof r.rules !== "function") bad("rules must be a function when present");
  if (r.tensorRequiresImatrix !== undefined && typeof r.tensorRequiresImatrix !== "function") {
    bad("tensorRequiresImatrix must be a function when present");
  }
  if (r.aliasOf !== undefined && typeof r.aliasOf !== "string") bad("aliasOf must be a string when present");
}

/** Builds a recipe registry from an explicit list. Names are unique case-insensitively (`RECIPE_DUPLICATE`). */
export function createRecipeRegistry(recipes: readonly Recipe[]): RecipeRegistry {
  const byLower = new Map<string, Recipe>();
  const byFtype = new Map<number, Recipe>();
  recipes.forEach((r, i) => {
    validateRecipe(r, i);
    const key = r.name.toLowerCase();
    const prev = byLower.get(key);
    if (prev) {
      throw new RecipeError("RECIPE_DUPLICATE", `a recipe named '${prev.name}' is already registered`, { recipe: r.name });
    }
    byLower.set(key, r);
    if (r.aliasOf === undefined && !r.onlyCopy && !byFtype.has(r.ftype)) byFtype.set(r.ftype, r);
  });
  for (const r of recipes) {
    if (r.aliasOf !== undefined && !byLower.has(r.aliasOf.toLowerCase())) {
      throw new RecipeError("RECIPE_INVALID", `alias of unknown recipe '${r.aliasOf}'`, { recipe: r.name });
    }
  }
  const list = Object.freeze([...recipes]);
  const find = (q: string | number): Recipe | undefined => {
    if (typeof q === "number") return Number.isInteger(q) ? byFtype.get(q) : undefined;
    const named = byLower.get(q.toLowerCase());
    if (named) return named;
    return /^\s*[0-9]+\s*$/.test(q) ? byFtype.get(Number(q)) : undefined;
  };
  const registry: RecipeRegistry = {
    recipes: list,
    find,
    has: (q) => find(q) !== undefined,
    get(q) {
      const r = find(q);
      if (!r) {
        throw new RecipeError("RECIPE_NOT_FOUND", `no recipe '${String(q)}'; known: ${list.map((x) => x.name).join(", ")}`);
      }
      return r;
    },
    with: (...more) => createRecipeRegistry([...list, ...more]),
  };
  return Object.freeze(registry);
}

let builtinRegistryCache: RecipeRegistry | undefined;
/** The registry of {@link builtinRecipes} (created once). */
export function builtinRecipeRegistry(): RecipeRegistry {
  builtinRegistryCache ??= createRecipeRegistry(builtinRecipes);
  return builtinRegistryCache;
}
