/**
 * Recipes: llama-quantize's presets (file types) as plugins, and the planner that reproduces llama.cpp c392e50's
 * per-tensor type choice (order, eligibility, counters, mixture rules, shape fallbacks, user options, refusals).
 */
export { RecipeError } from "./errors.js";
export {
  RECIPE_SPEC_VERSION,
  type RecipeSpecVersion,
  type Recipe,
  type RecipeDefinition,
  type RecipeRules,
  type RecipeTensorContext,
  type TensorCategory,
  type LayerCounters,
  type ModelHparams,
  type ResolvedHparams,
  type PlanModel,
  type PlanModelTensor,
} from "./types.js";
export { useMoreBits, tensorCategoryC392e50, llamaMixRules, shapeFallbackC392e50, tensorRequiresImatrixC392e50 } from "./llama-mix.js";
export {
  defineRecipe,
  llamaMix,
  builtinRecipes,
  builtinRecipeRegistry,
  createRecipeRegistry,
  validateRecipe,
  type RecipeRegistry,
} from "./builtin.js";
export {
  planQuantization,
  llamaTensorOrder,
  compareWeightNames,
  blkLayer,
  ggmlNDims,
  tensorBytes,
  resolveHparams,
  guessFileType,
  type PlanOptions,
  type ImatrixInput,
  type TensorTypeOverride,
  type PlanReason,
  type PlannedTensor,
  type QuantizationPlan,
} from "./plan.js";
export { dryRunSummary, type DryRunSummary, type DryRunTensorRow } from "./summary.js";
export { planModelFromGguf, type GgufHeaderLike } from "./model.js";
