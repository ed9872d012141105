import { QuantlabError, type QuantlabErrorContext } from "./errors.js";

/**
 * Stable error codes of `@quantlab/gguf`. Programs branch on these; the strings never change between versions.
 * "Permanent" codes mean the file is malformed (retrying will not help); `GGUF_IO_ERROR` and `GGUF_HTTP_ERROR`
 * are failures of the byte source and may be transient.
 */
export const GgufErrorCode = {
  /** The first 4 bytes are not "GGUF". */
  BAD_MAGIC: "GGUF_BAD_MAGIC",
  /** Version 0, or newer than 3. */
  UNSUPPORTED_VERSION: "GGUF_UNSUPPORTED_VERSION",
  /** The file ends inside a structure (header, KV, tensor info, tensor data). */
  TRUNCATED: "GGUF_TRUNCATED",
  /** More KV pairs than {@link MAX_KV_COUNT}. */
  TOO_MANY_KVS: "GGUF_TOO_MANY_KVS",
  /** More tensors than {@link MAX_TENSOR_COUNT}. */
  TOO_MANY_TENSORS: "GGUF_TOO_MANY_TENSORS",
  /** A string longer than {@link MAX_STRING_LENGTH}. */
  STRING_TOO_LONG: "GGUF_STRING_TOO_LONG",
  /** An array longer than {@link MAX_ARRAY_LENGTH}. */
  ARRAY_TOO_LONG: "GGUF_ARRAY_TOO_LONG",
  /** Arrays nested deeper than {@link MAX_ARRAY_NESTING_DEPTH}. */
  NESTING_TOO_DEEP: "GGUF_NESTING_TOO_DEEP",
  /** The metadata section is larger than {@link MAX_METADATA_BYTES}. */
  METADATA_TOO_LARGE: "GGUF_METADATA_TOO_LARGE",
  /** A value type id outside `enum gguf_type`. */
  BAD_VALUE_TYPE: "GGUF_BAD_VALUE_TYPE",
  /** The same key twice. */
  DUPLICATE_KEY: "GGUF_DUPLICATE_KEY",
  /** The same tensor name twice. */
  DUPLICATE_TENSOR: "GGUF_DUPLICATE_TENSOR",
  /** `general.alignment` is not a UINT32, is 0, is not a power of two, or exceeds {@link MAX_ALIGNMENT}. */
  BAD_ALIGNMENT: "GGUF_BAD_ALIGNMENT",
  /** A tensor has more than {@link MAX_TENSOR_DIMS} dimensions. */
  TOO_MANY_DIMS: "GGUF_TOO_MANY_DIMS",
  /** A tensor name of {@link MAX_TENSOR_NAME_LENGTH}+1 bytes or more. */
  TENSOR_NAME_TOO_LONG: "GGUF_TENSOR_NAME_TOO_LONG",
  /** A dimension is 0, negative as int64, or not a safe integer. */
  BAD_DIMENSION: "GGUF_BAD_DIMENSION",
  /** The element count (or byte size) of a tensor is not a safe integer. */
  ELEMENT_COUNT_OVERFLOW: "GGUF_ELEMENT_COUNT_OVERFLOW",
  /** The first dimension is not a multiple of the type's block size. */
  BAD_ROW_SIZE: "GGUF_BAD_ROW_SIZE",
  /** A ggml type id this library does not know, where a byte size was needed. */
  UNKNOWN_TENSOR_TYPE: "GGUF_UNKNOWN_TENSOR_TYPE",
  /** A tensor offset is not a multiple of the alignment. */
  MISALIGNED_TENSOR: "GGUF_MISALIGNED_TENSOR",
  /** An offset does not fit in a safe integer. */
  OFFSET_OVERFLOW: "GGUF_OFFSET_OVERFLOW",
  /** A tensor's byte range ends past the end of the file. */
  TENSOR_OUT_OF_BOUNDS: "GGUF_TENSOR_OUT_OF_BOUNDS",
  /** Two tensors' byte ranges overlap. */
  OVERLAPPING_TENSORS: "GGUF_OVERLAPPING_TENSORS",
  /** `tensor(name)` / `readTensorData(name)` for a name the file does not have. */
  TENSOR_NOT_FOUND: "GGUF_TENSOR_NOT_FOUND",
  /** A value given to the writer does not fit its declared type (or is not valid for it). */
  INVALID_VALUE: "GGUF_INVALID_VALUE",
  /** A tensor's data given to the writer does not have the byte size its shape and type imply. */
  DATA_SIZE_MISMATCH: "GGUF_DATA_SIZE_MISMATCH",
  /** Split (shard) files that do not belong together (`split.no`, `split.count`, `split.tensors.count`). */
  SHARD_MISMATCH: "GGUF_SHARD_MISMATCH",
  /** The byte source failed (file system). */
  IO_ERROR: "GGUF_IO_ERROR",
  /** The HTTP server failed or does not support range requests. */
  HTTP_ERROR: "GGUF_HTTP_ERROR",
  /** The file (or writer) was already closed. */
  CLOSED: "GGUF_CLOSED",
  /** An option or argument is not valid. */
  BAD_ARGUMENT: "GGUF_BAD_ARGUMENT",
} as const;

export type GgufErrorCode = (typeof GgufErrorCode)[keyof typeof GgufErrorCode];

/**
 * The one error type thrown by `@quantlab/gguf`. `code` is one of {@link GgufErrorCode}; `context.offset` is the
 * absolute byte offset of the problem in the file and `context.file` the path or URL, where known.
 */
export class GgufError extends QuantlabError {
  declare readonly code: GgufErrorCode;
  constructor(code: GgufErrorCode, message: string, context: QuantlabErrorContext = {}, options?: { cause?: unknown }) {
    super(code, message, context, options);
    this.name = "GgufError";
  }

  /** True for a `GgufError` (also from another copy of this package). */
  static isGgufError(error: unknown): error is GgufError {
    return QuantlabError.isInstance(error) && typeof error.code === "string" && error.code.startsWith("GGUF_");
  }
}
