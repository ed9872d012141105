import { QuantlabError, type QuantlabErrorContext } from "@quantlab/gguf";

/**
 * Errors of `@quantlab/imatrix`. Stable codes:
 * - `IMATRIX_FORMAT`: a file is neither a valid GGUF imatrix nor a legacy `.dat`, or its tensors do not fit together.
 * - `IMATRIX_MISMATCH`: two imatrices cannot be combined (different sizes for the same tensor).
 * - `IMATRIX_TOO_FEW_TOKENS`: the calibration text is shorter than two chunks (llama-imatrix's own limit).
 * - `IMATRIX_NON_FINITE`: a sum became inf/NaN while collecting (llama-imatrix aborts the same way).
 * - `IMATRIX_BAD_ARGUMENT`: an option is out of range.
 * - `IMATRIX_EMPTY`: nothing to write or combine.
 */
export class ImatrixError extends QuantlabError {
  constructor(code: string, message: string, context: QuantlabErrorContext = {}, options?: { cause?: unknown }) {
    super(code, message, context, options);
    this.name = "ImatrixError";
  }
}
