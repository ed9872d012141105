/**
 * `cpu-ref`: the oracle backend. Plain scalar TypeScript, written to be obviously right and to follow ggml's CPU ops
 * (repo ggml-org/ggml, `src/ggml-cpu/ops.cpp`, `src/ggml-cpu/vec.h`/`vec.cpp`) so the C can be read beside it.
 * Every other backend is checked against this one (conformance.test.ts), and this one is checked against llama.cpp's
 * own logits on real models (packages/eval/src/golden-logits.test.ts).
 *
 * Float semantics: element-wise ops round every C `float` operation with `Math.fround`, as the C does. Dot products
 * (matmul, attention) accumulate exact products of the f32 inputs in JS doubles (like ggml's `ggml_float` sums in the
 * scalar `ggml_vec_dot_f32`/`ggml_vec_dot_f16`, minus the per-product float rounding); the result is rounded to f32 on
 * store. ggml's SIMD vec_dot accumulates in float lanes, so it differs from this in the last bits only.
 * Quantized weights are decoded with the scheme's own (golden-exact) `dequantizeRow`, a few rows at a time into a
 * reused scratch buffer; ggml instead quantizes the activations to the weight's `vec_dot_type` (q8_0/q8_K) for the
 * dot, so this oracle is the exact value of `W·x` that ggml approximates.
 */
import { builtinSchemes, ensureSchemeInit, type QuantScheme } from "@quantlab/quant-core";
import { KernelError } from "../errors.js";
import type { Backend, KernelDef, OpSignatures, QuantMatrix, RopeOptions } from "../types.js";

/** Scratch size in f32 elements for dequantized weight rows (a chunk of rows is decoded at once). */
const SCRATCH_ELEMS = 16384;

let rowScratch = new Float32Array(SCRATCH_ELEMS);
let ropeCache = new Float32Array(256);
let scoreScratch = new Float32Array(1024);

function ensureRowScratch(n: number): Float32Array {
  if (rowScratch.length < n) rowScratch = new Float32Array(n);
  return rowScratch;
}

/** Looks a scheme up by name in the list this backend was made with. */
function schemeTable(schemes: readonly QuantScheme[]): Map<string, QuantScheme> {
  const m = new Map<string, QuantScheme>();
  for (const s of schemes) m.set(s.name, s);
  return m;
}

function checkWeight(w: QuantMatrix, scheme: QuantScheme): void {
  const bs = scheme.layout.blockSize;
  if (w.cols % bs !== 0) {
    throw new KernelError("KERNEL_BAD_ARGUMENT", `${w.cols} columns is not a multiple of ${scheme.name}'s block size ${bs}`, { tensor: w.name });
  }
  const rb = (w.cols / bs) * scheme.layout.typeSize;
  if (rb !== w.rowBytes || w.data.length < w.rows * rb) {
    throw new KernelError(
      "KERNEL_BAD_ARGUMENT",
      `weight data does not fit ${w.rows} x ${w.cols} ${scheme.name} (${rb} bytes a row, ${w.data.length} bytes given)`,
      { tensor: w.name },
    );
  }
}

/** Exact dot product in double: Σ x[xo + i]·y[yo + i], i < n (4 independent partial sums). */
function dot(x: Float32Array, xo: number, y: Float32Array, yo: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  const n4 = n - (n & 3);
  for (; i < n4; i += 4) {
    s0 += x[xo + i] * y[yo + i];
    s1 += x[xo + i + 1] * y[yo + i + 1];
    s2 += x[xo + i + 2] * y[yo + i + 2];
    s3 += x[xo + i + 3] * y[yo + i + 3];
  }
  for (; i < n; i++) s0 += x[xo + i] * y[yo + i];
  return s0 + s1 + (s2 + s3);
}

/** Creates the oracle backend for these schemes (default: quant-core's built-ins). */
export function createCpuRefBackend(schemes: readonly QuantScheme[] = builtinSchemes): Backend {
  const table = schemeTable(schemes);
  const names = schemes.map((s) => s.name);

  const schemeOf = (w: QuantMatrix): QuantScheme => {
    const s = table.get(w.scheme);
    if (!s) throw new KernelError("KERNEL_NOT_FOUND", `cpu-ref has no scheme '${w.scheme}'`, { tensor: w.name, backend: "cpu-ref" });
    ensureSchemeInit(s);
    return s;
  };

  /** @see ggml_compute_forward_get_rows_q / dequantize_row_<type> (ggml: type_traits[type].to_float). */
  const dequantize: OpSignatures["dequantize"] = (w, rowStart, nRows, out) => {
    const s = schemeOf(w);
    checkWeight(w, s);
    if (rowStart < 0 || nRows < 0 || rowStart + nRows > w.rows || out.length < nRows * w.cols) {
      throw new KernelError("KERNEL_BAD_ARGUMENT", `rows [${rowStart}, ${rowStart + nRows}) of ${w.rows}, output ${out.length} values`, { tensor: w.name });
    }
    // Rows are whole blocks, so decoding nRows consecutive rows at once equals decoding them row by row.
    s.dequantizeRow(w.data.subarray(rowStart * w.rowBytes, (rowStart + nRows) * w.rowBytes), out, nRows * w.cols);
  };

  /**
   * `out[t, r] = Σ_c x[t, c]·W[r, c]`: @see ggml_compute_forward_mul_mat (ops on src0 = W rows, src1 = x rows).
   * A chunk of rows is decoded into the scratch, then dotted with every token's activations.
   */
  const matmul: OpSignatures["matmul"] = (x, nTokens, w, out) => {
    const s = schemeOf(w);
    checkWeight(w, s);
    const { rows, cols, rowBytes } = w;
    if (x.length < nTokens * cols || out.length < nTokens * rows) {
      throw new KernelError("KERNEL_BAD_ARGUMENT", `matmul [${nTokens}, ${cols}] x [${rows}, ${cols}]^T: x has ${x.length}, out ${out.length} values`, { tensor: w.name });
    }
    const chunk = Math.max(1, Math.floor(SCRATCH_ELEMS / cols));
    const scratch = ensureRowScratch(chunk * cols);
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const nr = Math.min(chunk, rows - r0);
      s.dequantizeRow(w.data.subarray(r0 * rowBytes, (r0 + nr) * rowBytes), scratch, nr * cols);
      for (let t = 0; t < nTokens; t++) {
        const xo = t * cols;
        const oo = t * rows + r0;
        for (let r = 0; r < nr; r++) out[oo + r] = dot(x, xo, scratch, r * cols, cols);
      }
    }
  };

  /**
   * @see ggml_compute_forward_rms_norm_f32 (ggml_float sum of x², `mean = sum/ne00`, `scale = 1.0f/sqrtf(mean + eps)`,
   * ggml_vec_scale_f32) followed by ggml_compute_forward_mul (the weight).
   */
  const rmsnorm: OpSignatures["rmsnorm"] = (x, nTokens, dim, weight, eps, out) => {
    const epsf = Math.fround(eps);
    for (let t = 0; t < nTokens; t++) {
      const o = t * dim;
      let sum = 0; // ggml_float
      for (let i = 0; i < dim; i++) {
        const v = x[o + i];
        sum += Math.fround(v * v);
      }
      const mean = Math.fround(sum / dim);
      const scale = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(mean + epsf))));
      for (let i = 0; i < dim; i++) out[o + i] = Math.fround(Math.fround(x[o + i] * scale) * weight[i]);
    }
  };

  /**
   * @see ggml_compute_forward_rope_f32, ggml_rope_cache_init, rope_yarn (ext_factor 0, attn_factor 1, no freq_factors):
   * `theta_scale = powf(freq_base, -2.0f/n_dims)`, `theta = p`, per pair `cos(freq_scale·theta)`, `sin(...)`,
   * `theta *= theta_scale`. Mode 0 rotates (i0, i0+1); NeoX (mode 2) rotates (i, i + n_dims/2). Dims ≥ n_dims pass through.
   */
  const rope: OpSignatures["rope"] = (x, nTokens, nHeads, headDim, positions, opts: RopeOptions) => {
    const nDims = opts.nRot;
    if (nDims > headDim || (nDims & 1) !== 0) {
      throw new KernelError("KERNEL_BAD_ARGUMENT", `rope n_dims ${nDims} must be even and ≤ head dim ${headDim}`);
    }
    if (ropeCache.length < nDims) ropeCache = new Float32Array(nDims);
    const cache = ropeCache;
    const thetaScale = Math.fround(Math.pow(Math.fround(opts.freqBase), Math.fround(-2 / nDims)));
    const freqScale = Math.fround(opts.freqScale);
    const neox = opts.mode === 2;
    const half = nDims >> 1;
    for (let t = 0; t < nTokens; t++) {
      // ggml_rope_cache_init(p, ...)
      let theta = Math.fround(positions[t]);
      for (let i0 = 0; i0 < nDims; i0 += 2) {
        const thetaInterp = Math.fround(freqScale * theta); // rope_yarn
        cache[i0] = Math.fround(Math.cos(thetaInterp));
        cache[i0 + 1] = Math.fround(Math.sin(thetaInterp));
        theta = Math.fround(theta * thetaScale);
      }
      for (let h = 0; h < nHeads; h++) {
        const base = (t * nHeads + h) * headDim;
        for (let i0 = 0; i0 < nDims; i0 += 2) {
          const cosT = cache[i0];
          const sinT = cache[i0 + 1];
          const a = neox ? base + (i0 >> 1) : base + i0;
          const b = neox ? a + half : a + 1;
          const x0 = x[a];
          const x1 = x[b];
          x[a] = Math.fround(Math.fround(x0 * cosT) - Math.fround(x1 * sinT));
          x[b] = Math.fround(Math.fround(x0 * sinT) + Math.fround(x1 * cosT));
        }
      }
    }
  };

  /** @see ggml_compute_forward_soft_max_f32 / ggml_vec_soft_max_f32 (double sum, then `ggml_vec_scale_f32(1.0/sum)`). */
  const softmax: OpSignatures["softmax"] = (x, rows, cols) => {
    for (let r = 0; r < rows; r++) softmaxRow(x, r * cols, cols);
  };

  /** @see ggml_vec_swiglu_f32 (`silu(x)·g`, `ggml_silu_f32(x) = x/(1.0f + expf(-x))`). */
  const swiglu: OpSignatures["swiglu"] = (gate, up, n, out) => {
    for (let i = 0; i < n; i++) {
      const g = gate[i];
      const silu = Math.fround(g / Math.fround(1 + Math.fround(Math.exp(-g))));
      out[i] = Math.fround(silu * up[i]);
    }
  };

  /**
   * llama.cpp's non-flash attention (llm_graph_context::build_attn_mha): `kq = K·q`, ggml_soft_max_ext(kq, mask,
   * kq_scale) (scale, causal mask as −∞ beyond the token's position, softmax), then `kqv = V·softmax`. GQA: query head h
   * reads kv head h / (n_head / n_head_kv) (ggml_mul_mat broadcasting over ne2).
   */
  const attention: OpSignatures["attention"] = (q, nTokens, positions, kCache, vCache, nHead, nKvHead, headDim, scale, out) => {
    const group = nHead / nKvHead;
    if (!Number.isInteger(group)) throw new KernelError("KERNEL_BAD_ARGUMENT", `n_head ${nHead} is not a multiple of n_head_kv ${nKvHead}`);
    const kvStride = nKvHead * headDim;
    const scalef = Math.fround(scale);
    for (let t = 0; t < nTokens; t++) {
      const nKv = positions[t] + 1;
      if (scoreScratch.length < nKv) scoreScratch = new Float32Array(Math.max(nKv, scoreScratch.length * 2));
      const scores = scoreScratch;
      for (let h = 0; h < nHead; h++) {
        const qo = (t * nHead + h) * headDim;
        const kvo = Math.floor(h / group) * headDim;
        for (let j = 0; j < nKv; j++) scores[j] = Math.fround(Math.fround(dot(q, qo, kCache, j * kvStride + kvo, headDim)) * scalef);
        softmaxRow(scores, 0, nKv);
        const oo = (t * nHead + h) * headDim;
        for (let d = 0; d < headDim; d++) {
          let acc = 0;
          for (let j = 0; j < nKv; j++) acc += scores[j] * vCache[j * kvStride + kvo + d];
          out[oo + d] = acc;
        }
      }
    }
  };

  const all = "*" as const;
  const kernels: KernelDef[] = [
    { op: "dequantize", backend: "cpu-ref", schemes: names, run: dequantize },
    { op: "matmul", backend: "cpu-ref", schemes: names, run: matmul },
    { op: "rmsnorm", backend: "cpu-ref", schemes: all, run: rmsnorm },
    { op: "rope", backend: "cpu-ref", schemes: all, run: rope },
    { op: "softmax", backend: "cpu-ref", schemes: all, run: softmax },
    { op: "swiglu", backend: "cpu-ref", schemes: all, run: swiglu },
    { op: "attention", backend: "cpu-ref", schemes: all, run: attention },
  ];
  return Object.freeze({ name: "cpu-ref" as const, probe: () => true, kernels: Object.freeze(kernels) });
}

/** One softmax row in place. @see ggml_vec_soft_max_f32 */
function softmaxRow(x: Float32Array, o: number, n: number): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (x[o + i] > max) max = x[o + i];
  let sum = 0; // ggml_float
  for (let i = 0; i < n; i++) {
    const val = Math.fround(Math.exp(Math.fround(x[o + i] - max)));
    sum += val;
    x[o + i] = val;
  }
  const inv = Math.fround(1 / sum);
  for (let i = 0; i < n; i++) x[o + i] = Math.fround(x[o + i] * inv);
}

/** The oracle over quant-core's built-in schemes. Stateless apart from module scratch buffers; needs no disposal. */
export const cpuRefBackend: Backend = createCpuRefBackend();
