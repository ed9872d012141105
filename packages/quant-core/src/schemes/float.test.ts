/**
 * Float types f32, f16, bf16: conversion details (rounding, NaN, subnormals) and round-trip bounds.
 * Byte-exactness against ggml on the golden inputs is in golden.test.ts.
 */
import { describe, expect, it } from "vitest";
import { dequantizeTensor, quantizeTensor } from "../registry.js";
import { bf16ToFp32Bits, fp32BitsToBf16 } from "../math/bf16.js";
import { fp32BitsToFp16, fp32ToFp16Ref } from "../math/fp16.js";
import { floatSchemes } from "./float.js";

const byName = (n: string) => floatSchemes.find((s) => s.name === n)!;
const bitsToF32 = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0]!;

function quantBits(name: string, bits: number[]): number[] {
  const s = byName(name);
  const x = new Float32Array(new Uint32Array(bits).buffer);
  const q = new Uint8Array(bits.length * s.layout.typeSize);
  s.quantizeRowRef(x, q, bits.length);
  const out: number[] = [];
  for (let i = 0; i < bits.length; i++) out.push(q[2 * i]! | (q[2 * i + 1]! << 8));
  return out;
}

describe("float schemes", () => {
  it("f32 is a bit-exact copy both ways (NaN payload and -0 kept)", () => {
    const s = byName("f32");
    const bits = new Uint32Array([0x7fc00001, 0x80000000, 0x3f800000, 0xff800000]);
    const x = new Float32Array(bits.buffer);
    const q = new Uint8Array(16);
    s.quantizeRowRef(x, q, 4);
    expect([...q]).toEqual([...new Uint8Array(bits.buffer)]);
    const y = new Float32Array(4);
    s.dequantizeRow(q, y, 4);
    expect([...new Uint32Array(y.buffer)]).toEqual([...bits]);
  });

  it("f16: round to nearest even, overflow to inf, NaN keeps its sign", () => {
    // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: rounds to even (1.0)
    expect(quantBits("f16", [0x3f801000, 0x3f803000, 0x47800000, 0xffc00000, 0x7f800001])).toEqual([0x3c00, 0x3c02, 0x7c00, 0xfe00, 0x7e00]);
  });

  it("bf16: ggml_compute_fp32_to_bf16 rounding and NaN quieting", () => {
    expect(fp32BitsToBf16(0x3f808000)).toBe(0x3f80); // tie, even stays
    expect(fp32BitsToBf16(0x3f818000)).toBe(0x3f82); // tie, odd rounds up
    expect(fp32BitsToBf16(0x3f808001)).toBe(0x3f81);
    expect(fp32BitsToBf16(0x7f800001)).toBe(0x7fc0); // signalling NaN -> quiet, upper payload kept
    expect(fp32BitsToBf16(0xff812345)).toBe(0xffc1);
    expect(fp32BitsToBf16(0x7f7fffff)).toBe(0x7f80); // FLT_MAX rounds to inf
    expect(fp32BitsToBf16(0x00018000)).toBe(0x0002); // subnormals are rounded, not flushed
    expect(bf16ToFp32Bits(0xffc1)).toBe(0xffc10000);
    expect(quantBits("bf16", [0x7f800001, 0x80000000])).toEqual([0x7fc0, 0x8000]);
  });

  it("f16 and bf16 round trips stay within half an ulp", () => {
    const n = 4096;
    const x = new Float32Array(n).map((_, i) => 0.1 + 2 * Math.cos(i));
    for (const [name, rel] of [["f16", 2 ** -11], ["bf16", 2 ** -8]] as const) {
      const s = byName(name);
      const y = dequantizeTensor(s, quantizeTensor(s, x, 4, 1024), n);
      for (let i = 0; i < n; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) * rel + 1e-7);
    }
  });

  it("dequantize keeps special values", () => {
    const s = byName("bf16");
    const q = new Uint8Array([0xc0, 0x7f, 0x80, 0xff, 0x00, 0x80]);
    const y = new Float32Array(3);
    s.dequantizeRow(q, y, 3);
    expect([...new Uint32Array(y.buffer)]).toEqual([0x7fc00000, 0xff800000, 0x80000000]);
    expect(bitsToF32(0x80000000)).toBe(-0);
  });

  it("integer fp32 -> fp16 equals ggml's float trick (every exponent, dense mantissa sample, both signs)", () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    let bad = 0;
    for (let hi = 0; hi < 512; hi++) {
      // sign + exponent; mantissas: the rounding-boundary patterns around bit 13 and a stride through the rest
      for (let lo = 0; lo < 0x800000; lo += lo < 0x4000 ? 1 : 4099) {
        const w = ((hi << 23) | lo) >>> 0;
        if ((w & 0x7fffffff) > 0x7f800000) continue; // NaN: checked below by bits
        u[0] = w;
        if (fp32BitsToFp16(w) !== fp32ToFp16Ref(f[0]!)) bad++;
      }
    }
    expect(bad).toBe(0);
    expect([fp32BitsToFp16(0x7f800001), fp32BitsToFp16(0xffc00000), fp32BitsToFp16(0x477ff000), fp32BitsToFp16(0x33000001)]).toEqual([0x7e00, 0xfe00, 0x7c00, 0x0001]);
  });

  it("unaligned byte buffers and odd counts take the byte path with the same results", () => {
    const n = 257;
    const x = new Float32Array(n).map((_, i) => (i - 128) * 0.37 + 1e-6 * i);
    for (const name of ["f16", "bf16"]) {
      const s = byName(name);
      const aligned = new Uint8Array(2 * n);
      s.quantizeRowRef(x, aligned, n - 1); // even count, 4-aligned: the paired int32 path
      s.quantizeRowRef(x.subarray(n - 1), aligned.subarray(2 * n - 2), 1);
      for (const off of [1, 2]) {
        const odd = new Uint8Array(2 * n + off).subarray(off);
        s.quantizeRowRef(x, odd, n);
        expect([...odd]).toEqual([...aligned]);
        const y1 = new Float32Array(n);
        const y2 = new Float32Array(n);
        s.dequantizeRow(aligned, y1, n - 1);
        s.dequantizeRow(aligned.subarray(2 * n - 2), y1.subarray(n - 1), 1);
        s.dequantizeRow(odd, y2, n);
        expect([...y2]).toEqual([...y1]);
      }
    }
  });
});
