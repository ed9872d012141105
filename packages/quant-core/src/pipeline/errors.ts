import { QuantlabError, type QuantlabErrorContext } from "@quantlab/gguf";

/**
 * Errors of the whole-model quantization pipeline ({@link quantizeModel}). Refusals of the plan are thrown as the
 * planner's own `RecipeError`s (they name the tensor); scheme failures as `SchemeError`s; GGUF problems as
 * `GgufError`s. This class covers what only the pipeline sees.
 *
 * Codes:
 * - `QUANTIZE_BAD_OPTIONS`: a bad option value (`--override-kv` syntax, thread count, tensor-type file line, ...).
 * - `QUANTIZE_NONFINITE_WEIGHTS`: a weight is NaN or infinite (context: `tensor`, `row`, `column`); llama.cpp's
 *   loader refuses such data ("tensor '...' has invalid data").
 * - `QUANTIZE_VALIDATION_FAILED`: a quantized block has a NaN/Inf scale (weights beyond the type's range, e.g. above
 *   65504 × the largest quant for fp16 scales); llama-quantize: "quantized data validation failed".
 * - `QUANTIZE_ABORTED`: the AbortSignal fired; nothing was left under the output name.
 * - `QUANTIZE_UNSUPPORTED`: an input this pipeline cannot handle (big-endian file, tensor with more than 3 dims).
 * - `QUANTIZE_IMATRIX_FORMAT`: a GGUF imatrix file without the expected tensors.
 */
export class QuantizePipelineError extends QuantlabError {
  constructor(code: string, message: string, context: QuantlabErrorContext = {}, options?: { cause?: unknown }) {
    super(code, message, context, options);
    this.name = "QuantizePipelineError";
  }
}
