/**
 * The check llama-quantize runs on every quantized chunk before writing it: no float field of any block (the
 * scales `d`, `dmin`, `m`, ... of quantized types, every value of F32/F16/BF16) may be NaN or infinite.
 *
 * @see ggml_validate_row_data (ggml/src/ggml-quants.c) and llama_tensor_quantize_impl (src/llama-quant.cpp,
 * c392e50), which throws "quantized data validation failed". The block layout's float-typed fields are exactly the
 * fields ggml validates per type (fp16 `d`/`dmin` of the legacy, K-, IQ- and ternary types, every element of the
 * float types).
 */
import { FIELD_BYTES, type BlockLayout } from "../scheme.js";

/** Index of the first block holding a NaN/Inf float field, or -1. */
export function firstInvalidBlock(layout: BlockLayout, bytes: Uint8Array, nBlocks: number): number {
  const checks: { offset: number; kind: "f16" | "bf16" | "f32"; count: number }[] = [];
  let off = 0;
  for (const f of layout.fields) {
    if (f.type === "f16" || f.type === "bf16" || f.type === "f32") checks.push({ offset: off, kind: f.type, count: f.count });
    off += FIELD_BYTES[f.type] * f.count;
  }
  if (checks.length === 0) return -1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = layout.typeSize;
  for (let b = 0; b < nBlocks; b++) {
    const base = b * size;
    for (const c of checks) {
      for (let k = 0; k < c.count; k++) {
        if (c.kind === "f16") {
          if ((view.getUint16(base + c.offset + 2 * k, true) & 0x7c00) === 0x7c00) return b;
        } else if (c.kind === "bf16") {
          if ((view.getUint16(base + c.offset + 2 * k, true) & 0x7f80) === 0x7f80) return b;
        } else if ((view.getUint32(base + c.offset + 4 * k, true) & 0x7f800000) === 0x7f800000) return b;
      }
    }
  }
  return -1;
}
