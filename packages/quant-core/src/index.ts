export { SchemeError } from "./errors.js";
export {
  SCHEME_SPEC_VERSION,
  defineScheme,
  rowSize,
  layoutFieldBytes,
  FIELD_BYTES,
  type SchemeSpecVersion,
  type ImportanceNeed,
  type BlockFieldType,
  type BlockField,
  type BlockLayout,
  type QuantizeOptions,
  type QuantScheme,
  type SchemeDefinition,
} from "./scheme.js";
export {
  createSchemeRegistry,
  validateScheme,
  ensureSchemeInit,
  quantizeTensor,
  dequantizeTensor,
  firstNonFinite,
  type SchemeRegistry,
  type QuantizeTensorOptions,
} from "./registry.js";
export { builtinSchemes, builtinRegistry } from "./builtin.js";
export { fp32ToFp16, fp16ToFp32, readFp16, writeFp16, fp32ToBits, fp32FromBits, FP16_TABLE } from "./math/fp16.js";
export { nearestInt, roundf } from "./math/round.js";
export { setQuantCoreWasm, quantCoreWasmActive } from "./wasm/quants.js";
export { quantizeTensorParallel, terminateQuantizePool, quantizePoolStats, MIN_PARALLEL_ELEMENTS, type QuantizeParallelOptions } from "./parallel.js";
export { fp32ToBf16, bf16ToFp32, fp32BitsToBf16, bf16ToFp32Bits } from "./math/bf16.js";
export { e8m0ToFp32, e8m0ToFp32Half, ue4m3ToFp32, fp32ToUe4m3 } from "./math/fp8.js";
export { parseImatrixDat, serializeImatrixDat, ImatrixFormatError, type ImatrixData, type ImatrixEntry } from "./imatrix-file.js";
export * from "./recipes/index.js";
export * from "./pipeline/index.js";
export * from "./budget/index.js";
