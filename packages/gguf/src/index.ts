export { QuantlabError, type QuantlabErrorContext } from "./errors.js";
export {
  GGMLQuantizationType,
  GGML_TYPE_COUNT,
  QK_K,
  GGML_TYPES,
  GGML_TYPE_LIST,
  GGML_REMOVED_TYPES,
  ggmlTypeInfo,
  ggmlTypeByName,
  ggmlTypeName,
  LlamaFileType,
  type GGMLTypeInfo,
} from "./ggml-types.js";
export { GgufError, GgufErrorCode } from "./gguf-error.js";
export {
  GGUF_MAGIC,
  GGUF_VERSION,
  GGUF_SUPPORTED_VERSIONS,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_KEY_GENERAL_ALIGNMENT,
  ggmlPad,
  MAX_KV_COUNT,
  MAX_TENSOR_COUNT,
  MAX_STRING_LENGTH,
  MAX_ARRAY_LENGTH,
  MAX_ARRAY_NESTING_DEPTH,
  MAX_METADATA_BYTES,
  MAX_TENSOR_DIMS,
  MAX_TENSOR_NAME_LENGTH,
  MAX_ALIGNMENT,
} from "./constants.js";
export {
  GGUFValueType,
  GGUF_TYPE_COUNT,
  GGUF_TYPE_SIZE,
  ggufValue,
  plainValue,
  type GgufValue,
  type GgufNumberValue,
  type GgufBigIntValue,
  type GgufBoolValue,
  type GgufStringValue,
  type GgufArrayValue,
  type GgufArrayElement,
  type GgufNumberType,
  type GgufBigIntType,
  type GgufPlainValue,
  type GgufMetadata,
} from "./types.js";
export { MemoryByteSource, HttpByteSource, isHttpUrl, type ByteSource, type HttpSourceOptions } from "./source.js";
export { GgufFile, GgufTensorInfo, DEFAULT_CHUNK_SIZE } from "./file.js";
export type { ParseOptions } from "./parse.js";
export { openGguf, parseGgufBytes, toByteSource, type OpenOptions, type GgufSourceInput } from "./open.js";
export {
  writeGguf,
  writeGgufToBytes,
  serializeGgufHeader,
  memorySink,
  metadataEntries,
  type WritableSink,
  type GgufWriteSpec,
  type GgufWriteTensor,
  type GgufTensorData,
  type GgufMetadataInput,
  type GgufWriteResult,
} from "./write.js";
export { editGgufMetadata, applyMetadataEdits, ggufWriteSpecFrom, type GgufMetadataEdits, type GgufMetadataEditor } from "./edit.js";
export { modelInfo, getString, getNumber, getBool, getArray, type ModelInfo, type TokenizerInfo } from "./model-info.js";
export {
  parseShardName,
  shardPath,
  openGgufModel,
  writeGgufSplit,
  mergeGgufShards,
  GgufModel,
  KEY_SPLIT_NO,
  KEY_SPLIT_COUNT,
  KEY_SPLIT_TENSORS_COUNT,
  type ShardName,
  type GgufModelTensor,
  type SplitOptions,
} from "./shards.js";
