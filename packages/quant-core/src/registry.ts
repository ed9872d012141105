/**
 * Scheme registry and the host that runs schemes. Registries are built from explicit lists (no import side
 * effects); the host checks shapes, importance and input values and attributes any failure to the scheme.
 */
import { ggmlTypeInfo } from "@quantlab/gguf";
import { SchemeError } from "./errors.js";
import { SCHEME_SPEC_VERSION, layoutFieldBytes, type QuantScheme } from "./scheme.js";

export interface SchemeRegistry {
  /** All schemes in registration order. */
  readonly schemes: readonly QuantScheme[];
  /** The scheme with this name (case-sensitive first, then case-insensitive); throws `SCHEME_NOT_FOUND`. */
  get(name: string): QuantScheme;
  /** The scheme with this name, or undefined. */
  find(name: string): QuantScheme | undefined;
  /** The scheme writing this ggml type id; throws `SCHEME_NOT_FOUND`. */
  byType(ggmlType: number): QuantScheme;
  /** The scheme writing this ggml type id, or undefined. */
  findByType(ggmlType: number): QuantScheme | undefined;
  has(name: string): boolean;
  /** A new registry with these schemes added (duplicates rejected). */
  with(...schemes: QuantScheme[]): SchemeRegistry;
}

/** Validates one scheme object; throws `SCHEME_INVALID` or `SCHEME_LAYOUT_MISMATCH`. */
export function validateScheme(s: QuantScheme, position = 0): void {
  const label = typeof s?.name === "string" && s.name ? s.name : `<scheme at position ${position}>`;
  const bad = (msg: string): never => {
    throw new SchemeError("SCHEME_INVALID", msg, { scheme: label });
  };
  if (typeof s !== "object" || s === null) bad("a scheme must be an object");
  if (s.specVersion !== SCHEME_SPEC_VERSION) bad(`unsupported specVersion ${String(s.specVersion)}; this host supports ${SCHEME_SPEC_VERSION}`);
  if (typeof s.name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(s.name)) bad("name must be a non-empty identifier");
  const { layout } = s;
  if (!layout || !Number.isInteger(layout.blockSize) || layout.blockSize < 1) bad("layout.blockSize must be a positive integer");
  if (!Number.isInteger(layout.typeSize) || layout.typeSize < 1) bad("layout.typeSize must be a positive integer");
  if (!Array.isArray(layout.fields)) bad("layout.fields must be an array");
  const fieldBytes = layoutFieldBytes(layout);
  if (fieldBytes !== layout.typeSize) {
    throw new SchemeError("SCHEME_LAYOUT_MISMATCH", `layout fields sum to ${fieldBytes} bytes but typeSize is ${layout.typeSize}`, { scheme: label });
  }
  if (!s.needs || !["required", "optional", "unused"].includes(s.needs.importance)) bad("needs.importance must be 'required', 'optional' or 'unused'");
  for (const fn of ["quantizeRowRef", "dequantizeRow", "quantize"] as const) {
    if (typeof s[fn] !== "function") bad(`${fn} must be a function`);
  }
  if (s.init !== undefined && typeof s.init !== "function") bad("init must be a function when present");
  if (s.ggmlType !== null) {
    const t = ggmlTypeInfo(s.ggmlType);
    if (!t) bad(`ggmlType ${String(s.ggmlType)} is not a live ggml type id`);
    else if (t.blockSize !== layout.blockSize || t.typeSize !== layout.typeSize || t.name !== s.name) {
      throw new SchemeError(
        "SCHEME_LAYOUT_MISMATCH",
        `ggml type ${t.name} (id ${t.id}) is ${t.blockSize} elements in ${t.typeSize} bytes, but the scheme says ` +
          `${s.name}: ${layout.blockSize} in ${layout.typeSize}`,
        { scheme: label },
      );
    }
  }
}

/** Builds a registry from an explicit list. Duplicate names or ggml ids throw `SCHEME_DUPLICATE`. */
export function createSchemeRegistry(schemes: readonly QuantScheme[]): SchemeRegistry {
  const byName = new Map<string, QuantScheme>();
  const byLower = new Map<string, QuantScheme>();
  const byId = new Map<number, QuantScheme>();
  schemes.forEach((s, i) => {
    validateScheme(s, i);
    if (byName.has(s.name) || byLower.has(s.name.toLowerCase())) {
      throw new SchemeError("SCHEME_DUPLICATE", `a scheme named '${s.name}' is already registered`, { scheme: s.name });
    }
    if (s.ggmlType !== null && byId.has(s.ggmlType)) {
      throw new SchemeError(
        "SCHEME_DUPLICATE",
        `ggml type id ${s.ggmlType} is already written by scheme '${byId.get(s.ggmlType)!.name}'`,
        { scheme: s.name },
      );
    }
    byName.set(s.name, s);
    byLower.set(s.name.toLowerCase(), s);
    if (s.ggmlType !== null) byId.set(s.ggmlType, s);
  });
  const list = Object.freeze([...schemes]);
  const find = (name: string): QuantScheme | undefined => byName.get(name) ?? byLower.get(name.toLowerCase());
  return Object.freeze({
    schemes: list,
    find,
    has: (name: string) => find(name) !== undefined,
    get(name: string): QuantScheme {
      const s = find(name);
      if (!s) {
        throw new SchemeError("SCHEME_NOT_FOUND", `no scheme named '${name}'; known: ${list.map((x) => x.name).join(", ")}`);
      }
      return s;
    },
    findByType: (id: number) => byId.get(id),
    byType(id: number): QuantScheme {
      const s = byId.get(id);
      if (!s) {
        throw new SchemeError("SCHEME_NOT_FOUND", `no scheme writes ggml type id ${id}; known ids: ${[...byId.keys()].join(", ")}`);
      }
      return s;
    },
    with: (...more: QuantScheme[]) => createSchemeRegistry([...list, ...more]),
  });
}

const initialised = new WeakSet<QuantScheme>();

/** Runs a scheme's lazy `init()` once. */
export function ensureSchemeInit(s: QuantScheme): void {
  if (s.init && !initialised.has(s)) {
    try {
      s.init();
    } catch (e) {
      throw new SchemeError("QUANT_SCHEME_FAILED", `init() failed: ${e instanceof Error ? e.message : String(e)}`, { scheme: s.name }, { cause: e });
    }
    initialised.add(s);
  }
}

export interface QuantizeTensorOptions {
  /** Importance vector: `nPerRow` finite, non-negative floats. */
  importance?: Float32Array | null | undefined;
  /** Tensor name, for error messages. */
  tensorName?: string | undefined;
  /** Output buffer to write into (at least the row size × nRows); a new one is allocated when absent. */
  dst?: Uint8Array | undefined;
  /** Skip the NaN/Inf scan of the input (when the caller already checked). */
  skipFiniteCheck?: boolean | undefined;
}

/** Index of the first non-finite value in `a`, or -1. */
export function firstNonFinite(a: Float32Array, from = 0, to = a.length): number {
  for (let i = from; i < to; i++) {
    const v = a[i]!;
    // v - v is NaN exactly for NaN and ±Infinity
    if (v - v !== 0) return i;
  }
  return -1;
}

/**
 * The host entry point: checks the input against the scheme's contract, then calls `scheme.quantize`.
 * Any failure is a `SchemeError` naming the scheme (and the tensor and row where known).
 */
export function quantizeTensor(
  scheme: QuantScheme,
  src: Float32Array,
  nRows: number,
  nPerRow: number,
  options: QuantizeTensorOptions = {},
): Uint8Array {
  const ctx = { scheme: scheme.name, tensor: options.tensorName };
  const { blockSize, typeSize } = scheme.layout;
  if (!Number.isInteger(nRows) || !Number.isInteger(nPerRow) || nRows < 0 || nPerRow < 0) {
    throw new SchemeError("QUANT_BAD_SHAPE", `rows and row length must be non-negative integers, got ${nRows} x ${nPerRow}`, ctx);
  }
  if (nPerRow % blockSize !== 0) {
    throw new SchemeError(
      "QUANT_BAD_ROW_LENGTH",
      `row length ${nPerRow} is not a multiple of the block size ${blockSize}`,
      ctx,
    );
  }
  if (src.length < nRows * nPerRow) {
    throw new SchemeError("QUANT_BAD_SHAPE", `input has ${src.length} values, expected ${nRows} x ${nPerRow} = ${nRows * nPerRow}`, ctx);
  }
  const imp = options.importance ?? null;
  if (scheme.needs.importance === "required" && !imp) {
    throw new SchemeError("QUANT_IMPORTANCE_REQUIRED", `this type needs an importance matrix (imatrix) to quantize`, ctx);
  }
  if (imp) {
    if (imp.length !== nPerRow) {
      throw new SchemeError("QUANT_BAD_IMPORTANCE", `importance vector has ${imp.length} values, the row length is ${nPerRow}`, ctx);
    }
    const bad = firstNonFinite(imp);
    if (bad >= 0 || imp.some((v) => v < 0)) {
      const at = bad >= 0 ? bad : imp.findIndex((v) => v < 0);
      throw new SchemeError("QUANT_BAD_IMPORTANCE", `importance value at column ${at} is ${imp[at]}; it must be finite and >= 0`, ctx);
    }
  }
  if (!options.skipFiniteCheck) {
    const bad = firstNonFinite(src, 0, nRows * nPerRow);
    if (bad >= 0) {
      const row = Math.floor(bad / nPerRow);
      throw new SchemeError(
        "QUANT_NONFINITE_INPUT",
        `input value ${src[bad]} at row ${row}, column ${bad - row * nPerRow} is not finite`,
        { ...ctx, row, column: bad - row * nPerRow },
      );
    }
  }
  const bytes = (nRows * nPerRow / blockSize) * typeSize;
  const dst = options.dst ?? new Uint8Array(bytes);
  if (dst.length < bytes) {
    throw new SchemeError("QUANT_BAD_SHAPE", `output buffer has ${dst.length} bytes, ${bytes} needed`, ctx);
  }
  ensureSchemeInit(scheme);
  let written: number;
  try {
    written = scheme.quantize(src, dst, nRows, nPerRow, { importance: scheme.needs.importance === "unused" ? null : imp });
  } catch (e) {
    if (SchemeError.isInstance(e)) throw e;
    throw new SchemeError("QUANT_SCHEME_FAILED", `quantize failed: ${e instanceof Error ? e.message : String(e)}`, ctx, { cause: e });
  }
  if (written !== bytes) {
    throw new SchemeError("QUANT_SCHEME_FAILED", `quantize wrote ${written} bytes, ${bytes} expected`, ctx);
  }
  return dst.length === bytes ? dst : dst.subarray(0, bytes);
}

/** Host entry point for decoding: checks sizes, then calls `scheme.dequantizeRow` on the whole buffer. */
export function dequantizeTensor(scheme: QuantScheme, src: Uint8Array, nElements: number, dst?: Float32Array, tensorName?: string): Float32Array {
  const ctx = { scheme: scheme.name, tensor: tensorName };
  const { blockSize, typeSize } = scheme.layout;
  if (nElements % blockSize !== 0) {
    throw new SchemeError("QUANT_BAD_ROW_LENGTH", `${nElements} elements is not a multiple of the block size ${blockSize}`, ctx);
  }
  const bytes = (nElements / blockSize) * typeSize;
  if (src.length < bytes) {
    throw new SchemeError("QUANT_BAD_SHAPE", `input has ${src.length} bytes, ${bytes} needed for ${nElements} elements`, ctx);
  }
  const out = dst ?? new Float32Array(nElements);
  ensureSchemeInit(scheme);
  try {
    scheme.dequantizeRow(src, out, nElements);
  } catch (e) {
    if (SchemeError.isInstance(e)) throw e;
    throw new SchemeError("QUANT_SCHEME_FAILED", `dequantize failed: ${e instanceof Error ? e.message : String(e)}`, ctx, { cause: e });
  }
  return out;
}
