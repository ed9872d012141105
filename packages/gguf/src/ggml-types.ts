/**
 * ggml tensor types: the enum, mirrored exactly from `enum ggml_type` (ggml/include/ggml.h, ggml d99724f),
 * and one table with each type's block geometry, derived from the C structs in ggml/src/ggml-common.h
 * (`static_assert(sizeof(block_q4_0) == ...)`) and `type_traits[]` in ggml/src/ggml.c.
 *
 * Retired ids are kept visible in {@link GGML_REMOVED_TYPES}: they may still appear in old files and must be
 * reported by name, not as "unknown".
 */

/** Mirrors `enum ggml_type`. Gaps (4, 5, 31–33, 36–38) are ids that ggml removed. */
export enum GGMLQuantizationType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  // 4: Q4_2 (removed), 5: Q4_3 (removed)
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  // 31: Q4_0_4_4, 32: Q4_0_4_8, 33: Q4_0_8_8 (removed from GGUF files; runtime repacking)
  TQ1_0 = 34,
  TQ2_0 = 35,
  // 36: IQ4_NL_4_4, 37: IQ4_NL_4_8, 38: IQ4_NL_8_8 (removed)
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
  Q2_0 = 42,
}

/** `GGML_TYPE_COUNT` at ggml d99724f. */
export const GGML_TYPE_COUNT = 43;

/** `QK_K`: elements per super-block of the K-quants and i-quants. */
export const QK_K = 256;

export interface GGMLTypeInfo {
  /** Numeric id (`enum ggml_type`). */
  readonly id: GGMLQuantizationType;
  /** Enum member name, upper case as in `GGML_TYPE_<NAME>` (e.g. `Q4_K`). */
  readonly enumName: string;
  /** ggml's `type_traits[].type_name` (e.g. `q4_K`); quantlab scheme names use this. */
  readonly name: string;
  /** Elements per block (`blck_size`). */
  readonly blockSize: number;
  /** Bytes per block (`type_size`, = sizeof(block_x)). */
  readonly typeSize: number;
  /** Bits per weight = 8 * typeSize / blockSize. */
  readonly bitsPerWeight: number;
  /** ggml's `is_quantized`. */
  readonly quantized: boolean;
}

function info(id: GGMLQuantizationType, name: string, blockSize: number, typeSize: number, quantized: boolean): GGMLTypeInfo {
  return Object.freeze({
    id,
    enumName: GGMLQuantizationType[id] as string,
    name,
    blockSize,
    typeSize,
    bitsPerWeight: (8 * typeSize) / blockSize,
    quantized,
  });
}

const Q = true;
/**
 * Every live ggml type. Typed as a `Record` over the enum, so adding an enum member without a row is a compile
 * error. Byte sums in comments follow the C structs of ggml-common.h.
 */
export const GGML_TYPES: Readonly<Record<GGMLQuantizationType, GGMLTypeInfo>> = Object.freeze({
  [GGMLQuantizationType.F32]: info(0, "f32", 1, 4, false),
  [GGMLQuantizationType.F16]: info(1, "f16", 1, 2, false),
  [GGMLQuantizationType.Q4_0]: info(2, "q4_0", 32, 18, Q), // d:f16 + qs[16]
  [GGMLQuantizationType.Q4_1]: info(3, "q4_1", 32, 20, Q), // d,m:f16 + qs[16]
  [GGMLQuantizationType.Q5_0]: info(6, "q5_0", 32, 22, Q), // d + qh[4] + qs[16]
  [GGMLQuantizationType.Q5_1]: info(7, "q5_1", 32, 24, Q), // d,m + qh[4] + qs[16]
  [GGMLQuantizationType.Q8_0]: info(8, "q8_0", 32, 34, Q), // d + qs[32]
  [GGMLQuantizationType.Q8_1]: info(9, "q8_1", 32, 36, Q), // d,s:f16 + qs[32] (36, not 40 as gguf-py says)
  [GGMLQuantizationType.Q2_K]: info(10, "q2_K", 256, 84, Q), // scales[16] + qs[64] + d,dmin
  [GGMLQuantizationType.Q3_K]: info(11, "q3_K", 256, 110, Q), // hmask[32] + qs[64] + scales[12] + d
  [GGMLQuantizationType.Q4_K]: info(12, "q4_K", 256, 144, Q), // d,dmin + scales[12] + qs[128]
  [GGMLQuantizationType.Q5_K]: info(13, "q5_K", 256, 176, Q), // d,dmin + scales[12] + qh[32] + qs[128]
  [GGMLQuantizationType.Q6_K]: info(14, "q6_K", 256, 210, Q), // ql[128] + qh[64] + scales[16] + d
  [GGMLQuantizationType.Q8_K]: info(15, "q8_K", 256, 292, Q), // d:f32 + qs[256] + bsums[16]:i16
  [GGMLQuantizationType.IQ2_XXS]: info(16, "iq2_xxs", 256, 66, Q), // d + qs[32]:u16
  [GGMLQuantizationType.IQ2_XS]: info(17, "iq2_xs", 256, 74, Q), // d + qs[32]:u16 + scales[8]
  [GGMLQuantizationType.IQ3_XXS]: info(18, "iq3_xxs", 256, 98, Q), // d + qs[96]
  [GGMLQuantizationType.IQ1_S]: info(19, "iq1_s", 256, 50, Q), // d + qs[32] + qh[8]:u16
  [GGMLQuantizationType.IQ4_NL]: info(20, "iq4_nl", 32, 18, Q), // d + qs[16]
  [GGMLQuantizationType.IQ3_S]: info(21, "iq3_s", 256, 110, Q), // d + qs[64] + qh[8] + signs[32] + scales[4]
  [GGMLQuantizationType.IQ2_S]: info(22, "iq2_s", 256, 82, Q), // d + qs[64] + qh[8] + scales[8]
  [GGMLQuantizationType.IQ4_XS]: info(23, "iq4_xs", 256, 136, Q), // d + scales_h:u16 + scales_l[4] + qs[128]
  [GGMLQuantizationType.I8]: info(24, "i8", 1, 1, false),
  [GGMLQuantizationType.I16]: info(25, "i16", 1, 2, false),
  [GGMLQuantizationType.I32]: info(26, "i32", 1, 4, false),
  [GGMLQuantizationType.I64]: info(27, "i64", 1, 8, false),
  [GGMLQuantizationType.F64]: info(28, "f64", 1, 8, false),
  [GGMLQuantizationType.IQ1_M]: info(29, "iq1_m", 256, 56, Q), // qs[32] + qh[16] + scales[8]
  [GGMLQuantizationType.BF16]: info(30, "bf16", 1, 2, false),
  [GGMLQuantizationType.TQ1_0]: info(34, "tq1_0", 256, 54, Q), // qs[48] + qh[4] + d
  [GGMLQuantizationType.TQ2_0]: info(35, "tq2_0", 256, 66, Q), // qs[64] + d
  [GGMLQuantizationType.MXFP4]: info(39, "mxfp4", 32, 17, Q), // e:e8m0 + qs[16]
  [GGMLQuantizationType.NVFP4]: info(40, "nvfp4", 64, 36, Q), // d[4]:ue4m3 + qs[32]
  [GGMLQuantizationType.Q1_0]: info(41, "q1_0", 128, 18, Q), // d + qs[16]
  [GGMLQuantizationType.Q2_0]: info(42, "q2_0", 64, 18, Q), // d + qs[16]
});

/** Ids ggml retired, with their old names. Files using them cannot be read by current ggml. */
export const GGML_REMOVED_TYPES: Readonly<Record<number, string>> = Object.freeze({
  4: "q4_2",
  5: "q4_3",
  31: "q4_0_4_4",
  32: "q4_0_4_8",
  33: "q4_0_8_8",
  36: "iq4_nl_4_4",
  37: "iq4_nl_4_8",
  38: "iq4_nl_8_8",
});

/** All live type infos in id order. */
export const GGML_TYPE_LIST: readonly GGMLTypeInfo[] = Object.freeze(
  Object.values(GGML_TYPES).sort((a, b) => a.id - b.id),
);

const byName = new Map<string, GGMLTypeInfo>();
for (const t of GGML_TYPE_LIST) {
  byName.set(t.name.toLowerCase(), t);
  byName.set(t.enumName.toLowerCase(), t);
}

/** The type info for an id, or `undefined` for an unknown or removed id. */
export function ggmlTypeInfo(id: number): GGMLTypeInfo | undefined {
  return (GGML_TYPES as Record<number, GGMLTypeInfo | undefined>)[id];
}

/** Looks up a type by ggml name (`q4_K`) or enum name (`Q4_K`), case-insensitively. */
export function ggmlTypeByName(name: string): GGMLTypeInfo | undefined {
  return byName.get(name.toLowerCase());
}

/** Name for display: the ggml name, `removed:<old>` for a retired id, `unknown(<id>)` otherwise. */
export function ggmlTypeName(id: number): string {
  const t = ggmlTypeInfo(id);
  if (t) return t.name;
  const old = GGML_REMOVED_TYPES[id];
  return old !== undefined ? `removed:${old}` : `unknown(${id})`;
}

/**
 * Mirrors `enum llama_ftype` (llama.cpp include/llama.h): the *file* type written to `general.file_type`.
 * One file type mixes several tensor types (Q4_K_M uses Q4_K, Q6_K, ...). Gaps are retired values.
 */
export enum LlamaFileType {
  ALL_F32 = 0,
  MOSTLY_F16 = 1,
  MOSTLY_Q4_0 = 2,
  MOSTLY_Q4_1 = 3,
  // 4: MOSTLY_Q4_1_SOME_F16, 5: MOSTLY_Q4_2, 6: MOSTLY_Q4_3 (removed)
  MOSTLY_Q8_0 = 7,
  MOSTLY_Q5_0 = 8,
  MOSTLY_Q5_1 = 9,
  MOSTLY_Q2_K = 10,
  MOSTLY_Q3_K_S = 11,
  MOSTLY_Q3_K_M = 12,
  MOSTLY_Q3_K_L = 13,
  MOSTLY_Q4_K_S = 14,
  MOSTLY_Q4_K_M = 15,
  MOSTLY_Q5_K_S = 16,
  MOSTLY_Q5_K_M = 17,
  MOSTLY_Q6_K = 18,
  MOSTLY_IQ2_XXS = 19,
  MOSTLY_IQ2_XS = 20,
  MOSTLY_Q2_K_S = 21,
  MOSTLY_IQ3_XS = 22,
  MOSTLY_IQ3_XXS = 23,
  MOSTLY_IQ1_S = 24,
  MOSTLY_IQ4_NL = 25,
  MOSTLY_IQ3_S = 26,
  MOSTLY_IQ3_M = 27,
  MOSTLY_IQ2_S = 28,
  MOSTLY_IQ2_M = 29,
  MOSTLY_IQ4_XS = 30,
  MOSTLY_IQ1_M = 31,
  MOSTLY_BF16 = 32,
  // 33–35: MOSTLY_Q4_0_4_4, _4_8, _8_8 (removed)
  MOSTLY_TQ1_0 = 36,
  MOSTLY_TQ2_0 = 37,
  MOSTLY_MXFP4_MOE = 38,
  MOSTLY_NVFP4 = 39,
  MOSTLY_Q1_0 = 40,
  /** Not written by the pinned llama.cpp (c392e50); "LLAMA_FTYPE_GUESSED" in llama.h. */
  GUESSED = 1024,
}
