/**
 * Tests of the example plugin, written as a plugin author would: the host's conformance suite from
 * @quantlab/testing, then a comparison with built-in schemes on real weights.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { builtinSchemes, createSchemeRegistry, dequantizeTensor, quantizeTensor, SchemeError } from "@quantlab/quant-core";
import { describeSchemeConformance, llamaSyntheticData, readShared, sharedPath } from "@quantlab/testing";
import { evaluateSchemes, type ErrorRow } from "./evaluate.js";
import { QK_RTN, TS_RTN, rtnInt4 } from "./rtn-int4.js";

// layout, round trip (array_rmse < 0.002, the default bound for >= 4 bpw), row length, importance, NaN/Inf,
// determinism, row independence. No golden vectors: there is no reference implementation of this format.
describeSchemeConformance(rtnInt4);

describe("rtn_q4_g64 block format", () => {
  it("stores d, m and 4-bit codes so that x = q·d + m", () => {
    // one group holding the 16 levels 0.5, 0.75, ..., 4.25 (each 4 times): exactly representable
    const x = new Float32Array(QK_RTN);
    for (let j = 0; j < QK_RTN; j++) x[j] = 0.5 + 0.25 * (j % 16);
    const q = quantizeTensor(rtnInt4, x, 1, QK_RTN);
    expect(q.length).toBe(TS_RTN);
    expect(Array.from(q.subarray(0, 4))).toEqual([0x00, 0x34, 0x00, 0x38]); // d = 0.25 (fp16 0x3400), m = 0.5 (0x3800)
    expect(q[4]).toBe(0x00); // codes 0 (j = 0) and 0 (j = 32)
    expect(q[5]).toBe(0x11); // codes 1 and 1
    expect(Array.from(dequantizeTensor(rtnInt4, q, QK_RTN))).toEqual(Array.from(x));
  });

  it("a constant group decodes exactly", () => {
    const x = new Float32Array(2 * QK_RTN).fill(-0.375);
    expect(Array.from(dequantizeTensor(rtnInt4, quantizeTensor(rtnInt4, x, 2, QK_RTN), x.length))).toEqual(Array.from(x));
  });

  it("a direct call with a wrong-sized importance vector throws a SchemeError", () => {
    const x = llamaSyntheticData(QK_RTN);
    expect(() => rtnInt4.quantize(x, new Uint8Array(TS_RTN), 1, QK_RTN, { importance: new Float32Array(3) })).toThrow(SchemeError);
  });
});

describe("rtn_q4_g64 beside q4_0 and q4_K on tinystories-5m weights", () => {
  const registry = createSchemeRegistry([...builtinSchemes, rtnInt4]);
  const tensors = ["blk.0.attn_q.weight", "blk.3.ffn_up.weight", "blk.5.ffn_down.weight"];
  let rows: ErrorRow[] = [];

  beforeAll(async () => {
    rows = await evaluateSchemes({
      registry,
      schemes: ["q4_0", "q4_K", "rtn_q4_g64"],
      modelPath: sharedPath("models", "tinystories-5m-f32.gguf"),
      imatrixBytes: readShared("golden", "llamacpp-c392e50", "tinystories-5m", "imatrix.dat"),
      tensors,
    });
  });

  it("is registered beside the built-ins", () => {
    expect(registry.schemes.length).toBe(builtinSchemes.length + 1);
    expect(registry.get("rtn_q4_g64")).toBe(rtnInt4);
    expect(registry.get("RTN_Q4_G64")).toBe(rtnInt4); // names are also found case-insensitively
    expect(registry.findByType(2)?.name).toBe("q4_0"); // ggmlType null: not reachable by type id
    expect(() => registry.with(rtnInt4)).toThrow(expect.objectContaining({ code: "SCHEME_DUPLICATE" }));
  });

  it("every error is finite, and a 4.5 bpw code keeps the relative RMSE below 0.15", () => {
    expect(rows.length).toBe(tensors.length * 3);
    for (const r of rows) {
      expect(r.bpw).toBe(4.5);
      for (const v of [r.relRmse, r.weightedErr, r.weightedErrImatrix]) {
        expect(Number.isFinite(v), `${r.tensor} ${r.scheme}`).toBe(true);
        expect(v).toBeGreaterThan(0);
      }
      expect(r.relRmse, `${r.tensor} ${r.scheme}`).toBeLessThan(0.15);
    }
  });

  it("the imatrix never raises rtn_q4_g64's importance-weighted error (the plain range is always a candidate)", () => {
    for (const r of rows.filter((x) => x.scheme === "rtn_q4_g64")) {
      expect(r.weightedErrImatrix, r.tensor).toBeLessThanOrEqual(r.weightedErr);
    }
  });

  it("q4_K, with its 6-bit sub-block scales and mins, beats both 4.5 bpw group codes", () => {
    for (const t of tensors) {
      const by = (s: string) => rows.find((r) => r.tensor === t && r.scheme === s)!;
      expect(by("q4_K").relRmse, t).toBeLessThan(by("rtn_q4_g64").relRmse);
      expect(by("q4_K").relRmse, t).toBeLessThan(by("q4_0").relRmse);
    }
  });
});
