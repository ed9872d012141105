/** Whole-model quantization (Node): `quantizeModel`, what llama-quantize does, byte for byte. */
export {
  quantizeModel,
  parseTensorTypeOverride,
  parseTensorTypeFile,
  GGML_QNT_VERSION,
  type QuantizeModelOptions,
  type QuantizeReport,
  type QuantizeTensorReport,
  type QuantizeProgress,
} from "./quantize-model.js";
export { QuantizePipelineError } from "./errors.js";
export { parseKvOverride, kvOverrideValue, type KvOverride } from "./kv-override.js";
export { loadImatrixFile, parseImatrixBytes, parseImatrixGguf } from "./imatrix-load.js";
