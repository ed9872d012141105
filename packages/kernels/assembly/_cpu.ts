// The optimised CPU kernels in WebAssembly SIMD (f32x4). Included by cpu.ts (private memory) and cpu_mt.ts
// (shared memory for worker threads). All buffers are addressed by byte pointers that the JS side lays out
// in the (imported) memory; nothing here allocates.
//
// Determinism: every output element of `gemm` is computed the same way whatever tile it falls in —
// one f32x4 accumulator per element, updated in column order (no FMA), reduced by `hsum` — so the result
// does not depend on the tile shape, on nTokens, or on how rows are split between threads.

/** Lane sum in a fixed order: (l0 + l1) + (l2 + l3). */
// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * `out[t * ldo + r] = Σ_{c < k} x[t * ldx + c] · w[r * ldw + c]` for t < nT, r < nR (dot form, W rows
 * contiguous). `k`, `ldx`, `ldw` are multiples of 4 (the JS side zero-pads); strides are in floats.
 * Main tile: 4 tokens × 2 rows (8 accumulators, 6 loads per 8 multiply-adds), remainders 4×1, 1×4, 1×1.
 */
export function gemm(x: usize, ldx: i32, nT: i32, w: usize, ldw: i32, nR: i32, k: i32, out: usize, ldo: i32): void {
  const sx = <usize>ldx << 2;
  const sw = <usize>ldw << 2;
  const so = <usize>ldo << 2;
  const kb = <usize>k << 2;
  let t = 0;
  for (; t + 4 <= nT; t += 4) {
    const x0 = x + <usize>t * sx;
    const x1 = x0 + sx;
    const x2 = x1 + sx;
    const x3 = x2 + sx;
    const o0 = out + <usize>t * so;
    let r = 0;
    for (; r + 2 <= nR; r += 2) {
      const w0 = w + <usize>r * sw;
      const w1 = w0 + sw;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0), a21 = f32x4.splat(0);
      let a30 = f32x4.splat(0), a31 = f32x4.splat(0);
      for (let c: usize = 0; c < kb; c += 16) {
        const b0 = v128.load(w0 + c);
        const b1 = v128.load(w1 + c);
        let v = v128.load(x0 + c);
        a00 = f32x4.add(a00, f32x4.mul(v, b0));
        a01 = f32x4.add(a01, f32x4.mul(v, b1));
        v = v128.load(x1 + c);
        a10 = f32x4.add(a10, f32x4.mul(v, b0));
        a11 = f32x4.add(a11, f32x4.mul(v, b1));
        v = v128.load(x2 + c);
        a20 = f32x4.add(a20, f32x4.mul(v, b0));
        a21 = f32x4.add(a21, f32x4.mul(v, b1));
        v = v128.load(x3 + c);
        a30 = f32x4.add(a30, f32x4.mul(v, b0));
        a31 = f32x4.add(a31, f32x4.mul(v, b1));
      }
      const o = o0 + (<usize>r << 2);
      store<f32>(o, hsum(a00));
      store<f32>(o + 4, hsum(a01));
      store<f32>(o + so, hsum(a10));
      store<f32>(o + so + 4, hsum(a11));
      store<f32>(o + 2 * so, hsum(a20));
      store<f32>(o + 2 * so + 4, hsum(a21));
      store<f32>(o + 3 * so, hsum(a30));
      store<f32>(o + 3 * so + 4, hsum(a31));
    }
    for (; r < nR; r++) {
      const w0 = w + <usize>r * sw;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let c: usize = 0; c < kb; c += 16) {
        const b0 = v128.load(w0 + c);
        a0 = f32x4.add(a0, f32x4.mul(v128.load(x0 + c), b0));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(x1 + c), b0));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(x2 + c), b0));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(x3 + c), b0));
      }
      const o = o0 + (<usize>r << 2);
      store<f32>(o, hsum(a0));
      store<f32>(o + so, hsum(a1));
      store<f32>(o + 2 * so, hsum(a2));
      store<f32>(o + 3 * so, hsum(a3));
    }
  }
  for (; t < nT; t++) gemv(x + <usize>t * sx, w, ldw, nR, k, out + <usize>t * so);
}

/** `out[r] = Σ_{c < k} x[c] · w[r * ldw + c]` for r < nR: one token (decode). Tile 1 × 4 rows. */
export function gemv(x: usize, w: usize, ldw: i32, nR: i32, k: i32, out: usize): void {
  const sw = <usize>ldw << 2;
  const kb = <usize>k << 2;
  let r = 0;
  for (; r + 4 <= nR; r += 4) {
    const w0 = w + <usize>r * sw;
    const w1 = w0 + sw;
    const w2 = w1 + sw;
    const w3 = w2 + sw;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let c: usize = 0; c < kb; c += 16) {
      const v = v128.load(x + c);
      a0 = f32x4.add(a0, f32x4.mul(v, v128.load(w0 + c)));
      a1 = f32x4.add(a1, f32x4.mul(v, v128.load(w1 + c)));
      a2 = f32x4.add(a2, f32x4.mul(v, v128.load(w2 + c)));
      a3 = f32x4.add(a3, f32x4.mul(v, v128.load(w3 + c)));
    }
    const o = out + (<usize>r << 2);
    store<f32>(o, hsum(a0));
    store<f32>(o + 4, hsum(a1));
    store<f32>(o + 8, hsum(a2));
    store<f32>(o + 12, hsum(a3));
  }
  for (; r < nR; r++) {
    const w0 = w + <usize>r * sw;
    let a0 = f32x4.splat(0);
    for (let c: usize = 0; c < kb; c += 16) a0 = f32x4.add(a0, f32x4.mul(v128.load(x + c), v128.load(w0 + c)));
    store<f32>(out + (<usize>r << 2), hsum(a0));
  }
}

/** IEEE half → float, exact (subnormals, inf, NaN). */
// @ts-ignore: decorator
@inline function halfToFloat(h: u32): f32 {
  const s = (h & 0x8000) << 16;
  const em = h & 0x7fff;
  if (em >= 0x7c00) return reinterpret<f32>(s | 0x7f800000 | ((em & 0x3ff) << 13));
  // (em << 13) is the half's bit pattern moved into f32's fields with the exponent short by 112; × 2^112 fixes it
  // exactly for normals and subnormals alike.
  return reinterpret<f32>(s | reinterpret<u32>(reinterpret<f32>(em << 13) * reinterpret<f32>(0x77800000)));
}

/**
 * q8_0 blocks (34 bytes: f16 d, 32 × i8) → f32: `y = q · d` rounded once, as ggml's scalar code.
 * @see dequantize_row_q8_0 (ggml/src/ggml-quants.c)
 */
export function dequantQ8_0(src: usize, dst: usize, nBlocks: i32): void {
  for (let i = 0; i < nBlocks; i++) {
    const d = f32x4.splat(halfToFloat(<u32>load<u16>(src)));
    const q0 = v128.load(src + 2);
    const q1 = v128.load(src + 18);
    const l0 = i16x8.extend_low_i8x16_s(q0);
    const h0 = i16x8.extend_high_i8x16_s(q0);
    const l1 = i16x8.extend_low_i8x16_s(q1);
    const h1 = i16x8.extend_high_i8x16_s(q1);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l0)), d));
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l0)), d), 16);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h0)), d), 32);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h0)), d), 48);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l1)), d), 64);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l1)), d), 80);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h1)), d), 96);
    v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h1)), d), 112);
    src += 34;
    dst += 128;
  }
}

/** f16 values → f32. @see ggml_fp16_to_fp32_row (ggml/src/ggml.c) */
export function dequantF16(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    store<f32>(dst + (<usize>i << 2), halfToFloat(<u32>load<u16>(src + (<usize>i << 1))));
  }
}

/** Σ_{d < n} a[d] · b[d]: f32x4 over the multiple-of-4 part, then the scalar tail. */
// @ts-ignore: decorator
@inline function dotf(a: usize, b: usize, n: i32): f32 {
  const n4 = <usize>(n & ~3) << 2;
  let acc = f32x4.splat(0);
  for (let c: usize = 0; c < n4; c += 16) acc = f32x4.add(acc, f32x4.mul(v128.load(a + c), v128.load(b + c)));
  let s = hsum(acc);
  for (let c = n4; c < (<usize>n << 2); c += 4) s += load<f32>(a + c) * load<f32>(b + c);
  return s;
}

/**
 * Causal GQA attention for heads [h0, h1): for token t (at position positions[t]) and head h,
 * `out[t, h, :] = Σ_{j ≤ pos} softmax_j(scale · q[t,h]·k[j,kvh]) · v[j,kvh]`, kvh = h / (nHead / nKvHead).
 * q and out are `[nTokens, nHead, headDim]` (token stride `ldq` floats); k, v are `[nCtx, nKvHead, headDim]`.
 * `scores` is scratch for max(pos)+1 floats. The softmax sum runs in f64 as ggml_vec_soft_max_f32 does.
 * @see ggml_compute_forward_soft_max_f32, ggml_vec_soft_max_f32 (ggml/src/ggml-cpu)
 */
export function attention(
  q: usize, k: usize, v: usize, out: usize, scores: usize,
  nTokens: i32, positions: usize, nHead: i32, nKvHead: i32, headDim: i32, ldq: i32, scale: f32,
  h0: i32, h1: i32,
): void {
  const group = nHead / nKvHead;
  const kvStride = <usize>(nKvHead * headDim) << 2;
  const hd4 = <usize>(headDim & ~3) << 2;
  const hdb = <usize>headDim << 2;
  for (let t = 0; t < nTokens; t++) {
    const n = load<i32>(positions + (<usize>t << 2)) + 1;
    for (let h = h0; h < h1; h++) {
      const qp = q + ((<usize>t * <usize>ldq + <usize>(h * headDim)) << 2);
      const op = out + ((<usize>t * <usize>ldq + <usize>(h * headDim)) << 2);
      const kvOff = <usize>((h / group) * headDim) << 2;
      let mx = -Infinity as f32;
      let kp = k + kvOff;
      for (let j = 0; j < n; j++) {
        const s = dotf(qp, kp, headDim) * scale;
        store<f32>(scores + (<usize>j << 2), s);
        mx = max(mx, s);
        kp += kvStride;
      }
      let sum: f64 = 0;
      for (let j = 0; j < n; j++) {
        const sp = scores + (<usize>j << 2);
        const e = Mathf.exp(load<f32>(sp) - mx);
        store<f32>(sp, e);
        sum += <f64>e;
      }
      const inv = <f32>(1.0 / sum);
      for (let c: usize = 0; c < hdb; c += 4) store<f32>(op + c, 0);
      let vp = v + kvOff;
      for (let j = 0; j < n; j++) {
        const p = load<f32>(scores + (<usize>j << 2)) * inv;
        const pv = f32x4.splat(p);
        for (let c: usize = 0; c < hd4; c += 16) v128.store(op + c, f32x4.add(v128.load(op + c), f32x4.mul(pv, v128.load(vp + c))));
        for (let c = hd4; c < hdb; c += 4) store<f32>(op + c, load<f32>(op + c) + p * load<f32>(vp + c));
        vp += kvStride;
      }
    }
  }
}
