/**
 * Small helpers shared by the built-in scheme files.
 */
import { SchemeError } from "../errors.js";

/** Byte offset of row `r` in a quantized buffer. */
export function rowOffset(r: number, nPerRow: number, blockSize: number, typeSize: number): number {
  return r * (nPerRow / blockSize) * typeSize;
}

/** Throws the standard error for a scheme that has no reference (imatrix-free) path in ggml. */
export function importanceRequired(scheme: string): never {
  throw new SchemeError("QUANT_IMPORTANCE_REQUIRED", "this type needs an importance matrix (imatrix) to quantize", { scheme });
}
