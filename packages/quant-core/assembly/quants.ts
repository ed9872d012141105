// quant-core's WebAssembly kernels: fast, bit-exact versions of the hottest quantizers and dequantizers.
//
// Each function works on whole blocks between two regions of this module's memory (the loader in
// src/wasm/quants.ts copies rows in and out in large chunks). The readable reference of each kernel is the
// TypeScript scheme it mirrors (src/schemes/*.ts), which cites the ggml C function; both must produce the same
// bytes / bits (golden.test.ts runs both paths).
//
// Float semantics: WASM f32 arithmetic is IEEE single precision with round-to-nearest-even and no contraction,
// exactly C `float` as the reference build compiles it (SSE, no FMA). C `roundf` (half away from zero), C's
// float -> int conversion (cvttss2si: out of range and NaN give INT_MIN) and ggml's `nearest_int` are written out.

// ---------------------------------------------------------------------------------------------- fp16

/** float32 bits of every fp16 value (filled by init()). */
const FP16: usize = memory.data(65536 * 4, 16);

/** Exported for the loader: the first free byte (16-aligned) after the static data. */
export function heapBase(): usize {
  return (__heap_base + 63) & ~(<usize>63);
}

/** Fills the fp16 -> fp32 table (math/fp16.ts's FP16_TABLE, same construction). @see ggml_compute_fp16_to_fp32 */
export function init(): void {
  for (let h: u32 = 0; h < 65536; h++) {
    const sign: u32 = (h & 0x8000) << 16;
    const exp: u32 = (h >> 10) & 0x1f;
    const man: u32 = h & 0x3ff;
    let bits: u32;
    if (exp == 0x1f) {
      bits = sign | 0x7f800000 | (man << 13);
    } else if (exp == 0) {
      if (man == 0) bits = sign;
      else bits = sign | reinterpret<u32>(<f32>man * <f32>5.960464477539063e-8);
    } else {
      bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    store<u32>(FP16 + (<usize>h << 2), bits);
  }
}

// @ts-ignore: decorator
@inline function h2f(h: u32): f32 {
  return load<f32>(FP16 + (<usize>h << 2));
}

// @ts-ignore: decorator
@inline function h2bits(h: u32): u32 {
  return load<u32>(FP16 + (<usize>h << 2));
}

/** fp16 bits of a float32, round to nearest even (math/fp16.ts fp32BitsToFp16). @see ggml_compute_fp32_to_fp16 */
function f2h(x: f32): u32 {
  const w = reinterpret<u32>(x);
  const sign: u32 = (w >> 16) & 0x8000;
  const a: u32 = w & 0x7fffffff;
  if (a >= 0x38800000) {
    if (a < 0x47800000) return sign | ((a + 0xc8000fff + ((a >> 13) & 1)) >> 13);
    return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
  }
  const e = a >> 23;
  if (e < 102) return sign;
  const m: u32 = (a & 0x7fffff) | 0x800000;
  const s: u32 = 126 - e;
  let q: u32 = m >> s;
  const rem: u32 = m & ((1 << s) - 1);
  const half: u32 = 1 << (s - 1);
  if (rem > half || (rem == half && (q & 1) != 0)) q++;
  return sign | q;
}

// ---------------------------------------------------------------------------------------------- C helpers

/** C `(int)v` as cvttss2si: truncation; NaN and out-of-range give INT_MIN. */
// @ts-ignore: decorator
@inline function cvt(v: f32): i32 {
  return abs<f32>(v) < <f32>2147483648.0 ? <i32>v : i32.MIN_VALUE;
}

/** C `roundf`: halves away from zero. x - trunc(x) is exact for every float32. */
// @ts-ignore: decorator
@inline function roundf(x: f32): f32 {
  const t = trunc<f32>(x);
  return abs<f32>(x - t) >= <f32>0.5 ? t + copysign<f32>(1.0, x) : t;
}

/** ggml's nearest_int: the 1.5·2^23 float trick, read through the bits. @see nearest_int (ggml-quants.c) */
// @ts-ignore: decorator
@inline function nearestInt(fval: f32): i32 {
  const val = fval + <f32>12582912.0;
  return (reinterpret<i32>(val) & 0x007fffff) - 0x00400000;
}

/** The NaN bits ggml's x86 dequantizer stores (legacy.ts nanResultBits). */
function nanResultBits(dBits: u32, mBits: u32): u32 {
  if ((dBits & 0x7fffffff) > 0x7f800000) return dBits | 0x400000;
  if ((mBits & 0x7fffffff) > 0x7f800000) return mBits | 0x400000;
  return 0xffc00000;
}

/** legacy.ts fixNaNs: rewrites the NaN outputs of a block with a non-finite scale. */
function fixNaNs(y: usize, n: i32, dBits: u32, mBits: u32): void {
  const nb = nanResultBits(dBits, mBits);
  for (let j = 0; j < n; j++) {
    const p = y + (<usize>j << 2);
    const v = load<f32>(p);
    if (v != v) store<u32>(p, nb);
  }
}

// ---------------------------------------------------------------------------------------------- SIMD emitters

/** y[0..15] = f32(int8 lanes of v) * vd */
// @ts-ignore: decorator
@inline function emitS8Mul(y: usize, v: v128, vd: v128): void {
  const lo = i16x8.extend_low_i8x16_s(v);
  const hi = i16x8.extend_high_i8x16_s(v);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), vd), 0);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), vd), 16);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), vd), 32);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), vd), 48);
}

/** y[0..15] = f32(uint8 lanes of v) * vd + vm  (two roundings, as C's `x*d + m`) */
// @ts-ignore: decorator
@inline function emitU8MulAdd(y: usize, v: v128, vd: v128, vm: v128): void {
  const lo = i16x8.extend_low_i8x16_u(v);
  const hi = i16x8.extend_high_i8x16_u(v);
  v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo)), vd), vm), 0);
  v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo)), vd), vm), 16);
  v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi)), vd), vm), 32);
  v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi)), vd), vm), 48);
}

/** y[0..15] = f32(uint8 lanes of v) * vd - vm  (K-quants: `d1 * q - m1`) */
// @ts-ignore: decorator
@inline function emitU8MulSub(y: usize, v: v128, vd: v128, vm: v128): void {
  const lo = i16x8.extend_low_i8x16_u(v);
  const hi = i16x8.extend_high_i8x16_u(v);
  v128.store(y, f32x4.sub(f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo))), vm), 0);
  v128.store(y, f32x4.sub(f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo))), vm), 16);
  v128.store(y, f32x4.sub(f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi))), vm), 32);
  v128.store(y, f32x4.sub(f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi))), vm), 48);
}

/** 16 byte lanes, lane j = 0x10 where bit (first + j) of qh is set (the 5th bits of q5_0 / q5_1). */
// @ts-ignore: decorator
@inline function highBits16(qh: u32, first: i32): v128 {
  const sel = first == 0
    ? i8x16.swizzle(i32x4.splat(qh), i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1))
    : i8x16.swizzle(i32x4.splat(qh), i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const bit = v128.and(sel, i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128));
  return v128.and(i8x16.ne(bit, i8x16.splat(0)), i8x16.splat(0x10));
}

// ---------------------------------------------------------------------------------------------- legacy dequant

/** @see dequantize_row_q4_0 (legacy.ts dequantizeRowQ4_0) */
export function dq_q4_0(x: usize, y: usize, nb: i32): void {
  const m4 = i8x16.splat(0x0f);
  const eight = i8x16.splat(8);
  for (let i = 0; i < nb; i++, x += 18, y += 128) {
    const dh = <u32>load<u16>(x);
    const d = h2f(dh);
    const vd = f32x4.splat(d);
    const q = v128.load(x, 2);
    emitS8Mul(y, i8x16.sub(v128.and(q, m4), eight), vd);
    emitS8Mul(y + 64, i8x16.sub(i8x16.shr_u(q, 4), eight), vd);
    if (d - d != 0) fixNaNs(y, 32, h2bits(dh), 0);
  }
}

/** @see dequantize_row_q4_1 */
export function dq_q4_1(x: usize, y: usize, nb: i32): void {
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++, x += 20, y += 128) {
    const dh = <u32>load<u16>(x);
    const mh = <u32>load<u16>(x, 2);
    const d = h2f(dh);
    const m = h2f(mh);
    const vd = f32x4.splat(d);
    const vm = f32x4.splat(m);
    const q = v128.load(x, 4);
    emitU8MulAdd(y, v128.and(q, m4), vd, vm);
    emitU8MulAdd(y + 64, i8x16.shr_u(q, 4), vd, vm);
    if (d - d != 0 || m - m != 0) fixNaNs(y, 32, h2bits(dh), h2bits(mh));
  }
}

/** @see dequantize_row_q5_0 */
export function dq_q5_0(x: usize, y: usize, nb: i32): void {
  const m4 = i8x16.splat(0x0f);
  const sixteen = i8x16.splat(16);
  for (let i = 0; i < nb; i++, x += 22, y += 128) {
    const dh = <u32>load<u16>(x);
    const d = h2f(dh);
    const vd = f32x4.splat(d);
    const qh = load<u32>(x, 2);
    const q = v128.load(x, 6);
    emitS8Mul(y, i8x16.sub(v128.or(v128.and(q, m4), highBits16(qh, 0)), sixteen), vd);
    emitS8Mul(y + 64, i8x16.sub(v128.or(i8x16.shr_u(q, 4), highBits16(qh, 16)), sixteen), vd);
    if (d - d != 0) fixNaNs(y, 32, h2bits(dh), 0);
  }
}

/** @see dequantize_row_q5_1 */
export function dq_q5_1(x: usize, y: usize, nb: i32): void {
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++, x += 24, y += 128) {
    const dh = <u32>load<u16>(x);
    const mh = <u32>load<u16>(x, 2);
    const d = h2f(dh);
    const m = h2f(mh);
    const vd = f32x4.splat(d);
    const vm = f32x4.splat(m);
    const qh = load<u32>(x, 4);
    const q = v128.load(x, 8);
    emitU8MulAdd(y, v128.or(v128.and(q, m4), highBits16(qh, 0)), vd, vm);
    emitU8MulAdd(y + 64, v128.or(i8x16.shr_u(q, 4), highBits16(qh, 16)), vd, vm);
    if (d - d != 0 || m - m != 0) fixNaNs(y, 32, h2bits(dh), h2bits(mh));
  }
}

/** @see dequantize_row_q8_0 */
export function dq_q8_0(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 34, y += 128) {
    const dh = <u32>load<u16>(x);
    const d = h2f(dh);
    const vd = f32x4.splat(d);
    emitS8Mul(y, v128.load(x, 2), vd);
    emitS8Mul(y + 64, v128.load(x, 18), vd);
    if (d - d != 0) fixNaNs(y, 32, h2bits(dh), 0);
  }
}

// ---------------------------------------------------------------------------------------------- K-quant dequant

/** get_scale_min_k4: scale | (min << 8) of sub-block j from the 12 bytes at q. */
// @ts-ignore: decorator
@inline function scaleMinK4(j: i32, q: usize): i32 {
  let d: i32, m: i32;
  if (j < 4) {
    d = <i32>load<u8>(q + j) & 63;
    m = <i32>load<u8>(q + j + 4) & 63;
  } else {
    d = (<i32>load<u8>(q + j + 4) & 0xf) | ((<i32>load<u8>(q + j - 4) >> 6) << 4);
    m = (<i32>load<u8>(q + j + 4) >> 4) | ((<i32>load<u8>(q + j) >> 6) << 4);
  }
  return d | (m << 8);
}

/** @see dequantize_row_q2_K (kquants.ts dequantizeRowQ2_K) */
export function dq_q2_K(x: usize, y: usize, nb: i32): void {
  const m3 = i8x16.splat(3);
  for (let i = 0; i < nb; i++, x += 84) {
    const d = h2f(<u32>load<u16>(x, 80));
    const min = h2f(<u32>load<u16>(x, 82));
    let q = x + 16;
    let is = 0;
    for (let n = 0; n < 256; n += 128) {
      let shift = 0;
      for (let j = 0; j < 4; ++j) {
        for (let h = 0; h < 32; h += 16) {
          const sc = <i32>load<u8>(x + is++);
          const dl = d * <f32>(sc & 0xf);
          const ml = min * <f32>(sc >> 4);
          const v = v128.and(i8x16.shr_u(v128.load(q + h), shift), m3);
          emitU8MulSub(y, v, f32x4.splat(dl), f32x4.splat(ml));
          y += 64;
        }
        shift += 2;
      }
      q += 32;
    }
  }
}

/** @see dequantize_row_q3_K (kquants.ts dequantizeRowQ3_K) */
export function dq_q3_K(x: usize, y: usize, nb: i32): void {
  const m3 = i8x16.splat(3);
  const four = i8x16.splat(4);
  const zero = i8x16.splat(0);
  for (let i = 0; i < nb; i++, x += 110) {
    const dAll = h2f(<u32>load<u16>(x, 108));
    // the 16 signed 6-bit scales (kmask1/kmask2 unpacking of the C, as bytes)
    const a0 = load<u32>(x, 96);
    const a1 = load<u32>(x, 100);
    const tmp = load<u32>(x, 104);
    const s0: u32 = (a0 & 0x0f0f0f0f) | (((tmp >> 0) & 0x03030303) << 4);
    const s1: u32 = (a1 & 0x0f0f0f0f) | (((tmp >> 2) & 0x03030303) << 4);
    const s2: u32 = ((a0 >> 4) & 0x0f0f0f0f) | (((tmp >> 4) & 0x03030303) << 4);
    const s3: u32 = ((a1 >> 4) & 0x0f0f0f0f) | (((tmp >> 6) & 0x03030303) << 4);
    const hm0 = v128.load(x);
    const hm1 = v128.load(x, 16);
    let q = x + 32;
    let is = 0;
    let mbit: i32 = 1;
    for (let n = 0; n < 256; n += 128) {
      let shift = 0;
      for (let j = 0; j < 4; ++j) {
        const mv = i8x16.splat(<i8>mbit);
        // scales[is], scales[is + 1] (signed bytes of s0..s3) minus 32
        const w0 = is < 4 ? s0 : is < 8 ? s1 : is < 12 ? s2 : s3;
        const sa = <i32>((w0 >> (<u32>(is & 3) << 3)) & 0xff);
        const sb = <i32>((w0 >> (<u32>((is + 1) & 3) << 3)) & 0xff);
        is += 2;
        const dl0 = dAll * <f32>(<i32><i8>sa - 32);
        const dl1 = dAll * <f32>(<i32><i8>sb - 32);
        const v0 = i8x16.sub(
          v128.and(i8x16.shr_u(v128.load(q), shift), m3),
          v128.and(i8x16.eq(v128.and(hm0, mv), zero), four),
        );
        emitS8Mul(y, v0, f32x4.splat(dl0));
        const v1 = i8x16.sub(
          v128.and(i8x16.shr_u(v128.load(q, 16), shift), m3),
          v128.and(i8x16.eq(v128.and(hm1, mv), zero), four),
        );
        emitS8Mul(y + 64, v1, f32x4.splat(dl1));
        y += 128;
        shift += 2;
        mbit <<= 1;
      }
      q += 32;
    }
  }
}

/** @see dequantize_row_q4_K (kquants.ts dequantizeRowQ4_K) */
export function dq_q4_K(x: usize, y: usize, nb: i32): void {
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++, x += 144) {
    const d = h2f(<u32>load<u16>(x));
    const min = h2f(<u32>load<u16>(x, 2));
    let q = x + 16;
    let is = 0;
    for (let j = 0; j < 256; j += 64) {
      let scm = scaleMinK4(is + 0, x + 4);
      const d1 = f32x4.splat(d * <f32>(scm & 0xff));
      const m1 = f32x4.splat(min * <f32>(scm >> 8));
      scm = scaleMinK4(is + 1, x + 4);
      const d2 = f32x4.splat(d * <f32>(scm & 0xff));
      const m2 = f32x4.splat(min * <f32>(scm >> 8));
      const qa = v128.load(q);
      const qb = v128.load(q, 16);
      emitU8MulSub(y, v128.and(qa, m4), d1, m1);
      emitU8MulSub(y + 64, v128.and(qb, m4), d1, m1);
      emitU8MulSub(y + 128, i8x16.shr_u(qa, 4), d2, m2);
      emitU8MulSub(y + 192, i8x16.shr_u(qb, 4), d2, m2);
      y += 256;
      q += 32;
      is += 2;
    }
  }
}

/** @see dequantize_row_q5_K (kquants.ts dequantizeRowQ5_K) */
export function dq_q5_K(x: usize, y: usize, nb: i32): void {
  const m4 = i8x16.splat(0x0f);
  const zero = i8x16.splat(0);
  const sixteen = i8x16.splat(16);
  for (let i = 0; i < nb; i++, x += 176) {
    const d = h2f(<u32>load<u16>(x));
    const min = h2f(<u32>load<u16>(x, 2));
    let ql = x + 48;
    const qha = v128.load(x, 16);
    const qhb = v128.load(x, 32);
    let is = 0;
    let u1: i32 = 1;
    for (let j = 0; j < 256; j += 64) {
      let scm = scaleMinK4(is + 0, x + 4);
      const d1 = f32x4.splat(d * <f32>(scm & 0xff));
      const m1 = f32x4.splat(min * <f32>(scm >> 8));
      scm = scaleMinK4(is + 1, x + 4);
      const d2 = f32x4.splat(d * <f32>(scm & 0xff));
      const m2 = f32x4.splat(min * <f32>(scm >> 8));
      const u1v = i8x16.splat(<i8>u1);
      const u2v = i8x16.splat(<i8>(u1 << 1));
      const qa = v128.load(ql);
      const qb = v128.load(ql, 16);
      const h1a = v128.andnot(sixteen, i8x16.eq(v128.and(qha, u1v), zero));
      const h1b = v128.andnot(sixteen, i8x16.eq(v128.and(qhb, u1v), zero));
      const h2a = v128.andnot(sixteen, i8x16.eq(v128.and(qha, u2v), zero));
      const h2b = v128.andnot(sixteen, i8x16.eq(v128.and(qhb, u2v), zero));
      emitU8MulSub(y, v128.or(v128.and(qa, m4), h1a), d1, m1);
      emitU8MulSub(y + 64, v128.or(v128.and(qb, m4), h1b), d1, m1);
      emitU8MulSub(y + 128, v128.or(i8x16.shr_u(qa, 4), h2a), d2, m2);
      emitU8MulSub(y + 192, v128.or(i8x16.shr_u(qb, 4), h2b), d2, m2);
      y += 256;
      ql += 32;
      is += 2;
      u1 <<= 2;
    }
  }
}

/** @see dequantize_row_q6_K (kquants.ts dequantizeRowQ6_K) */
export function dq_q6_K(x: usize, y: usize, nb: i32): void {
  const m4 = i8x16.splat(0x0f);
  const m3 = i8x16.splat(3);
  const b32 = i8x16.splat(32);
  for (let i = 0; i < nb; i++, x += 210) {
    const d = h2f(<u32>load<u16>(x, 208));
    let ql = x;
    let qh = x + 128;
    let sc = x + 192;
    for (let n = 0; n < 256; n += 128) {
      for (let half = 0; half < 32; half += 16) {
        const is = half >> 4;
        const s1 = f32x4.splat(d * <f32>load<i8>(sc + is));
        const s2 = f32x4.splat(d * <f32>load<i8>(sc + is + 2));
        const s3 = f32x4.splat(d * <f32>load<i8>(sc + is + 4));
        const s4 = f32x4.splat(d * <f32>load<i8>(sc + is + 6));
        const h = v128.load(qh + half);
        const a = v128.load(ql + half);
        const b = v128.load(ql + half + 32);
        const q1 = v128.or(v128.and(a, m4), i8x16.shl(v128.and(h, m3), 4));
        const q2 = v128.or(v128.and(b, m4), i8x16.shl(v128.and(i8x16.shr_u(h, 2), m3), 4));
        const q3 = v128.or(i8x16.shr_u(a, 4), i8x16.shl(v128.and(i8x16.shr_u(h, 4), m3), 4));
        const q4 = v128.or(i8x16.shr_u(b, 4), i8x16.shl(i8x16.shr_u(h, 6), 4));
        const yo = y + (<usize>half << 2);
        emitS8Mul(yo, i8x16.sub(q1, b32), s1);
        emitS8Mul(yo + 128, i8x16.sub(q2, b32), s2);
        emitS8Mul(yo + 256, i8x16.sub(q3, b32), s3);
        emitS8Mul(yo + 384, i8x16.sub(q4, b32), s4);
      }
      y += 512;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

/** @see dequantize_row_q8_K */
export function dq_q8_K(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 292) {
    const vd = f32x4.splat(load<f32>(x));
    for (let j = 0; j < 256; j += 16, y += 64) emitS8Mul(y, v128.load(x + 4 + j), vd);
  }
}

/** @see dequantize_row_tq2_0 (ternary.ts dequantizeRowTq2_0) */
export function dq_tq2_0(x: usize, y: usize, nb: i32): void {
  const m3 = i8x16.splat(3);
  const one = i8x16.splat(1);
  for (let i = 0; i < nb; i++, x += 66) {
    const vd = f32x4.splat(h2f(<u32>load<u16>(x, 64)));
    for (let j = 0; j < 64; j += 32) {
      for (let l = 0; l < 4; ++l) {
        for (let m = 0; m < 32; m += 16) {
          const b = v128.load(x + j + m);
          emitS8Mul(y + ((<usize>(j * 4 + l * 32 + m)) << 2), i8x16.sub(v128.and(i8x16.shr_u(b, l * 2), m3), one), vd);
        }
      }
    }
    y += 1024;
  }
}

/** One group of tq1_0 trits: lane value ((uint8)(b * p) * 3 >> 8) - 1 as int8, for 16 bytes b. */
// @ts-ignore: decorator
@inline function trits16(b: v128, p: i32): v128 {
  const vp = i16x8.splat(<i16>p);
  const m = i16x8.splat(0xff);
  const three = i16x8.splat(3);
  const lo = i16x8.shr_u(i16x8.mul(v128.and(i16x8.mul(i16x8.extend_low_i8x16_u(b), vp), m), three), 8);
  const hi = i16x8.shr_u(i16x8.mul(v128.and(i16x8.mul(i16x8.extend_high_i8x16_u(b), vp), m), three), 8);
  return i8x16.sub(i8x16.narrow_i16x8_u(lo, hi), i8x16.splat(1));
}

/** @see dequantize_row_tq1_0 (ternary.ts dequantizeRowTq1_0) */
export function dq_tq1_0(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 54) {
    const d = h2f(<u32>load<u16>(x, 52));
    const vd = f32x4.splat(d);
    // qs[0..32): 5 trits each -> y[m + 32n]
    for (let n = 0; n < 5; ++n) {
      const p = n == 0 ? 1 : n == 1 ? 3 : n == 2 ? 9 : n == 3 ? 27 : 81;
      emitS8Mul(y + (<usize>(32 * n) << 2), trits16(v128.load(x), p), vd);
      emitS8Mul(y + (<usize>(32 * n + 16) << 2), trits16(v128.load(x, 16), p), vd);
    }
    // qs[32..48): 5 trits each -> y[160 + m + 16n]
    for (let n = 0; n < 5; ++n) {
      const p = n == 0 ? 1 : n == 1 ? 3 : n == 2 ? 9 : n == 3 ? 27 : 81;
      emitS8Mul(y + (<usize>(160 + 16 * n) << 2), trits16(v128.load(x, 32), p), vd);
    }
    // qh[0..4): 4 trits each -> y[240 + j + 4n]
    for (let n = 0; n < 4; ++n) {
      const p: i32 = n == 0 ? 1 : n == 1 ? 3 : n == 2 ? 9 : 27;
      for (let j = 0; j < 4; ++j) {
        const b = <i32>load<u8>(x + 48 + j);
        const q = ((b * p) & 0xff) * 3 >> 8;
        store<f32>(y + (<usize>(240 + j + 4 * n) << 2), <f32>(q - 1) * d);
      }
    }
    y += 1024;
  }
}

/** @see ggml_bf16_to_fp32_row */
export function dq_bf16(x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(x + (<usize>i << 1));
    v128.store(y + (<usize>i << 2), i32x4.shl(i32x4.extend_low_i16x8_u(h), 16));
    v128.store(y + (<usize>i << 2), i32x4.shl(i32x4.extend_high_i16x8_u(h), 16), 16);
  }
  for (; i < n; i++) store<u32>(y + (<usize>i << 2), <u32>load<u16>(x + (<usize>i << 1)) << 16);
}

/** @see ggml_fp32_to_bf16_row_ref (bf16.ts fp32BitsToBf16) */
export function q_bf16(x: usize, y: usize, n: i32): void {
  let i = 0;
  const absMask = i32x4.splat(0x7fffffff);
  const inf = i32x4.splat(0x7f800000);
  const one = i32x4.splat(1);
  const r = i32x4.splat(0x7fff);
  const quiet = i32x4.splat(64);
  for (; i + 8 <= n; i += 8) {
    const u0 = v128.load(x + (<usize>i << 2));
    const u1 = v128.load(x + (<usize>i << 2), 16);
    const n0 = i32x4.gt_s(v128.and(u0, absMask), inf);
    const n1 = i32x4.gt_s(v128.and(u1, absMask), inf);
    const r0 = v128.bitselect(
      v128.or(i32x4.shr_u(u0, 16), quiet),
      i32x4.shr_u(i32x4.add(u0, i32x4.add(r, v128.and(i32x4.shr_u(u0, 16), one))), 16),
      n0,
    );
    const r1 = v128.bitselect(
      v128.or(i32x4.shr_u(u1, 16), quiet),
      i32x4.shr_u(i32x4.add(u1, i32x4.add(r, v128.and(i32x4.shr_u(u1, 16), one))), 16),
      n1,
    );
    // lanes hold 0..0xffff: keep their low halves
    v128.store(y + (<usize>i << 1), i8x16.shuffle(r0, r1, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29));
  }
  for (; i < n; i++) {
    const u = load<u32>(x + (<usize>i << 2));
    const h: u32 = (u & 0x7fffffff) > 0x7f800000 ? ((u >> 16) | 64) : ((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    store<u16>(y + (<usize>i << 1), <u16>h);
  }
}

// ---------------------------------------------------------------------------------------------- legacy quantize

/** @see quantize_row_q4_0_ref (legacy.ts quantizeBlocksQ4_0Ref) */
function q_q4_0_scalar(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 128, y += 18) {
    let amax: f32 = 0;
    let max: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (amax < abs<f32>(v)) {
        amax = abs<f32>(v);
        max = v;
      }
    }
    const d = max / <f32>-8.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f2h(d));
    for (let j = 0; j < 16; ++j) {
      const x0 = load<f32>(x + (<usize>j << 2)) * id;
      const x1 = load<f32>(x + (<usize>(j + 16) << 2)) * id;
      const xi0 = min<i32>(15, <i32><i8>cvt(x0 + <f32>8.5));
      const xi1 = min<i32>(15, <i32><i8>cvt(x1 + <f32>8.5));
      store<u8>(y + 2 + j, <u8>((xi0 & 0xff) | ((xi1 & 0xff) << 4)));
    }
  }
}

/** @see quantize_row_q4_1_ref */
function q_q4_1_scalar(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 128, y += 20) {
    let mn: f32 = f32.MAX_VALUE;
    let mx: f32 = -f32.MAX_VALUE;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const d = (mx - mn) / <f32>15.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f2h(d));
    store<u16>(y, <u16>f2h(mn), 2);
    for (let j = 0; j < 16; ++j) {
      const x0 = (load<f32>(x + (<usize>j << 2)) - mn) * id;
      const x1 = (load<f32>(x + (<usize>(j + 16) << 2)) - mn) * id;
      const xi0 = min<i32>(15, <i32><i8>cvt(x0 + <f32>0.5));
      const xi1 = min<i32>(15, <i32><i8>cvt(x1 + <f32>0.5));
      store<u8>(y + 4 + j, <u8>((xi0 & 0xff) | ((xi1 & 0xff) << 4)));
    }
  }
}

/** @see quantize_row_q5_0_ref */
function q_q5_0_scalar(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 128, y += 22) {
    let amax: f32 = 0;
    let max: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (amax < abs<f32>(v)) {
        amax = abs<f32>(v);
        max = v;
      }
    }
    const d = max / <f32>-16.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f2h(d));
    let qh: u32 = 0;
    for (let j = 0; j < 16; ++j) {
      const x0 = load<f32>(x + (<usize>j << 2)) * id;
      const x1 = load<f32>(x + (<usize>(j + 16) << 2)) * id;
      const xi0 = <u32>(min<i32>(31, <i32><i8>cvt(x0 + <f32>16.5)) & 0xff);
      const xi1 = <u32>(min<i32>(31, <i32><i8>cvt(x1 + <f32>16.5)) & 0xff);
      store<u8>(y + 6 + j, <u8>((xi0 & 0x0f) | ((xi1 & 0x0f) << 4)));
      qh |= ((xi0 & 0x10) >> 4) << j;
      qh |= ((xi1 & 0x10) >> 4) << (j + 16);
    }
    store<u32>(y, qh, 2);
  }
}

/** @see quantize_row_q5_1_ref */
function q_q5_1_scalar(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 128, y += 24) {
    let mn: f32 = f32.MAX_VALUE;
    let mx: f32 = -f32.MAX_VALUE;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const d = (mx - mn) / <f32>31.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f2h(d));
    store<u16>(y, <u16>f2h(mn), 2);
    let qh: u32 = 0;
    for (let j = 0; j < 16; ++j) {
      const x0 = (load<f32>(x + (<usize>j << 2)) - mn) * id;
      const x1 = (load<f32>(x + (<usize>(j + 16) << 2)) - mn) * id;
      const xi0 = <u32>(cvt(x0 + <f32>0.5) & 0xff);
      const xi1 = <u32>(cvt(x1 + <f32>0.5) & 0xff);
      store<u8>(y + 8 + j, <u8>((xi0 & 0x0f) | ((xi1 & 0x0f) << 4)));
      qh |= ((xi0 & 0x10) >> 4) << j;
      qh |= ((xi1 & 0x10) >> 4) << (j + 16);
    }
    store<u32>(y, qh, 4);
  }
}

/** @see quantize_row_q8_0_ref */
function q_q8_0_scalar(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 128, y += 34) {
    let amax: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const av = abs<f32>(load<f32>(x + (<usize>j << 2)));
      amax = amax > av ? amax : av; // MAX(amax, fabsf(v))
    }
    const d = amax / <f32>127.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f2h(d));
    for (let j = 0; j < 32; ++j) {
      const x0 = load<f32>(x + (<usize>j << 2)) * id;
      store<i8>(y + 2 + j, <i8>cvt(roundf(x0)));
    }
  }
}

/** @see quantize_row_q8_1_ref */
function q_q8_1_scalar(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 128, y += 36) {
    let amax: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const av = abs<f32>(load<f32>(x + (<usize>j << 2)));
      amax = amax > av ? amax : av;
    }
    const d = amax / <f32>127.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f2h(d));
    let sum: i32 = 0;
    for (let j = 0; j < 16; ++j) {
      const v0 = load<f32>(x + (<usize>j << 2)) * id;
      const v1 = load<f32>(x + (<usize>(j + 16) << 2)) * id;
      const q0 = <i32><i8>cvt(roundf(v0));
      const q1 = <i32><i8>cvt(roundf(v1));
      store<i8>(y + 4 + j, <i8>q0);
      store<i8>(y + 20 + j, <i8>q1);
      sum += q0 + q1;
    }
    store<u16>(y, <u16>f2h(<f32>sum * d), 2);
  }
}

/** @see quantize_row_q8_K_ref (kquants.ts quantizeRowQ8_KRef): bsums stay unwritten for an all-zero block. */
function q_q8_K_scalar(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 1024, y += 292) {
    let max: f32 = 0;
    let amax: f32 = 0;
    for (let j = 0; j < 256; ++j) {
      const v = load<f32>(x + (<usize>j << 2));
      const ax = abs<f32>(v);
      if (ax > amax) {
        amax = ax;
        max = v;
      }
    }
    if (amax == 0) {
      store<f32>(y, 0);
      memory.fill(y + 4, 0, 256);
      continue;
    }
    const iscale = <f32>-127.0 / max;
    for (let j = 0; j < 16; ++j) {
      let sum: i32 = 0;
      for (let ii = 16 * j; ii < 16 * j + 16; ++ii) {
        const v = nearestInt(iscale * load<f32>(x + (<usize>ii << 2)));
        const q = <i32><i8>min<i32>(127, v);
        store<i8>(y + 4 + ii, <i8>q);
        sum += q;
      }
      store<i16>(y + 260 + 2 * j, <i16>sum);
    }
    store<f32>(y, <f32>1.0 / iscale);
  }
}

// ---------------------------------------------------------------------------------------------- SIMD quantizers
//
// Each block whose values are all finite takes the f32x4 path; a block with an inf or NaN takes the scalar path
// above (the C's comparison chains treat NaN and signed zeros by position, which lane-wise min/max do not).
// Where a signed zero could be picked by position (q4_1/q5_1 min or max equal to 0) the scalar path runs too.

/**
 * Largest / smallest lane of finite float lanes, branch-free (pmax/pmin over shuffles). The scalar f32.max/min of
 * WebAssembly compile to data-dependent branches (NaN and signed-zero handling) that mispredict on real data.
 * Which of +0/-0 comes out is unspecified: the callers exclude blocks where it matters.
 */
// @ts-ignore: decorator
@inline function hmax(m: v128): f32 {
  m = f32x4.pmax(m, i32x4.shuffle(m, m, 2, 3, 0, 1));
  m = f32x4.pmax(m, i32x4.shuffle(m, m, 1, 0, 3, 2));
  return f32x4.extract_lane(m, 0);
}
// @ts-ignore: decorator
@inline function hmin(m: v128): f32 {
  m = f32x4.pmin(m, i32x4.shuffle(m, m, 2, 3, 0, 1));
  m = f32x4.pmin(m, i32x4.shuffle(m, m, 1, 0, 3, 2));
  return f32x4.extract_lane(m, 0);
}

/**
 * max |x[j]| over n (multiple of 4) floats, or -1 when one of them is inf or NaN. pmax is exact here: every lane
 * is finite and >= +0.
 */
// @ts-ignore: decorator
@inline function absMaxFinite(x: usize, n: i32): f32 {
  const inf = f32x4.splat(Infinity);
  let ok = i32x4.splat(-1);
  let m = f32x4.splat(0);
  for (let j = 0; j < n; j += 4) {
    const a = f32x4.abs(v128.load(x + (<usize>j << 2)));
    ok = v128.and(ok, f32x4.lt(a, inf));
    m = f32x4.pmax(m, a);
  }
  if (!i32x4.all_true(ok)) return -1;
  return hmax(m);
}

/** Whether a block's scale and inverse scale are finite (then every scaled value is finite and bounded). */
// @ts-ignore: decorator
@inline function finiteScale(d: f32, id: f32): bool {
  return abs<f32>(d) < Infinity && abs<f32>(id) < Infinity;
}

/** The first x[j] with |x[j]| == amax (amax > 0 and present): C's `if (amax < fabsf(v)) { amax = ..; max = v; }`. */
// @ts-ignore: decorator
@inline function firstWithAbs(x: usize, amax: f32): f32 {
  let p = x;
  while (abs<f32>(load<f32>(p)) != amax) p += 4;
  return load<f32>(p);
}

/** roundf of float lanes (halves away from zero). */
// @ts-ignore: decorator
@inline function roundf4(v: v128): v128 {
  const t = f32x4.trunc(v);
  const up = f32x4.ge(f32x4.abs(f32x4.sub(v, t)), f32x4.splat(0.5));
  const sgn = v128.or(v128.and(v, i32x4.splat(0x80000000)), f32x4.splat(1.0)); // copysign(1, v)
  return v128.bitselect(f32x4.add(t, sgn), t, up);
}

/** The low bytes of the 16 int32 lanes of a, b, c, d (C's store of an int into an 8-bit field). */
// @ts-ignore: decorator
@inline function lowBytes(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i8x16.shuffle(a, b, 0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
  const cd = i8x16.shuffle(c, d, 0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
  return i8x16.shuffle(ab, cd, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
}

/**
 * Bytes of small non-negative integral float lanes t (0 <= t < 2^23): the low byte of the bits of t + 2^23 is t's low
 * byte, which is what C stores. (Cheaper than a saturating float-to-int conversion.)
 */
// @ts-ignore: decorator
@inline function magicBytes(a: v128, b: v128, c: v128, d: v128): v128 {
  const m = f32x4.splat(8388608.0);
  return lowBytes(f32x4.add(a, m), f32x4.add(b, m), f32x4.add(c, m), f32x4.add(d, m));
}

/**
 * Bytes of integral float lanes r with |r| < 2^22: the low byte of the bits of r + 1.5*2^23 is r's low byte
 * (the int8_t C stores), as in ggml's nearest_int trick.
 */
// @ts-ignore: decorator
@inline function signedMagicBytes(a: v128, b: v128, c: v128, d: v128): v128 {
  const m = f32x4.splat(12582912.0);
  return lowBytes(f32x4.add(a, m), f32x4.add(b, m), f32x4.add(c, m), f32x4.add(d, m));
}

/**
 * MIN(hi, (int8_t)(int)(x[j] * id + add)) as bytes for 16 values at x (q4_0 / q5_0: add = 8.5 / 16.5). With a finite
 * scale (finiteScale) every lane is in [0, 2*nmax + 1): truncation and MIN run on the floats, exactly.
 */
// @ts-ignore: decorator
@inline function symBytes(x: usize, vid: v128, vadd: v128, vhi: v128): v128 {
  const a = f32x4.pmin(f32x4.trunc(f32x4.add(f32x4.mul(v128.load(x), vid), vadd)), vhi);
  const b = f32x4.pmin(f32x4.trunc(f32x4.add(f32x4.mul(v128.load(x, 16), vid), vadd)), vhi);
  const c = f32x4.pmin(f32x4.trunc(f32x4.add(f32x4.mul(v128.load(x, 32), vid), vadd)), vhi);
  const d = f32x4.pmin(f32x4.trunc(f32x4.add(f32x4.mul(v128.load(x, 48), vid), vadd)), vhi);
  return magicBytes(a, b, c, d);
}

/** MIN(hi, (int)((x[j] - mn) * id + 0.5)) as bytes for 16 values (q4_1 / q5_1; hi = inf: no MIN), as symBytes. */
// @ts-ignore: decorator
@inline function minBytes(x: usize, vmn: v128, vid: v128, vhi: v128): v128 {
  const h = f32x4.splat(0.5);
  const a = f32x4.pmin(f32x4.trunc(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x), vmn), vid), h)), vhi);
  const b = f32x4.pmin(f32x4.trunc(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 16), vmn), vid), h)), vhi);
  const c = f32x4.pmin(f32x4.trunc(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 32), vmn), vid), h)), vhi);
  const d = f32x4.pmin(f32x4.trunc(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 48), vmn), vid), h)), vhi);
  return magicBytes(a, b, c, d);
}

/**
 * Lane-wise min and max of 32 floats, reduced into MN / MX; returns false when one is inf or NaN, or when the min or
 * the max is 0 (which signed zero the C keeps depends on position).
 */
// @ts-ignore: decorator
@inline function minMax32(x: usize): bool {
  const inf = f32x4.splat(Infinity);
  let mn = v128.load(x);
  let mx = mn;
  let ok = f32x4.lt(f32x4.abs(mn), inf);
  for (let j = 16; j < 128; j += 16) {
    const v = v128.load(x + j);
    ok = v128.and(ok, f32x4.lt(f32x4.abs(v), inf));
    mn = f32x4.pmin(mn, v);
    mx = f32x4.pmax(mx, v);
  }
  if (!i32x4.all_true(ok)) return false;
  MN = hmin(mn);
  MX = hmax(mx);
  return MN != 0 && MX != 0;
}
let MN: f32 = 0;
let MX: f32 = 0;

/** @see quantize_row_q4_0_ref */
export function q_q4_0(x: usize, y: usize, nb: i32): void {
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++, x += 128, y += 18) {
    const amax = absMaxFinite(x, 32);
    const max: f32 = amax > 0 ? firstWithAbs(x, amax) : 0;
    const d = max / <f32>-8.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    if (amax < 0 || !finiteScale(d, id)) {
      q_q4_0_scalar(x, y, 1);
      continue;
    }
    store<u16>(y, <u16>f2h(d));
    const vid = f32x4.splat(id);
    const lo = symBytes(x, vid, f32x4.splat(8.5), f32x4.splat(15));
    const hi = symBytes(x + 64, vid, f32x4.splat(8.5), f32x4.splat(15));
    v128.store(y + 2, v128.or(lo, i8x16.shl(hi, 4))); // (uint8_t)(xi0 | (xi1 << 4))
  }
}

/** @see quantize_row_q5_0_ref */
export function q_q5_0(x: usize, y: usize, nb: i32): void {
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++, x += 128, y += 22) {
    const amax = absMaxFinite(x, 32);
    const max: f32 = amax > 0 ? firstWithAbs(x, amax) : 0;
    const d = max / <f32>-16.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    if (amax < 0 || !finiteScale(d, id)) {
      q_q5_0_scalar(x, y, 1);
      continue;
    }
    store<u16>(y, <u16>f2h(d));
    const vid = f32x4.splat(id);
    const lo = symBytes(x, vid, f32x4.splat(16.5), f32x4.splat(31));
    const hi = symBytes(x + 64, vid, f32x4.splat(16.5), f32x4.splat(31));
    v128.store(y + 6, v128.or(v128.and(lo, m4), i8x16.shl(v128.and(hi, m4), 4)));
    const qh = <u32>i8x16.bitmask(i8x16.shl(lo, 3)) | (<u32>i8x16.bitmask(i8x16.shl(hi, 3)) << 16);
    store<u32>(y, qh, 2);
  }
}

/** @see quantize_row_q4_1_ref */
export function q_q4_1(x: usize, y: usize, nb: i32): void {
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++, x += 128, y += 20) {
    const ok = minMax32(x);
    const mn = MN;
    const d = (MX - mn) / <f32>15.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    if (!ok || !finiteScale(d, id)) {
      q_q4_1_scalar(x, y, 1);
      continue;
    }
    store<u16>(y, <u16>f2h(d));
    store<u16>(y, <u16>f2h(mn), 2);
    const vid = f32x4.splat(id);
    const vmn = f32x4.splat(mn);
    const lo = minBytes(x, vmn, vid, f32x4.splat(15));
    const hi = minBytes(x + 64, vmn, vid, f32x4.splat(15));
    v128.store(y + 4, v128.or(lo, i8x16.shl(hi, 4)));
  }
}

/** @see quantize_row_q5_1_ref */
export function q_q5_1(x: usize, y: usize, nb: i32): void {
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++, x += 128, y += 24) {
    const ok = minMax32(x);
    const mn = MN;
    const d = (MX - mn) / <f32>31.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    if (!ok || !finiteScale(d, id)) {
      q_q5_1_scalar(x, y, 1);
      continue;
    }
    store<u16>(y, <u16>f2h(d));
    store<u16>(y, <u16>f2h(mn), 2);
    const vid = f32x4.splat(id);
    const vmn = f32x4.splat(mn);
    // (uint8_t) of the int: no MIN in the C (hi = inf)
    const lo = minBytes(x, vmn, vid, f32x4.splat(Infinity));
    const hi = minBytes(x + 64, vmn, vid, f32x4.splat(Infinity));
    v128.store(y + 8, v128.or(v128.and(lo, m4), i8x16.shl(v128.and(hi, m4), 4)));
    const qh = <u32>i8x16.bitmask(i8x16.shl(lo, 3)) | (<u32>i8x16.bitmask(i8x16.shl(hi, 3)) << 16);
    store<u32>(y, qh, 4);
  }
}

/** @see quantize_row_q8_0_ref */
export function q_q8_0(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 128, y += 34) {
    const amax = absMaxFinite(x, 32);
    const d = amax / <f32>127.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    if (amax < 0 || !finiteScale(d, id)) {
      q_q8_0_scalar(x, y, 1);
      continue;
    }
    store<u16>(y, <u16>f2h(d));
    const vid = f32x4.splat(id);
    for (let h = 0; h < 128; h += 64) {
      const a = (roundf4(f32x4.mul(v128.load(x + h), vid)));
      const b = (roundf4(f32x4.mul(v128.load(x + h, 16), vid)));
      const c = (roundf4(f32x4.mul(v128.load(x + h, 32), vid)));
      const e = (roundf4(f32x4.mul(v128.load(x + h, 48), vid)));
      v128.store(y + 2 + (h >> 2), signedMagicBytes(a, b, c, e));
    }
  }
}

/** @see quantize_row_q8_1_ref */
export function q_q8_1(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 128, y += 36) {
    const amax = absMaxFinite(x, 32);
    const d = amax / <f32>127.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    if (amax < 0 || !finiteScale(d, id)) {
      q_q8_1_scalar(x, y, 1);
      continue;
    }
    store<u16>(y, <u16>f2h(d));
    const vid = f32x4.splat(id);
    let vs = i32x4.splat(0);
    for (let h = 0; h < 128; h += 64) {
      const a = (roundf4(f32x4.mul(v128.load(x + h), vid)));
      const b = (roundf4(f32x4.mul(v128.load(x + h, 16), vid)));
      const c = (roundf4(f32x4.mul(v128.load(x + h, 32), vid)));
      const e = (roundf4(f32x4.mul(v128.load(x + h, 48), vid)));
      const bytes = signedMagicBytes(a, b, c, e);
      v128.store(y + 4 + (h >> 2), bytes);
      // the sum reads the stored int8 values back
      const w = i16x8.extend_low_i8x16_s(bytes);
      const z = i16x8.extend_high_i8x16_s(bytes);
      vs = i32x4.add(vs, i32x4.add(i32x4.extadd_pairwise_i16x8_s(w), i32x4.extadd_pairwise_i16x8_s(z)));
    }
    const sum = i32x4.extract_lane(vs, 0) + i32x4.extract_lane(vs, 1) + i32x4.extract_lane(vs, 2) + i32x4.extract_lane(vs, 3);
    store<u16>(y, <u16>f2h(<f32>sum * d), 2);
  }
}

/** @see quantize_row_q8_K_ref: bsums stay unwritten for an all-zero block. */
export function q_q8_K(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 1024, y += 292) {
    const amax = absMaxFinite(x, 256);
    if (amax <= 0) {
      q_q8_K_scalar(x, y, 1);
      continue;
    }
    const max = firstWithAbs(x, amax);
    const iscale = <f32>-127.0 / max;
    const vis = f32x4.splat(iscale);
    const magic = f32x4.splat(12582912.0);
    const m23 = i32x4.splat(0x007fffff);
    const off = i32x4.splat(0x00400000);
    const c127 = i32x4.splat(127);
    for (let j = 0; j < 256; j += 16) {
      const xp = x + (<usize>j << 2);
      const a = i32x4.min_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(vis, v128.load(xp)), magic), m23), off), c127);
      const b = i32x4.min_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(vis, v128.load(xp, 16)), magic), m23), off), c127);
      const c = i32x4.min_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(vis, v128.load(xp, 32)), magic), m23), off), c127);
      const e = i32x4.min_s(i32x4.sub(v128.and(f32x4.add(f32x4.mul(vis, v128.load(xp, 48)), magic), m23), off), c127);
      const bytes = lowBytes(a, b, c, e);
      v128.store(y + 4 + j, bytes);
      const s8 = i32x4.add(i32x4.extadd_pairwise_i16x8_s(i16x8.extend_low_i8x16_s(bytes)), i32x4.extadd_pairwise_i16x8_s(i16x8.extend_high_i8x16_s(bytes)));
      const sum = i32x4.extract_lane(s8, 0) + i32x4.extract_lane(s8, 1) + i32x4.extract_lane(s8, 2) + i32x4.extract_lane(s8, 3);
      store<i16>(y + 260 + (j >> 3), <i16>sum);
    }
    store<f32>(y, <f32>1.0 / iscale);
  }
}

// ---------------------------------------------------------------------------------------------- make_qx_quants
//
// The 19 candidate inverse scales of make_qx_quants (the first one, then is = -9..9 without 0) sit in the lanes of
// five f32x4 vectors; the elements are visited in C order, so each lane's float sums `sumlx += w*x[i]*l`,
// `suml2 += w*l*l` are formed exactly as the C forms them for that candidate. The sequential choice of the best
// candidate then runs over the 19 sums, and the levels of the chosen one are formed again at the end.
// Requires finite x (the callers check): then |iscale*x| <= nmax + 1, where f32x4.nearest is nearest_int.

const QX_ISC: usize = memory.data(20 * 4, 16);
const QX_SX: usize = memory.data(20 * 4, 16);
const QX_S2: usize = memory.data(20 * 4, 16);

/** True when every one of the n (multiple of 4) floats at x is finite. */
function allFinite(x: usize, n: i32): bool {
  const inf = f32x4.splat(Infinity);
  let ok = i32x4.splat(-1);
  for (let j = 0; j < n; j += 4) ok = v128.and(ok, f32x4.lt(f32x4.abs(v128.load(x + (<usize>j << 2))), inf));
  return i32x4.all_true(ok);
}

/**
 * make_qx_quants(n, nmax, x, L, rmse_type = 1, qw) for finite x; qw = 0: weights x*x. Levels + nmax into L (bytes).
 * @see make_qx_quants (ggml/src/ggml-quants.c; kquants-helpers.ts makeQxQuants)
 */
function makeQxQuants(n: i32, nmax: i32, x: usize, L: usize, qw: usize): f32 {
  let vmax: f32 = 0;
  let amax: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const v = load<f32>(x + (<usize>i << 2));
    const ax = abs<f32>(v);
    if (ax > amax) {
      amax = ax;
      vmax = v;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    memory.fill(L, 0, n);
    return 0;
  }
  const fnmax = <f32>nmax;
  store<f32>(QX_ISC, <f32>(-nmax) / vmax);
  for (let p = 1; p < 19; ++p) {
    const is = p <= 9 ? p - 10 : p - 9;
    store<f32>(QX_ISC + (<usize>p << 2), -(fnmax + <f32>0.1 * <f32>is) / vmax);
  }
  store<f32>(QX_ISC + 76, <f32>(-nmax) / vmax); // unused lane
  const i0 = v128.load(QX_ISC);
  const i1 = v128.load(QX_ISC, 16);
  const i2 = v128.load(QX_ISC, 32);
  const i3 = v128.load(QX_ISC, 48);
  const i4 = v128.load(QX_ISC, 64);
  const lo = f32x4.splat(<f32>(-nmax));
  const hi = f32x4.splat(<f32>(nmax - 1));
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0;
  let b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0;
  for (let i = 0; i < n; ++i) {
    const xi = load<f32>(x + (<usize>i << 2));
    const w: f32 = qw != 0 ? load<f32>(qw + (<usize>i << 2)) : xi * xi;
    const vx = f32x4.splat(xi);
    const vwx = f32x4.splat(w * xi);
    const vw = f32x4.splat(w);
    let l = f32x4.pmin(hi, f32x4.pmax(lo, f32x4.nearest(f32x4.mul(i0, vx))));
    a0 = f32x4.add(a0, f32x4.mul(vwx, l));
    b0 = f32x4.add(b0, f32x4.mul(f32x4.mul(vw, l), l));
    l = f32x4.pmin(hi, f32x4.pmax(lo, f32x4.nearest(f32x4.mul(i1, vx))));
    a1 = f32x4.add(a1, f32x4.mul(vwx, l));
    b1 = f32x4.add(b1, f32x4.mul(f32x4.mul(vw, l), l));
    l = f32x4.pmin(hi, f32x4.pmax(lo, f32x4.nearest(f32x4.mul(i2, vx))));
    a2 = f32x4.add(a2, f32x4.mul(vwx, l));
    b2 = f32x4.add(b2, f32x4.mul(f32x4.mul(vw, l), l));
    l = f32x4.pmin(hi, f32x4.pmax(lo, f32x4.nearest(f32x4.mul(i3, vx))));
    a3 = f32x4.add(a3, f32x4.mul(vwx, l));
    b3 = f32x4.add(b3, f32x4.mul(f32x4.mul(vw, l), l));
    l = f32x4.pmin(hi, f32x4.pmax(lo, f32x4.nearest(f32x4.mul(i4, vx))));
    a4 = f32x4.add(a4, f32x4.mul(vwx, l));
    b4 = f32x4.add(b4, f32x4.mul(f32x4.mul(vw, l), l));
  }
  v128.store(QX_SX, a0);
  v128.store(QX_SX, a1, 16);
  v128.store(QX_SX, a2, 32);
  v128.store(QX_SX, a3, 48);
  v128.store(QX_SX, a4, 64);
  v128.store(QX_S2, b0);
  v128.store(QX_S2, b1, 16);
  v128.store(QX_S2, b2, 32);
  v128.store(QX_S2, b3, 48);
  v128.store(QX_S2, b4, 64);
  let sumlx = load<f32>(QX_SX);
  let suml2 = load<f32>(QX_S2);
  let scale: f32 = suml2 != 0 ? sumlx / suml2 : 0;
  let best = scale * sumlx;
  let chosen = 0;
  for (let p = 1; p < 19; ++p) {
    sumlx = load<f32>(QX_SX + (<usize>p << 2));
    suml2 = load<f32>(QX_S2 + (<usize>p << 2));
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      chosen = p;
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  const iscale = load<f32>(QX_ISC + (<usize>chosen << 2));
  for (let i = 0; i < n; ++i) {
    const l = nearestInt(iscale * load<f32>(x + (<usize>i << 2)));
    store<u8>(L + i, <u8>(nmax + max<i32>(-nmax, min<i32>(nmax - 1, l))));
  }
  return scale;
}

/** `1e-15f` of ggml-quants.c */
const GROUP_MAX_EPS: f32 = 1e-15;

const Q6_L: usize = memory.data(256, 16);
const Q6_SCALES: usize = memory.data(16 * 4, 16);

/**
 * quantize_row_q6_K_ref (qw = 0) / quantize_row_q6_K_impl (qw = the row's importance) of nb super-blocks.
 * Returns 1 without writing when an input is inf or NaN (the caller then runs the TypeScript path).
 * @see quantize_row_q6_K_ref, quantize_row_q6_K_impl (ggml/src/ggml-quants.c; kquants.ts quantizeRowQ6_KImpl)
 */
export function q_q6_K(x: usize, y: usize, nb: i32, qw: usize): i32 {
  if (!allFinite(x, nb * 256)) return 1;
  const L = Q6_L;
  for (let i = 0; i < nb; i++, x += 1024, y += 210) {
    let maxScale: f32 = 0;
    let maxAbsScale: f32 = 0;
    for (let ib = 0; ib < 16; ++ib) {
      const scale = makeQxQuants(16, 32, x + (<usize>(16 * ib) << 2), L + 16 * ib, qw != 0 ? qw + (<usize>(256 * i + 16 * ib) << 2) : 0);
      store<f32>(Q6_SCALES + (<usize>ib << 2), scale);
      const absScale = abs<f32>(scale);
      if (absScale > maxAbsScale) {
        maxAbsScale = absScale;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      memory.fill(y, 0, 210);
      continue;
    }
    const iscale = <f32>-128.0 / maxScale;
    store<u16>(y, <u16>f2h(<f32>1.0 / iscale), 208);
    for (let ib = 0; ib < 16; ++ib) {
      const l = nearestInt(iscale * load<f32>(Q6_SCALES + (<usize>ib << 2)));
      store<u8>(y + 192 + ib, <u8>min<i32>(127, l));
    }
    const dAll = h2f(<u32>load<u16>(y, 208));
    for (let j = 0; j < 16; ++j) {
      const d = dAll * <f32>load<i8>(y + 192 + j);
      if (d == 0) continue;
      for (let ii = 0; ii < 16; ++ii) {
        let l = nearestInt(load<f32>(x + (<usize>(16 * j + ii) << 2)) / d);
        l = max<i32>(-32, min<i32>(31, l));
        store<u8>(L + 16 * j + ii, <u8>(l + 32));
      }
    }
    let ql = y;
    let qh = y + 128;
    for (let j = 0; j < 256; j += 128) {
      for (let l = 0; l < 32; ++l) {
        const v1 = <u32>load<u8>(L + j + l);
        const v2 = <u32>load<u8>(L + j + l + 32);
        const v3 = <u32>load<u8>(L + j + l + 64);
        const v4 = <u32>load<u8>(L + j + l + 96);
        store<u8>(ql + l, <u8>((v1 & 0xf) | ((v3 & 0xf) << 4)));
        store<u8>(ql + l + 32, <u8>((v2 & 0xf) | ((v4 & 0xf) << 4)));
        store<u8>(qh + l, <u8>((v1 >> 4) | ((v2 >> 4) << 2) | ((v3 >> 4) << 4) | ((v4 >> 4) << 6)));
      }
      ql += 64;
      qh += 32;
    }
  }
  return 0;
}

const QW32: usize = memory.data(32 * 4, 16);
const L32: usize = memory.data(32, 16);

/**
 * quantize_row_q4_0_impl (nmax 8) / quantize_row_q5_0_impl (nmax 16) of one row of nPerRow values with the
 * importance qw: weights qw[j]*sqrtf(sigma2 + x[j]^2), make_qx_quants(32, nmax, ..., 1, weights).
 * Returns 1 without writing when an input is inf or NaN.
 * @see quantize_row_q4_0_impl, quantize_row_q5_0_impl (ggml/src/ggml-quants.c; legacy.ts)
 */
export function q_qx_0_impl(x: usize, y: usize, nPerRow: i32, qw: usize, nmax: i32): i32 {
  if (!allFinite(x, nPerRow)) return 1;
  let sumX2: f32 = 0;
  for (let j = 0; j < nPerRow; ++j) {
    const v = load<f32>(x + (<usize>j << 2));
    sumX2 += v * v;
  }
  const sigma2 = sumX2 / <f32>nPerRow;
  const nb = nPerRow >> 5;
  const ts: usize = nmax == 8 ? 18 : 22;
  for (let ib = 0; ib < nb; ++ib, y += ts) {
    const xb = x + (<usize>(32 * ib) << 2);
    const qb = qw + (<usize>(32 * ib) << 2);
    for (let j = 0; j < 32; ++j) {
      const v = load<f32>(xb + (<usize>j << 2));
      store<f32>(QW32 + (<usize>j << 2), load<f32>(qb + (<usize>j << 2)) * sqrt<f32>(sigma2 + v * v));
    }
    const d = makeQxQuants(32, nmax, xb, L32, QW32);
    store<u16>(y, <u16>f2h(d));
    if (nmax == 8) {
      for (let j = 0; j < 16; ++j) store<u8>(y + 2 + j, <u8>(load<u8>(L32 + j) | (load<u8>(L32 + j + 16) << 4)));
    } else {
      let qh: u32 = 0;
      for (let j = 0; j < 16; ++j) {
        const xi0 = <u32>load<u8>(L32 + j);
        const xi1 = <u32>load<u8>(L32 + j + 16);
        store<u8>(y + 6 + j, <u8>((xi0 & 0x0f) | ((xi1 & 0x0f) << 4)));
        qh |= ((xi0 & 0x10) >> 4) << j;
        qh |= ((xi1 & 0x10) >> 4) << (j + 16);
      }
      store<u32>(y, qh, 2);
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------- q3_K

const MQ3_L: usize = memory.data(16 * 4, 16); // int32 levels of make_q3_quants
const MQ3_W: usize = memory.data(16 * 4, 16);
const MQ3_WX: usize = memory.data(16 * 4, 16);

/**
 * make_q3_quants(n <= 16, nmax, x, L, do_rmse = true): scalar, C order; nearest_int by the bit trick, so any input
 * (inf, NaN) gives the C's bits. Levels + nmax into L (bytes).
 * @see make_q3_quants (ggml/src/ggml-quants.c; kquants-helpers.ts makeQ3Quants)
 */
function makeQ3Quants(n: i32, nmax: i32, x: usize, L: usize): f32 {
  let vmax: f32 = 0;
  let amax: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const v = load<f32>(x + (<usize>i << 2));
    const ax = abs<f32>(v);
    if (ax > amax) {
      amax = ax;
      vmax = v;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    memory.fill(L, 0, n);
    return 0;
  }
  const iscale = <f32>(-nmax) / vmax;
  let sumlx: f32 = 0;
  let suml2: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const xi = load<f32>(x + (<usize>i << 2));
    const l = max<i32>(-nmax, min<i32>(nmax - 1, nearestInt(iscale * xi)));
    store<i32>(MQ3_L + (<usize>i << 2), l);
    const w = xi * xi;
    store<f32>(MQ3_W + (<usize>i << 2), w);
    const wx = w * xi;
    store<f32>(MQ3_WX + (<usize>i << 2), wx);
    sumlx += wx * <f32>l;
    suml2 += w * <f32>l * <f32>l;
  }
  for (let itry = 0; itry < 5; ++itry) {
    let nChanged = 0;
    for (let i = 0; i < n; ++i) {
      const w = load<f32>(MQ3_W + (<usize>i << 2));
      const wx = load<f32>(MQ3_WX + (<usize>i << 2));
      const Li = load<i32>(MQ3_L + (<usize>i << 2));
      let slx = sumlx - wx * <f32>Li;
      if (slx > 0) {
        let sl2 = suml2 - w * <f32>Li * <f32>Li;
        const xi = load<f32>(x + (<usize>i << 2));
        const newL = max<i32>(-nmax, min<i32>(nmax - 1, nearestInt(xi * sl2 / slx)));
        if (newL != Li) {
          slx += wx * <f32>newL;
          sl2 += w * <f32>newL * <f32>newL;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            store<i32>(MQ3_L + (<usize>i << 2), newL);
            sumlx = slx;
            suml2 = sl2;
            ++nChanged;
          }
        }
      }
    }
    if (nChanged == 0) break;
  }
  for (let i = 0; i < n; ++i) store<u8>(L + i, <u8>(load<i32>(MQ3_L + (<usize>i << 2)) + nmax));
  return suml2 > 0 ? sumlx / suml2 : 0;
}

/** Sets the 6-bit q3_K scale l of sub-block j in the 12 (zeroed) bytes at so. (kquants.ts packScaleQ3) */
// @ts-ignore: decorator
@inline function packScaleQ3(j: i32, l: i32, so: usize): void {
  if (j < 8) store<u8>(so + j, <u8>(l & 0xf));
  else store<u8>(so + j - 8, load<u8>(so + j - 8) | <u8>((l & 0xf) << 4));
  l >>= 4;
  const o = so + (j % 4) + 8;
  store<u8>(o, load<u8>(o) | <u8>(l << (2 * (j >> 2))));
}

/** The common tail of q3_K quantization: requantize with the stored scales, write hmask and qs. (q3KFinish) */
function q3KFinish(x: usize, y: usize, L: usize): void {
  const so = y + 96;
  const dAll = h2f(<u32>load<u16>(y, 108));
  for (let j = 0; j < 16; ++j) {
    const sc0 = j < 8 ? <i32>load<u8>(so + j) & 0xf : <i32>load<u8>(so + j - 8) >> 4;
    const sc = (sc0 | (((<i32>load<u8>(so + 8 + (j % 4)) >> (2 * (j >> 2))) & 3) << 4)) - 32;
    const d = dAll * <f32>sc;
    if (d == 0) continue;
    for (let ii = 0; ii < 16; ++ii) {
      let l = nearestInt(load<f32>(x + (<usize>(16 * j + ii) << 2)) / d);
      l = max<i32>(-4, min<i32>(3, l));
      store<u8>(L + 16 * j + ii, <u8>(l + 4));
    }
  }
  memory.fill(y, 0, 32);
  let m = 0;
  let hm: u32 = 1;
  for (let j = 0; j < 256; ++j) {
    const v = <i32>load<u8>(L + j);
    if (v > 3) {
      store<u8>(y + m, <u8>(<u32>load<u8>(y + m) | hm));
      store<u8>(L + j, <u8>(v - 4));
    }
    if (++m == 32) {
      m = 0;
      hm <<= 1;
    }
  }
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; ++l) {
      const q = <u32>load<u8>(L + j + l) | (<u32>load<u8>(L + j + l + 32) << 2) | (<u32>load<u8>(L + j + l + 64) << 4) | (<u32>load<u8>(L + j + l + 96) << 6);
      store<u8>(y + 32 + (j >> 2) + l, <u8>q);
    }
  }
}

const Q3_L: usize = memory.data(256, 16);
const Q3_SC: usize = memory.data(16 * 4, 16);
const Q3_SW: usize = memory.data(16 * 4, 16);
const Q3_W: usize = memory.data(16 * 4, 16);
const Q3_LS: usize = memory.data(16, 16);

/** @see quantize_row_q3_K_ref (kquants.ts quantizeRowQ3_KRef). Any input (scalar C semantics throughout). */
export function q_q3_K(x: usize, y: usize, nb: i32): void {
  const L = Q3_L;
  for (let i = 0; i < nb; i++, x += 1024, y += 110) {
    let maxScale: f32 = 0;
    let amax: f32 = 0;
    for (let j = 0; j < 16; ++j) {
      const s = makeQ3Quants(16, 4, x + (<usize>(16 * j) << 2), L + 16 * j);
      store<f32>(Q3_SC + (<usize>j << 2), s);
      const scale = abs<f32>(s);
      if (scale > amax) {
        amax = scale;
        maxScale = s;
      }
    }
    const so = y + 96;
    memory.fill(so, 0, 12);
    if (maxScale != 0) {
      const iscale = <f32>-32.0 / maxScale;
      for (let j = 0; j < 16; ++j) {
        let l = <i32><i8>nearestInt(iscale * load<f32>(Q3_SC + (<usize>j << 2)));
        l = max<i32>(-32, min<i32>(31, l)) + 32;
        packScaleQ3(j, l, so);
      }
      store<u16>(y, <u16>f2h(<f32>1.0 / iscale), 108);
    } else {
      store<u16>(y, 0, 108);
    }
    q3KFinish(x, y, L);
  }
}

/**
 * quantize_row_q3_K_impl of nb super-blocks with the row's importance qw (qw = 0: weights x*x). Returns 1 without
 * writing when an input is inf or NaN.
 * @see quantize_row_q3_K_impl (kquants.ts quantizeRowQ3_KImpl)
 */
export function q_q3_K_impl(x: usize, y: usize, nb: i32, qw: usize): i32 {
  if (!allFinite(x, nb * 256)) return 1;
  const L = Q3_L;
  for (let i = 0; i < nb; i++, x += 1024, y += 110) {
    let sumx2: f32 = 0;
    for (let j = 0; j < 256; ++j) {
      const v = load<f32>(x + (<usize>j << 2));
      sumx2 += v * v;
    }
    const sigma2 = <f32>2.0 * sumx2 / <f32>256.0;
    for (let j = 0; j < 16; ++j) {
      const xb = x + (<usize>(16 * j) << 2);
      if (qw != 0) {
        const qo = qw + (<usize>(256 * i + 16 * j) << 2);
        for (let l = 0; l < 16; ++l) {
          const xl = load<f32>(xb + (<usize>l << 2));
          store<f32>(Q3_W + (<usize>l << 2), load<f32>(qo + (<usize>l << 2)) * sqrt<f32>(sigma2 + xl * xl));
        }
      } else {
        for (let l = 0; l < 16; ++l) {
          const xl = load<f32>(xb + (<usize>l << 2));
          store<f32>(Q3_W + (<usize>l << 2), xl * xl);
        }
      }
      let sumw: f32 = 0;
      for (let l = 0; l < 16; ++l) sumw += load<f32>(Q3_W + (<usize>l << 2));
      store<f32>(Q3_SW + (<usize>j << 2), sumw);
      store<f32>(Q3_SC + (<usize>j << 2), makeQxQuants(16, 4, xb, L + 16 * j, Q3_W));
    }
    const so = y + 96;
    memory.fill(so, 0, 12);
    // make_qx_quants' vector path needs finite inputs: huge importances can overflow the sub-scales
    if (!allFinite(Q3_SC, 16)) return 1;
    const dBlock = makeQxQuants(16, 32, Q3_SC, Q3_LS, Q3_SW);
    for (let j = 0; j < 16; ++j) packScaleQ3(j, <i32>load<u8>(Q3_LS + j), so);
    store<u16>(y, <u16>f2h(dBlock), 108);
    q3KFinish(x, y, L);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------- make_qkx2_quants
//
// The candidates is = 0..nstep of the search run in the lanes of up to six f32x4 vectors, elements in C order, so
// each lane's sums and error are the C floats of that candidate. They depend on `min`, which the C replaces when a
// candidate wins: the sequential pass over the candidates stops there and the remaining ones are formed again with
// the new min. nearest_int is the C bit trick on every lane (exact for any value).

const K2_ISC: usize = memory.data(40 * 4, 16);
const K2_SL: usize = memory.data(40 * 4, 16);
const K2_SL2: usize = memory.data(40 * 4, 16);
const K2_SXL: usize = memory.data(40 * 4, 16);
const K2_ERR: usize = memory.data(40 * 4, 16);
const K2_SCALE: usize = memory.data(40 * 4, 16);
const K2_MIN: usize = memory.data(40 * 4, 16);
const K2_D: usize = memory.data(40 * 4, 16);
/** Candidate vectors formed per batch: a winning candidate with a new min discards the rest of its batch. */
const K2_WINDOW = 1;
/** `*the_min` of the last makeQkx2Quants call. */
let THE_MIN: f32 = 0;

/** clamp(nearest_int(t), 0, nmax) as float lanes, by the C bit trick. */
// @ts-ignore: decorator
@inline function levels4(t: v128, vnmax: v128): v128 {
  const v = f32x4.add(t, f32x4.splat(12582912.0));
  const l = i32x4.sub(v128.and(v, i32x4.splat(0x007fffff)), i32x4.splat(0x00400000));
  return f32x4.convert_i32x4_s(i32x4.min_s(i32x4.max_s(l, i32x4.splat(0)), vnmax));
}

/** Candidates first..nstep (first is a multiple of 4) with the current min: sums, then scale, min and error. */
function qkx2Batch(n: i32, nmax: i32, x: usize, w: usize, first: i32, nstep: i32, mn: f32, mx: f32, sumW: f32, sumX: f32, useMad: bool, rmin: f32, rdelta: f32): void {
  const nv = min<i32>(K2_WINDOW, (nstep + 4 - first) >> 2); // vectors (lanes past nstep are computed and ignored)
  for (let p = first; p < first + nv * 4; ++p) {
    store<f32>(K2_ISC + (<usize>p << 2), (rmin + rdelta * <f32>p + <f32>nmax) / (mx - mn));
  }
  const vnmax = i32x4.splat(nmax);
  const vmn = f32x4.splat(mn);
  for (let v = 0; v < nv; ++v) {
    const o: usize = (<usize>(first + 4 * v)) << 2;
    const isc = v128.load(K2_ISC + o);
    let sl = f32x4.splat(0);
    let sl2 = sl;
    let sxl = sl;
    for (let i = 0; i < n; ++i) {
      const xi = load<f32>(x + (<usize>i << 2));
      const l = levels4(f32x4.mul(isc, f32x4.sub(f32x4.splat(xi), vmn)), vnmax);
      const wl = f32x4.mul(f32x4.splat(load<f32>(w + (<usize>i << 2))), l);
      sl = f32x4.add(sl, wl);
      sl2 = f32x4.add(sl2, f32x4.mul(wl, l));
      sxl = f32x4.add(sxl, f32x4.mul(wl, f32x4.splat(xi)));
    }
    const vsw = f32x4.splat(sumW);
    const vsx = f32x4.splat(sumX);
    const D = f32x4.sub(f32x4.mul(vsw, sl2), f32x4.mul(sl, sl));
    let thisScale = f32x4.div(f32x4.sub(f32x4.mul(vsw, sxl), f32x4.mul(vsx, sl)), D);
    let thisMin = f32x4.div(f32x4.sub(f32x4.mul(sl2, vsx), f32x4.mul(sl, sxl)), D);
    const pos = f32x4.gt(thisMin, f32x4.splat(0));
    thisScale = v128.bitselect(f32x4.div(sxl, sl2), thisScale, pos);
    thisMin = v128.bitselect(f32x4.splat(0), thisMin, pos);
    let err = f32x4.splat(0);
    for (let i = 0; i < n; ++i) {
      const xi = load<f32>(x + (<usize>i << 2));
      const vx = f32x4.splat(xi);
      const l = levels4(f32x4.mul(isc, f32x4.sub(vx, vmn)), vnmax);
      let diff = f32x4.sub(f32x4.add(f32x4.mul(thisScale, l), thisMin), vx);
      diff = useMad ? f32x4.abs(diff) : f32x4.mul(diff, diff);
      err = f32x4.add(err, f32x4.mul(f32x4.splat(load<f32>(w + (<usize>i << 2))), diff));
    }
    v128.store(K2_D + o, D);
    v128.store(K2_SCALE + o, thisScale);
    v128.store(K2_MIN + o, thisMin);
    v128.store(K2_ERR + o, err);
  }
}

/**
 * make_qkx2_quants(n, nmax, x, weights, L, &the_min, Laux, rmin, rdelta, nstep, use_mad) with nstep <= 39;
 * the_min in THE_MIN, levels into L (bytes). `qkx3`: make_qkx3_quants (the same search; an all-zero group is
 * `max <= min`; the caller passes x*x as weights where the C has none).
 * @see make_qkx2_quants (ggml/src/ggml-quants.c; kquants-helpers.ts makeQkx2Quants)
 */
function makeQkx2Quants(n: i32, nmax: i32, x: usize, w: usize, L: usize, rmin: f32, rdelta: f32, nstep: i32, useMad: bool, qkx3: bool = false): f32 {
  let mn = load<f32>(x);
  let mx = mn;
  let sumW = load<f32>(w);
  let sumX = sumW * mn;
  for (let i = 1; i < n; ++i) {
    const xi = load<f32>(x + (<usize>i << 2));
    if (xi < mn) mn = xi;
    if (xi > mx) mx = xi;
    const wi = load<f32>(w + (<usize>i << 2));
    sumW += wi;
    sumX += wi * xi;
  }
  if (mn > 0) mn = 0;
  if (qkx3 ? mx <= mn : mx == mn) {
    memory.fill(L, 0, n);
    THE_MIN = -mn;
    return 0;
  }
  let iscale = <f32>nmax / (mx - mn);
  let scale = <f32>1.0 / iscale;
  let bestError: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const xi = load<f32>(x + (<usize>i << 2));
    const l = max<i32>(0, min<i32>(nmax, nearestInt(iscale * (xi - mn))));
    store<u8>(L + i, <u8>l);
    let diff = scale * <f32>l + mn - xi;
    diff = useMad ? abs<f32>(diff) : diff * diff;
    bestError += load<f32>(w + (<usize>i << 2)) * diff;
  }
  if (nstep < 1) {
    THE_MIN = -mn;
    return scale;
  }
  let first = 0;
  while (first <= nstep) {
    const batchMin = mn;
    qkx2Batch(n, nmax, x, w, first & ~3, nstep, mn, mx, sumW, sumX, useMad, rmin, rdelta);
    const batchEnd = min<i32>(nstep, (first & ~3) + 4 * K2_WINDOW - 1);
    let next = batchEnd + 1;
    for (let p = first; p <= batchEnd; ++p) {
      const o: usize = <usize>p << 2;
      if (!(load<f32>(K2_D + o) > 0)) continue;
      const curError = load<f32>(K2_ERR + o);
      if (curError < bestError) {
        const isc = load<f32>(K2_ISC + o);
        for (let i = 0; i < n; ++i) {
          const xi = load<f32>(x + (<usize>i << 2));
          store<u8>(L + i, <u8>max<i32>(0, min<i32>(nmax, nearestInt(isc * (xi - batchMin)))));
        }
        bestError = curError;
        scale = load<f32>(K2_SCALE + o);
        mn = load<f32>(K2_MIN + o);
        if (reinterpret<u32>(mn) != reinterpret<u32>(batchMin)) {
          next = p + 1; // the later candidates see the new min
          break;
        }
      }
    }
    first = next;
  }
  THE_MIN = -mn;
  return scale;
}

const QK_L: usize = memory.data(256, 16);
const QK_W: usize = memory.data(32 * 4, 16);
const QK_SC: usize = memory.data(16 * 4, 16);
const QK_MN: usize = memory.data(16 * 4, 16);

/**
 * quantize_row_q4_K_ref (nmax 15, rmin -1, nstep 20) / quantize_row_q5_K_ref (nmax 31, rmin -0.5, nstep 15).
 * Returns 1 without writing when an input is inf or NaN.
 * @see quantize_row_q4_K_ref, quantize_row_q5_K_ref (kquants.ts quantizeRowQxKRef)
 */
export function q_qxK_ref(x: usize, y: usize, nb: i32, _qw: usize, nmax: i32): i32 {
  if (!allFinite(x, nb * 256)) return 1;
  const L = QK_L;
  const rmin: f32 = nmax == 15 ? -1.0 : -0.5;
  const nstep = nmax == 15 ? 20 : 15;
  const ts: usize = nmax == 15 ? 144 : 176;
  for (let i = 0; i < nb; i++, x += 1024, y += ts) {
    let maxScale: f32 = 0;
    let maxMin: f32 = 0;
    for (let j = 0; j < 8; ++j) {
      const xj = x + (<usize>(32 * j) << 2);
      let sumX2: f32 = 0;
      for (let l = 0; l < 32; ++l) {
        const v = load<f32>(xj + (<usize>l << 2));
        sumX2 += v * v;
      }
      const avX = sqrt<f32>(sumX2 / <f32>32.0);
      for (let l = 0; l < 32; ++l) store<f32>(QK_W + (<usize>l << 2), avX + abs<f32>(load<f32>(xj + (<usize>l << 2))));
      const scale = makeQkx2Quants(32, nmax, xj, QK_W, L + 32 * j, rmin, <f32>0.1, nstep, false);
      store<f32>(QK_SC + (<usize>j << 2), scale);
      store<f32>(QK_MN + (<usize>j << 2), THE_MIN);
      if (scale > maxScale) maxScale = scale;
      if (THE_MIN > maxMin) maxMin = THE_MIN;
    }
    const invScale: f32 = maxScale > 0 ? <f32>63.0 / maxScale : 0;
    const invMin: f32 = maxMin > 0 ? <f32>63.0 / maxMin : 0;
    const so = y + 4;
    for (let j = 0; j < 8; ++j) {
      let ls = nearestInt(invScale * load<f32>(QK_SC + (<usize>j << 2))) & 0xff;
      let lm = nearestInt(invMin * load<f32>(QK_MN + (<usize>j << 2))) & 0xff;
      ls = min<i32>(ls, 63);
      lm = min<i32>(lm, 63);
      if (j < 4) {
        store<u8>(so + j, <u8>ls);
        store<u8>(so + j + 4, <u8>lm);
      } else {
        store<u8>(so + j + 4, <u8>((ls & 0xf) | ((lm & 0xf) << 4)));
        store<u8>(so + j - 4, load<u8>(so + j - 4) | <u8>((ls >> 4) << 6));
        store<u8>(so + j, load<u8>(so + j) | <u8>((lm >> 4) << 6));
      }
    }
    store<u16>(y, <u16>f2h(maxScale / <f32>63.0));
    store<u16>(y, <u16>f2h(maxMin / <f32>63.0), 2);
    // requantize with the stored scales and mins
    const dAll = h2f(<u32>load<u16>(y));
    const dminAll = h2f(<u32>load<u16>(y, 2));
    for (let j = 0; j < 8; ++j) {
      const scm = scaleMinK4(j, so);
      const d = dAll * <f32>(scm & 0xff);
      if (d == 0) continue;
      const dm = dminAll * <f32>(scm >> 8);
      for (let ii = 0; ii < 32; ++ii) {
        const l = nearestInt((load<f32>(x + (<usize>(32 * j + ii) << 2)) + dm) / d);
        store<u8>(L + 32 * j + ii, <u8>max<i32>(0, min<i32>(nmax, l)));
      }
    }
    if (nmax == 15) {
      let q = y + 16;
      for (let j = 0; j < 256; j += 64) {
        for (let l = 0; l < 32; ++l) store<u8>(q + l, load<u8>(L + j + l) | (load<u8>(L + j + l + 32) << 4));
        q += 32;
      }
    } else {
      const qh = y + 16;
      let ql = y + 48;
      memory.fill(qh, 0, 32);
      let m1: u32 = 1;
      let m2: u32 = 2;
      for (let n = 0; n < 256; n += 64) {
        for (let j = 0; j < 32; ++j) {
          let l1 = <u32>load<u8>(L + n + j);
          if (l1 > 15) {
            l1 -= 16;
            store<u8>(qh + j, <u8>(<u32>load<u8>(qh + j) | m1));
          }
          let l2 = <u32>load<u8>(L + n + j + 32);
          if (l2 > 15) {
            l2 -= 16;
            store<u8>(qh + j, <u8>(<u32>load<u8>(qh + j) | m2));
          }
          store<u8>(ql + j, <u8>(l1 | (l2 << 4)));
        }
        m1 <<= 2;
        m2 <<= 2;
        ql += 32;
      }
    }
  }
  return 0;
}

/**
 * quantize_row_q2_K_ref. Returns 1 without writing when an input is inf or NaN.
 * @see quantize_row_q2_K_ref (kquants.ts quantizeRowQ2_KRef)
 */
export function q_q2_K_ref(x: usize, y: usize, nb: i32, _qw: usize, _extra: i32): i32 {
  if (!allFinite(x, nb * 256)) return 1;
  const L = QK_L;
  const q4scale: f32 = 15;
  for (let i = 0; i < nb; i++, x += 1024, y += 84) {
    let maxScale: f32 = 0;
    let maxMin: f32 = 0;
    for (let j = 0; j < 16; ++j) {
      const xj = x + (<usize>(16 * j) << 2);
      for (let l = 0; l < 16; ++l) store<f32>(QK_W + (<usize>l << 2), abs<f32>(load<f32>(xj + (<usize>l << 2))));
      const scale = makeQkx2Quants(16, 3, xj, QK_W, L + 16 * j, -0.5, <f32>0.1, 15, true);
      store<f32>(QK_SC + (<usize>j << 2), scale);
      store<f32>(QK_MN + (<usize>j << 2), THE_MIN);
      if (scale > maxScale) maxScale = scale;
      if (THE_MIN > maxMin) maxMin = THE_MIN;
    }
    if (maxScale > 0) {
      const iscale = q4scale / maxScale;
      for (let j = 0; j < 16; ++j) store<u8>(y + j, <u8>nearestInt(iscale * load<f32>(QK_SC + (<usize>j << 2))));
      store<u16>(y, <u16>f2h(maxScale / q4scale), 80);
    } else {
      memory.fill(y, 0, 16);
      store<u16>(y, 0, 80);
    }
    if (maxMin > 0) {
      const iscale = q4scale / maxMin;
      for (let j = 0; j < 16; ++j) store<u8>(y + j, load<u8>(y + j) | <u8>(nearestInt(iscale * load<f32>(QK_MN + (<usize>j << 2))) << 4));
      store<u16>(y, <u16>f2h(maxMin / q4scale), 82);
    } else {
      store<u16>(y, 0, 82);
    }
    const dAll = h2f(<u32>load<u16>(y, 80));
    const dminAll = h2f(<u32>load<u16>(y, 82));
    for (let j = 0; j < 16; ++j) {
      const sc = <i32>load<u8>(y + j);
      const d = dAll * <f32>(sc & 0xf);
      if (d == 0) continue;
      const dm = dminAll * <f32>(sc >> 4);
      for (let ii = 0; ii < 16; ++ii) {
        const l = nearestInt((load<f32>(x + (<usize>(16 * j + ii) << 2)) + dm) / d);
        store<u8>(L + 16 * j + ii, <u8>max<i32>(0, min<i32>(3, l)));
      }
    }
    for (let j = 0; j < 256; j += 128) {
      for (let l = 0; l < 32; ++l) {
        const q = <u32>load<u8>(L + j + l) | (<u32>load<u8>(L + j + l + 32) << 2) | (<u32>load<u8>(L + j + l + 64) << 4) | (<u32>load<u8>(L + j + l + 96) << 6);
        store<u8>(y + 16 + (j >> 2) + l, <u8>q);
      }
    }
  }
  return 0;
}

/**
 * make_qp_quants(n <= 16, nmax, x, L, quant_weights). `L` is uint8_t in the C: a negative level wraps on store and
 * later reads see the wrapped byte, as here.
 * @see make_qp_quants (ggml/src/ggml-quants.c; kquants-helpers.ts makeQpQuants)
 */
function makeQpQuants(n: i32, nmax: i32, x: usize, L: usize, qw: usize): f32 {
  let vmax: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const v = load<f32>(x + (<usize>i << 2));
    vmax = vmax > v ? vmax : v;
  }
  if (vmax < GROUP_MAX_EPS) {
    memory.fill(L, 0, n);
    return 0;
  }
  let iscale = <f32>nmax / vmax;
  for (let i = 0; i < n; ++i) store<u8>(L + i, <u8>nearestInt(iscale * load<f32>(x + (<usize>i << 2))));
  const scale0 = <f32>1.0 / iscale;
  let bestMse: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const diff = load<f32>(x + (<usize>i << 2)) - scale0 * <f32>load<u8>(L + i);
    const w = load<f32>(qw + (<usize>i << 2));
    bestMse += w * diff * diff;
  }
  for (let is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const iscaleIs = (<f32>0.1 * <f32>is + <f32>nmax) / vmax;
    const scaleIs = <f32>1.0 / iscaleIs;
    let mse: f32 = 0;
    for (let i = 0; i < n; ++i) {
      const xi = load<f32>(x + (<usize>i << 2));
      const l = min<i32>(nmax, nearestInt(iscaleIs * xi));
      const diff = xi - scaleIs * <f32>l;
      const w = load<f32>(qw + (<usize>i << 2));
      mse += w * diff * diff;
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx: f32 = 0;
  let suml2: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const xi = load<f32>(x + (<usize>i << 2));
    const l = min<i32>(nmax, nearestInt(iscale * xi));
    store<u8>(L + i, <u8>l);
    const w = load<f32>(qw + (<usize>i << 2));
    sumlx += w * xi * <f32>l;
    suml2 += w * <f32>l * <f32>l;
  }
  for (let itry = 0; itry < 5; ++itry) {
    let nChanged = 0;
    for (let i = 0; i < n; ++i) {
      const xi = load<f32>(x + (<usize>i << 2));
      const w = load<f32>(qw + (<usize>i << 2));
      const Li = <i32>load<u8>(L + i);
      let slx = sumlx - w * xi * <f32>Li;
      let sl2 = suml2 - w * <f32>Li * <f32>Li;
      if (slx > 0 && sl2 > 0) {
        const newL = min<i32>(nmax, nearestInt(xi * sl2 / slx));
        if (newL != Li) {
          slx += w * xi * <f32>newL;
          sl2 += w * <f32>newL * <f32>newL;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            store<u8>(L + i, <u8>newL);
            sumlx = slx;
            suml2 = sl2;
            ++nChanged;
          }
        }
      }
    }
    if (nChanged == 0) break;
  }
  return suml2 > 0 ? sumlx / suml2 : 0;
}

const QK_SW: usize = memory.data(16 * 4, 16);
const QK_LS: usize = memory.data(16, 16);
const QK_LM: usize = memory.data(16, 16);

/** Requantizes with the stored q4_K/q5_K scales and mins and packs qs (and qh for q5_K). */
function finishQxK(x: usize, y: usize, L: usize, nmax: i32): void {
  const so = y + 4;
  const dAll = h2f(<u32>load<u16>(y));
  const dminAll = h2f(<u32>load<u16>(y, 2));
  for (let j = 0; j < 8; ++j) {
    const scm = scaleMinK4(j, so);
    const d = dAll * <f32>(scm & 0xff);
    if (d == 0) continue;
    const dm = dminAll * <f32>(scm >> 8);
    for (let ii = 0; ii < 32; ++ii) {
      const l = nearestInt((load<f32>(x + (<usize>(32 * j + ii) << 2)) + dm) / d);
      store<u8>(L + 32 * j + ii, <u8>max<i32>(0, min<i32>(nmax, l)));
    }
  }
  if (nmax == 15) {
    let q = y + 16;
    for (let j = 0; j < 256; j += 64) {
      for (let l = 0; l < 32; ++l) store<u8>(q + l, load<u8>(L + j + l) | (load<u8>(L + j + l + 32) << 4));
      q += 32;
    }
  } else {
    const qh = y + 16;
    let ql = y + 48;
    memory.fill(qh, 0, 32);
    let m1: u32 = 1;
    let m2: u32 = 2;
    for (let n = 0; n < 256; n += 64) {
      for (let j = 0; j < 32; ++j) {
        let l1 = <u32>load<u8>(L + n + j);
        if (l1 > 15) {
          l1 -= 16;
          store<u8>(qh + j, <u8>(<u32>load<u8>(qh + j) | m1));
        }
        let l2 = <u32>load<u8>(L + n + j + 32);
        if (l2 > 15) {
          l2 -= 16;
          store<u8>(qh + j, <u8>(<u32>load<u8>(qh + j) | m2));
        }
        store<u8>(ql + j, <u8>(l1 | (l2 << 4)));
      }
      m1 <<= 2;
      m2 <<= 2;
      ql += 32;
    }
  }
}

/**
 * quantize_row_q4_K_impl (nmax 15) / quantize_row_q5_K_impl (nmax 31) of nb super-blocks with the row's importance
 * qw (qw = 0: weights av_x + |x|). Returns 1 without writing when an input is inf or NaN.
 * @see quantize_row_q4_K_impl, quantize_row_q5_K_impl (kquants.ts quantizeRowQxKImpl)
 */
export function q_qxK_impl(x: usize, y: usize, nb: i32, qw: usize, nmax: i32): i32 {
  if (!allFinite(x, nb * 256)) return 1;
  const L = QK_L;
  const ts: usize = nmax == 15 ? 144 : 176;
  for (let i = 0; i < nb; i++, x += 1024, y += ts) {
    let sumX2: f32 = 0;
    for (let l = 0; l < 256; ++l) {
      const v = load<f32>(x + (<usize>l << 2));
      sumX2 += v * v;
    }
    const sigma2 = <f32>2.0 * sumX2 / <f32>256.0;
    const avX = sqrt<f32>(sigma2);
    for (let j = 0; j < 8; ++j) {
      const xj = x + (<usize>(32 * j) << 2);
      if (qw != 0) {
        const qo = qw + (<usize>(256 * i + 32 * j) << 2);
        for (let l = 0; l < 32; ++l) {
          const v = load<f32>(xj + (<usize>l << 2));
          store<f32>(QK_W + (<usize>l << 2), load<f32>(qo + (<usize>l << 2)) * sqrt<f32>(sigma2 + v * v));
        }
      } else {
        for (let l = 0; l < 32; ++l) store<f32>(QK_W + (<usize>l << 2), avX + abs<f32>(load<f32>(xj + (<usize>l << 2))));
      }
      let sumw: f32 = 0;
      for (let l = 0; l < 32; ++l) sumw += load<f32>(QK_W + (<usize>l << 2));
      store<f32>(QK_SW + (<usize>j << 2), sumw);
      store<f32>(QK_SC + (<usize>j << 2), makeQkx2Quants(32, nmax, xj, QK_W, L + 32 * j, -0.9, 0.05, 36, false, true));
      store<f32>(QK_MN + (<usize>j << 2), THE_MIN);
    }
    const dBlock = makeQpQuants(8, 63, QK_SC, QK_LS, QK_SW);
    const mBlock = makeQpQuants(8, 63, QK_MN, QK_LM, QK_SW);
    const so = y + 4;
    for (let j = 0; j < 8; ++j) {
      let ls = <i32>load<u8>(QK_LS + j);
      let lm = <i32>load<u8>(QK_LM + j);
      if (nmax == 31) {
        // only quantize_row_q5_K_impl clamps here
        ls = min<i32>(ls, 63);
        lm = min<i32>(lm, 63);
      }
      if (j < 4) {
        store<u8>(so + j, <u8>ls);
        store<u8>(so + j + 4, <u8>lm);
      } else {
        store<u8>(so + j + 4, <u8>((ls & 0xf) | ((lm & 0xf) << 4)));
        store<u8>(so + j - 4, load<u8>(so + j - 4) | <u8>((ls >> 4) << 6));
        store<u8>(so + j, load<u8>(so + j) | <u8>((lm >> 4) << 6));
      }
    }
    store<u16>(y, <u16>f2h(dBlock));
    store<u16>(y, <u16>f2h(mBlock), 2);
    finishQxK(x, y, L, nmax);
  }
  return 0;
}

/**
 * quantize_row_q4_1_impl (nmax 15) / quantize_row_q5_1_impl (nmax 31) of one row with the importance qw:
 * weights qw[j]*sqrtf(sigma2 + x[j]^2), make_qkx3_quants(32, nmax, ..., -0.9f, 0.05f, 36, false).
 * Returns 1 without writing when an input is inf or NaN.
 * @see quantize_row_q4_1_impl, quantize_row_q5_1_impl (legacy.ts)
 */
export function q_qx_1_impl(x: usize, y: usize, nPerRow: i32, qw: usize, nmax: i32): i32 {
  if (!allFinite(x, nPerRow)) return 1;
  let sumX2: f32 = 0;
  for (let j = 0; j < nPerRow; ++j) {
    const v = load<f32>(x + (<usize>j << 2));
    sumX2 += v * v;
  }
  const sigma2 = sumX2 / <f32>nPerRow;
  const nb = nPerRow >> 5;
  const ts: usize = nmax == 15 ? 20 : 24;
  for (let ib = 0; ib < nb; ++ib, y += ts) {
    const xb = x + (<usize>(32 * ib) << 2);
    const qb = qw + (<usize>(32 * ib) << 2);
    for (let j = 0; j < 32; ++j) {
      const v = load<f32>(xb + (<usize>j << 2));
      store<f32>(QW32 + (<usize>j << 2), load<f32>(qb + (<usize>j << 2)) * sqrt<f32>(sigma2 + v * v));
    }
    const d = makeQkx2Quants(32, nmax, xb, QW32, L32, -0.9, 0.05, 36, false, true);
    store<u16>(y, <u16>f2h(d));
    store<u16>(y, <u16>f2h(-THE_MIN), 2);
    if (nmax == 15) {
      for (let j = 0; j < 16; ++j) store<u8>(y + 4 + j, <u8>(load<u8>(L32 + j) | (load<u8>(L32 + j + 16) << 4)));
    } else {
      let qh: u32 = 0;
      for (let j = 0; j < 16; ++j) {
        const xi0 = <u32>load<u8>(L32 + j);
        const xi1 = <u32>load<u8>(L32 + j + 16);
        store<u8>(y + 8 + j, <u8>((xi0 & 0x0f) | ((xi1 & 0x0f) << 4)));
        qh |= ((xi0 & 0x10) >> 4) << j;
        qh |= ((xi1 & 0x10) >> 4) << (j + 16);
      }
      store<u32>(y, qh, 4);
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------- iq4 dequant

/** kvalues_iq4nl (ggml/src/ggml-common.h), as a byte shuffle table. */
// @ts-ignore: decorator
@inline function kvaluesIq4nl(): v128 {
  return i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}

/** @see dequantize_row_iq4_nl (iq4.ts dequantizeRowIq4Nl) */
export function dq_iq4_nl(x: usize, y: usize, nb: i32): void {
  const kv = kvaluesIq4nl();
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++, x += 18, y += 128) {
    const vd = f32x4.splat(h2f(<u32>load<u16>(x)));
    const q = v128.load(x, 2);
    emitS8Mul(y, i8x16.swizzle(kv, v128.and(q, m4)), vd);
    emitS8Mul(y + 64, i8x16.swizzle(kv, i8x16.shr_u(q, 4)), vd);
  }
}

/** @see dequantize_row_iq4_xs (iq4.ts dequantizeRowIq4Xs) */
export function dq_iq4_xs(x: usize, y: usize, nb: i32): void {
  const kv = kvaluesIq4nl();
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++, x += 136) {
    const d = h2f(<u32>load<u16>(x));
    const scalesH = <i32>load<u16>(x, 2);
    for (let ib = 0; ib < 8; ++ib) {
      const ls = ((<i32>load<u8>(x + 4 + (ib >> 1)) >> (4 * (ib % 2))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      const vd = f32x4.splat(d * <f32>(ls - 32));
      const q = v128.load(x + 8 + 16 * ib);
      emitS8Mul(y, i8x16.swizzle(kv, v128.and(q, m4)), vd);
      emitS8Mul(y + 64, i8x16.swizzle(kv, i8x16.shr_u(q, 4)), vd);
      y += 128;
    }
  }
}

/**
 * quantize_row_q2_K_impl of nb super-blocks with the row's importance qw: make_qkx3_quants per 16 values, then
 * make_qp_quants for the 4-bit scales and mins. Returns 1 without writing when an input is inf or NaN.
 * @see quantize_row_q2_K_impl (kquants.ts quantizeRowQ2_KImpl)
 */
export function q_q2_K_impl(x: usize, y: usize, nb: i32, qw: usize, _extra: i32): i32 {
  if (!allFinite(x, nb * 256)) return 1;
  const L = QK_L;
  for (let i = 0; i < nb; i++, x += 1024, y += 84) {
    let sumx2: f32 = 0;
    for (let j = 0; j < 256; ++j) {
      const v = load<f32>(x + (<usize>j << 2));
      sumx2 += v * v;
    }
    const sigma2 = sumx2 / <f32>256.0;
    for (let j = 0; j < 16; ++j) {
      const xj = x + (<usize>(16 * j) << 2);
      const qo = qw + (<usize>(256 * i + 16 * j) << 2);
      for (let l = 0; l < 16; ++l) {
        const xl = load<f32>(xj + (<usize>l << 2));
        store<f32>(QK_W + (<usize>l << 2), load<f32>(qo + (<usize>l << 2)) * sqrt<f32>(sigma2 + xl * xl));
      }
      let sw: f32 = 0;
      for (let l = 0; l < 16; ++l) sw += load<f32>(QK_W + (<usize>l << 2));
      store<f32>(QK_SW + (<usize>j << 2), sw);
      store<f32>(QK_SC + (<usize>j << 2), makeQkx2Quants(16, 3, xj, QK_W, L + 16 * j, -0.9, 0.05, 36, false, true));
      store<f32>(QK_MN + (<usize>j << 2), THE_MIN);
    }
    const dm0 = makeQpQuants(16, 15, QK_SC, QK_LS, QK_SW);
    const mm0 = makeQpQuants(16, 15, QK_MN, QK_LM, QK_SW);
    store<u16>(y, <u16>f2h(dm0), 80);
    store<u16>(y, <u16>f2h(mm0), 82);
    const dm = h2f(<u32>load<u16>(y, 80));
    const mm = h2f(<u32>load<u16>(y, 82));
    for (let j = 0; j < 16; ++j) store<u8>(y + j, <u8>(<u32>load<u8>(QK_LS + j) | (<u32>load<u8>(QK_LM + j) << 4)));
    for (let j = 0; j < 16; ++j) {
      const sc = <i32>load<u8>(y + j);
      const d = dm * <f32>(sc & 0xf);
      if (d == 0) continue;
      const m = mm * <f32>(sc >> 4);
      for (let ii = 0; ii < 16; ++ii) {
        const l = nearestInt((load<f32>(x + (<usize>(16 * j + ii) << 2)) + m) / d);
        store<u8>(L + 16 * j + ii, <u8>max<i32>(0, min<i32>(3, l)));
      }
    }
    for (let j = 0; j < 256; j += 128) {
      for (let l = 0; l < 32; ++l) {
        const q = <u32>load<u8>(L + j + l) | (<u32>load<u8>(L + j + l + 32) << 2) | (<u32>load<u8>(L + j + l + 64) << 4) | (<u32>load<u8>(L + j + l + 96) << 6);
        store<u8>(y + 16 + (j >> 2) + l, <u8>q);
      }
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------- iq3_xxs

/** Grid tables of iq3_xxs (set by the loader: kgrid_q3xs as bytes, kmap_q3xs as int32, kneighbors_q3xs as u16). */
let IQ3_GRID: usize = 0;
let IQ3_MAP: usize = 0;
let IQ3_NB: usize = 0;

/** Where the loader put the iq3_xxs grid tables (iq3-grid.ts iq3GridData(256)). */
export function iq3xxsSetTables(grid: usize, map: usize, neighbours: usize): void {
  IQ3_GRID = grid;
  IQ3_MAP = map;
  IQ3_NB = neighbours;
}

const I3_W: usize = memory.data(32 * 4, 16);
const I3_WAUX: usize = memory.data(32 * 4, 16);
const I3_XVAL: usize = memory.data(32 * 4, 16);
const I3_L: usize = memory.data(32, 16);
const I3_LAUX: usize = memory.data(32, 16);
const I3_ONGRID: usize = memory.data(8, 16);
const I3_ONGRID_AUX: usize = memory.data(8, 16);
const I3_SIGNS: usize = memory.data(8, 16);
const I3_SCALES: usize = memory.data(8 * 4, 16);
const I3_Q3: usize = memory.data(104, 16);
const I3_SAS: usize = memory.data(8 * 4, 16);

/**
 * iq3_find_best_neighbour: the neighbour (list at nb: count, then indices) closest to xval in the weighted squared
 * distance at this scale; its coordinates into L, returns its index (-1 when none: ggml aborts).
 * @see iq3_find_best_neighbour (ggml/src/ggml-quants.c; iq3-grid.ts iq3FindBestNeighbour)
 */
function iq3FindBestNeighbour(grid: usize, nb: usize, xval: usize, w: usize, scale: f32, L: usize): i32 {
  const num = <i32>load<u16>(nb);
  let bestD2: f32 = f32.MAX_VALUE;
  let gridIndex = -1;
  const x0 = load<f32>(xval), x1 = load<f32>(xval, 4), x2 = load<f32>(xval, 8), x3 = load<f32>(xval, 12);
  const w0 = load<f32>(w), w1 = load<f32>(w, 4), w2 = load<f32>(w, 8), w3 = load<f32>(w, 12);
  for (let j = 1; j <= num; ++j) {
    const g = <i32>load<u16>(nb + (<usize>j << 1));
    const pg = grid + (<usize>g << 2);
    const e0 = scale * <f32>load<i8>(pg) - x0;
    const e1 = scale * <f32>load<i8>(pg, 1) - x1;
    const e2 = scale * <f32>load<i8>(pg, 2) - x2;
    const e3 = scale * <f32>load<i8>(pg, 3) - x3;
    let d2: f32 = 0;
    d2 += w0 * e0 * e0;
    d2 += w1 * e1 * e1;
    d2 += w2 * e2 * e2;
    d2 += w3 * e3 * e3;
    if (d2 < bestD2) {
      bestD2 = d2;
      gridIndex = g;
    }
  }
  if (num <= 0 || gridIndex < 0) return -1;
  const pg = grid + (<usize>gridIndex << 2);
  for (let i = 0; i < 4; ++i) store<i8>(L + i, <i8>((<i32>load<i8>(pg + i) - 1) >> 1));
  return gridIndex;
}

// @ts-ignore: decorator
@inline function iq3Level(id: f32, xv: f32): i32 {
  return max<i32>(0, min<i32>(7, nearestInt(<f32>0.5 * (id * xv - <f32>1.0))));
}

/**
 * quantize_row_iq3_xxs_impl (grid 256) of nbl super-blocks of one row; qw = the row's importance or 0 (weights x*x).
 * Returns 0; 1 for an inf/NaN input; 2 where ggml aborts (the caller runs TypeScript, which throws the error).
 * @see quantize_row_iq3_xxs_impl (ggml/src/ggml-quants.c; iq3.ts quantizeRowIq3_xxsImpl)
 */
export function q_iq3_xxs(x: usize, y: usize, nbl: i32, qw: usize, _extra: i32): i32 {
  if (!allFinite(x, nbl * 256)) return 1;
  const kMaxQ = 8;
  for (let ibl = 0; ibl < nbl; ++ibl, y += 98) {
    store<u16>(y, 0);
    memory.fill(I3_Q3, 0, 104);
    memory.fill(I3_SAS, 0, 32);
    let maxScale: f32 = 0;
    const xbl = x + (<usize>(256 * ibl) << 2);
    let sumx2: f32 = 0;
    for (let i = 0; i < 256; ++i) {
      const v = load<f32>(xbl + (<usize>i << 2));
      sumx2 += v * v;
    }
    const sigma2 = <f32>2.0 * sumx2 / <f32>256.0;
    for (let ib = 0; ib < 8; ++ib) {
      const xb = xbl + (<usize>(32 * ib) << 2);
      if (qw != 0) {
        const q = qw + (<usize>(256 * ibl + 32 * ib) << 2);
        for (let i = 0; i < 32; ++i) {
          const v = load<f32>(xb + (<usize>i << 2));
          store<f32>(I3_W + (<usize>i << 2), load<f32>(q + (<usize>i << 2)) * sqrt<f32>(sigma2 + v * v));
        }
      } else {
        for (let i = 0; i < 32; ++i) {
          const v = load<f32>(xb + (<usize>i << 2));
          store<f32>(I3_W + (<usize>i << 2), v * v);
        }
      }
      for (let i = 0; i < 32; ++i) store<f32>(I3_WAUX + (<usize>i << 2), sqrt<f32>(load<f32>(I3_W + (<usize>i << 2))));
      for (let k = 0; k < 4; ++k) {
        let nflip = 0;
        let s: u32 = 0;
        for (let i = 0; i < 8; ++i) {
          const v = load<f32>(xb + (<usize>(8 * k + i) << 2));
          if (v >= 0) store<f32>(I3_XVAL + (<usize>(8 * k + i) << 2), v);
          else {
            store<f32>(I3_XVAL + (<usize>(8 * k + i) << 2), -v);
            ++nflip;
            s |= 1 << i;
          }
        }
        if (nflip % 2) {
          let imin = 0;
          const x0 = load<f32>(xb + (<usize>(8 * k) << 2));
          let mn = load<f32>(I3_W + (<usize>(8 * k) << 2)) * x0 * x0;
          for (let i = 1; i < 8; ++i) {
            const xi = load<f32>(xb + (<usize>(8 * k + i) << 2));
            const ax = load<f32>(I3_W + (<usize>(8 * k + i) << 2)) * xi * xi;
            if (ax < mn) {
              mn = ax;
              imin = i;
            }
          }
          const p = I3_XVAL + (<usize>(8 * k + imin) << 2);
          store<f32>(p, -load<f32>(p));
          s ^= 1 << imin;
        }
        store<u8>(I3_SIGNS + k, <u8>(s & 127));
      }
      let mx = load<f32>(I3_XVAL);
      for (let i = 1; i < 32; ++i) {
        const v = load<f32>(I3_XVAL + (<usize>i << 2));
        mx = mx > v ? mx : v;
      }
      memory.fill(I3_L, 0, 32);
      if (mx < <f32>1e-8) {
        store<f32>(I3_SCALES + (<usize>ib << 2), 0);
        continue;
      }
      let best: f32 = 0;
      const q15: i32 = 2 * kMaxQ - 1;
      let scale = mx / <f32>q15;
      memory.fill(I3_ONGRID, 1, 8);
      for (let is = -15; is <= 15; ++is) {
        const id = (<f32>q15 + <f32>is * <f32>0.2) / mx;
        const thisScale = <f32>1.0 / id;
        for (let k = 0; k < 8; ++k) {
          const xv = I3_XVAL + (<usize>(4 * k) << 2);
          const l0 = iq3Level(id, load<f32>(xv));
          const l1 = iq3Level(id, load<f32>(xv, 4));
          const l2 = iq3Level(id, load<f32>(xv, 8));
          const l3 = iq3Level(id, load<f32>(xv, 12));
          store<i8>(I3_LAUX + 4 * k, <i8>l0);
          store<i8>(I3_LAUX + 4 * k + 1, <i8>l1);
          store<i8>(I3_LAUX + 4 * k + 2, <i8>l2);
          store<i8>(I3_LAUX + 4 * k + 3, <i8>l3);
          const u = l0 | (l1 << 3) | (l2 << 6) | (l3 << 9);
          const gi = load<i32>(IQ3_MAP + (<usize>u << 2));
          store<u8>(I3_ONGRID_AUX + k, 1);
          if (gi < 0) {
            store<u8>(I3_ONGRID_AUX + k, 0);
            if (iq3FindBestNeighbour(IQ3_GRID, IQ3_NB + (<usize>(-gi - 1) << 1), xv, I3_WAUX + (<usize>(4 * k) << 2), thisScale, I3_LAUX + 4 * k) < 0) return 2;
          }
        }
        let sumqx: f32 = 0;
        let sumq2: f32 = 0;
        for (let i = 0; i < 32; ++i) {
          const w = load<f32>(I3_W + (<usize>i << 2));
          const qi: i32 = 2 * <i32>load<i8>(I3_LAUX + i) + 1;
          const q = <f32>qi;
          sumqx += w * load<f32>(I3_XVAL + (<usize>i << 2)) * q;
          sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          scale = sumqx / sumq2;
          best = scale * sumqx;
          memory.copy(I3_L, I3_LAUX, 32);
          memory.copy(I3_ONGRID, I3_ONGRID_AUX, 8);
        }
      }
      let nNotOnGrid = 0;
      for (let k = 0; k < 8; ++k) if (load<u8>(I3_ONGRID + k) == 0) ++nNotOnGrid;
      if (nNotOnGrid > 0 && scale > 0) {
        const id = <f32>1.0 / scale;
        for (let k = 0; k < 8; ++k) {
          if (load<u8>(I3_ONGRID + k) != 0) continue;
          const xv = I3_XVAL + (<usize>(4 * k) << 2);
          const u = iq3Level(id, load<f32>(xv)) | (iq3Level(id, load<f32>(xv, 4)) << 3) | (iq3Level(id, load<f32>(xv, 8)) << 6) | (iq3Level(id, load<f32>(xv, 12)) << 9);
          let gi = load<i32>(IQ3_MAP + (<usize>u << 2));
          if (gi < 0) {
            gi = iq3FindBestNeighbour(IQ3_GRID, IQ3_NB + (<usize>(-gi - 1) << 1), xv, I3_WAUX + (<usize>(4 * k) << 2), scale, I3_L + 4 * k);
            if (gi < 0) return 2;
          }
          const pg = IQ3_GRID + (<usize>gi << 2);
          for (let i = 0; i < 4; ++i) store<i8>(I3_L + 4 * k + i, <i8>((<i32>load<i8>(pg + i) - 1) >> 1));
        }
        let sumqx: f32 = 0;
        let sumq2: f32 = 0;
        for (let i = 0; i < 32; ++i) {
          const w = load<f32>(I3_W + (<usize>i << 2));
          const qi: i32 = 2 * <i32>load<i8>(I3_L + i) + 1;
          const q = <f32>qi;
          sumqx += w * load<f32>(I3_XVAL + (<usize>i << 2)) * q;
          sumq2 += w * q * q;
        }
        if (sumq2 > 0) scale = sumqx / sumq2;
      }
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 4; ++k) store<u8>(I3_SIGNS + k, <u8>(~<u32>load<u8>(I3_SIGNS + k) & 127));
      }
      for (let k = 0; k < 8; ++k) {
        const u = <i32>load<i8>(I3_L + 4 * k) | (<i32>load<i8>(I3_L + 4 * k + 1) << 3) | (<i32>load<i8>(I3_L + 4 * k + 2) << 6) | (<i32>load<i8>(I3_L + 4 * k + 3) << 9);
        const gi = load<i32>(IQ3_MAP + (<usize>u << 2));
        if (gi < 0) return 2;
        store<u8>(I3_Q3 + 8 * ib + k, <u8>gi);
      }
      store<u32>(I3_SAS + (<usize>ib << 2), <u32>load<u8>(I3_SIGNS) | (<u32>load<u8>(I3_SIGNS + 1) << 7) | (<u32>load<u8>(I3_SIGNS + 2) << 14) | (<u32>load<u8>(I3_SIGNS + 3) << 21));
      if (!(scale >= 0)) return 2;
      store<f32>(I3_SCALES + (<usize>ib << 2), scale);
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (maxScale == 0) {
      memory.fill(y + 2, 0, 96);
      continue;
    }
    const d = maxScale / <f32>31.0;
    store<u16>(y, <u16>f2h(d * <f32>1.0125));
    const id = <f32>1.0 / d;
    for (let ib = 0; ib < 8; ++ib) {
      const l = max<i32>(0, min<i32>(15, nearestInt(<f32>0.5 * (id * load<f32>(I3_SCALES + (<usize>ib << 2)) - <f32>1.0))));
      const p = I3_SAS + (<usize>ib << 2);
      store<u32>(p, load<u32>(p) | (<u32>l << 28));
    }
    memory.copy(y + 2, I3_Q3, 64);
    memory.copy(y + 66, I3_SAS, 32);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------- iq3_s

/** Grid tables of iq3_s (grid size 512), set by the loader. */
let IQ3S_GRID: usize = 0;
let IQ3S_MAP: usize = 0;
let IQ3S_NB: usize = 0;

/** Where the loader put the iq3_s grid tables (iq3-grid.ts iq3GridData(512)). */
export function iq3sSetTables(grid: usize, map: usize, neighbours: usize): void {
  IQ3S_GRID = grid;
  IQ3S_MAP = map;
  IQ3S_NB = neighbours;
}

/**
 * quantize_row_iq3_s_impl (block size 32) of nbl super-blocks of one row; qw = the row's importance or 0.
 * Returns 0; 1 for an inf/NaN input; 2 where ggml aborts. An all-zero sub-block leaves the qs/signs write
 * positions where they are, as in ggml.
 * @see quantize_row_iq3_s_impl (ggml/src/ggml-quants.c; iq3.ts quantizeRowIq3_sImpl)
 */
export function q_iq3_s(x: usize, y: usize, nbl: i32, qw: usize, _extra: i32): i32 {
  if (!allFinite(x, nbl * 256)) return 1;
  const kMaxQ = 8;
  const q15: i32 = 2 * kMaxQ - 1;
  for (let ibl = 0; ibl < nbl; ++ibl, y += 110) {
    memory.fill(y, 0, 110);
    let qs = y + 2;
    const qh = y + 66;
    let signs = y + 74;
    const scalesOff = y + 106;
    let maxScale: f32 = 0;
    const xbl = x + (<usize>(256 * ibl) << 2);
    let sumx2: f32 = 0;
    for (let i = 0; i < 256; ++i) {
      const v = load<f32>(xbl + (<usize>i << 2));
      sumx2 += v * v;
    }
    const sigma2 = <f32>2.0 * sumx2 / <f32>256.0;
    for (let ib = 0; ib < 8; ++ib) {
      const xb = xbl + (<usize>(32 * ib) << 2);
      if (qw != 0) {
        const q = qw + (<usize>(256 * ibl + 32 * ib) << 2);
        for (let i = 0; i < 32; ++i) {
          const v = load<f32>(xb + (<usize>i << 2));
          store<f32>(I3_W + (<usize>i << 2), load<f32>(q + (<usize>i << 2)) * sqrt<f32>(sigma2 + v * v));
        }
      } else {
        for (let i = 0; i < 32; ++i) {
          const v = load<f32>(xb + (<usize>i << 2));
          store<f32>(I3_W + (<usize>i << 2), v * v);
        }
      }
      for (let i = 0; i < 32; ++i) store<f32>(I3_WAUX + (<usize>i << 2), sqrt<f32>(load<f32>(I3_W + (<usize>i << 2))));
      for (let k = 0; k < 4; ++k) {
        let s: u32 = 0;
        for (let i = 0; i < 8; ++i) {
          const v = load<f32>(xb + (<usize>(8 * k + i) << 2));
          if (v >= 0) store<f32>(I3_XVAL + (<usize>(8 * k + i) << 2), v);
          else {
            store<f32>(I3_XVAL + (<usize>(8 * k + i) << 2), -v);
            s |= 1 << i;
          }
        }
        store<u8>(I3_SIGNS + k, <u8>s);
      }
      let mx = load<f32>(I3_XVAL);
      for (let i = 1; i < 32; ++i) {
        const v = load<f32>(I3_XVAL + (<usize>i << 2));
        mx = mx > v ? mx : v;
      }
      memory.fill(I3_L, 0, 32);
      if (mx == 0) {
        store<f32>(I3_SCALES + (<usize>ib << 2), 0);
        continue;
      }
      let best: f32 = 0;
      let scale = mx / <f32>q15;
      memory.fill(I3_ONGRID, 0, 8);
      for (let is = -9; is <= 9; ++is) {
        const id = (<f32>q15 + <f32>is * <f32>0.2) / mx;
        const thisScale = <f32>1.0 / id;
        for (let k = 0; k < 8; ++k) {
          const xv = I3_XVAL + (<usize>(4 * k) << 2);
          const l0 = iq3Level(id, load<f32>(xv));
          const l1 = iq3Level(id, load<f32>(xv, 4));
          const l2 = iq3Level(id, load<f32>(xv, 8));
          const l3 = iq3Level(id, load<f32>(xv, 12));
          store<i8>(I3_LAUX + 4 * k, <i8>l0);
          store<i8>(I3_LAUX + 4 * k + 1, <i8>l1);
          store<i8>(I3_LAUX + 4 * k + 2, <i8>l2);
          store<i8>(I3_LAUX + 4 * k + 3, <i8>l3);
          const u = l0 | (l1 << 3) | (l2 << 6) | (l3 << 9);
          const gi = load<i32>(IQ3S_MAP + (<usize>u << 2));
          store<u8>(I3_ONGRID_AUX + k, 1);
          if (gi < 0) {
            store<u8>(I3_ONGRID_AUX + k, 0);
            if (iq3FindBestNeighbour(IQ3S_GRID, IQ3S_NB + (<usize>(-gi - 1) << 1), xv, I3_WAUX + (<usize>(4 * k) << 2), thisScale, I3_LAUX + 4 * k) < 0) return 2;
          }
        }
        let sumqx: f32 = 0;
        let sumq2: f32 = 0;
        for (let i = 0; i < 32; ++i) {
          const w = load<f32>(I3_W + (<usize>i << 2));
          const qi: i32 = 2 * <i32>load<i8>(I3_LAUX + i) + 1;
          const q = <f32>qi;
          sumqx += w * load<f32>(I3_XVAL + (<usize>i << 2)) * q;
          sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          scale = sumqx / sumq2;
          best = scale * sumqx;
          memory.copy(I3_L, I3_LAUX, 32);
          memory.copy(I3_ONGRID, I3_ONGRID_AUX, 8);
        }
      }
      let nNotOnGrid = 0;
      for (let k = 0; k < 8; ++k) if (load<u8>(I3_ONGRID + k) == 0) ++nNotOnGrid;
      if (nNotOnGrid > 0 && scale > 0) {
        const id = <f32>1.0 / scale;
        for (let k = 0; k < 8; ++k) {
          // every group is redone (ggml has the on-grid skip commented out)
          const xv = I3_XVAL + (<usize>(4 * k) << 2);
          const u = iq3Level(id, load<f32>(xv)) | (iq3Level(id, load<f32>(xv, 4)) << 3) | (iq3Level(id, load<f32>(xv, 8)) << 6) | (iq3Level(id, load<f32>(xv, 12)) << 9);
          let gi = load<i32>(IQ3S_MAP + (<usize>u << 2));
          if (gi < 0) {
            gi = iq3FindBestNeighbour(IQ3S_GRID, IQ3S_NB + (<usize>(-gi - 1) << 1), xv, I3_WAUX + (<usize>(4 * k) << 2), scale, I3_L + 4 * k);
            if (gi < 0) return 2;
          }
          const pg = IQ3S_GRID + (<usize>gi << 2);
          for (let i = 0; i < 4; ++i) store<i8>(I3_L + 4 * k + i, <i8>((<i32>load<i8>(pg + i) - 1) >> 1));
        }
        let sumqx: f32 = 0;
        let sumq2: f32 = 0;
        for (let i = 0; i < 32; ++i) {
          const w = load<f32>(I3_W + (<usize>i << 2));
          const qi: i32 = 2 * <i32>load<i8>(I3_L + i) + 1;
          const q = <f32>qi;
          sumqx += w * load<f32>(I3_XVAL + (<usize>i << 2)) * q;
          sumq2 += w * q * q;
        }
        if (sumq2 > 0) scale = sumqx / sumq2;
      }
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 4; ++k) store<u8>(I3_SIGNS + k, <u8>(~<u32>load<u8>(I3_SIGNS + k) & 0xff));
      }
      for (let k = 0; k < 8; ++k) {
        const u = <i32>load<i8>(I3_L + 4 * k) | (<i32>load<i8>(I3_L + 4 * k + 1) << 3) | (<i32>load<i8>(I3_L + 4 * k + 2) << 6) | (<i32>load<i8>(I3_L + 4 * k + 3) << 9);
        const gi = load<i32>(IQ3S_MAP + (<usize>u << 2));
        if (gi < 0) return 2;
        store<u8>(qs + k, <u8>(gi & 255));
        const bit = ib * 8 + k;
        const hp = qh + (bit >> 3);
        store<u8>(hp, <u8>(<i32>load<u8>(hp) | ((gi >> 8) << (bit & 7))));
      }
      qs += 8;
      for (let k = 0; k < 4; ++k) store<u8>(signs + k, load<u8>(I3_SIGNS + k));
      signs += 4;
      if (!(scale >= 0)) return 2;
      store<f32>(I3_SCALES + (<usize>ib << 2), scale);
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (maxScale == 0) continue;
    const d = maxScale / <f32>31.0;
    store<u16>(y, <u16>f2h(d * <f32>1.033));
    const id = <f32>1.0 / d;
    for (let ib = 0; ib < 8; ib += 2) {
      const l1 = max<i32>(0, min<i32>(15, nearestInt(<f32>0.5 * (id * load<f32>(I3_SCALES + (<usize>ib << 2)) - <f32>1.0))));
      const l2 = max<i32>(0, min<i32>(15, nearestInt(<f32>0.5 * (id * load<f32>(I3_SCALES + (<usize>(ib + 1) << 2)) - <f32>1.0))));
      store<u8>(scalesOff + (ib >> 1), <u8>(l1 | (l2 << 4)));
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------- iq2_s

/** Grid tables of iq2_s (set by the loader: kgrid as 8 int8 per point, kmap as int32, kneighbors as u16). */
let IQ2S_GRID: usize = 0;
let IQ2S_MAP: usize = 0;
let IQ2S_NB: usize = 0;

/** GROUP_MAX_EPS_IQ2_S (1e-8f) */
const GROUP_MAX_EPS_IQ2_S: f32 = 1e-8;
/** The 16 sub-block scales of an iq2_s super-block. */
const I2_SCALES: usize = memory.data(16 * 4, 16);

/** Where the loader put the iq2_s grid tables (iq2-common.ts iq2xsInitImpl(IQ2_S_INDEX)). */
export function iq2sSetTables(grid: usize, map: usize, neighbours: usize): void {
  IQ2S_GRID = grid;
  IQ2S_MAP = map;
  IQ2S_NB = neighbours;
}

/**
 * iq2_find_best_neighbour over the 8-value grid points; coordinates into L; returns the index, -1 when none.
 * @see iq2_find_best_neighbour (ggml/src/ggml-quants.c; iq2-common.ts iq2FindBestNeighbour)
 */
function iq2FindBestNeighbour(grid: usize, nb: usize, xval: usize, w: usize, scale: f32, L: usize): i32 {
  const num = <i32>load<u16>(nb);
  let bestD2: f32 = f32.MAX_VALUE;
  let gridIndex = -1;
  for (let j = 1; j <= num; ++j) {
    const g = <i32>load<u16>(nb + (<usize>j << 1));
    const pg = grid + (<usize>g << 3);
    let d2: f32 = 0;
    for (let i = 0; i < 8; ++i) {
      const diff = scale * <f32>load<i8>(pg + i) - load<f32>(xval + (<usize>i << 2));
      d2 += load<f32>(w + (<usize>i << 2)) * diff * diff;
    }
    if (d2 < bestD2) {
      bestD2 = d2;
      gridIndex = g;
    }
  }
  if (num <= 0 || gridIndex < 0) return -1;
  const pg = grid + (<usize>gridIndex << 3);
  for (let i = 0; i < 8; ++i) store<i8>(L + i, <i8>((<i32>load<i8>(pg + i) - 1) >> 1));
  return gridIndex;
}

// @ts-ignore: decorator
@inline function iq2Level(id: f32, xv: f32): i32 {
  return max<i32>(0, min<i32>(2, nearestInt(<f32>0.5 * (id * xv - <f32>1.0))));
}

/**
 * quantize_row_iq2_s_impl of nbl super-blocks of one row; qw = the row's importance or 0 (weights
 * 0.25*sigma2 + x*x). Returns 0; 1 for an inf/NaN input; 2 where ggml aborts.
 * @see quantize_row_iq2_s_impl (ggml/src/ggml-quants.c; iq2.ts quantizeRowIq2SImpl, iq2SearchScale16)
 */
export function q_iq2_s(x: usize, y: usize, nbl: i32, qw: usize, _extra: i32): i32 {
  if (!allFinite(x, nbl * 256)) return 1;
  const kMaxQ = 3;
  const q5: i32 = 2 * kMaxQ - 1;
  for (let ibl = 0; ibl < nbl; ++ibl, y += 82) {
    memory.fill(y, 0, 82);
    const yqs = y + 2;
    const yqh = yqs + 64;
    const ysc = yqh + 8;
    let maxScale: f32 = 0;
    const xbl = x + (<usize>(256 * ibl) << 2);
    let sumx2: f32 = 0;
    for (let i = 0; i < 256; ++i) {
      const v = load<f32>(xbl + (<usize>i << 2));
      sumx2 += v * v;
    }
    const sigma2 = <f32>2.0 * sumx2 / <f32>256.0;
    for (let ib = 0; ib < 16; ++ib) {
      const xb = xbl + (<usize>(16 * ib) << 2);
      if (qw != 0) {
        const q = qw + (<usize>(256 * ibl + 16 * ib) << 2);
        for (let i = 0; i < 16; ++i) {
          const v = load<f32>(xb + (<usize>i << 2));
          store<f32>(I3_W + (<usize>i << 2), load<f32>(q + (<usize>i << 2)) * sqrt<f32>(sigma2 + v * v));
        }
      } else {
        for (let i = 0; i < 16; ++i) {
          const v = load<f32>(xb + (<usize>i << 2));
          store<f32>(I3_W + (<usize>i << 2), <f32>0.25 * sigma2 + v * v);
        }
      }
      for (let i = 0; i < 16; ++i) store<f32>(I3_WAUX + (<usize>i << 2), sqrt<f32>(load<f32>(I3_W + (<usize>i << 2))));
      for (let k = 0; k < 2; ++k) {
        let s: u32 = 0;
        for (let i = 0; i < 8; ++i) {
          const v = load<f32>(xb + (<usize>(8 * k + i) << 2));
          if (v >= 0) store<f32>(I3_XVAL + (<usize>(8 * k + i) << 2), v);
          else {
            store<f32>(I3_XVAL + (<usize>(8 * k + i) << 2), -v);
            s |= 1 << i;
          }
        }
        store<u8>(I3_SIGNS + k, <u8>s);
      }
      let mx = load<f32>(I3_XVAL);
      for (let i = 1; i < 16; ++i) {
        const v = load<f32>(I3_XVAL + (<usize>i << 2));
        mx = mx > v ? mx : v;
      }
      memory.fill(I3_L, 0, 16);
      if (mx < GROUP_MAX_EPS_IQ2_S) {
        store<f32>(I2_SCALES + (<usize>ib << 2), 0);
        continue;
      }
      // iq2SearchScale16
      let best: f32 = 0;
      let scale = mx / <f32>q5;
      store<u8>(I3_ONGRID, 1);
      store<u8>(I3_ONGRID + 1, 1);
      for (let is = -9; is <= 9; ++is) {
        const id = (<f32>q5 + <f32>is * <f32>0.1) / mx;
        const thisScale = <f32>1.0 / id;
        for (let k = 0; k < 2; ++k) {
          let u = 0;
          for (let i = 0; i < 8; ++i) {
            const l = iq2Level(id, load<f32>(I3_XVAL + (<usize>(8 * k + i) << 2)));
            store<i8>(I3_LAUX + 8 * k + i, <i8>l);
            u |= l << (2 * i);
          }
          const gi = load<i32>(IQ2S_MAP + (<usize>u << 2));
          store<u8>(I3_ONGRID_AUX + k, 1);
          if (gi < 0) {
            store<u8>(I3_ONGRID_AUX + k, 0);
            if (iq2FindBestNeighbour(IQ2S_GRID, IQ2S_NB + (<usize>(-gi - 1) << 1), I3_XVAL + (<usize>(8 * k) << 2), I3_WAUX + (<usize>(8 * k) << 2), thisScale, I3_LAUX + 8 * k) < 0) return 2;
          }
        }
        let sumqx: f32 = 0;
        let sumq2: f32 = 0;
        for (let i = 0; i < 16; ++i) {
          const w = load<f32>(I3_W + (<usize>i << 2));
          const qi: i32 = 2 * <i32>load<i8>(I3_LAUX + i) + 1;
          const q = <f32>qi;
          sumqx += w * load<f32>(I3_XVAL + (<usize>i << 2)) * q;
          sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          scale = sumqx / sumq2;
          best = scale * sumqx;
          memory.copy(I3_L, I3_LAUX, 16);
          memory.copy(I3_ONGRID, I3_ONGRID_AUX, 2);
        }
      }
      let nNotOnGrid = 0;
      for (let k = 0; k < 2; ++k) if (load<u8>(I3_ONGRID + k) == 0) ++nNotOnGrid;
      if (nNotOnGrid > 0 && scale > 0) {
        const id = <f32>1.0 / scale;
        for (let k = 0; k < 2; ++k) {
          if (load<u8>(I3_ONGRID + k) != 0) continue;
          let u = 0;
          for (let i = 0; i < 8; ++i) {
            const l = iq2Level(id, load<f32>(I3_XVAL + (<usize>(8 * k + i) << 2)));
            u |= l << (2 * i);
            store<i8>(I3_L + 8 * k + i, <i8>l);
          }
          const gi = load<i32>(IQ2S_MAP + (<usize>u << 2));
          if (gi < 0) {
            if (iq2FindBestNeighbour(IQ2S_GRID, IQ2S_NB + (<usize>(-gi - 1) << 1), I3_XVAL + (<usize>(8 * k) << 2), I3_WAUX + (<usize>(8 * k) << 2), scale, I3_L + 8 * k) < 0) return 2;
          }
        }
        let sumqx: f32 = 0;
        let sumq2: f32 = 0;
        for (let i = 0; i < 16; ++i) {
          const w = load<f32>(I3_W + (<usize>i << 2));
          const qi: i32 = 2 * <i32>load<i8>(I3_L + i) + 1;
          const q = <f32>qi;
          sumqx += w * load<f32>(I3_XVAL + (<usize>i << 2)) * q;
          sumq2 += w * q * q;
        }
        if (sumq2 > 0) scale = sumqx / sumq2;
      }
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 2; ++k) store<u8>(I3_SIGNS + k, <u8>(~<u32>load<u8>(I3_SIGNS + k) & 0xff));
      }
      for (let k = 0; k < 2; ++k) {
        let u = 0;
        for (let i = 0; i < 8; ++i) u |= <i32>load<i8>(I3_L + 8 * k + i) << (2 * i);
        u &= 0xffff;
        const gi = load<i32>(IQ2S_MAP + (<usize>u << 2));
        if (!(gi >= 0)) return 2;
        const i8 = 2 * ib + k;
        store<u8>(yqs + i8, <u8>(gi & 255));
        const hp = yqh + (i8 >> 2);
        store<u8>(hp, <u8>(<i32>load<u8>(hp) | ((gi >> 8) << (2 * (i8 % 4)))));
        store<u8>(yqs + 32 + i8, load<u8>(I3_SIGNS + k));
      }
      store<f32>(I2_SCALES + (<usize>ib << 2), scale);
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (maxScale == 0) continue;
    const d = maxScale / <f32>31.0;
    store<u16>(y, <u16>f2h(d * <f32>0.9875));
    const id = <f32>1.0 / d;
    for (let ib = 0; ib < 16; ++ib) {
      const l = max<i32>(0, min<i32>(15, nearestInt(<f32>0.5 * (id * load<f32>(I2_SCALES + (<usize>ib << 2)) - <f32>1.0))));
      const p = ysc + (ib >> 1);
      if (ib % 2 == 0) store<u8>(p, <u8>l);
      else store<u8>(p, load<u8>(p) | <u8>(l << 4));
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------- iq2_xxs

/** Grid tables of iq2_xxs, set by the loader. */
let IQ2XXS_GRID: usize = 0;
let IQ2XXS_MAP: usize = 0;
let IQ2XXS_NB: usize = 0;
const I2_Q2XXS: usize = memory.data(16 * 4, 16);

/** Where the loader put the iq2_xxs grid tables (iq2-common.ts iq2xsInitImpl(IQ2_XXS_INDEX)). */
export function iq2xxsSetTables(grid: usize, map: usize, neighbours: usize): void {
  IQ2XXS_GRID = grid;
  IQ2XXS_MAP = map;
  IQ2XXS_NB = neighbours;
}

/**
 * quantize_row_iq2_xxs_impl of nbl super-blocks of one row with the row's importance qw (required).
 * Returns 0; 1 for an inf/NaN input; 2 where ggml aborts.
 * @see quantize_row_iq2_xxs_impl (ggml/src/ggml-quants.c; iq2.ts quantizeRowIq2XxsImpl)
 */
export function q_iq2_xxs(x: usize, y: usize, nbl: i32, qw: usize, _extra: i32): i32 {
  if (!allFinite(x, nbl * 256)) return 1;
  const kMaxQ = 3;
  const q5: i32 = 2 * kMaxQ - 1;
  for (let ibl = 0; ibl < nbl; ++ibl, y += 66) {
    store<u16>(y, 0);
    memory.fill(I2_Q2XXS, 0, 64);
    let maxScale: f32 = 0;
    const xbl = x + (<usize>(256 * ibl) << 2);
    let sumx2: f32 = 0;
    for (let i = 0; i < 256; ++i) {
      const v = load<f32>(xbl + (<usize>i << 2));
      sumx2 += v * v;
    }
    const sigma2 = sumx2 / <f32>256.0;
    for (let ib = 0; ib < 8; ++ib) {
      const xb = xbl + (<usize>(32 * ib) << 2);
      const q = qw + (<usize>(256 * ibl + 32 * ib) << 2);
      for (let i = 0; i < 32; ++i) {
        const v = load<f32>(xb + (<usize>i << 2));
        store<f32>(I3_W + (<usize>i << 2), load<f32>(q + (<usize>i << 2)) * sqrt<f32>(sigma2 + v * v));
      }
      for (let i = 0; i < 32; ++i) store<f32>(I3_WAUX + (<usize>i << 2), sqrt<f32>(load<f32>(I3_W + (<usize>i << 2))));
      for (let k = 0; k < 4; ++k) {
        let nflip = 0;
        let s: u32 = 0;
        for (let i = 0; i < 8; ++i) {
          const v = load<f32>(xb + (<usize>(8 * k + i) << 2));
          if (v >= 0) store<f32>(I3_XVAL + (<usize>(8 * k + i) << 2), v);
          else {
            store<f32>(I3_XVAL + (<usize>(8 * k + i) << 2), -v);
            ++nflip;
            s |= 1 << i;
          }
        }
        if (nflip % 2) {
          let imin = 0;
          const x0 = load<f32>(xb + (<usize>(8 * k) << 2));
          let mn = load<f32>(I3_W + (<usize>(8 * k) << 2)) * x0 * x0;
          for (let i = 1; i < 8; ++i) {
            const xi = load<f32>(xb + (<usize>(8 * k + i) << 2));
            const ax = load<f32>(I3_W + (<usize>(8 * k + i) << 2)) * xi * xi;
            if (ax < mn) {
              mn = ax;
              imin = i;
            }
          }
          const p = I3_XVAL + (<usize>(8 * k + imin) << 2);
          store<f32>(p, -load<f32>(p));
          s ^= 1 << imin;
        }
        store<u8>(I3_SIGNS + k, <u8>(s & 127));
      }
      let mx = load<f32>(I3_XVAL);
      for (let i = 1; i < 32; ++i) {
        const v = load<f32>(I3_XVAL + (<usize>i << 2));
        mx = mx > v ? mx : v;
      }
      if (mx < GROUP_MAX_EPS) {
        store<f32>(I2_SCALES + (<usize>ib << 2), 0);
        memory.fill(I3_L, 0, 32);
        continue;
      }
      let scale = makeQpQuants(32, kMaxQ + 1, I3_XVAL, I3_L, I3_W);
      const effMax = scale * <f32>kMaxQ;
      let best: f32 = 0;
      for (let is = -6; is <= 6; ++is) {
        const id = (<f32>q5 + <f32>is * <f32>0.1) / effMax;
        const thisScale = <f32>1.0 / id;
        for (let k = 0; k < 4; ++k) {
          let u = 0;
          for (let i = 0; i < 8; ++i) {
            const l = iq2Level(id, load<f32>(I3_XVAL + (<usize>(8 * k + i) << 2)));
            store<i8>(I3_LAUX + 8 * k + i, <i8>l);
            u |= l << (2 * i);
          }
          const gi = load<i32>(IQ2XXS_MAP + (<usize>u << 2));
          if (gi < 0) {
            if (iq2FindBestNeighbour(IQ2XXS_GRID, IQ2XXS_NB + (<usize>(-gi - 1) << 1), I3_XVAL + (<usize>(8 * k) << 2), I3_WAUX + (<usize>(8 * k) << 2), thisScale, I3_LAUX + 8 * k) < 0) return 2;
          }
        }
        let sumqx: f32 = 0;
        let sumq2: f32 = 0;
        for (let i = 0; i < 32; ++i) {
          const w = load<f32>(I3_W + (<usize>i << 2));
          const qi: i32 = 2 * <i32>load<i8>(I3_LAUX + i) + 1;
          const qf = <f32>qi;
          sumqx += w * load<f32>(I3_XVAL + (<usize>i << 2)) * qf;
          sumq2 += w * qf * qf;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          scale = sumqx / sumq2;
          best = scale * sumqx;
          memory.copy(I3_L, I3_LAUX, 32);
        }
      }
      if (scale > 0) {
        const id = <f32>1.0 / scale;
        for (let k = 0; k < 4; ++k) {
          let u = 0;
          for (let i = 0; i < 8; ++i) u |= iq2Level(id, load<f32>(I3_XVAL + (<usize>(8 * k + i) << 2))) << (2 * i);
          let gi = load<i32>(IQ2XXS_MAP + (<usize>u << 2));
          if (gi < 0) {
            gi = iq2FindBestNeighbour(IQ2XXS_GRID, IQ2XXS_NB + (<usize>(-gi - 1) << 1), I3_XVAL + (<usize>(8 * k) << 2), I3_WAUX + (<usize>(8 * k) << 2), scale, I3_L + 8 * k);
            if (gi < 0) return 2;
          }
          const pg = IQ2XXS_GRID + (<usize>gi << 3);
          for (let i = 0; i < 8; ++i) store<i8>(I3_L + 8 * k + i, <i8>((<i32>load<i8>(pg + i) - 1) >> 1));
        }
        let sumqx: f32 = 0;
        let sumq2: f32 = 0;
        for (let i = 0; i < 32; ++i) {
          const w = load<f32>(I3_W + (<usize>i << 2));
          const qi: i32 = 2 * <i32>load<i8>(I3_L + i) + 1;
          const qf = <f32>qi;
          sumqx += w * load<f32>(I3_XVAL + (<usize>i << 2)) * qf;
          sumq2 += w * qf * qf;
        }
        if (sumq2 > 0) scale = sumqx / sumq2;
      }
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 4; ++k) store<u8>(I3_SIGNS + k, <u8>(~<u32>load<u8>(I3_SIGNS + k) & 127));
      }
      for (let k = 0; k < 4; ++k) {
        let u = 0;
        for (let i = 0; i < 8; ++i) u |= <i32>load<i8>(I3_L + 8 * k + i) << (2 * i);
        u &= 0xffff;
        const gi = load<i32>(IQ2XXS_MAP + (<usize>u << 2));
        if (!(gi >= 0)) return 2;
        const p0 = I2_Q2XXS + (<usize>(2 * ib) << 2);
        store<u32>(p0, load<u32>(p0) | (<u32>gi << (8 * k)));
        store<u32>(p0, load<u32>(p0, 4) | (<u32>load<u8>(I3_SIGNS + k) << (7 * k)), 4);
      }
      store<f32>(I2_SCALES + (<usize>ib << 2), scale);
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (maxScale == 0) {
      memory.fill(y + 2, 0, 64);
      continue;
    }
    const d = maxScale / <f32>31.0;
    store<u16>(y, <u16>f2h(d));
    const id = <f32>1.0 / d;
    for (let ib = 0; ib < 8; ++ib) {
      const l = max<i32>(0, min<i32>(15, nearestInt(<f32>0.5 * (id * load<f32>(I2_SCALES + (<usize>ib << 2)) - <f32>1.0))));
      const p = I2_Q2XXS + (<usize>(2 * ib + 1) << 2);
      store<u32>(p, load<u32>(p) | (<u32>l << 28));
    }
    memory.copy(y + 2, I2_Q2XXS, 64);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------- fp4 dequant

/** e8m0 -> fp32/2 and ue4m3 -> fp32 tables (math/fp8.ts), set by the loader. */
let E8M0_HALF: usize = 0;
let UE4M3: usize = 0;

/** Where the loader put the fp8 scale tables (256 float32 each). */
export function fp4SetTables(e8m0Half: usize, ue4m3: usize): void {
  E8M0_HALF = e8m0Half;
  UE4M3 = ue4m3;
}

/** kvalues_mxfp4 (ggml/src/ggml-common.h), as a byte shuffle table. */
// @ts-ignore: decorator
@inline function kvaluesMxfp4(): v128 {
  return i8x16(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
}

/** @see dequantize_row_mxfp4 (fp4.ts dequantizeRowMxfp4) */
export function dq_mxfp4(x: usize, y: usize, nb: i32): void {
  const kv = kvaluesMxfp4();
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++, x += 17, y += 128) {
    const vd = f32x4.splat(load<f32>(E8M0_HALF + (<usize>load<u8>(x) << 2)));
    const q = v128.load(x, 1);
    emitS8Mul(y, i8x16.swizzle(kv, v128.and(q, m4)), vd);
    emitS8Mul(y + 64, i8x16.swizzle(kv, i8x16.shr_u(q, 4)), vd);
  }
}

/** @see dequantize_row_nvfp4 (fp4.ts dequantizeRowNvfp4) */
export function dq_nvfp4(x: usize, y: usize, nb: i32): void {
  const kv = kvaluesMxfp4();
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++, x += 36) {
    for (let s = 0; s < 4; ++s, y += 64) {
      const vd = f32x4.splat(load<f32>(UE4M3 + (<usize>load<u8>(x + s) << 2)));
      const q = v128.load64_zero(x + 4 + 8 * s);
      const idx = i8x16.shuffle(v128.and(q, m4), i8x16.shr_u(q, 4), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      emitS8Mul(y, i8x16.swizzle(kv, idx), vd);
    }
  }
}

// ---------------------------------------------------------------------------------------------- iq3 dequant

/** iq3xxs_grid / iq3s_grid as little-endian bytes and ksigns_iq2xs (iq3-tables.ts), set by the loader. */
let IQ3XXS_GRIDB: usize = 0;
let IQ3S_GRIDB: usize = 0;
let KSIGNS: usize = 0;

/** Where the loader put the iq3 decoding tables. */
export function iq3DeqSetTables(xxsGrid: usize, sGrid: usize, ksigns: usize): void {
  IQ3XXS_GRIDB = xxsGrid;
  IQ3S_GRIDB = sGrid;
  KSIGNS = ksigns;
}

/** y[j] = db * g[j] * (signs bit j ? -1.f : 1.f) for 4 grid bytes at g (a product by -1, as the C: NaN keeps its sign). */
// @ts-ignore: decorator
@inline function signedGrid4(y: usize, db: f32, g: usize, signs: u32, first: u32): void {
  for (let j: u32 = 0; j < 4; ++j) {
    const v = db * <f32>load<u8>(g + j);
    store<f32>(y + (<usize>j << 2), v * ((signs & (<u32>1 << (first + j))) != 0 ? <f32>-1.0 : <f32>1.0));
  }
}

/** @see dequantize_row_iq3_xxs (iq3.ts dequantizeRowIq3_xxs) */
export function dq_iq3_xxs(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 98) {
    const d = h2f(<u32>load<u16>(x));
    let qs = x + 2;
    const sas = x + 66;
    for (let ib32 = 0; ib32 < 8; ++ib32) {
      const aux32 = load<u32>(sas + 4 * ib32);
      const db = d * (<f32>0.5 + <f32>(aux32 >> 28)) * <f32>0.5;
      for (let l: u32 = 0; l < 4; ++l) {
        const signs = <u32>load<u8>(KSIGNS + ((aux32 >> (7 * l)) & 127));
        signedGrid4(y, db, IQ3XXS_GRIDB + (<usize>load<u8>(qs + 2 * l) << 2), signs, 0);
        signedGrid4(y + 16, db, IQ3XXS_GRIDB + (<usize>load<u8>(qs + 2 * l + 1) << 2), signs, 4);
        y += 32;
      }
      qs += 8;
    }
  }
}

/** @see dequantize_row_iq3_s (iq3.ts dequantizeRowIq3_s) */
export function dq_iq3_s(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 110) {
    const d = h2f(<u32>load<u16>(x));
    let qs = x + 2;
    let qh = x + 66;
    let signs = x + 74;
    const sc = x + 106;
    for (let ib32 = 0; ib32 < 8; ib32 += 2) {
      const scb = <i32>load<u8>(sc + (ib32 >> 1));
      const s1: i32 = 1 + 2 * (scb & 0xf);
      const s2: i32 = 1 + 2 * (scb >> 4);
      const db1 = d * <f32>s1;
      const db2 = d * <f32>s2;
      const qh0 = <u32>load<u8>(qh);
      const qh1 = <u32>load<u8>(qh + 1);
      for (let l: u32 = 0; l < 4; ++l) {
        const g1 = <u32>load<u8>(qs + 2 * l) | ((qh0 << (8 - 2 * l)) & 256);
        const g2 = <u32>load<u8>(qs + 2 * l + 1) | ((qh0 << (7 - 2 * l)) & 256);
        const s = <u32>load<u8>(signs + l);
        signedGrid4(y, db1, IQ3S_GRIDB + (<usize>g1 << 2), s, 0);
        signedGrid4(y + 16, db1, IQ3S_GRIDB + (<usize>g2 << 2), s, 4);
        y += 32;
      }
      qs += 8;
      signs += 4;
      for (let l: u32 = 0; l < 4; ++l) {
        const g1 = <u32>load<u8>(qs + 2 * l) | ((qh1 << (8 - 2 * l)) & 256);
        const g2 = <u32>load<u8>(qs + 2 * l + 1) | ((qh1 << (7 - 2 * l)) & 256);
        const s = <u32>load<u8>(signs + l);
        signedGrid4(y, db2, IQ3S_GRIDB + (<usize>g1 << 2), s, 0);
        signedGrid4(y + 16, db2, IQ3S_GRIDB + (<usize>g2 << 2), s, 4);
        y += 32;
      }
      qh += 2;
      qs += 8;
      signs += 4;
    }
  }
}

// ---------------------------------------------------------------------------------------------- iq1_s dequant

/** iq1_s's shifted grid (iq1.ts iq1sShifted: grid value + IQ1S_DELTA, then - IQ1S_DELTA at `minus`), set by the loader. */
let IQ1S_SHIFTED: usize = 0;
let IQ1S_MINUS: i32 = 0;

/** Where the loader put iq1_s's shifted grid, and the float offset of its -delta half. */
export function iq1sSetTables(shifted: usize, minusOffset: i32): void {
  IQ1S_SHIFTED = shifted;
  IQ1S_MINUS = minusOffset;
}

/** @see dequantize_row_iq1_s (iq1.ts dequantizeRowIq1S) */
export function dq_iq1_s(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, x += 50) {
    const d = h2f(<u32>load<u16>(x));
    let qs = x + 2;
    const qhb = x + 34;
    for (let ib = 0; ib < 8; ++ib) {
      const qh = <i32>load<u16>(qhb + 2 * ib);
      const m: i32 = 2 * ((qh >> 12) & 7) + 1;
      const vdl = f32x4.splat(d * <f32>m);
      const base = (qh >>> 15) * IQ1S_MINUS;
      for (let l = 0; l < 4; ++l) {
        const g = base + 8 * (<i32>load<u8>(qs + l) | (((qh >> (3 * l)) & 7) << 8));
        const p = IQ1S_SHIFTED + (<usize>g << 2);
        v128.store(y, f32x4.mul(vdl, v128.load(p)));
        v128.store(y, f32x4.mul(vdl, v128.load(p, 16)), 16);
        y += 32;
      }
      qs += 4;
    }
  }
}

// ---------------------------------------------------------------------------------------------- iq1_s split search

// The exact three-level split search of quantize_row_iq1_s_impl (src/schemes/iq1.ts quantizeRowIq1SImpl, the
// double loop over the boundaries i1 <= i2), which TypeScript drives per 32-value sub-block: it writes the prefix
// sums sumx[0..n], sumw[0..n] at iq1sSplitIo() and iq1sSplitIo() + 192, calls iq1s_split, and reads the choice.
// Four consecutive i2 are evaluated in the lanes of f32x4 vectors with the C's float operations in the C's order;
// the C's sequential test against the running best score is exact per lane as long as no lane before it updated
// the best, so a group of four where no lane passes the test against the current best is skipped, and any other
// group is replayed lane by lane in scalar code (which then updates the best in C order).
const S1_SX: usize = memory.data(48 * 4, 16);
const S1_SW: usize = memory.data(48 * 4, 16);
const S1_CXP: usize = memory.data(48 * 4, 16);
const S1_CXM: usize = memory.data(48 * 4, 16);
const S1_CWP: usize = memory.data(48 * 4, 16);
const S1_CWM: usize = memory.data(48 * 4, 16);
let S1_SCALE: f32 = 0;

/** Address of the split search's input: sumx at +0, sumw at +192 (48 floats each). */
export function iq1sSplitIo(): usize {
  return S1_SX;
}

/** The scale of the last iq1s_split that found a split. */
export function iq1sSplitScale(): f32 {
  return S1_SCALE;
}

/**
 * Split search over n + 1 prefix sums (n <= 32) with the shifted levels x_p = {xp0, xp1, xp2} and
 * x_m = {xm0, -xp1, xm2}. Returns -1 when no candidate passed, else besti1 | besti2 << 8 | (best_shift + 1) << 16
 * (the scale then in iq1sSplitScale()). @see quantize_row_iq1_s_impl (ggml/src/ggml-quants.c)
 */
export function iq1s_split(n: i32, xp0: f32, xp1: f32, xp2: f32, xm0: f32, xm2: f32): i32 {
  const sx0 = load<f32>(S1_SX);
  const sw0 = load<f32>(S1_SW);
  const sxN = load<f32>(S1_SX + (<usize>n << 2));
  const swN = load<f32>(S1_SW + (<usize>n << 2));
  // the third terms of sumqx / sumq2 depend on i2 only
  for (let i2 = 0; i2 <= n; ++i2) {
    const o = <usize>i2 << 2;
    const cx: f32 = sxN - load<f32>(S1_SX + o);
    const cw: f32 = swN - load<f32>(S1_SW + o);
    store<f32>(S1_CXP + o, cx * xp2);
    store<f32>(S1_CXM + o, cx * xm2);
    store<f32>(S1_CWP + o, cw * xp2 * xp2);
    store<f32>(S1_CWM + o, cw * xm2 * xm2);
  }
  let best: f32 = -3.4028234663852886e38; // -FLT_MAX
  let scale: f32 = 0;
  let bi1 = -1;
  let bi2 = -1;
  let bshift = 0;
  const zero = f32x4.splat(0);
  const iota = i32x4(0, 1, 2, 3);
  const lim = i32x4.splat(n);
  const vxp1 = f32x4.splat(xp1);
  for (let i1 = 0; i1 <= n; ++i1) {
    const sxi1 = load<f32>(S1_SX + (<usize>i1 << 2));
    const swi1 = load<f32>(S1_SW + (<usize>i1 << 2));
    const ax: f32 = sxi1 - sx0;
    const aw: f32 = swi1 - sw0;
    const axP: f32 = ax * xp0;
    const axM: f32 = ax * xm0;
    const awP: f32 = aw * xp0 * xp0;
    const awM: f32 = aw * xm0 * xm0;
    const vsx = f32x4.splat(sxi1);
    const vsw = f32x4.splat(swi1);
    const vaxP = f32x4.splat(axP);
    const vaxM = f32x4.splat(axM);
    const vawP = f32x4.splat(awP);
    const vawM = f32x4.splat(awM);
    for (let i2 = i1; i2 <= n; i2 += 4) {
      const o = <usize>i2 << 2;
      const bx = f32x4.sub(v128.load(S1_SX + o), vsx);
      const bw = f32x4.sub(v128.load(S1_SW + o), vsw);
      const bxP = f32x4.mul(bx, vxp1);
      const bwQ = f32x4.mul(f32x4.mul(bw, vxp1), vxp1);
      const qxP = f32x4.add(f32x4.add(vaxP, bxP), v128.load(S1_CXP + o));
      const q2P = f32x4.add(f32x4.add(vawP, bwQ), v128.load(S1_CWP + o));
      const qxM = f32x4.add(f32x4.sub(vaxM, bxP), v128.load(S1_CXM + o));
      const q2M = f32x4.add(f32x4.add(vawM, bwQ), v128.load(S1_CWM + o));
      const vb = f32x4.splat(best);
      const mP = v128.and(f32x4.gt(q2P, zero), f32x4.gt(f32x4.mul(qxP, qxP), f32x4.mul(vb, q2P)));
      const mM = v128.and(f32x4.gt(q2M, zero), f32x4.gt(f32x4.mul(qxM, qxM), f32x4.mul(vb, q2M)));
      const valid = i32x4.le_s(i32x4.add(i32x4.splat(i2), iota), lim);
      if (!v128.any_true(v128.and(v128.or(mP, mM), valid))) continue;
      const end = i2 + 3 < n ? i2 + 3 : n;
      for (let j = i2; j <= end; ++j) {
        const oj = <usize>j << 2;
        const bxs: f32 = load<f32>(S1_SX + oj) - sxi1;
        const bws: f32 = load<f32>(S1_SW + oj) - swi1;
        const bxPs: f32 = bxs * xp1;
        const bwQs: f32 = bws * xp1 * xp1;
        let sumqx: f32 = axP + bxPs + load<f32>(S1_CXP + oj);
        let sumq2: f32 = awP + bwQs + load<f32>(S1_CWP + oj);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          scale = sumqx / sumq2;
          best = scale * sumqx;
          bi1 = i1;
          bi2 = j;
          bshift = 1;
        }
        sumqx = axM - bxPs + load<f32>(S1_CXM + oj);
        sumq2 = awM + bwQs + load<f32>(S1_CWM + oj);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          scale = sumqx / sumq2;
          best = scale * sumqx;
          bi1 = i1;
          bi2 = j;
          bshift = -1;
        }
      }
    }
  }
  if (bi1 < 0) return -1;
  S1_SCALE = scale;
  return bi1 | (bi2 << 8) | ((bshift + 1) << 16);
}
