/**
 * The element-wise and row-wise ops of the CPU backend in plain JS (they are memory-bound and cheap next to
 * matmul and attention). Same math as ggml's CPU ops, with C float rounding where it is cheap to keep.
 */
import type { RopeOptions } from "../types.js";

const fr = Math.fround;

/**
 * `out[t, i] = x[t, i] · scale_t · weight[i]`, scale_t = 1 / sqrt(mean(x[t]²) + eps), the sum of squares in double.
 * @see ggml_compute_forward_rms_norm_f32 (ggml/src/ggml-cpu/ops.cpp), then ggml_mul
 */
export function rmsnorm(x: Float32Array, nTokens: number, dim: number, weight: Float32Array, eps: number, out: Float32Array): void {
  for (let t = 0, o = 0; t < nTokens; t++, o += dim) {
    let sum = 0;
    for (let i = o; i < o + dim; i++) {
      const v = x[i]!;
      sum += fr(v * v);
    }
    const mean = fr(sum / dim);
    const scale = fr(1 / fr(Math.sqrt(fr(mean + eps))));
    for (let i = 0; i < dim; i++) out[o + i] = fr(x[o + i]! * scale) * weight[i]!;
  }
}

/** Row-wise softmax in place; sum of exponentials in double. @see ggml_vec_soft_max_f32 (ggml/src/ggml-cpu/vec.cpp) */
export function softmax(x: Float32Array, rows: number, cols: number): void {
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    let max = -Infinity;
    for (let i = o; i < o + cols; i++) if (x[i]! > max) max = x[i]!;
    let sum = 0;
    for (let i = o; i < o + cols; i++) {
      const e = fr(Math.exp(x[i]! - max));
      x[i] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let i = o; i < o + cols; i++) x[i] = x[i]! * inv;
  }
}

/** `out[i] = silu(gate[i]) · up[i]`. @see ggml_vec_swiglu_f32 (ggml/src/ggml-cpu/vec.h) */
export function swiglu(gate: Float32Array, up: Float32Array, n: number, out: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    out[i] = fr(g / (1 + Math.exp(-g))) * up[i]!;
  }
}

let ropeCos = new Float32Array(256);
let ropeSin = new Float32Array(256);

/**
 * RoPE in place. θ_i = p · freqScale · freqBase^(-2i/nRot), the power taken by repeated float multiplication as
 * ggml_rope_cache_init does; mode 0 rotates pairs (2i, 2i+1), mode 2 (NeoX) rotates (i, i + nRot/2).
 * @see ggml_compute_forward_rope_flt, ggml_rope_cache_init, rope_yarn (ggml/src/ggml-cpu/ops.cpp)
 */
export function rope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, positions: Int32Array, opts: RopeOptions): void {
  const { nRot, freqBase, freqScale, mode } = opts;
  const half = nRot >> 1;
  if (ropeCos.length < half) {
    ropeCos = new Float32Array(half);
    ropeSin = new Float32Array(half);
  }
  const cosT = ropeCos;
  const sinT = ropeSin;
  const thetaScale = fr(Math.pow(freqBase, fr(-2 / nRot)));
  for (let t = 0; t < nTokens; t++) {
    let theta = fr(positions[t]!);
    for (let i = 0; i < half; i++) {
      const th = fr(freqScale * theta);
      cosT[i] = Math.cos(th);
      sinT[i] = Math.sin(th);
      theta = fr(theta * thetaScale);
    }
    const base = t * nHeads * headDim;
    for (let h = 0; h < nHeads; h++) {
      const o = base + h * headDim;
      if (mode === 2) {
        for (let i = 0; i < half; i++) {
          const c = cosT[i]!;
          const s = sinT[i]!;
          const x0 = x[o + i]!;
          const x1 = x[o + i + half]!;
          x[o + i] = fr(x0 * c) - fr(x1 * s);
          x[o + i + half] = fr(x0 * s) + fr(x1 * c);
        }
      } else {
        for (let i = 0; i < half; i++) {
          const c = cosT[i]!;
          const s = sinT[i]!;
          const x0 = x[o + 2 * i]!;
          const x1 = x[o + 2 * i + 1]!;
          x[o + 2 * i] = fr(x0 * c) - fr(x1 * s);
          x[o + 2 * i + 1] = fr(x0 * s) + fr(x1 * c);
        }
      }
    }
  }
}
