/**
 * ggml's activation rounding in matmuls. On the CPU backend ggml does not multiply a quantized weight by f32
 * activations: `ggml_compute_forward_mul_mat` first converts the activations (src1) to the weight type's
 * `vec_dot_type` (q8_0 for the 32-blocks, q8_K for the K-quants and most IQ types, f16 for f16 weights, ...) and the
 * dot product then runs between the two block formats. That rounding is part of what llama.cpp's perplexity and KLD
 * figures measure (e.g. a Q8_0 model's KLD is about 3× what f32 activations give). To report figures that mean the
 * same as llama.cpp's, the runtime rounds the activations the same way (quantize to the vec_dot type and back to f32)
 * before calling the matmul kernel; `activations: "f32"` turns it off.
 *
 * @see type_traits_cpu[].vec_dot_type (ggml/src/ggml-cpu/ggml-cpu.c) and ggml_compute_forward_mul_mat (same file)
 */
import { builtinRegistry, type QuantScheme } from "@quantlab/quant-core";

/** How matmul activations are treated. */
export type ActivationMode = "ggml" | "f32";

/**
 * Weight type → the type its activations are converted to (ggml-cpu.c `type_traits_cpu`, llama.cpp c392e50).
 * q8_1 (for q4_1/q5_1) holds the same values as q8_0 (same scale d = amax/127 and rounding); its extra sum field
 * does not change the dot product's value, so its round trip is q8_0's. Types absent here multiply f32 activations.
 */
export const VEC_DOT_TYPE: Readonly<Record<string, string>> = Object.freeze({
  f16: "f16",
  bf16: "bf16",
  q4_0: "q8_0",
  q4_1: "q8_0",
  q5_0: "q8_0",
  q5_1: "q8_0",
  q8_0: "q8_0",
  iq4_nl: "q8_0",
  mxfp4: "q8_0",
  q2_K: "q8_K",
  q3_K: "q8_K",
  q4_K: "q8_K",
  q5_K: "q8_K",
  q6_K: "q8_K",
  iq2_xxs: "q8_K",
  iq2_xs: "q8_K",
  iq2_s: "q8_K",
  iq3_xxs: "q8_K",
  iq3_s: "q8_K",
  iq1_s: "q8_K",
  iq1_m: "q8_K",
  iq4_xs: "q8_K",
  tq1_0: "q8_K",
  tq2_0: "q8_K",
});

/** Rounds activation rows to a weight's vec_dot type into a reused buffer. */
export class ActivationRounder {
  private out = new Float32Array(0);
  private bytes = new Uint8Array(0);
  private readonly schemes = new Map<string, QuantScheme>();
  // What `out` holds: the last rounding (source array, tokens, columns, target type), for `again`.
  private lastSrc: Float32Array | undefined;
  private lastN = 0;
  private lastCols = 0;
  private lastTarget = "";

  constructor(readonly mode: ActivationMode) {}

  /**
   * `x` ([nTokens, cols]) as the matmul against a `weightScheme` weight sees it: `x` itself when no rounding applies,
   * else a view of an internal buffer (valid until the next call).
   */
  round(x: Float32Array, nTokens: number, cols: number, weightScheme: string, again = false): Float32Array {
    if (this.mode === "f32") return x;
    const target = VEC_DOT_TYPE[weightScheme];
    if (target === undefined) return x;
    // `again`: the caller says `x` has not changed since the previous call (q/k/v, gate/up share one input); when
    // that call rounded the same rows to the same type, its result is still in the buffer.
    if (again && this.lastSrc === x && this.lastN === nTokens && this.lastCols === cols && this.lastTarget === target) {
      return this.out.subarray(0, nTokens * cols);
    }
    const scheme = this.scheme(target);
    const block = scheme.layout.blockSize;
    if (cols % block !== 0) return x; // a row the vec_dot type cannot hold: ggml would not pick this path either
    const rowBytes = (cols / block) * scheme.layout.typeSize;
    const n = nTokens * cols;
    if (this.out.length < n) this.out = new Float32Array(n);
    if (this.bytes.length < rowBytes) this.bytes = new Uint8Array(rowBytes);
    const out = this.out;
    const bytes = this.bytes;
    for (let t = 0; t < nTokens; t++) {
      const row = x.subarray(t * cols, (t + 1) * cols);
      scheme.quantizeRowRef(row, bytes, cols);
      scheme.dequantizeRow(bytes, out.subarray(t * cols, (t + 1) * cols), cols);
    }
    this.lastSrc = x;
    this.lastN = nTokens;
    this.lastCols = cols;
    this.lastTarget = target;
    return out.subarray(0, n);
  }

  private scheme(name: string): QuantScheme {
    let s = this.schemes.get(name);
    if (!s) {
      s = builtinRegistry().get(name);
      this.schemes.set(name, s);
    }
    return s;
  }
}
