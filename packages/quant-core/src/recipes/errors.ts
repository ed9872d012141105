import { QuantlabError, type QuantlabErrorContext } from "@quantlab/gguf";

/**
 * Errors raised by the recipe layer: bad recipe definitions, registry misuse, and the refusals llama-quantize
 * makes while choosing tensor types (missing importance matrix, unsupported shape, requantizing, ...).
 *
 * Codes:
 * - `RECIPE_INVALID`, `RECIPE_DUPLICATE`, `RECIPE_NOT_FOUND`: registry and definition problems.
 * - `RECIPE_BAD_OPTIONS`: contradictory options (`includeWeights` with `excludeWeights`, a bad override pattern).
 * - `RECIPE_IMATRIX_REQUIRED`: the preset needs an importance matrix and none was given (quantize.cpp up-front check).
 * - `RECIPE_IMATRIX_MISSING`: a tensor's target type needs importance data and that tensor has none
 *   (llama-quant.cpp, "Missing importance matrix for tensor ...").
 * - `RECIPE_IMATRIX_SIZE`: an importance vector does not have `ne0 * ne2` values.
 * - `RECIPE_IMATRIX_NONFINITE`: an importance vector holds NaN or infinity.
 * - `RECIPE_UNSUPPORTED_SHAPE`: the row length fits neither the chosen type nor any fallback.
 * - `RECIPE_REQUANTIZE_DISABLED`: the source tensor is already quantized and `allowRequantize` is off.
 * - `RECIPE_CANNOT_CONVERT`: the source type cannot be converted to float (integer tensors).
 * - `RECIPE_BAD_LAYER`: a MoE tensor's layer could not be read from its name, or is out of range.
 * - `RECIPE_ATTN_COUNT`: the number of attention-V tensors does not match the attention layer count.
 */
export class RecipeError extends QuantlabError {
  constructor(code: string, message: string, context: QuantlabErrorContext & { recipe?: string } = {}, options?: { cause?: unknown }) {
    super(code, context.recipe !== undefined ? `[${context.recipe}] ${message}` : message, context, options);
    this.name = "RecipeError";
  }
}
