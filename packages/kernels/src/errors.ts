import { QuantlabError, type QuantlabErrorContext } from "@quantlab/gguf";

/** Stable codes of {@link KernelError}. */
export type KernelErrorCode =
  /** No available backend has a kernel for this (op, scheme). */
  | "KERNEL_NOT_FOUND"
  /** The requested backend's probe failed (or no backend at all is usable). */
  | "BACKEND_UNAVAILABLE"
  /** A backend name that no registered backend has. */
  | "BACKEND_UNKNOWN"
  /** Arguments that do not fit the op contract (sizes, shapes). */
  | "KERNEL_BAD_ARGUMENT";

/** Typed error of the kernel layer. */
export class KernelError extends QuantlabError {
  declare readonly code: KernelErrorCode;
  constructor(code: KernelErrorCode, message: string, context: QuantlabErrorContext = {}, options?: { cause?: unknown }) {
    super(code, message, context, options);
    this.name = "KernelError";
  }
}
