/**
 * Rounding helpers with C semantics.
 */

const nbF32 = new Float32Array(1);
const nbU32 = new Uint32Array(nbF32.buffer);

/**
 * ggml's `nearest_int` (ggml/src/ggml-quants.c): adds 1.5·2^23 in float32 and returns the low 23 mantissa bits minus
 * 2^22, i.e. round half to even for |fval| <= 4194303. Outside that range (and for inf/NaN) it returns what the C bit
 * trick returns (NaN gives 0, +inf gives -4194304), so degenerate inputs stay byte-identical. `fval` must be a
 * float32 value.
 *
 * Exactness of the float addition: `fval + 12582912` in double, then one `Math.fround`, equals the C float sum for
 * every float32 `fval`. Rounding twice can only differ from rounding once when the double sum is inexact and lands on
 * a float32 midpoint. For 2^-6 <= |fval| < 2^75 the double sum is exact (both addends are multiples of the sum's
 * double ulp); for |fval| < 2^-6 it lies within 2^-6 of 12582912 and for |fval| >= 2^75 within one double ulp of
 * fval, both far from a float32 midpoint. When the float sum v lies in [2^23, 2^24) its bits are
 * `0x4B000000 | (v - 2^23)`, so the result is `v - 12582912` without reading the bits.
 * @see nearest_int (ggml/src/ggml-quants.c)
 */
export function nearestInt(fval: number): number {
  const v = Math.fround(fval + 12582912);
  if (v >= 8388608 && v < 16777216) return v - 12582912;
  nbF32[0] = v;
  return (nbU32[0]! & 0x007fffff) - 0x00400000;
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
