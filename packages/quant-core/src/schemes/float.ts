/**
 * The float "types" of ggml: f32 (a copy), f16 (IEEE half) and bf16 (bfloat16). They have a block of one
 * element and no importance path: `ggml_quantize_chunk` converts element by element.
 *
 * Conversions go through float32 bit patterns (Uint32Array views of the Float32Array buffers) so NaN signs
 * and payloads, -0 and infinities come out exactly as ggml writes them.
 */
import { GGMLQuantizationType } from "@quantlab/gguf";
import { defineScheme, type QuantScheme } from "../scheme.js";
import { FP16_TABLE, fp32BitsToFp16 } from "../math/fp16.js";
import { bf16ToFp32Bits, fp32BitsToBf16 } from "../math/bf16.js";
import { wasmDequantizer, wasmQuantizer } from "../wasm/quants.js";

/** float32 bits of every fp16 value, as int32 (a view of the exact table in math/fp16.ts). */
const FP16_BITS = new Int32Array(FP16_TABLE.buffer, FP16_TABLE.byteOffset, FP16_TABLE.length);

/** Whether this host is little-endian (then a Uint16Array view of the bytes is the little-endian ggml layout). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Int32 view of a Float32Array's bits (same memory; a Float32Array is always 4-byte aligned). */
function bitsOf(a: Float32Array, n: number): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, n);
}

/**
 * An Int32Array over the `n` little-endian 16-bit values of `b` taken two at a time (value 2i in the low half of word
 * i, 2i+1 in the high half), or null when that view is not possible: odd `n`, bytes not 4-aligned, big-endian host.
 * Two values per load/store is what makes these conversion loops fast.
 */
function pairsOf(b: Uint8Array, n: number): Int32Array | null {
  return LITTLE_ENDIAN && (b.byteOffset & 3) === 0 && (n & 1) === 0 ? new Int32Array(b.buffer, b.byteOffset, n >> 1) : null;
}

// ---------------------------------------------------------------------------------------------- f32

/** f32 "quantization" is a memcpy of the input bytes. @see ggml_quantize_chunk (GGML_TYPE_F32 case, ggml/src/ggml.c) */
export function quantizeRowF32Ref(src: Float32Array, dst: Uint8Array, k: number): void {
  dst.set(new Uint8Array(src.buffer, src.byteOffset, k * 4));
}

/** f32 has no `to_float` in ggml (it is already float); decoding copies the bytes back. */
export function dequantizeRowF32(src: Uint8Array, dst: Float32Array, k: number): void {
  new Uint8Array(dst.buffer, dst.byteOffset, k * 4).set(src.subarray(0, k * 4));
}

/** @see ggml_quantize_chunk (GGML_TYPE_F32: memcpy) */
export function quantizeF32(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, _importance: Float32Array | null): number {
  const n = nrows * nPerRow;
  quantizeRowF32Ref(src, dst, n);
  return n * 4;
}

// ---------------------------------------------------------------------------------------------- f16

/**
 * float32 → fp16, little-endian into `dst`, from the float32 bits (integer-only, bit-exact: see
 * fp32BitsToFp16). NaN keeps its sign (0x7E00 | sign), as the C reads the sign from the float bits.
 * @see ggml_fp32_to_fp16_row (ggml/src/ggml.c), ggml_compute_fp32_to_fp16 (ggml/src/ggml-impl.h)
 */
export function ggmlFp32ToFp16Row(src: Float32Array, dst: Uint8Array, k: number): void {
  const bits = bitsOf(src, k);
  const out = pairsOf(dst, k);
  if (out !== null) {
    for (let i = 0, j = 0; i < k; i += 2, j++) out[j] = fp32BitsToFp16(bits[i]!) | (fp32BitsToFp16(bits[i + 1]!) << 16);
    return;
  }
  for (let i = 0; i < k; i++) {
    const h = fp32BitsToFp16(bits[i]!);
    dst[2 * i] = h & 0xff;
    dst[2 * i + 1] = h >>> 8;
  }
}

/** fp16 → float32 bit for bit (NaN payloads kept). @see ggml_fp16_to_fp32_row (ggml/src/ggml.c) */
export function ggmlFp16ToFp32Row(src: Uint8Array, dst: Float32Array, k: number): void {
  const out = bitsOf(dst, k);
  const h = pairsOf(src, k);
  if (h !== null) {
    for (let i = 0, j = 0; i < k; i += 2, j++) {
      const w = h[j]!;
      out[i] = FP16_BITS[w & 0xffff]!;
      out[i + 1] = FP16_BITS[w >>> 16]!;
    }
    return;
  }
  for (let i = 0; i < k; i++) out[i] = FP16_BITS[src[2 * i]! | (src[2 * i + 1]! << 8)]!;
}

/** @see ggml_fp32_to_fp16_row */
export function quantizeRowF16Ref(src: Float32Array, dst: Uint8Array, k: number): void {
  ggmlFp32ToFp16Row(src, dst, k);
}

/** @see ggml_fp16_to_fp32_row (type_traits[GGML_TYPE_F16].to_float) */
export function dequantizeRowF16(src: Uint8Array, dst: Float32Array, k: number): void {
  ggmlFp16ToFp32Row(src, dst, k);
}

/** @see ggml_quantize_chunk (GGML_TYPE_F16 case: ggml_fp32_to_fp16_row over all rows; importance ignored) */
export function quantizeF16(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, _importance: Float32Array | null): number {
  const n = nrows * nPerRow;
  ggmlFp32ToFp16Row(src, dst, n);
  return n * 2;
}

// --------------------------------------------------------------------------------------------- bf16

/** @see ggml_fp32_to_bf16_row_ref (ggml/src/ggml.c) */
export function quantizeRowBf16Ref(src: Float32Array, dst: Uint8Array, k: number): void {
  const bits = bitsOf(src, k);
  const out = pairsOf(dst, k);
  if (out !== null) {
    // fp32BitsToBf16 inlined on int32 bits: `>>> 16` wraps modulo 2^32 as the C uint32 sum does
    for (let i = 0, j = 0; i < k; i += 2, j++) {
      const u = bits[i]!;
      const v = bits[i + 1]!;
      const hu = (u & 0x7fffffff) > 0x7f800000 ? (u >>> 16) | 64 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
      const hv = (v & 0x7fffffff) > 0x7f800000 ? (v >>> 16) | 64 : (v + 0x7fff + ((v >>> 16) & 1)) >>> 16;
      out[j] = hu | (hv << 16);
    }
    return;
  }
  for (let i = 0; i < k; i++) {
    const h = fp32BitsToBf16(bits[i]!);
    dst[2 * i] = h & 0xff;
    dst[2 * i + 1] = h >>> 8;
  }
}

/** @see ggml_bf16_to_fp32_row (ggml/src/ggml.c; type_traits[GGML_TYPE_BF16].to_float) */
export function dequantizeRowBf16(src: Uint8Array, dst: Float32Array, k: number): void {
  const out = bitsOf(dst, k);
  const h = pairsOf(src, k);
  if (h !== null) {
    for (let i = 0, j = 0; i < k; i += 2, j++) {
      const w = h[j]!;
      out[i] = w << 16;
      out[i + 1] = w & -65536;
    }
    return;
  }
  for (let i = 0; i < k; i++) out[i] = bf16ToFp32Bits(src[2 * i]! | (src[2 * i + 1]! << 8));
}

/** @see ggml_quantize_chunk (GGML_TYPE_BF16 case: ggml_fp32_to_bf16_row_ref over all rows; importance ignored) */
export function quantizeBf16(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, _importance: Float32Array | null): number {
  const n = nrows * nPerRow;
  quantizeRowBf16Ref(src, dst, n);
  return n * 2;
}

// ---------------------------------------------------------------------------------------------- schemes

export const f32Scheme = defineScheme({
  name: "f32",
  ggmlType: GGMLQuantizationType.F32,
  description: "32-bit IEEE float, stored as is",
  layout: { blockSize: 1, typeSize: 4, fields: [{ name: "f", type: "f32", count: 1 }] },
  needs: { importance: "unused" },
  quantizeRowRef: quantizeRowF32Ref,
  dequantizeRow: dequantizeRowF32,
  quantize: (src, dst, nRows, nPerRow) => quantizeF32(src, dst, nRows, nPerRow, null),
});

export const f16Scheme = defineScheme({
  name: "f16",
  ggmlType: GGMLQuantizationType.F16,
  description: "16-bit IEEE half float (round to nearest even; above 65504 becomes inf)",
  layout: { blockSize: 1, typeSize: 2, fields: [{ name: "f", type: "f16", count: 1 }] },
  needs: { importance: "unused" },
  quantizeRowRef: quantizeRowF16Ref,
  dequantizeRow: dequantizeRowF16,
  quantize: (src, dst, nRows, nPerRow) => quantizeF16(src, dst, nRows, nPerRow, null),
});

/** The bf16 conversion on the WebAssembly kernel when available. */
const bf16RefW = wasmQuantizer("q_bf16", 1, 2, quantizeRowBf16Ref);

export const bf16Scheme = defineScheme({
  name: "bf16",
  ggmlType: GGMLQuantizationType.BF16,
  description: "bfloat16: the upper 16 bits of float32, rounded to nearest even",
  layout: { blockSize: 1, typeSize: 2, fields: [{ name: "f", type: "bf16", count: 1 }] },
  needs: { importance: "unused" },
  quantizeRowRef: bf16RefW,
  dequantizeRow: wasmDequantizer("dq_bf16", 1, 2, dequantizeRowBf16),
  quantize: (src, dst, nRows, nPerRow) => {
    bf16RefW(src, dst, nRows * nPerRow);
    return nRows * nPerRow * 2;
  },
});

/** Built-in schemes of this family, in ggml type id order. */
export const floatSchemes: readonly QuantScheme[] = [f32Scheme, f16Scheme, bf16Scheme];
