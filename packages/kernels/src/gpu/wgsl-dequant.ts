/**
 * Per-element dequantization in WGSL: for each supported scheme, WGSL that decodes weight `i` of the block
 * that starts at byte `base` of the raw weight buffer `W` (the GGUF block bytes uploaded as they are, padded to a
 * multiple of 4 bytes and read as `array<u32>`). Used by the matmul (dequantize-on-the-fly), matvec and dequantize
 * shaders through `fn dq(row, col) -> f32`.
 *
 * Each scheme follows the loop of the C `dequantize_row_<type>` (ggml/src/ggml-quants.c) solved for one output index, and
 * performs the same float operations in the same order (`d * sc` first, then `* q`, then `- m`), so f32, f16, bf16,
 * q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl (one multiply of exact values) are bit-exact; for the K-quants the driver's
 * compiler may contract `a * b - c` into an FMA, which can move a result by 1 ulp.
 *
 * Block layouts: ggml/src/ggml-common.h (`block_q4_0`, `block_q4_K`, …).
 */

export interface WgslScheme {
  readonly name: string;
  /** Weights per block (ggml `blck_size`). */
  readonly blockSize: number;
  /** Bytes per block (ggml `type_size`). */
  readonly typeSize: number;
  /** Weights sharing one (scale, offset) pair: 1 for the float types (no scale), 16 or 32 for block types. */
  readonly subSize: number;
  /** Whether the offset is used: y = scale · q + offset (q4_1, q5_1, q2_K, q4_K, q5_K); otherwise y = scale · q. */
  readonly hasOffset: boolean;
  /**
   * WGSL statements returning `vec2<f32>(scale, offset)` of the sub-block holding weight `i` of the block at byte
   * `base` (unused when subSize is 1). Offsets are stored negated where the C subtracts (`d1 * q - m1`).
   */
  readonly sub: string;
  /** WGSL statements returning weight `i`'s quant as f32 (for the float types: the value itself). */
  readonly q: string;
}

/** Shared helpers: byte, half, int8 reads from `W: array<u32>`, and an exact f16 → f32 conversion (subnormals kept). */
export const WGSL_DEQUANT_HELPERS = /* wgsl */ `
fn b8(o: u32) -> u32 { return (W[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu; }
fn u16at(o: u32) -> u32 { return b8(o) | (b8(o + 1u) << 8u); }
fn i8at(o: u32) -> i32 { return (i32(b8(o)) << 24u) >> 24u; }
// IEEE half to float without relying on unpack2x16float (which may flush f16 subnormals).
fn h2f(h: u32) -> f32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) {
    let v = f32(m) * 5.9604644775390625e-8; // m * 2^-24, exact
    return select(v, -v, s != 0u);
  }
  if (e == 31u) { return bitcast<f32>(s | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(s | ((e + 112u) << 23u) | (m << 13u));
}
fn f16at(o: u32) -> f32 { return h2f(u16at(o)); }
`;

/** Data: `kvalues_iq4nl` (ggml/src/ggml-common.h). */
const KVALUES_IQ4NL = "array<f32, 16>(-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0, 1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0)";

/** @see get_scale_min_k4 (ggml/src/ggml-quants.c): 6-bit scale (x) and min (y) `j` of a q4_K/q5_K block's `scales[12]` at `o`. */
const WGSL_SCALE_MIN_K4 = /* wgsl */ `
fn scale_min_k4(j: u32, o: u32) -> vec2<u32> {
  if (j < 4u) { return vec2<u32>(b8(o + j) & 63u, b8(o + j + 4u) & 63u); }
  return vec2<u32>((b8(o + j + 4u) & 0xfu) | ((b8(o + j - 4u) >> 6u) << 4u), (b8(o + j + 4u) >> 4u) | ((b8(o + j) >> 6u) << 4u));
}
`;

const NOSUB = "return vec2<f32>(1.0, 0.0);";

/**
 * The schemes. Each C `dequantize_row_<type>` computes y = scale · q (+ offset) with the scale formed first
 * (`d1 = d * sc`), which is what `sub` returns; `q` is the integer (or table value) as f32.
 */
export const WGSL_SCHEMES: Readonly<Record<string, WgslScheme>> = {
  f32: { name: "f32", blockSize: 1, typeSize: 4, subSize: 1, hasOffset: false, sub: NOSUB, q: "return bitcast<f32>(W[base >> 2u]);" },
  f16: { name: "f16", blockSize: 1, typeSize: 2, subSize: 1, hasOffset: false, sub: NOSUB, q: "return f16at(base);" },
  bf16: { name: "bf16", blockSize: 1, typeSize: 2, subSize: 1, hasOffset: false, sub: NOSUB, q: "return bitcast<f32>(u16at(base) << 16u);" },
  // @see dequantize_row_q4_0: y[j] = ((qs[j] & 0xF) - 8) * d; y[j + 16] = ((qs[j] >> 4) - 8) * d
  q4_0: {
    name: "q4_0",
    blockSize: 32,
    typeSize: 18,
    subSize: 32,
    hasOffset: false,
    sub: "return vec2<f32>(f16at(base), 0.0);",
    q: "return f32(i32((b8(base + 2u + (i & 15u)) >> ((i >> 4u) * 4u)) & 0xfu) - 8);",
  },
  // @see dequantize_row_q4_1: y = x * d + m
  q4_1: {
    name: "q4_1",
    blockSize: 32,
    typeSize: 20,
    subSize: 32,
    hasOffset: true,
    sub: "return vec2<f32>(f16at(base), f16at(base + 2u));",
    q: "return f32((b8(base + 4u + (i & 15u)) >> ((i >> 4u) * 4u)) & 0xfu);",
  },
  // @see dequantize_row_q5_0: the 5th bit of x0 is qh bit j, of x1 qh bit j + 16 (C: (qh >> (j + 12)) & 0x10)
  q5_0: {
    name: "q5_0",
    blockSize: 32,
    typeSize: 22,
    subSize: 32,
    hasOffset: false,
    sub: "return vec2<f32>(f16at(base), 0.0);",
    q: `let lo = (b8(base + 6u + (i & 15u)) >> ((i >> 4u) * 4u)) & 0xfu;
  let hi = ((b8(base + 2u + (i >> 3u)) >> (i & 7u)) & 1u) << 4u;
  return f32(i32(lo | hi) - 16);`,
  },
  // @see dequantize_row_q5_1
  q5_1: {
    name: "q5_1",
    blockSize: 32,
    typeSize: 24,
    subSize: 32,
    hasOffset: true,
    sub: "return vec2<f32>(f16at(base), f16at(base + 2u));",
    q: `let lo = (b8(base + 8u + (i & 15u)) >> ((i >> 4u) * 4u)) & 0xfu;
  let hi = ((b8(base + 4u + (i >> 3u)) >> (i & 7u)) & 1u) << 4u;
  return f32(lo | hi);`,
  },
  // @see dequantize_row_q8_0: y[j] = qs[j] * d
  q8_0: {
    name: "q8_0",
    blockSize: 32,
    typeSize: 34,
    subSize: 32,
    hasOffset: false,
    sub: "return vec2<f32>(f16at(base), 0.0);",
    q: "return f32(i8at(base + 2u + i));",
  },
  // @see dequantize_row_q2_K: scales[16] @0, qs[64] @16, d @80, dmin @82; y = dl * q - ml
  q2_K: {
    name: "q2_K",
    blockSize: 256,
    typeSize: 84,
    subSize: 16,
    hasOffset: true,
    sub: `let sc = b8(base + (i >> 4u));
  return vec2<f32>(f16at(base + 80u) * f32(sc & 0xfu), -(f16at(base + 82u) * f32(sc >> 4u)));`,
    q: `let half = i >> 7u; let w = i & 127u; let j = w >> 5u; let l = w & 31u;
  return f32((b8(base + 16u + half * 32u + l) >> (2u * j)) & 3u);`,
  },
  // @see dequantize_row_q3_K: hmask[32] @0, qs[64] @32, scales[12] @96, d @108; 6-bit scales unpacked as the C's aux/kmask
  q3_K: {
    name: "q3_K",
    blockSize: 256,
    typeSize: 110,
    subSize: 16,
    hasOffset: false,
    sub: `let s = i >> 4u;
  let lo = (b8(base + 96u + (s & 7u)) >> (4u * (s >> 3u))) & 0xfu;
  let hi = (b8(base + 104u + (s & 3u)) >> (2u * (s >> 2u))) & 3u;
  return vec2<f32>(f16at(base + 108u) * f32(i32(lo | (hi << 4u)) - 32), 0.0);`,
    q: `let half = i >> 7u; let w = i & 127u; let j = w >> 5u; let l = w & 31u;
  let q = i32((b8(base + 32u + half * 32u + l) >> (2u * j)) & 3u);
  let hbit = (b8(base + l) >> (half * 4u + j)) & 1u;
  return f32(q - select(4, 0, hbit != 0u));`,
  },
  // @see dequantize_row_q4_K: d @0, dmin @2, scales[12] @4, qs[128] @16; y = d1 * q - m1
  q4_K: {
    name: "q4_K",
    blockSize: 256,
    typeSize: 144,
    subSize: 32,
    hasOffset: true,
    sub: `let sm = scale_min_k4(i >> 5u, base + 4u);
  return vec2<f32>(f16at(base) * f32(sm.x), -(f16at(base + 2u) * f32(sm.y)));`,
    q: `let j = i >> 6u; let hiNib = (i >> 5u) & 1u; let l = i & 31u;
  return f32((b8(base + 16u + j * 32u + l) >> (4u * hiNib)) & 0xfu);`,
  },
  // @see dequantize_row_q5_K: d @0, dmin @2, scales[12] @4, qh[32] @16, qs[128] @48
  q5_K: {
    name: "q5_K",
    blockSize: 256,
    typeSize: 176,
    subSize: 32,
    hasOffset: true,
    sub: `let sm = scale_min_k4(i >> 5u, base + 4u);
  return vec2<f32>(f16at(base) * f32(sm.x), -(f16at(base + 2u) * f32(sm.y)));`,
    q: `let j = i >> 6u; let hiNib = (i >> 5u) & 1u; let l = i & 31u;
  return f32(((b8(base + 48u + j * 32u + l) >> (4u * hiNib)) & 0xfu) + (((b8(base + 16u + l) >> (i >> 5u)) & 1u) << 4u));`,
  },
  // @see dequantize_row_q6_K: ql[128] @0, qh[64] @128, scales[16] (int8) @192, d @208; y = d * sc * q
  q6_K: {
    name: "q6_K",
    blockSize: 256,
    typeSize: 210,
    subSize: 16,
    hasOffset: false,
    sub: `let half = i >> 7u; let w = i & 127u; let quarter = w >> 5u; let l = w & 31u;
  return vec2<f32>(f16at(base + 208u) * f32(i8at(base + 192u + half * 8u + (l >> 4u) + quarter * 2u)), 0.0);`,
    q: `let half = i >> 7u; let w = i & 127u; let quarter = w >> 5u; let l = w & 31u;
  let ql = (b8(base + half * 64u + l + (quarter & 1u) * 32u) >> (4u * (quarter >> 1u))) & 0xfu;
  let qh = (b8(base + 128u + half * 32u + l) >> (2u * quarter)) & 3u;
  return f32(i32(ql | (qh << 4u)) - 32);`,
  },
  // @see dequantize_row_iq4_nl: y[j] = d * kvalues_iq4nl[qs[j] & 0xf], y[j + 16] = d * kvalues_iq4nl[qs[j] >> 4]
  iq4_nl: {
    name: "iq4_nl",
    blockSize: 32,
    typeSize: 18,
    subSize: 32,
    hasOffset: false,
    sub: "return vec2<f32>(f16at(base), 0.0);",
    q: `let kv = ${KVALUES_IQ4NL};
  return kv[(b8(base + 2u + (i & 15u)) >> ((i >> 4u) * 4u)) & 0xfu];`,
  },
  // @see dequantize_row_iq4_xs: d @0, scales_h (u16) @2, scales_l[4] @4, qs[128] @8; dl = d * (ls - 32)
  iq4_xs: {
    name: "iq4_xs",
    blockSize: 256,
    typeSize: 136,
    subSize: 32,
    hasOffset: false,
    sub: `let ib = i >> 5u;
  let ls = ((b8(base + 4u + (ib >> 1u)) >> (4u * (ib & 1u))) & 0xfu) | (((u16at(base + 2u) >> (2u * ib)) & 3u) << 4u);
  return vec2<f32>(f16at(base) * f32(i32(ls) - 32), 0.0);`,
    q: `let kv = ${KVALUES_IQ4NL};
  let ib = i >> 5u; let w = i & 31u;
  return kv[(b8(base + 8u + ib * 16u + (w & 15u)) >> ((w >> 4u) * 4u)) & 0xfu];`,
  },
};

/** Scheme names the GPU backend handles. */
export const GPU_SCHEMES: readonly string[] = Object.keys(WGSL_SCHEMES);

/**
 * WGSL for, over `W` for one scheme (`P.rowBytes` must be in scope, a uniform; `row` is relative to the weight chunk):
 * - `fn dsub(row, col) -> vec2<f32>`: (scale, offset) of the sub-block holding column `col`;
 * - `fn dqq(row, col) -> f32`: the quant of column `col`;
 * - `fn dq(row, col) -> f32`: the weight, scale · q (+ offset), the C's operations in the C's order.
 */
export function wgslDequantFn(s: WgslScheme): string {
  const k4 = s.name === "q4_K" || s.name === "q5_K" ? WGSL_SCALE_MIN_K4 : "";
  const addr =
    s.blockSize === 1
      ? `let base = row * P.rowBytes + col * ${s.typeSize}u;\n  let i = 0u;`
      : `let base = row * P.rowBytes + (col / ${s.blockSize}u) * ${s.typeSize}u;\n  let i = col % ${s.blockSize}u;`;
  const combine = s.subSize === 1 ? "return dqq(row, col);" : s.hasOffset ? "let sm = dsub(row, col);\n  return sm.x * dqq(row, col) + sm.y;" : "return dsub(row, col).x * dqq(row, col);";
  return `${WGSL_DEQUANT_HELPERS}${k4}
fn dsub(row: u32, col: u32) -> vec2<f32> {
  ${addr}
  _ = base; _ = i;
  ${s.sub}
}
fn dqq(row: u32, col: u32) -> f32 {
  ${addr}
  _ = i;
  ${s.q}
}
fn dq(row: u32, col: u32) -> f32 {
  ${combine}
}
`;
}
