/**
 * Typed errors of @quantlab/eval. Every error is a {@link QuantlabError} with a stable `code`.
 */
import { QuantlabError, type QuantlabErrorContext } from "@quantlab/gguf";

/** Stable error codes thrown by this package. */
export const EvalErrorCode = {
  /** A KL-divergence base file does not start with `_logits_`. */
  KLD_BAD_MAGIC: "KLD_BAD_MAGIC",
  /** A KL-divergence base file ends before the data its header announces. */
  KLD_TRUNCATED: "KLD_TRUNCATED",
  /** A KL-divergence base file's header is impossible or its size does not match the header. */
  KLD_BAD_SIZE: "KLD_BAD_SIZE",
  /** The model does not match the base file (vocabulary size, context). */
  KLD_MISMATCH: "KLD_MISMATCH",
  /** Too few tokens for the requested context (llama-perplexity needs 2·n_ctx). */
  PPL_TOO_FEW_TOKENS: "PPL_TOO_FEW_TOKENS",
  /** Bad option value (n_ctx, chunks...). */
  EVAL_BAD_OPTION: "EVAL_BAD_OPTION",
  /** The model returned a logits array of the wrong size. */
  EVAL_BAD_LOGITS: "EVAL_BAD_LOGITS",
  /** A multiple-choice data file is malformed (the context names file and line). */
  MC_PARSE: "MC_PARSE",
  /** A multiple-choice task cannot be scored (empty answer, does not fit the context). */
  MC_BAD_TASK: "MC_BAD_TASK",
  /** A size string such as "12GiB" cannot be parsed. */
  FIT_BAD_SIZE: "FIT_BAD_SIZE",
  /** The model metadata lacks what the memory estimate needs. */
  FIT_BAD_MODEL: "FIT_BAD_MODEL",
} as const;
export type EvalErrorCode = (typeof EvalErrorCode)[keyof typeof EvalErrorCode];

/** Throw a {@link QuantlabError} with one of {@link EvalErrorCode}. */
export function evalError(code: EvalErrorCode, message: string, context: QuantlabErrorContext = {}): QuantlabError {
  return new QuantlabError(code, message, context);
}
