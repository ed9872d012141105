/**
 * 8-bit scale formats used by the FP4 types, exactly as ggml converts them (ggml/src/ggml-impl.h):
 *
 * - E8M0 (MXFP4's shared block exponent): an unsigned power of two, value = 2^(x - 127).
 * - UE4M3 (NVFP4's per-16 sub-block scale): unsigned, 4 exponent bits (bias 7), 3 mantissa bits.
 *
 * ggml's E2M1 value table (`kvalues_mxfp4`) holds the E2M1 values doubled, so the decoders that feed it
 * (`ggml_e8m0_to_fp32_half`, `ggml_ue4m3_to_fp32`) return half the scale.
 */
import { fp32FromBits, fp32ToBits } from "./fp16.js";

/**
 * E8M0 byte to float: 2^(x - 127). `x = 0` gives 2^-127 (a subnormal); NaN (0xFF) is not special-cased.
 * @see ggml_e8m0_to_fp32 (ggml/src/ggml-impl.h)
 */
export function e8m0ToFp32(x: number): number {
  const bits = x === 0 ? 0x00400000 : (x & 0xff) << 23;
  return fp32FromBits(bits >>> 0);
}

/** Table of {@link e8m0ToFp32Half} for every byte. */
const E8M0_HALF_TABLE = new Float32Array(256);
for (let x = 0; x < 256; x++) {
  // x < 2: the subnormals 2^-128, 2^-127; else the normal 2^(x - 128)
  E8M0_HALF_TABLE[x] = fp32FromBits(x < 2 ? 0x00200000 << x : (x - 1) << 23);
}

/**
 * E8M0 byte to half its value, 2^(x - 128) (MXFP4 works with doubled E2M1 values).
 * @see ggml_e8m0_to_fp32_half (ggml/src/ggml-impl.h)
 */
export function e8m0ToFp32Half(x: number): number {
  return E8M0_HALF_TABLE[x & 0xff]!;
}

/** Table of {@link ue4m3ToFp32} for every byte (every entry is exact in float32). */
const UE4M3_TABLE = new Float32Array(256);
for (let x = 0; x < 256; x++) {
  if (x === 0 || x === 0x7f) {
    UE4M3_TABLE[x] = 0;
    continue;
  }
  const exp = (x >> 3) & 0xf;
  const man = x & 0x7;
  // ldexpf((float)man, -9) or ldexpf(1 + man/8, exp - 7): exact, then * 0.5f (exact)
  const raw = exp === 0 ? man * 2 ** -9 : (1 + man / 8) * 2 ** (exp - 7);
  UE4M3_TABLE[x] = raw * 0.5;
}

/**
 * UE4M3 byte to half its value (bit 7 is ignored except that 0x00 and 0x7F read as 0).
 * @see ggml_ue4m3_to_fp32 (ggml/src/ggml-impl.h)
 */
export function ue4m3ToFp32(x: number): number {
  return UE4M3_TABLE[x & 0xff]!;
}

/**
 * Float to UE4M3, rounding half up on the 4th mantissa bit, saturating at 0x7E (= 448); zero, negative and
 * NaN give 0.
 * @see ggml_fp32_to_ue4m3 (ggml/src/ggml-impl.h)
 */
export function fp32ToUe4m3(xIn: number): number {
  let x = Math.fround(xIn);
  if (!(x > 0)) return 0;
  if (x > 448) x = 448;
  const bits = fp32ToBits(x);
  const fp32Exp = ((bits >>> 23) & 0xff) - 127;
  const fp32Man = (bits >>> 20) & 0x7;
  let ue4m3Exp = fp32Exp + 7;
  if (ue4m3Exp <= 0) {
    // subnormal: value = man * 2^-9, man = (int)(x * 512.0f + 0.5f)
    let man = Math.trunc(Math.fround(Math.fround(x * 512) + 0.5));
    if (man > 7) man = 7;
    if (man < 1) return 0;
    return man;
  }
  if (ue4m3Exp >= 15) return 0x7e;
  const roundBit = (bits >>> 19) & 1;
  let ue4m3Man = fp32Man + roundBit;
  if (ue4m3Man > 7) {
    ue4m3Man = 0;
    ue4m3Exp++;
    if (ue4m3Exp >= 15) return 0x7e;
  }
  return (ue4m3Exp << 3) | ue4m3Man;
}
