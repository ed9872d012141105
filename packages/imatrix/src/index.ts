export { ImatrixError } from "./errors.js";
export {
  createImatrix,
  createImatrixTensor,
  cloneImatrix,
  chunkCountFromCounts,
  imatrixImportance,
  sortedNames,
  type Imatrix,
  type ImatrixTensor,
} from "./imatrix.js";
export {
  parseImatrixGguf,
  imatrixGgufSpec,
  serializeImatrixGguf,
  writeImatrixGguf,
  KEY_DATASETS,
  KEY_CHUNK_COUNT,
  KEY_CHUNK_SIZE,
  type ParseImatrixOptions,
} from "./gguf-format.js";
export { imatrixFromDatData, imatrixToDatData, parseImatrixDatFile, serializeImatrixDatFile, type DatReadOptions } from "./dat-format.js";
export { sniffImatrixFormat, parseImatrix, loadImatrix, saveImatrix, formatForPath, type ImatrixFormat, type LoadImatrixOptions } from "./io.js";
export { combineImatrix, type CombineOptions } from "./combine.js";
export {
  computeImatrixStatistics,
  formatImatrixStatistics,
  splitTensorName,
  type TensorStatistics,
  type LayerStatistics,
  type ImatrixStatistics,
} from "./stats.js";
export { ImatrixCollector, isImatrixWeight, type ImatrixCollectorOptions } from "./collector.js";
export {
  collectImatrix,
  logSoftmaxOf,
  type ImatrixModel,
  type ImatrixTokenizer,
  type ImatrixHooks,
  type CollectOptions,
  type CollectProgress,
  type CollectResult,
} from "./collect.js";
export { compareImatrix, type ImatrixDiff, type ImatrixEntryDiff } from "./compare.js";
