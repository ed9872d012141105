/**
 * The scheme plugin contract. A scheme is a plain object (made by a factory) that knows one block format:
 * how to quantize rows of float32 into blocks and back. Built-in schemes mirror ggml's types one to one;
 * experimental schemes set `ggmlType: null`.
 *
 * The contract is versioned by the literal `specVersion` field (after vercel/ai's `specificationVersion`):
 * a host refuses objects whose version it does not know.
 */
import type { GGMLQuantizationType } from "@quantlab/gguf";

export const SCHEME_SPEC_VERSION = "quantlab.scheme/v1" as const;
export type SchemeSpecVersion = typeof SCHEME_SPEC_VERSION;

/** Whether a scheme needs an importance vector (one weight per column) to quantize. Enforced by the host. */
export type ImportanceNeed = "required" | "optional" | "unused";

/** Scalar kinds a block field can hold (little-endian). */
export type BlockFieldType = "u8" | "i8" | "u16" | "i16" | "u32" | "f16" | "bf16" | "f32" | "e8m0" | "ue4m3";

export interface BlockField {
  /** Field name as in the C struct (`d`, `dmin`, `scales`, `qs`, ...). */
  readonly name: string;
  readonly type: BlockFieldType;
  /** Number of elements of `type` (1 for a scalar). */
  readonly count: number;
  /** What the field holds, for docs and `inspect`. */
  readonly doc?: string;
}

/** The block layout: `blockSize` elements stored in `typeSize` bytes, fields in C struct order. */
export interface BlockLayout {
  readonly blockSize: number;
  readonly typeSize: number;
  readonly fields: readonly BlockField[];
}

export interface QuantizeOptions {
  /**
   * Importance of each column (`nPerRow` positive floats, shared by all rows), as llama.cpp passes
   * an imatrix entry divided by its call count. `null`/absent = none.
   */
  readonly importance?: Float32Array | null | undefined;
}

export interface QuantScheme {
  readonly specVersion: SchemeSpecVersion;
  /** Unique name; for built-ins ggml's `type_name` (`q4_K`, `iq2_xxs`). */
  readonly name: string;
  /** ggml type id this scheme writes, or `null` for an experimental scheme that has none. */
  readonly ggmlType: GGMLQuantizationType | null;
  readonly description?: string;
  readonly layout: BlockLayout;
  readonly needs: { readonly importance: ImportanceNeed };
  /** Optional lazy initialisation (lookup grids). The host calls it once before the first use. Idempotent. */
  init?(): void;
  /**
   * Reference quantization of `n` consecutive values (a multiple of `blockSize`) into `dst`
   * (n / blockSize blocks). Mirrors ggml's `quantize_row_<type>_ref`. Schemes for which ggml has no
   * reference path (it requires an importance matrix) throw `QUANT_IMPORTANCE_REQUIRED`.
   */
  quantizeRowRef(src: Float32Array, dst: Uint8Array, n: number): void;
  /** Decodes `n` values (a multiple of `blockSize`) from `src` blocks into `dst`. Mirrors `dequantize_row_<type>`. */
  dequantizeRow(src: Uint8Array, dst: Float32Array, n: number): void;
  /**
   * Quantizes `nRows` rows of `nPerRow` values, optionally importance-weighted. Mirrors `quantize_<type>`
   * (what `ggml_quantize_chunk` calls). Returns the number of bytes written
   * (`nRows * nPerRow / blockSize * typeSize`).
   */
  quantize(src: Float32Array, dst: Uint8Array, nRows: number, nPerRow: number, options?: QuantizeOptions): number;
}

/** Input for {@link defineScheme}: the contract minus the version field. */
export type SchemeDefinition = Omit<QuantScheme, "specVersion">;

/** Stamps the current contract version on a scheme definition. */
export function defineScheme(def: SchemeDefinition): QuantScheme {
  return Object.freeze({ specVersion: SCHEME_SPEC_VERSION, ...def });
}

/** Bytes of one row of `n` values in this scheme (ggml_row_size). */
export function rowSize(scheme: Pick<QuantScheme, "layout">, n: number): number {
  return (n / scheme.layout.blockSize) * scheme.layout.typeSize;
}

/** Sum of the field sizes of a layout. */
export function layoutFieldBytes(layout: BlockLayout): number {
  let s = 0;
  for (const f of layout.fields) s += FIELD_BYTES[f.type] * f.count;
  return s;
}

export const FIELD_BYTES: Readonly<Record<BlockFieldType, number>> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  f16: 2,
  bf16: 2,
  f32: 4,
  e8m0: 1,
  ue4m3: 1,
};
