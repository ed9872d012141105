/**
 * Budget-driven recipes: a per-tensor type mix chosen by measured, importance-weighted error under a size budget
 * (bits per weight, tensor bytes or file bytes), fed to the quantize pipeline as per-tensor overrides.
 */
export { BudgetError } from "./errors.js";
export {
  planBudget,
  solveBudget,
  evaluateAssignment,
  formatBudgetSummary,
  exactNamePattern,
  FILE_HEADER_SLACK,
  type BudgetOptions,
  type BudgetPlan,
  type BudgetTensorChoice,
  type AssignmentEvaluation,
} from "./plan.js";
export {
  measureBudgetCandidates,
  weightedSquaredError,
  DEFAULT_BUDGET_CANDIDATES,
  DEFAULT_BUDGET_IMATRIX_CANDIDATES,
  type BudgetSource,
  type BudgetImatrix,
  type MeasureOptions,
  type BudgetProgress,
  type CandidateMeasurement,
  type TensorMeasurement,
  type BudgetMeasurements,
} from "./measure.js";
export { solveKnapsack, EXACT_SOLVER_MAX_CELLS, type KnapsackOption, type KnapsackSolution, type BudgetSolver } from "./solve.js";
