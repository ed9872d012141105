import { QuantlabError, type QuantlabErrorContext } from "@quantlab/gguf";

/**
 * Errors raised by quant-core: bad scheme definitions, registry misuse, and quantization input that a scheme
 * cannot take (wrong row length, missing importance, NaN). Permanent: retrying the same input fails the same way.
 *
 * Codes: `SCHEME_INVALID`, `SCHEME_DUPLICATE`, `SCHEME_NOT_FOUND`, `SCHEME_LAYOUT_MISMATCH`,
 * `QUANT_BAD_ROW_LENGTH`, `QUANT_BAD_SHAPE`, `QUANT_IMPORTANCE_REQUIRED`, `QUANT_BAD_IMPORTANCE`,
 * `QUANT_NONFINITE_INPUT`, `QUANT_SCHEME_FAILED`, `QUANT_UNSUPPORTED`.
 */
export class SchemeError extends QuantlabError {
  constructor(code: string, message: string, context: QuantlabErrorContext & { scheme?: string } = {}, options?: { cause?: unknown }) {
    super(code, context.scheme !== undefined ? `[${context.scheme}] ${message}` : message, context, options);
    this.name = "SchemeError";
  }
}
