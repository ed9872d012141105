/**
 * GGUF value types and the typed metadata model.
 *
 * A JS `number` does not say whether it was stored as UINT32 or FLOAT32, so every metadata value keeps its GGUF
 * type next to it (`{ type, value }`); that is what makes parse → write round trips byte-identical.
 */

/** Mirrors `enum gguf_type` (ggml/include/gguf.h). */
export enum GGUFValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** `GGUF_TYPE_COUNT`. */
export const GGUF_TYPE_COUNT = 13;

/** Byte size of each fixed-size value type (`GGUF_TYPE_SIZE` in gguf.cpp); 0 for STRING and ARRAY. */
export const GGUF_TYPE_SIZE: Readonly<Record<GGUFValueType, number>> = Object.freeze({
  [GGUFValueType.UINT8]: 1,
  [GGUFValueType.INT8]: 1,
  [GGUFValueType.UINT16]: 2,
  [GGUFValueType.INT16]: 2,
  [GGUFValueType.UINT32]: 4,
  [GGUFValueType.INT32]: 4,
  [GGUFValueType.FLOAT32]: 4,
  [GGUFValueType.BOOL]: 1,
  [GGUFValueType.STRING]: 0,
  [GGUFValueType.ARRAY]: 0,
  [GGUFValueType.UINT64]: 8,
  [GGUFValueType.INT64]: 8,
  [GGUFValueType.FLOAT64]: 8,
});

/** Value types whose JS value is a `number`. */
export type GgufNumberType =
  | GGUFValueType.UINT8
  | GGUFValueType.INT8
  | GGUFValueType.UINT16
  | GGUFValueType.INT16
  | GGUFValueType.UINT32
  | GGUFValueType.INT32
  | GGUFValueType.FLOAT32
  | GGUFValueType.FLOAT64;
/** Value types whose JS value is a `bigint` (64-bit integers are exact only as bigint). */
export type GgufBigIntType = GGUFValueType.UINT64 | GGUFValueType.INT64;

export interface GgufNumberValue {
  type: GgufNumberType;
  value: number;
}
export interface GgufBigIntValue {
  type: GgufBigIntType;
  value: bigint;
}
export interface GgufBoolValue {
  type: GGUFValueType.BOOL;
  value: boolean;
}
export interface GgufStringValue {
  type: GGUFValueType.STRING;
  value: string;
  /**
   * The stored bytes, present only when they were not valid UTF-8 (so `value` holds U+FFFD replacements).
   * The writer writes these bytes back while `value` is unchanged, which keeps such files byte-identical.
   */
  raw?: Uint8Array;
}

/** A scalar element of an array of the given element type. */
export type GgufArrayElement = number | bigint | boolean | string | GgufArrayValue;

export interface GgufArrayValue {
  type: GGUFValueType.ARRAY;
  /** Type of every element. For ARRAY, each element is itself a {@link GgufArrayValue}. */
  elementType: GGUFValueType;
  /** The elements, in file order: numbers, bigints (64-bit ints), booleans, strings, or nested array values. */
  value: GgufArrayElement[];
  /** For STRING arrays: stored bytes of the elements that were not valid UTF-8, by index (see {@link GgufStringValue.raw}). */
  rawStrings?: Map<number, Uint8Array>;
}

/** One typed metadata value. */
export type GgufValue = GgufNumberValue | GgufBigIntValue | GgufBoolValue | GgufStringValue | GgufArrayValue;

/** Plain JS form of a value: what `GgufFile.get()` returns (arrays become plain arrays, nested arrays nested). */
export type GgufPlainValue = number | bigint | boolean | string | GgufPlainValue[];

/** Ordered typed metadata, in file order. */
export type GgufMetadata = Map<string, GgufValue>;

/** Converts a typed value to its plain JS form. */
export function plainValue(v: GgufValue): GgufPlainValue {
  if (v.type !== GGUFValueType.ARRAY) return v.value;
  if (v.elementType !== GGUFValueType.ARRAY) return v.value as GgufPlainValue[];
  return (v.value as GgufArrayValue[]).map(plainValue);
}

/** Constructors for typed values: `ggufValue.uint32(7)` is `{ type: GGUFValueType.UINT32, value: 7 }`. */
export const ggufValue = {
  uint8: (value: number): GgufNumberValue => ({ type: GGUFValueType.UINT8, value }),
  int8: (value: number): GgufNumberValue => ({ type: GGUFValueType.INT8, value }),
  uint16: (value: number): GgufNumberValue => ({ type: GGUFValueType.UINT16, value }),
  int16: (value: number): GgufNumberValue => ({ type: GGUFValueType.INT16, value }),
  uint32: (value: number): GgufNumberValue => ({ type: GGUFValueType.UINT32, value }),
  int32: (value: number): GgufNumberValue => ({ type: GGUFValueType.INT32, value }),
  float32: (value: number): GgufNumberValue => ({ type: GGUFValueType.FLOAT32, value }),
  float64: (value: number): GgufNumberValue => ({ type: GGUFValueType.FLOAT64, value }),
  uint64: (value: bigint | number): GgufBigIntValue => ({ type: GGUFValueType.UINT64, value: BigInt(value) }),
  int64: (value: bigint | number): GgufBigIntValue => ({ type: GGUFValueType.INT64, value: BigInt(value) }),
  bool: (value: boolean): GgufBoolValue => ({ type: GGUFValueType.BOOL, value }),
  string: (value: string): GgufStringValue => ({ type: GGUFValueType.STRING, value }),
  array: (elementType: GGUFValueType, value: GgufArrayElement[]): GgufArrayValue => ({ type: GGUFValueType.ARRAY, elementType, value }),
} as const;
