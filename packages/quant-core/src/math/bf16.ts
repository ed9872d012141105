/**
 * bfloat16 ("brain float") conversion exactly as ggml does it in software
 * (`ggml_compute_fp32_to_bf16` / `ggml_compute_bf16_to_fp32`, ggml/src/ggml-impl.h): round to nearest even
 * on the upper 16 bits of the float32 pattern; NaN is kept (upper half) and forced quiet; subnormals are
 * rounded like any other value (no flush to zero at ggml d99724f).
 *
 * The functions work on bit patterns (uint32 in, uint16 out) so NaN payloads and signs survive: a JS
 * `number` cannot carry them reliably.
 */

/**
 * float32 bits → bf16 bits.
 * @see ggml_compute_fp32_to_bf16 (ggml/src/ggml-impl.h)
 */
export function fp32BitsToBf16(u: number): number {
  u >>>= 0;
  if ((u & 0x7fffffff) > 0x7f800000) {
    // nan: force to quiet
    return ((u >>> 16) | 64) & 0xffff;
  }
  // uint32 arithmetic: wraps modulo 2^32 as in C
  return (((u + (0x7fff + ((u >>> 16) & 1))) >>> 0) >>> 16) & 0xffff;
}

/** bf16 bits → float32 bits. @see ggml_compute_bf16_to_fp32 (ggml/src/ggml-impl.h) */
export function bf16ToFp32Bits(h: number): number {
  return ((h & 0xffff) << 16) >>> 0;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A float32 value → bf16 bits (NaN payloads of a JS number are not observable; use the bits form for them). */
export function fp32ToBf16(x: number): number {
  f32[0] = x;
  return fp32BitsToBf16(u32[0]!);
}

/** bf16 bits → float32 value. */
export function bf16ToFp32(h: number): number {
  u32[0] = bf16ToFp32Bits(h);
  return f32[0]!;
}

/**
 * Converts `n` float32 values (given as their bit patterns) to bf16 bits.
 * @see ggml_fp32_to_bf16_row_ref (ggml/src/ggml.c)
 */
export function fp32ToBf16RowRef(x: Uint32Array, y: Uint16Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = fp32BitsToBf16(x[i]!);
}

/**
 * Converts `n` bf16 values to float32 bit patterns.
 * @see ggml_bf16_to_fp32_row (ggml/src/ggml.c)
 */
export function bf16ToFp32Row(x: Uint16Array, y: Uint32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = x[i]! << 16 >>> 0;
}
