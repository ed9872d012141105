import { QuantlabError, type QuantlabErrorContext } from "@quantlab/gguf";

/** Stable codes of {@link ModelError}. */
export type ModelErrorCode =
  /** `general.architecture` is missing or not one the forward pass implements. */
  | "MODEL_UNSUPPORTED_ARCH"
  /** A required metadata key is missing or has an impossible value. */
  | "MODEL_BAD_METADATA"
  /** A required tensor is absent. */
  | "MODEL_MISSING_TENSOR"
  /** A tensor's shape does not match the hyper-parameters. */
  | "MODEL_BAD_SHAPE"
  /** A tensor's type has no decoder. */
  | "MODEL_UNSUPPORTED_TYPE"
  /** Bad arguments to evaluate/append/generate (token ids out of range, context overflow). */
  | "MODEL_BAD_INPUT"
  /** The model was used after dispose(). */
  | "MODEL_DISPOSED";

/** Typed error of the forward pass, naming the file and tensor where known. */
export class ModelError extends QuantlabError {
  declare readonly code: ModelErrorCode;
  constructor(code: ModelErrorCode, message: string, context: QuantlabErrorContext = {}, options?: { cause?: unknown }) {
    super(code, message, context, options);
    this.name = "ModelError";
  }
}
