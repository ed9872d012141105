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
