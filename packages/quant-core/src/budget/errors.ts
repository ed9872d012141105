import { QuantlabError, type QuantlabErrorContext } from "@quantlab/gguf";

/**
 * Errors raised by the budget planner ({@link planBudget}).
 *
 * Codes:
 * - `BUDGET_BAD_OPTIONS`: no target, both targets, a target that is not a positive finite number, an unknown
 *   candidate type, a pinned type whose block size does not divide the tensor's row length.
 * - `BUDGET_INFEASIBLE`: even the smallest candidate for every tensor (plus the tensors that are kept as they are)
 *   does not fit the budget. `minBytes` and `budgetBytes` say by how much.
 * - `BUDGET_SOURCE_TYPE`: a tensor to optimise is stored in a type that cannot be read as floats, or is already
 *   quantized and `allowRequantize` is off.
 * - `BUDGET_NOT_MEASURED`: {@link evaluateAssignment} was asked about a type that was not measured for a tensor.
 */
export class BudgetError extends QuantlabError {
  /** For `BUDGET_INFEASIBLE`: the smallest reachable total and the budget, in bytes. */
  readonly minBytes: number | undefined;
  readonly budgetBytes: number | undefined;

  constructor(
    code: string,
    message: string,
    context: QuantlabErrorContext & { minBytes?: number; budgetBytes?: number } = {},
    options?: { cause?: unknown },
  ) {
    const { minBytes, budgetBytes, ...rest } = context;
    super(code, message, rest, options);
    this.name = "BudgetError";
    this.minBytes = minBytes;
    this.budgetBytes = budgetBytes;
  }
}
