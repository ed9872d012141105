/**
 * Rounding helpers with C semantics.
 */

/**
 * ggml's `nearest_int` (ggml/src/ggml-quants.c): adds 1.5·2^23 in float32 and reads the mantissa, i.e.
 * round half to even, valid for |x| <= 4194303. The sum is exact in double for every float32 `x`, so one
 * `Math.fround` reproduces the C float addition.
 * @see nearest_int
 */
export function nearestInt(x: number): number {
  return Math.fround(x + 12582912) - 12582912;
}

/** C `roundf`: halves round away from zero. Exact for every float32 input. */
export function roundf(x: number): number {
  const a = Math.abs(x);
  let r = Math.floor(a);
  if (a - r >= 0.5) r += 1;
  return x < 0 ? -r : r;
}

/** C `(int)x` truncation toward zero, for values in int32 range. */
export function truncInt(x: number): number {
  return Math.trunc(x);
}

/** `MAX(a, b)` / `MIN(a, b)` as the C macros evaluate them (NaN handling follows the comparison). */
export function cMax(a: number, b: number): number {
  return a > b ? a : b;
}
export function cMin(a: number, b: number): number {
  return a < b ? a : b;
}
