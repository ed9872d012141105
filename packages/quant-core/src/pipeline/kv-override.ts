/**
 * `--override-kv KEY=TYPE:VALUE` as llama.cpp parses and applies it.
 *
 * @see string_parse_kv_override (common/common.cpp): `KEY` shorter than 128 bytes, `TYPE` one of `int`, `float`,
 * `bool`, `str`; `bool` accepts exactly `true` / `false`; a string value must be at most 127 bytes.
 * @see llama_model_quantize_impl (src/llama-quant.cpp, c392e50): INT overrides are written with
 * `gguf_set_val_i32`, FLOAT with `gguf_set_val_f32`, BOOL with `gguf_set_val_bool`, STR with `gguf_set_val_str`.
 */
import { GGUFValueType, type GgufValue } from "@quantlab/gguf";
import { QuantizePipelineError } from "./errors.js";

/** One parsed override (llama.cpp's `llama_model_kv_override`). */
export interface KvOverride {
  readonly key: string;
  readonly tag: "int" | "float" | "bool" | "str";
  /** int: a bigint-safe integer (as `std::atol`), float: a number, bool: a boolean, str: a string. */
  readonly value: number | boolean | string;
}

const enc = new TextEncoder();

/** `std::atol`: leading whitespace, optional sign, digits; stops at the first other character; 0 when none. */
function atol(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m ? Number.parseInt(m[1], 10) : 0;
}

/** `std::atof`: the longest leading decimal float (or inf/nan), 0 when none. */
function atof(s: string): number {
  const m = /^\s*([+-]?(?:inf(?:inity)?|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))/i.exec(s);
  if (!m) return 0;
  const t = m[1].toLowerCase();
  if (t.endsWith("nan")) return Number.NaN;
  if (t.includes("inf")) return t.startsWith("-") ? -Infinity : Infinity;
  return Number.parseFloat(m[1]);
}

/** Parses `KEY=TYPE:VALUE`. Throws `QUANTIZE_BAD_OPTIONS` with llama.cpp's reason. */
export function parseKvOverride(data: string): KvOverride {
  const eq = data.indexOf("=");
  if (eq < 0 || eq >= 128) {
    throw new QuantizePipelineError("QUANTIZE_BAD_OPTIONS", `malformed KV override '${data}'`);
  }
  const key = data.slice(0, eq);
  const rest = data.slice(eq + 1);
  if (rest.startsWith("int:")) return { key, tag: "int", value: atol(rest.slice(4)) };
  if (rest.startsWith("float:")) return { key, tag: "float", value: atof(rest.slice(6)) };
  if (rest.startsWith("bool:")) {
    const v = rest.slice(5);
    if (v === "true") return { key, tag: "bool", value: true };
    if (v === "false") return { key, tag: "bool", value: false };
    throw new QuantizePipelineError("QUANTIZE_BAD_OPTIONS", `invalid boolean value for KV override '${data}'`);
  }
  if (rest.startsWith("str:")) {
    const v = rest.slice(4);
    if (enc.encode(v).byteLength > 127) {
      throw new QuantizePipelineError("QUANTIZE_BAD_OPTIONS", `malformed KV override '${data}', value cannot exceed 127 chars`);
    }
    return { key, tag: "str", value: v };
  }
  throw new QuantizePipelineError("QUANTIZE_BAD_OPTIONS", `invalid type for KV override '${data}'`);
}

/** The GGUF value llama-quantize writes for an override (`gguf_set_val_i32/f32/bool/str`). */
export function kvOverrideValue(o: KvOverride): GgufValue {
  switch (o.tag) {
    case "int":
      // val_i64 narrowed to int32_t by gguf_set_val_i32
      return { type: GGUFValueType.INT32, value: Number(BigInt.asIntN(32, BigInt(Math.trunc(o.value as number)))) };
    case "float":
      return { type: GGUFValueType.FLOAT32, value: Math.fround(o.value as number) };
    case "bool":
      return { type: GGUFValueType.BOOL, value: o.value as boolean };
    case "str":
      return { type: GGUFValueType.STRING, value: o.value as string };
  }
}

/** A string cut to at most `max` UTF-8 bytes, as `strncpy(dst, src, max)` then `dst[max] = 0` does. */
export function truncateUtf8(s: string, max: number): string {
  const b = enc.encode(s);
  if (b.byteLength <= max) return s;
  return new TextDecoder("utf-8", { fatal: false }).decode(b.subarray(0, max));
}
