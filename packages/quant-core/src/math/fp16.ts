/**
 * Half precision (IEEE binary16) conversion exactly as ggml does it in software
 * (`ggml_compute_fp32_to_fp16` / `ggml_compute_fp16_to_fp32`, ggml/src/ggml-impl.h): round to nearest even,
 * NaN becomes the quiet NaN 0x7E00 with the input's sign, overflow becomes ±inf.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bits of a number (after rounding it to float32). */
export function fp32ToBits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

/** The float32 with these bits. */
export function fp32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

const scaleToInf = 2 ** 112; // fp32_from_bits(0x77800000)
const scaleToZero = 2 ** -110; // fp32_from_bits(0x08800000)

/**
 * ggml_compute_fp32_to_fp16 transliterated (the float trick: scale to move the rounding point, add the bias,
 * read the bits). Kept as the reference {@link fp32BitsToFp16} was checked against (all 2^32 inputs).
 * @see ggml_compute_fp32_to_fp16
 */
export function fp32ToFp16Ref(x: number): number {
  let base = Math.fround(Math.fround(Math.abs(Math.fround(x)) * scaleToInf) * scaleToZero);
  const w = fp32ToBits(x);
  const shl1w = (w + w) >>> 0;
  const sign = w & 0x80000000;
  let bias = (shl1w & 0xff000000) >>> 0;
  if (bias < 0x71000000) bias = 0x71000000;
  base = Math.fround(fp32FromBits(((bias >>> 1) + 0x07800000) >>> 0) + base);
  const bits = fp32ToBits(base);
  const expBits = (bits >>> 13) & 0x00007c00;
  const mantissaBits = bits & 0x00000fff;
  const nonsign = expBits + mantissaBits;
  return ((sign >>> 16) | (shl1w > 0xff000000 ? 0x7e00 : nonsign)) & 0xffff;
}

/**
 * fp16 bits of the float32 with bits `w` (int32 or uint32), on integers only. Equal to ggml's float trick
 * ({@link fp32ToFp16Ref}) for every one of the 2^32 inputs (checked exhaustively when written; float.test.ts
 * re-checks a dense sample): both round |x| half to even at fp16 precision, the normal range by adding
 * `0xfff + odd` below the 13 dropped bits (a carry moves into the exponent, and from 65520 up into 0x7c00 = inf),
 * the subnormal range (|x| < 2^-14) by shifting the full mantissa to units of 2^-24; NaN becomes 0x7e00, signed.
 */
export function fp32BitsToFp16(w: number): number {
  const sign = (w >>> 16) & 0x8000;
  const a = w & 0x7fffffff;
  if (a >= 0x38800000) {
    if (a < 0x47800000) return sign | ((a + (0xc8000fff | 0) + ((a >>> 13) & 1)) >>> 13); // rebias by (15 - 127) << 23
    return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
  }
  const e = a >>> 23;
  if (e < 102) return sign; // below 2^-25: rounds to (signed) zero
  const m = (a & 0x7fffff) | 0x800000;
  const s = 126 - e; // 14..24
  let q = m >>> s;
  const rem = m & ((1 << s) - 1);
  const half = 1 << (s - 1);
  if (rem > half || (rem === half && (q & 1) !== 0)) q++;
  return sign | q;
}

/** @see ggml_compute_fp32_to_fp16 (bit-exact; see {@link fp32BitsToFp16}) */
export function fp32ToFp16(x: number): number {
  f32[0] = x;
  return fp32BitsToFp16(u32[0]!);
}

/** Table of the float32 bit pattern of every fp16 value (exact; NaN payloads kept as ggml keeps them). */
const FP16_TO_FP32_BITS = new Uint32Array(65536);
/** Same table as float32 values, for fast reads. */
export const FP16_TABLE = new Float32Array(FP16_TO_FP32_BITS.buffer);
for (let h = 0; h < 65536; h++) {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const man = h & 0x3ff;
  let bits: number;
  if (exp === 0x1f) {
    bits = sign | 0x7f800000 | (man << 13);
  } else if (exp === 0) {
    if (man === 0) {
      bits = sign;
    } else {
      // subnormal: value = man * 2^-24, exactly representable in float32
      f32[0] = man * 5.960464477539063e-8;
      bits = sign | u32[0]!;
    }
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  FP16_TO_FP32_BITS[h] = bits >>> 0;
}

/** @see ggml_compute_fp16_to_fp32 */
export function fp16ToFp32(h: number): number {
  return FP16_TABLE[h & 0xffff]!;
}

/** Reads a little-endian fp16 at byte offset `o` of `b` as a float32 value. */
export function readFp16(b: Uint8Array, o: number): number {
  return FP16_TABLE[b[o]! | (b[o + 1]! << 8)]!;
}

/** Writes `x` (rounded to fp16 as ggml does) little-endian at byte offset `o`; returns the fp16 bits. */
export function writeFp16(b: Uint8Array, o: number, x: number): number {
  const h = fp32ToFp16(x);
  b[o] = h & 0xff;
  b[o + 1] = h >>> 8;
  return h;
}
