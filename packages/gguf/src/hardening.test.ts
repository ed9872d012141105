import { describe, expect, it } from "vitest";
import { buildGguf, GgufByteBuilder, GGUF_T as T, type BuildTensor } from "@quantlab/testing/fixtures";
import { MAX_ARRAY_LENGTH, MAX_KV_COUNT, MAX_STRING_LENGTH, MAX_TENSOR_COUNT } from "./constants.js";
import { QuantlabError } from "./errors.js";
import { GgufError } from "./gguf-error.js";
import { openGguf, parseGgufBytes } from "./open.js";
import type { ByteSource } from "./source.js";

/** Parses and returns the thrown GgufError (fails the test if nothing or something else is thrown). */
function errorOf(bytes: Uint8Array, options?: Parameters<typeof parseGgufBytes>[1]): GgufError {
  try {
    parseGgufBytes(bytes, { name: "test.gguf", ...options });
  } catch (e) {
    expect(GgufError.isGgufError(e), String(e)).toBe(true);
    expect(QuantlabError.isInstance(e)).toBe(true);
    expect((e as GgufError).context.file).toBe("test.gguf");
    expect(typeof (e as GgufError).context.offset).toBe("number");
    return e as GgufError;
  }
  throw new Error("expected a GgufError, parse succeeded");
}

const arch = { key: "general.architecture", type: T.STRING, value: "llama" };
const f32 = (name: string, dims: number[], extra: Partial<BuildTensor> = {}): BuildTensor => ({ name, dims, ...extra });

/** A header by hand: magic, version, counts, then the given body. */
function raw(body: (b: GgufByteBuilder) => void, { nTensors = 0, nKv = 1, version = 3 } = {}): Uint8Array {
  const b = new GgufByteBuilder(true, version);
  b.bytes([0x47, 0x47, 0x55, 0x46]).u32(version).size(nTensors).size(nKv);
  body(b);
  return b.build();
}

interface Case {
  name: string;
  bytes: () => Uint8Array;
  code: string;
  offset?: number;
}

const cases: Case[] = [
  { name: "bad magic", bytes: () => buildGguf({ magic: [0x47, 0x47, 0x4d, 0x4c] }), code: "GGUF_BAD_MAGIC", offset: 0 },
  { name: "version 0", bytes: () => buildGguf({ version: 0 }), code: "GGUF_UNSUPPORTED_VERSION", offset: 4 },
  { name: "version 4", bytes: () => buildGguf({ version: 4 }), code: "GGUF_UNSUPPORTED_VERSION", offset: 4 },
  { name: "empty file", bytes: () => new Uint8Array(0), code: "GGUF_TRUNCATED", offset: 0 },
  { name: "truncated in the magic", bytes: () => new Uint8Array([0x47, 0x47]), code: "GGUF_TRUNCATED" },
  { name: "truncated in the version", bytes: () => buildGguf().subarray(0, 6), code: "GGUF_TRUNCATED", offset: 4 },
  { name: "truncated in the counts", bytes: () => buildGguf().subarray(0, 20), code: "GGUF_TRUNCATED", offset: 16 },
  { name: "truncated in a key", bytes: () => buildGguf({ kvs: [arch] }).subarray(0, 30), code: "GGUF_TRUNCATED" },
  { name: "truncated in a string value", bytes: () => buildGguf({ kvs: [arch] }).subarray(0, 65), code: "GGUF_TRUNCATED", offset: 64 },
  {
    name: "truncated in an array",
    bytes: () => buildGguf({ kvs: [{ key: "a", type: T.ARRAY, value: { elementType: T.UINT32, values: [1, 2, 3, 4] } }] }).subarray(0, 50),
    code: "GGUF_TRUNCATED",
  },
  { name: "truncated in a tensor info", bytes: () => buildGguf({ kvs: [arch], tensors: [f32("w", [4])] }).subarray(0, 90), code: "GGUF_TRUNCATED" },
  { name: "truncated in the tensor data", bytes: () => { const b = buildGguf({ tensors: [f32("w", [64])] }); return b.subarray(0, b.length - 10); }, code: "GGUF_TENSOR_OUT_OF_BOUNDS" },
  { name: "huge KV count", bytes: () => buildGguf({ kvCount: 2n ** 63n }), code: "GGUF_TOO_MANY_KVS", offset: 16 },
  { name: "KV count just over the limit", bytes: () => buildGguf({ kvCount: MAX_KV_COUNT + 1 }), code: "GGUF_TOO_MANY_KVS" },
  { name: "huge tensor count", bytes: () => buildGguf({ tensorCount: 0xffffffffffffffffn }), code: "GGUF_TOO_MANY_TENSORS", offset: 8 },
  { name: "tensor count just over the limit", bytes: () => buildGguf({ tensorCount: MAX_TENSOR_COUNT + 1 }), code: "GGUF_TOO_MANY_TENSORS" },
  { name: "KV count larger than the file holds", bytes: () => buildGguf({ kvs: [arch], kvCount: 1000 }), code: "GGUF_TRUNCATED" },
  { name: "huge key length", bytes: () => raw((b) => b.u64(2n ** 62n)), code: "GGUF_STRING_TOO_LONG", offset: 24 },
  { name: "string value longer than the limit", bytes: () => raw((b) => b.str("k").u32(T.STRING).u64(MAX_STRING_LENGTH + 1)), code: "GGUF_STRING_TOO_LONG", offset: 37 },
  { name: "string length past the end of the file", bytes: () => raw((b) => b.str("k").u32(T.STRING).u64(1000).bytes([1, 2, 3])), code: "GGUF_TRUNCATED" },
  { name: "huge array length", bytes: () => raw((b) => b.str("k").u32(T.ARRAY).u32(T.UINT8).u64(2n ** 60n)), code: "GGUF_ARRAY_TOO_LONG", offset: 41 },
  { name: "array length just over the limit", bytes: () => raw((b) => b.str("k").u32(T.ARRAY).u32(T.STRING).u64(MAX_ARRAY_LENGTH + 1)), code: "GGUF_ARRAY_TOO_LONG" },
  { name: "array length past the end of the file", bytes: () => raw((b) => b.str("k").u32(T.ARRAY).u32(T.STRING).u64(MAX_ARRAY_LENGTH)), code: "GGUF_TRUNCATED", offset: 41 },
  { name: "bad value type", bytes: () => raw((b) => b.str("k").u32(13).u32(0)), code: "GGUF_BAD_VALUE_TYPE", offset: 33 },
  { name: "negative value type", bytes: () => raw((b) => b.str("k").i32(-1).u32(0)), code: "GGUF_BAD_VALUE_TYPE" },
  { name: "bad array element type", bytes: () => raw((b) => b.str("k").u32(T.ARRAY).u32(42).u64(0)), code: "GGUF_BAD_VALUE_TYPE", offset: 37 },
  {
    name: "arrays nested too deep",
    bytes: () => raw((b) => { b.str("k").u32(T.ARRAY); for (let i = 0; i < 5; i++) b.u32(T.ARRAY).u64(1); b.u32(T.UINT8).u64(0); }),
    code: "GGUF_NESTING_TOO_DEEP",
  },
  { name: "duplicate key", bytes: () => buildGguf({ kvs: [arch, { key: "x", type: T.UINT8, value: 1 }, arch] }), code: "GGUF_DUPLICATE_KEY", offset: 83 },
  { name: "alignment 0", bytes: () => buildGguf({ kvs: [{ key: "general.alignment", type: T.UINT32, value: 0 }] }), code: "GGUF_BAD_ALIGNMENT", offset: 24 },
  { name: "alignment 3", bytes: () => buildGguf({ kvs: [{ key: "general.alignment", type: T.UINT32, value: 3 }] }), code: "GGUF_BAD_ALIGNMENT" },
  { name: "alignment not UINT32", bytes: () => buildGguf({ kvs: [{ key: "general.alignment", type: T.UINT64, value: 32n }] }), code: "GGUF_BAD_ALIGNMENT" },
  { name: "alignment above 1 MiB", bytes: () => buildGguf({ kvs: [{ key: "general.alignment", type: T.UINT32, value: 1 << 21 }] }), code: "GGUF_BAD_ALIGNMENT" },
  { name: "too many dims", bytes: () => buildGguf({ tensors: [f32("w", [1, 1, 1, 1, 1])] }), code: "GGUF_TOO_MANY_DIMS" },
  { name: "zero dim", bytes: () => buildGguf({ tensors: [f32("w", [4, 0])] }), code: "GGUF_BAD_DIMENSION" },
  { name: "negative dim (int64)", bytes: () => buildGguf({ tensors: [{ name: "w", dims: [4, -2n], dataSize: 16 }] }), code: "GGUF_BAD_DIMENSION" },
  { name: "element-count overflow", bytes: () => buildGguf({ tensors: [{ name: "w", dims: [2 ** 31, 2 ** 31, 2 ** 31], dataSize: 4 }] }), code: "GGUF_ELEMENT_COUNT_OVERFLOW" },
  { name: "row size not a multiple of the block size", bytes: () => buildGguf({ tensors: [{ name: "w", dims: [31], type: 8, dataSize: 34 }] }), code: "GGUF_BAD_ROW_SIZE" },
  { name: "tensor name too long", bytes: () => buildGguf({ tensors: [f32("n".repeat(64), [4])] }), code: "GGUF_TENSOR_NAME_TOO_LONG" },
  { name: "duplicate tensor", bytes: () => buildGguf({ tensors: [f32("w", [4]), f32("w", [4])] }), code: "GGUF_DUPLICATE_TENSOR" },
  { name: "misaligned tensor offset", bytes: () => buildGguf({ tensors: [f32("a", [4]), f32("b", [4], { offset: 36 })] }), code: "GGUF_MISALIGNED_TENSOR" },
  { name: "tensor past EOF", bytes: () => buildGguf({ tensors: [f32("a", [4]), f32("b", [4], { offset: 1 << 20 })] }), code: "GGUF_TENSOR_OUT_OF_BOUNDS" },
  { name: "tensor offset beyond 2^53", bytes: () => buildGguf({ tensors: [f32("a", [4], { offset: 2n ** 60n })] }), code: "GGUF_OFFSET_OVERFLOW" },
  { name: "overlapping tensors", bytes: () => buildGguf({ tensors: [f32("a", [16]), f32("b", [16], { offset: 32 }), f32("c", [8], { offset: 64 })] }), code: "GGUF_OVERLAPPING_TENSORS" },
  { name: "tensors at the same offset", bytes: () => buildGguf({ tensors: [f32("a", [4]), f32("b", [4], { offset: 0 })] }), code: "GGUF_OVERLAPPING_TENSORS" },
];

describe("corruption catalogue: every malformed file fails with its code and offset", () => {
  it("has at least 25 cases", () => expect(cases.length).toBeGreaterThanOrEqual(25));
  for (const c of cases) {
    it(c.name, () => {
      const e = errorOf(c.bytes());
      expect(e.code).toBe(c.code);
      if (c.offset !== undefined) expect(e.offset).toBe(c.offset);
    });
  }

  it("reports the duplicate key at the offset of the second occurrence, with the key", () => {
    const bytes = buildGguf({ kvs: [arch, { key: "x", type: T.UINT8, value: 1 }, arch] });
    const e = errorOf(bytes);
    expect(e.context.key).toBe("general.architecture");
    expect(e.message).toContain("test.gguf");
    // The offset points at the second key's length field.
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    expect(Number(dv.getBigUint64(e.offset!, true))).toBe("general.architecture".length);
  });

  it("truncating a valid file at every byte fails with GGUF_TRUNCATED in the header and GGUF_TENSOR_OUT_OF_BOUNDS in the data", () => {
    const full = buildGguf({
      kvs: [arch, { key: "a", type: T.ARRAY, value: { elementType: T.STRING, values: ["x", "yz"] } }, { key: "f", type: T.FLOAT64, value: 0.5 }],
      tensors: [f32("w", [4, 2]), f32("v", [3])],
    });
    const ok = parseGgufBytes(full);
    const headerEnd = ok.tensorInfoRange[1];
    const dataEnd = ok.tensor("v")!.absoluteOffset + 12; // the padding after the last tensor is optional
    expect(full.length).toBe(dataEnd + 20);
    for (let n = dataEnd; n <= full.length; n++) expect(parseGgufBytes(full.subarray(0, n)).tensors.length).toBe(2);
    for (let n = 0; n < dataEnd; n++) {
      const e = errorOf(full.subarray(0, n));
      expect(e.code, `cut at ${n}`).toBe(n < headerEnd ? "GGUF_TRUNCATED" : "GGUF_TENSOR_OUT_OF_BOUNDS");
      expect(e.offset!).toBeLessThanOrEqual(Math.max(n, headerEnd));
    }
  });

  it("keeps unknown ggml type ids and fails only when a size is needed", async () => {
    const bytes = buildGguf({ tensors: [{ name: "w", dims: [8], type: 200, dataSize: 32 }] });
    const f = parseGgufBytes(bytes);
    const t = f.tensor("w")!;
    expect(t.type).toBe(200);
    expect(t.typeName).toBe("unknown(200)");
    expect(t.nElements).toBe(8);
    expect(t.hasKnownSize).toBe(false);
    expect(() => t.nBytes).toThrow(expect.objectContaining({ code: "GGUF_UNKNOWN_TENSOR_TYPE", context: expect.objectContaining({ tensor: "w" }) }));
    await expect(f.readTensorData("w")).rejects.toMatchObject({ code: "GGUF_UNKNOWN_TENSOR_TYPE" });
  });

  it("accepts v1 (32-bit sizes), v2 and big-endian files built by hand", () => {
    for (const [version, littleEndian] of [[1, true], [2, true], [3, false], [1, false]] as const) {
      const bytes = buildGguf({
        version,
        littleEndian,
        kvs: [arch, { key: "n", type: T.UINT64, value: 5n }, { key: "e", type: T.FLOAT32, value: 0.25 }, { key: "t", type: T.ARRAY, value: { elementType: T.INT16, values: [-1, 2] } }],
        tensors: [f32("w", [4, 2])],
      });
      const f = parseGgufBytes(bytes);
      expect([f.version, f.littleEndian]).toEqual([version, littleEndian]);
      expect(f.get("general.architecture")).toBe("llama");
      expect(f.get("n")).toBe(5n);
      expect(f.get("e")).toBe(0.25);
      expect(f.get("t")).toEqual([-1, 2]);
      expect(f.tensor("w")!.shape).toEqual([4, 2]);
      expect(f.tensor("w")!.nBytes).toBe(32);
    }
  });

  it("parses nested arrays built by hand (the C reader refuses them; the spec and gguf-py allow them)", () => {
    for (const version of [1, 3]) {
      const inner = (vals: number[]) => ({ elementType: T.INT8, values: vals });
      const bytes = buildGguf({
        version,
        kvs: [{ key: "nested", type: T.ARRAY, value: { elementType: T.ARRAY, values: [inner([1, -2]), inner([]), inner([3])] } }, arch],
      });
      const f = parseGgufBytes(bytes);
      expect(f.get("nested")).toEqual([[1, -2], [], [3]]);
      expect(f.getTyped("nested")).toMatchObject({ type: 9, elementType: 9, value: [{ type: 9, elementType: 1, value: [1, -2] }, { value: [] }, { value: [3] }] });
      expect(f.get("general.architecture")).toBe("llama");
    }
  });

  it("enforces the metadata size limit (here lowered through the option), sync and async", async () => {
    const bytes = buildGguf({ kvs: [arch, { key: "big", type: T.STRING, value: "x".repeat(5000) }] });
    expect(parseGgufBytes(bytes).get("big")).toHaveLength(5000);
    const e = errorOf(bytes, { maxMetadataBytes: 1024 });
    expect(e.code).toBe("GGUF_METADATA_TOO_LARGE");
    await expect(openGguf(bytes, { maxMetadataBytes: 1024, initialReadSize: 256 })).rejects.toMatchObject({ code: "GGUF_METADATA_TOO_LARGE" });
  });

  it("takes the file size from the options when given only the header bytes", () => {
    const full = buildGguf({ tensors: [f32("w", [64])] });
    const head = full.subarray(0, 64);
    const f = parseGgufBytes(head, { fileSize: full.length });
    expect(f.tensors.length).toBe(1);
    expect(errorOf(head, { fileSize: full.length - 1 }).code).toBe("GGUF_TENSOR_OUT_OF_BOUNDS");
  });

  it("does not fetch more than the metadata section needs from a lying source", async () => {
    // A source that claims 1 TB and serves a header saying "a string of 60 MB follows" then zeros.
    const head = raw((b) => b.str("k").u32(T.STRING).u64(60 * 1024 * 1024));
    let fetched = 0;
    const source: ByteSource = {
      name: "liar.gguf",
      size: 2 ** 40,
      read(offset, length) {
        fetched += length;
        const out = new Uint8Array(length);
        if (offset < head.length) out.set(head.subarray(offset, offset + length));
        return Promise.resolve(out);
      },
    };
    // 1 KV of 60 MB parses (it is within the limits); the fetch is bounded by what the header asks for.
    const f = await openGguf(source);
    expect(f.get("k")).toHaveLength(60 * 1024 * 1024);
    expect(fetched).toBeLessThan(2 * 60 * 1024 * 1024 + 65536);
  });
});
