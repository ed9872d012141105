export { EvalErrorCode, evalError } from "./errors.js";
export {
  KLD_BASE_MAGIC,
  kldRowStride,
  kldRowsPerChunk,
  kldBaseByteLength,
  parseKldBase,
  writeKldBase,
  kldBaseHeader,
  packLogProbRow,
  decodeLogProbRow,
  packedRowHeader,
  openKldBase,
  type KldBase,
  type KldBaseSource,
  type KldBaseReader,
  type KldBaseData,
} from "./kld-base.js";
export type { LogitsModel, LogitsMode, TextTokenizer, TokenizedModel, Cancellable } from "./model.js";
export {
  perplexity,
  perplexityFromTokens,
  logSoftmaxAt,
  bosPolicy,
  evaluateChunk,
  planChunks,
  formatChunkPpl,
  formatPerplexityFinal,
  type PerplexityOptions,
  type PerplexityProgress,
  type PerplexityResult,
} from "./perplexity.js";
export {
  KldAccumulator,
  klDivergence,
  meanAndUncertainty,
  covariance,
  percentileF32,
  formatKldSummary,
  formatKldChunkLine,
  parseKldSummaryText,
  cFixed,
  KLD_CHUNK_HEADER,
  type KldSummary,
  type ValueWithError,
  type KldProgress,
  type KlDivergenceOptions,
  type KlDivergenceResult,
  type FormatKldOptions,
} from "./kld.js";
export {
  parseHellaswag,
  parseArcJsonl,
  parseMmluCsv,
  parseCsv,
  parseLlamaMcBinary,
  defaultMcPrompt,
  cLines,
  type McTask,
  type McPrompt,
} from "./mc/parse.js";
export {
  hellaswagScore,
  multipleChoiceScore,
  hellaswagSelection,
  multipleChoiceSelection,
  prepareTask,
  wilson95,
  formatHellaswagLine,
  formatMcFinal,
  type McOptions,
  type McResult,
  type McTaskResult,
  type McProgress,
  type McModel,
} from "./mc/score.js";
export { Mt19937, uniformIntLibstdcxx, floatPick } from "./mc/random.js";
export {
  estimateMemory,
  memoryModelInfo,
  fitModels,
  largestContext,
  parseSize,
  formatBytes,
  kvBytesPerElement,
  kvRowBytes,
  KV_CACHE_TYPES,
  SWA_PATTERNS,
  type KvCacheType,
  type MemoryModelInfo,
  type MemoryOptions,
  type MemoryEstimate,
  type FitOptions,
  type FitResult,
} from "./fit.js";
export { renderScatterSvg, paretoFrontier, niceTicks, PALETTE, type ScatterChart, type ChartSeries, type ChartPoint } from "./report/svg.js";
export { renderReportMarkdown, renderReportHtml, reportCharts, type ReportChart } from "./report/render.js";
export type { SweepReport, SweepRow, SweepModelInfo, MultipleChoiceFigure } from "./report/types.js";
export {
  runSweep,
  planSweepJobs,
  recommend,
  type SweepOptions,
  type SweepResult,
  type SweepEvaluator,
  type SweepEvent,
  type RowFigures,
} from "./sweep/sweep.js";
export { createDefaultEvaluator, memoryCheck, type DefaultEvaluatorOptions, type McTaskFile } from "./sweep/evaluator.js";
export { estimateTensorSensitivity, type SensitivityOptions, type SensitivityProgress, type SensitivityResult, type TensorSensitivity } from "./sensitivity.js";
