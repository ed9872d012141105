/**
 * SchemeTester: a conformance suite for quantization scheme plugins, run inside the plugin author's own
 * vitest file (after ESLint's `RuleTester`: the host's rules, packaged as tests).
 *
 * ```ts
 * // my-scheme.test.ts
 * import { describeSchemeConformance } from "@quantlab/testing";
 * import { myScheme } from "./my-scheme.js";
 *
 * describeSchemeConformance(myScheme, {
 *   rmseBound: 0.004,                       // optional; default by bits per weight (see defaultRmseBound)
 *   golden: [{ name: "cos", input, nRows: 1, nPerRow: 256, expected }], // optional known-good bytes
 * });
 * ```
 *
 * `describeSchemeConformance(scheme, options)` registers one `describe` block (title: `scheme <name>`) with
 * these `it` checks, each of which can be turned off with `options.skip`:
 *
 * | check | what it asserts |
 * |---|---|
 * | `layout` | `validateScheme` accepts the object; the layout fields sum to `typeSize`; when `ggmlType` is set, name, block size and type size match the @quantlab/gguf type table |
 * | `roundtrip` | quantize → dequantize of llama.cpp's synthetic data `0.1 + 2·cos(i)` (tests/test-quantize-fns.cpp) has `array_rmse` below the bound (`sqrt(Σd²)/n`, llama.cpp's measure); with importance too when the scheme reads it, and through `quantizeRowRef` when the scheme has a reference path |
 * | `row-length` | the host's `quantizeTensor` rejects a row length that is not a multiple of the block size with `QUANT_BAD_ROW_LENGTH` (block size 1: any length is accepted) |
 * | `importance` | `needs.importance: "required"`: no importance → `QUANT_IMPORTANCE_REQUIRED` (host and `quantizeRowRef`); any scheme: wrong length or a negative value → `QUANT_BAD_IMPORTANCE` |
 * | `nonfinite` | a NaN / Inf in the input → `QUANT_NONFINITE_INPUT`, with the row in the error context and message |
 * | `determinism` | the same input gives the same bytes twice, whatever the output buffer held before |
 * | `rows` | rows are independent: each row quantized alone equals its slice of the multi-row result (what parallel quantization relies on) |
 * | `golden` | each `options.golden` vector quantizes to exactly `expected` (and, when given, dequantizes bit for bit to `expectedDequantized`) |
 *
 * Everything goes through the public host API (`quantizeTensor`, `dequantizeTensor`, `ensureSchemeInit`), so a
 * scheme that passes here behaves under the CLI and the parallel quantizer the same way.
 */
import { describe, expect, it } from "vitest";
import { ggmlTypeInfo, QuantlabError } from "@quantlab/gguf";
import {
  dequantizeTensor,
  ensureSchemeInit,
  layoutFieldBytes,
  quantizeTensor,
  validateScheme,
  type QuantScheme,
} from "@quantlab/quant-core";

/** A known-good quantization: `input` (nRows × nPerRow floats) must quantize to `expected` bytes. */
export interface SchemeGoldenVector {
  /** Label for the test title. */
  readonly name?: string;
  readonly input: Float32Array;
  readonly nRows: number;
  readonly nPerRow: number;
  /** Importance vector (nPerRow values), when the vector was made with one. */
  readonly importance?: Float32Array | null;
  readonly expected: Uint8Array;
  /** Optional decoded floats of `expected`, compared as bit patterns (NaN payloads and -0 matter). */
  readonly expectedDequantized?: Float32Array;
  /** Pass the input through even if it has NaN/inf (the host's finite check is skipped), as ggml would. */
  readonly allowNonFinite?: boolean;
}

/** Names of the checks {@link describeSchemeConformance} registers. */
export type SchemeConformanceCheck = "layout" | "roundtrip" | "row-length" | "importance" | "nonfinite" | "determinism" | "rows" | "golden";

export interface SchemeConformanceOptions {
  /** Maximum `array_rmse` of the round trip. Default: {@link defaultRmseBound}. */
  readonly rmseBound?: number;
  /** Row length of the round-trip data. Default: 4096 rounded up to a multiple of the block size. */
  readonly rowLength?: number;
  /** Importance vector maker for the checks that pass one. Default: {@link syntheticColumnImportance}. */
  readonly makeImportance?: (nPerRow: number) => Float32Array;
  /** Known-good vectors, checked byte for byte. */
  readonly golden?: readonly SchemeGoldenVector[];
  /** Checks to leave out (they are registered as skipped, so the report shows them). */
  readonly skip?: readonly SchemeConformanceCheck[];
  /** Title of the describe block. Default: `scheme <name>`. */
  readonly title?: string;
}

/**
 * llama.cpp's `MAX_QUANTIZATION_TOTAL_ERROR*` thresholds by ggml type name (tests/test-quantize-fns.cpp):
 * 0.002 general; 0.0075 2-bit (q2_K, iq2_s); 0.004 3-bit (q3_K, iq3_s); 0.005 iq3_xxs; 0.01 ternary
 * (tq1_0, tq2_0, q2_0); 0.025 binary (q1_0); 0.003 nvfp4. Types llama.cpp does not round-trip there
 * (no CPU `from_float`) get a bound of their bit width chosen here: iq2_xs 0.0075; iq2_xxs (2.06 bpw, measured
 * 0.0077 with a synthetic importance vector) 0.01, the ternary bound; iq1_s, iq1_m 0.025, the binary bound.
 */
export const LLAMA_RMSE_BOUNDS: Readonly<Record<string, number>> = Object.freeze({
  q1_0: 0.025,
  tq1_0: 0.01,
  tq2_0: 0.01,
  q2_0: 0.01,
  q2_K: 0.0075,
  iq2_s: 0.0075,
  iq2_xxs: 0.01,
  iq2_xs: 0.0075,
  iq1_s: 0.025,
  iq1_m: 0.025,
  q3_K: 0.004,
  iq3_s: 0.004,
  iq3_xxs: 0.005,
  nvfp4: 0.003,
});

/** Bits per weight of a scheme's layout. */
export function bitsPerWeight(scheme: Pick<QuantScheme, "layout">): number {
  return (8 * scheme.layout.typeSize) / scheme.layout.blockSize;
}

/**
 * The round-trip bound for a scheme: {@link LLAMA_RMSE_BOUNDS} for ggml types it lists, otherwise by bits per
 * weight: < 2 → 0.025, < 3 → 0.0075, < 4 → 0.005, else 0.002.
 */
export function defaultRmseBound(scheme: Pick<QuantScheme, "name" | "ggmlType" | "layout">): number {
  if (scheme.ggmlType !== null) {
    const b = LLAMA_RMSE_BOUNDS[scheme.name];
    if (b !== undefined) return b;
  }
  const bpw = bitsPerWeight(scheme);
  if (bpw < 2) return 0.025;
  if (bpw < 3) return 0.0075;
  if (bpw < 4) return 0.005;
  return 0.002;
}

/** llama.cpp's `generate_data(offset, n)`: `0.1 + 2·cos(i + offset)`, as float32. */
export function llamaSyntheticData(n: number, offset = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 0.1 + 2 * Math.cos(i + offset);
  return a;
}

/** llama.cpp's `array_rmse`: `sqrt(Σ(a−b)²) / n` (divided by n, not sqrt(n)). */
export function arrayRmse(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    sum += d * d;
  }
  return Math.sqrt(sum) / n;
}

/** A deterministic positive importance vector shaped like an imatrix row (values about 0.3 to 3). */
export function syntheticColumnImportance(nPerRow: number): Float32Array {
  const w = new Float32Array(nPerRow);
  for (let j = 0; j < nPerRow; j++) w[j] = Math.exp(Math.sin(0.37 * j) + 0.5 * Math.cos(1.3 * j));
  return w;
}

/** Calls `fn`, returns the QuantlabError it throws (fails the test when it does not throw one). */
function catchQuantlabError(fn: () => unknown): QuantlabError {
  try {
    fn();
  } catch (e) {
    if (QuantlabError.isInstance(e)) return e;
    throw new Error(`expected a QuantlabError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  throw new Error("expected a QuantlabError, but nothing was thrown");
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** Smallest multiple of `m` that is >= `n`. */
function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/**
 * The conformance suite as an object, for authors who want to build it once and run it in several places.
 * {@link describeSchemeConformance} is `new SchemeTester(scheme, options).run()`.
 */
export class SchemeTester {
  readonly scheme: QuantScheme;
  readonly options: SchemeConformanceOptions;

  constructor(scheme: QuantScheme, options: SchemeConformanceOptions = {}) {
    this.scheme = scheme;
    this.options = options;
  }

  /** The round-trip RMSE bound in use. */
  get rmseBound(): number {
    return this.options.rmseBound ?? defaultRmseBound(this.scheme);
  }

  /** Registers the describe block and its checks with vitest. Call at module top level or inside a describe. */
  run(): void {
    const s = this.scheme;
    const opts = this.options;
    const skipped = new Set(opts.skip ?? []);
    const check = (name: SchemeConformanceCheck, title: string, fn: () => void): void => {
      if (skipped.has(name)) it.skip(`${name}: ${title} (skipped by options.skip)`, () => {});
      else it(`${name}: ${title}`, fn);
    };
    const { blockSize } = s.layout;
    const makeImportance = opts.makeImportance ?? syntheticColumnImportance;
    const needImp = s.needs.importance === "required";
    const rowLength = opts.rowLength ?? roundUp(4096, blockSize);
    const smallRow = roundUp(512, blockSize);

    describe(opts.title ?? `scheme ${s.name}`, () => {
      check("layout", "the layout is valid and matches the ggml type table", () => {
        expect(() => validateScheme(s)).not.toThrow();
        expect(layoutFieldBytes(s.layout)).toBe(s.layout.typeSize);
        if (s.ggmlType !== null) {
          const t = ggmlTypeInfo(s.ggmlType);
          expect(t, `ggml type id ${s.ggmlType}`).toBeDefined();
          expect({ name: s.name, blockSize: s.layout.blockSize, typeSize: s.layout.typeSize }).toEqual({
            name: t!.name,
            blockSize: t!.blockSize,
            typeSize: t!.typeSize,
          });
        }
      });

      check("roundtrip", `quantize → dequantize of 0.1 + 2cos(i) has array_rmse < ${this.rmseBound}`, () => {
        ensureSchemeInit(s);
        const bound = this.rmseBound;
        for (const offset of [0, 1]) {
          const x = llamaSyntheticData(rowLength, offset);
          const variants: Array<[string, Float32Array | null]> = [];
          if (s.needs.importance !== "required") variants.push(["no importance", null]);
          if (s.needs.importance !== "unused") variants.push(["importance", makeImportance(rowLength)]);
          for (const [label, imp] of variants) {
            const q = quantizeTensor(s, x, 1, rowLength, { importance: imp });
            const y = dequantizeTensor(s, q, rowLength);
            const err = arrayRmse(x, y);
            expect(err, `${s.name} ${label}, offset ${offset}: array_rmse ${err}`).toBeLessThan(bound);
          }
          if (!needImp) {
            const q = new Uint8Array((rowLength / blockSize) * s.layout.typeSize);
            s.quantizeRowRef(x, q, rowLength);
            const err = arrayRmse(x, dequantizeTensor(s, q, rowLength));
            expect(err, `${s.name} quantizeRowRef, offset ${offset}: array_rmse ${err}`).toBeLessThan(bound);
          }
        }
      });

      check("row-length", "a row length that is not a multiple of the block size is rejected", () => {
        if (blockSize === 1) {
          const q = quantizeTensor(s, llamaSyntheticData(7), 1, 7, { importance: needImp ? makeImportance(7) : null });
          expect(q.length).toBe(7 * s.layout.typeSize);
          return;
        }
        for (const n of [blockSize + 1, blockSize - 1, 2 * blockSize + Math.floor(blockSize / 2)]) {
          const err = catchQuantlabError(() =>
            quantizeTensor(s, llamaSyntheticData(2 * n), 2, n, { importance: needImp ? makeImportance(n) : null }),
          );
          expect(err.code, `row length ${n}`).toBe("QUANT_BAD_ROW_LENGTH");
        }
      });

      check("importance", `needs.importance is '${s.needs.importance}' and the host enforces it`, () => {
        const x = llamaSyntheticData(2 * smallRow);
        if (needImp) {
          expect(catchQuantlabError(() => quantizeTensor(s, x, 2, smallRow)).code).toBe("QUANT_IMPORTANCE_REQUIRED");
          const q = new Uint8Array((smallRow / blockSize) * s.layout.typeSize);
          expect(catchQuantlabError(() => s.quantizeRowRef(x, q, smallRow)).code).toBe("QUANT_IMPORTANCE_REQUIRED");
        }
        const short = makeImportance(smallRow - 1);
        expect(catchQuantlabError(() => quantizeTensor(s, x, 2, smallRow, { importance: short })).code).toBe("QUANT_BAD_IMPORTANCE");
        const negative = makeImportance(smallRow);
        negative[3] = -1;
        expect(catchQuantlabError(() => quantizeTensor(s, x, 2, smallRow, { importance: negative })).code).toBe("QUANT_BAD_IMPORTANCE");
        const nan = makeImportance(smallRow);
        nan[5] = Number.NaN;
        expect(catchQuantlabError(() => quantizeTensor(s, x, 2, smallRow, { importance: nan })).code).toBe("QUANT_BAD_IMPORTANCE");
        if (!needImp) {
          // a right-sized vector is accepted whether or not the scheme reads it
          const q = quantizeTensor(s, x, 2, smallRow, { importance: makeImportance(smallRow) });
          expect(q.length).toBe(2 * (smallRow / blockSize) * s.layout.typeSize);
        }
      });

      check("nonfinite", "NaN or Inf input is rejected with QUANT_NONFINITE_INPUT naming the row", () => {
        const importance = needImp ? makeImportance(smallRow) : null;
        for (const [bad, row, col] of [
          [Number.NaN, 2, 3],
          [Number.POSITIVE_INFINITY, 1, smallRow - 1],
          [Number.NEGATIVE_INFINITY, 0, 0],
        ] as const) {
          const x = llamaSyntheticData(3 * smallRow);
          x[row * smallRow + col] = bad;
          const err = catchQuantlabError(() => quantizeTensor(s, x, 3, smallRow, { importance, tensorName: "t" }));
          expect(err.code).toBe("QUANT_NONFINITE_INPUT");
          expect(err.context["row"]).toBe(row);
          expect(err.message).toContain(`row ${row}`);
          expect(err.tensor).toBe("t");
        }
      });

      check("determinism", "the same input gives the same bytes, whatever the output buffer held", () => {
        const x = llamaSyntheticData(3 * smallRow, 0.25);
        const bytes = 3 * (smallRow / blockSize) * s.layout.typeSize;
        const impVariants: Array<Float32Array | null> = [];
        if (!needImp) impVariants.push(null);
        if (s.needs.importance !== "unused") impVariants.push(makeImportance(smallRow));
        for (const importance of impVariants) {
          const a = quantizeTensor(s, x, 3, smallRow, { importance, dst: new Uint8Array(bytes).fill(0x00) });
          const b = quantizeTensor(s, x, 3, smallRow, { importance, dst: new Uint8Array(bytes).fill(0xa5) });
          const c = quantizeTensor(s, x, 3, smallRow, { importance });
          expect(firstDiff(a, b)).toBe(-1);
          expect(firstDiff(a, c)).toBe(-1);
        }
      });

      check("rows", "each row quantized alone equals its slice of the multi-row result", () => {
        const nRows = 3;
        const x = llamaSyntheticData(nRows * smallRow, 2);
        const importance = s.needs.importance === "unused" ? null : makeImportance(smallRow);
        const all = quantizeTensor(s, x, nRows, smallRow, { importance });
        const rowBytes = (smallRow / blockSize) * s.layout.typeSize;
        for (let r = 0; r < nRows; r++) {
          const one = quantizeTensor(s, x.subarray(r * smallRow, (r + 1) * smallRow), 1, smallRow, { importance });
          const d = firstDiff(one, all.subarray(r * rowBytes, (r + 1) * rowBytes));
          expect(d, `row ${r} differs at byte ${d}`).toBe(-1);
        }
      });

      const golden = opts.golden ?? [];
      if (golden.length === 0) {
        if (!skipped.has("golden")) it.skip("golden: no golden vectors given", () => {});
      }
      golden.forEach((g, i) => {
        check("golden", `vector ${g.name ?? i} (${g.nRows} x ${g.nPerRow}${g.importance ? ", importance" : ""}) is byte-identical`, () => {
          const got = quantizeTensor(s, g.input, g.nRows, g.nPerRow, {
            importance: g.importance ?? null,
            skipFiniteCheck: g.allowNonFinite ?? false,
          });
          const d = firstDiff(got, g.expected);
          if (d >= 0) {
            const block = Math.floor(d / s.layout.typeSize);
            expect.fail(`first differing byte ${d} (block ${block}, byte ${d % s.layout.typeSize} of it): got ${got[d]}, expected ${g.expected[d]}`);
          }
          if (g.expectedDequantized) {
            const y = dequantizeTensor(s, g.expected, g.nRows * g.nPerRow);
            const gotBits = new Uint32Array(y.buffer, y.byteOffset, y.length);
            const want = g.expectedDequantized;
            const wantBits = new Uint32Array(want.buffer, want.byteOffset, want.length);
            for (let k = 0; k < wantBits.length; k++) {
              if (gotBits[k] !== wantBits[k]) {
                expect.fail(`dequantized value ${k} has bits 0x${(gotBits[k] ?? 0).toString(16)}, expected 0x${(wantBits[k] ?? 0).toString(16)}`);
              }
            }
          }
        });
      });
    });
  }
}

/**
 * Registers the conformance suite for `scheme` with vitest (see the module comment for the checks).
 * Same as `new SchemeTester(scheme, options).run()`.
 */
export function describeSchemeConformance(scheme: QuantScheme, options: SchemeConformanceOptions = {}): void {
  new SchemeTester(scheme, options).run();
}
