import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildGguf, GGUF_T, sharedPath } from "@quantlab/testing/fixtures";
import { editGgufMetadata, ggufWriteSpecFrom } from "./edit.js";
import { GGMLQuantizationType } from "./ggml-types.js";
import { openGguf, parseGgufBytes } from "./open.js";
import { GGUFValueType, ggufValue, type GgufMetadata, type GgufValue } from "./types.js";
import { memorySink, serializeGgufHeader, writeGguf, writeGgufToBytes, type WritableSink } from "./write.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function findGguf(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findGguf(p));
    else if (name.endsWith(".gguf")) out.push(p);
  }
  return out.sort();
}

const tmp = mkdtempSync(join(tmpdir(), "quantlab-gguf-write-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("round trip: read then write every real GGUF in shared/ gives a byte-identical file", () => {
  const all = [...findGguf(sharedPath("models")), ...findGguf(sharedPath("golden"))];
  it("finds them all", () => expect(all.length).toBeGreaterThanOrEqual(32));
  for (const path of all) {
    it(path.slice(path.indexOf("shared/") + 7), async () => {
      const original = new Uint8Array(readFileSync(path));
      const f = await openGguf(path);
      const sink = memorySink();
      const res = await writeGguf(sink, ggufWriteSpecFrom(f));
      await f.close();
      const out = sink.bytes();
      expect(res.bytesWritten).toBe(original.byteLength);
      expect(sha(out)).toBe(sha(original));
      // Also the header alone, serialised from the parsed metadata.
      const header = serializeGgufHeader(ggufWriteSpecFrom(f));
      expect(sha(header)).toBe(sha(original.subarray(0, header.byteLength)));
    });
  }
});

describe("writer", () => {
  const metadata: GgufMetadata = new Map<string, GgufValue>([
    ["general.architecture", ggufValue.string("llama")],
    ["u8", ggufValue.uint8(255)],
    ["i8", ggufValue.int8(-128)],
    ["u16", ggufValue.uint16(65535)],
    ["i16", ggufValue.int16(-32768)],
    ["u32", ggufValue.uint32(4294967295)],
    ["i32", ggufValue.int32(-2147483648)],
    ["f32", ggufValue.float32(Math.fround(1e-5))],
    ["bool", ggufValue.bool(true)],
    ["str", ggufValue.string("\uFEFFhé😀\u0000x")],
    ["u64", ggufValue.uint64(18446744073709551615n)],
    ["i64", ggufValue.int64(-9223372036854775808n)],
    ["f64", ggufValue.float64(-0.1)],
    ["arr.str", ggufValue.array(GGUFValueType.STRING, ["a", "", "ü"])],
    ["arr.f32", ggufValue.array(GGUFValueType.FLOAT32, [1, -2.5, Infinity])],
    ["arr.i64", ggufValue.array(GGUFValueType.INT64, [1n, -1n])],
    ["arr.bool", ggufValue.array(GGUFValueType.BOOL, [true, false])],
    ["arr.empty", ggufValue.array(GGUFValueType.UINT8, [])],
    [
      "arr.nested",
      ggufValue.array(GGUFValueType.ARRAY, [ggufValue.array(GGUFValueType.UINT16, [1, 2]), ggufValue.array(GGUFValueType.STRING, ["x"])]),
    ],
  ]);
  const tensorA = new Uint8Array(4 * 3 * 2).map((_, i) => i);
  const tensorB = new Uint8Array(34).map((_, i) => 255 - i); // one q8_0 block

  for (const version of [1, 2, 3] as const) {
    for (const littleEndian of [true, false]) {
      it(`round-trips every value type losslessly (v${version}, ${littleEndian ? "LE" : "BE"})`, async () => {
        const bytes = await writeGgufToBytes({
          metadata,
          version,
          littleEndian,
          tensors: [
            { name: "a", shape: [3, 2], type: GGMLQuantizationType.F32, data: tensorA },
            { name: "b", shape: [32], type: GGMLQuantizationType.Q8_0, data: async () => tensorB },
            { name: "c", shape: [5], type: 99, nBytes: 7, data: () => [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5, 6, 7])] },
          ],
        });
        const f = parseGgufBytes(bytes);
        expect(f.version).toBe(version);
        expect(f.littleEndian).toBe(littleEndian);
        expect([...f.metadata]).toEqual([...metadata]);
        expect(f.get("u64")).toBe(18446744073709551615n);
        expect(f.get("arr.nested")).toEqual([[1, 2], ["x"]]);
        expect(f.tensors.map((t) => [t.name, t.shape, t.type, t.offset])).toEqual([
          ["a", [3, 2], 0, 0],
          ["b", [32], 8, 32],
          ["c", [5], 99, 96],
        ]);
        expect(await f.readTensorData("a")).toEqual(tensorA);
        expect(await f.readTensorData("b")).toEqual(tensorB);
        expect(() => f.tensor("c")!.nBytes).toThrow(expect.objectContaining({ code: "GGUF_UNKNOWN_TENSOR_TYPE" }));
        // Writing the parse again is byte-identical (unknown types copied with their known size).
        const again = await writeGgufToBytes({
          ...ggufWriteSpecFrom(f),
          tensors: f.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, nBytes: t.hasKnownSize ? t.nBytes : 7, data: async () => f.readExact(t.absoluteOffset, t.hasKnownSize ? t.nBytes : 7) })),
        });
        expect(sha(again)).toBe(sha(bytes));
      });
    }
  }

  it("writes the same bytes as the independent test builder", async () => {
    const kvs = [
      { key: "general.architecture", type: GGUF_T.STRING, value: "llama" },
      { key: "x", type: GGUF_T.ARRAY, value: { elementType: GGUF_T.INT32, values: [1, -2, 3] } },
    ];
    const built = buildGguf({ kvs, tensors: [{ name: "w", dims: [4, 2] }] });
    const f = parseGgufBytes(built);
    const ours = await writeGgufToBytes({
      metadata: [
        ["general.architecture", ggufValue.string("llama")],
        ["x", ggufValue.array(GGUFValueType.INT32, [1, -2, 3])],
      ],
      tensors: [{ name: "w", shape: [4, 2], type: 0, data: await f.readTensorData("w") }],
    });
    expect(sha(ours)).toBe(sha(built));
  });

  it("keeps invalid UTF-8 strings byte-identical through a round trip", async () => {
    const bad = new Uint8Array([0x61, 0xff, 0x62]);
    const b = buildGguf({ kvs: [{ key: "s", type: GGUF_T.STRING, value: bad as unknown as string }] });
    // The builder's str() accepts raw bytes.
    const f = parseGgufBytes(b);
    expect(f.get("s")).toBe("a\uFFFDb");
    expect(sha(await writeGgufToBytes(ggufWriteSpecFrom(f)))).toBe(sha(b));
  });

  it("adds general.alignment for a non-default alignment and pads tensors to it", async () => {
    const bytes = await writeGgufToBytes({ metadata: {}, alignment: 64, tensors: [{ name: "a", shape: [3], type: 0, data: new Uint8Array(12) }, { name: "b", shape: [1], type: 0, data: new Uint8Array(4) }] });
    const f = parseGgufBytes(bytes);
    expect(f.alignment).toBe(64);
    expect(f.getTyped("general.alignment")).toEqual({ type: GGUFValueType.UINT32, value: 64 });
    expect(f.dataOffset % 64).toBe(0);
    expect(f.tensor("b")!.offset).toBe(64);
    expect(bytes.byteLength).toBe(f.dataOffset + 128);
  });

  it("refuses invalid specs with typed errors before writing anything", async () => {
    const cases: [unknown, string][] = [
      [{ metadata: { k: ggufValue.uint8(256) }, tensors: [] }, "GGUF_INVALID_VALUE"],
      [{ metadata: { k: ggufValue.int32(1.5) }, tensors: [] }, "GGUF_INVALID_VALUE"],
      [{ metadata: { k: ggufValue.uint64(-1n) }, tensors: [] }, "GGUF_INVALID_VALUE"],
      [{ metadata: { k: { type: 13, value: 1 } }, tensors: [] }, "GGUF_INVALID_VALUE"],
      [{ metadata: { k: ggufValue.array(GGUFValueType.STRING, [1]) }, tensors: [] }, "GGUF_INVALID_VALUE"],
      [{ metadata: { "general.alignment": ggufValue.uint64(32n) }, tensors: [] }, "GGUF_BAD_ALIGNMENT"],
      [{ metadata: {}, alignment: 48, tensors: [] }, "GGUF_BAD_ALIGNMENT"],
      [{ metadata: [["a", ggufValue.bool(true)], ["a", ggufValue.bool(false)]], tensors: [] }, "GGUF_DUPLICATE_KEY"],
      [{ metadata: {}, tensors: [{ name: "t", shape: [1], type: 0, data: new Uint8Array(4) }, { name: "t", shape: [1], type: 0, data: new Uint8Array(4) }] }, "GGUF_DUPLICATE_TENSOR"],
      [{ metadata: {}, tensors: [{ name: "t", shape: [1, 1, 1, 1, 1], type: 0, data: new Uint8Array(4) }] }, "GGUF_TOO_MANY_DIMS"],
      [{ metadata: {}, tensors: [{ name: "t", shape: [0], type: 0, data: new Uint8Array(0) }] }, "GGUF_BAD_DIMENSION"],
      [{ metadata: {}, tensors: [{ name: "t", shape: [31], type: 8, data: new Uint8Array(34) }] }, "GGUF_BAD_ROW_SIZE"],
      [{ metadata: {}, tensors: [{ name: "x".repeat(64), shape: [1], type: 0, data: new Uint8Array(4) }] }, "GGUF_TENSOR_NAME_TOO_LONG"],
      [{ metadata: {}, tensors: [{ name: "t", shape: [1], type: 77, data: async () => new Uint8Array(4) }] }, "GGUF_UNKNOWN_TENSOR_TYPE"],
      [{ metadata: {}, tensors: [{ name: "t", shape: [2], type: 0, data: new Uint8Array(4) }] }, "GGUF_DATA_SIZE_MISMATCH"],
      [{ metadata: {}, tensors: [{ name: "t", shape: [1], type: 0, data: async () => new Uint8Array(5) }] }, "GGUF_DATA_SIZE_MISMATCH"],
      [{ metadata: {}, version: 4, tensors: [] }, "GGUF_UNSUPPORTED_VERSION"],
    ];
    for (const [spec, code] of cases) {
      await expect(writeGgufToBytes(spec as never), code).rejects.toMatchObject({ code, name: "GgufError" });
    }
  });

  it("streams: pulls one tensor at a time and never holds them all", async () => {
    let live = 0;
    let maxLive = 0;
    const tensors = Array.from({ length: 8 }, (_, i) => ({
      name: `t${i}`,
      shape: [1 << 16],
      type: 0,
      data: async function* () {
        live++;
        maxLive = Math.max(maxLive, live);
        for (let k = 0; k < 4; k++) yield new Uint8Array(1 << 16).fill(i);
        live--;
      },
    }));
    let chunks = 0;
    const sink: WritableSink = { write: () => void chunks++ };
    const res = await writeGguf(sink, { metadata: {}, tensors });
    expect(maxLive).toBe(1);
    expect(res.bytesWritten).toBe(res.dataOffset + 8 * (1 << 18));
    expect(chunks).toBeGreaterThanOrEqual(2); // 64 KiB chunks coalesced into 1 MiB writes
  });

  it("writes a path atomically: temp file renamed on success, removed on failure", async () => {
    const target = join(tmp, "out.gguf");
    await writeGguf(target, { metadata: { a: ggufValue.string("b") }, tensors: [{ name: "t", shape: [2], type: 0, data: new Uint8Array(8) }] });
    expect(parseGgufBytes(new Uint8Array(readFileSync(target))).get("a")).toBe("b");
    expect(readdirSync(tmp)).toEqual(["out.gguf"]);
    await expect(
      writeGguf(join(tmp, "fail.gguf"), {
        metadata: {},
        tensors: [{ name: "t", shape: [2], type: 0, data: async () => { throw new Error("disk on fire"); } }],
      }),
    ).rejects.toMatchObject({ code: "GGUF_IO_ERROR" });
    expect(readdirSync(tmp)).toEqual(["out.gguf"]);
  });
});

describe("editGgufMetadata", () => {
  it("sets, adds and removes keys and copies tensor data unchanged", async () => {
    const src = sharedPath("models", "stories260K.gguf");
    const out = join(tmp, "edited.gguf");
    await editGgufMetadata(src, out, { set: { "general.name": ggufValue.string("renamed"), "quantlab.note": ggufValue.uint32(7) }, remove: ["tokenizer.ggml.scores"] });
    const a = await openGguf(src);
    const b = await openGguf(out);
    const keysA = [...a.metadata.keys()].filter((k) => k !== "tokenizer.ggml.scores");
    expect([...b.metadata.keys()]).toEqual([...keysA, "quantlab.note"]);
    expect(b.get("general.name")).toBe("renamed");
    expect(b.getTyped("quantlab.note")).toEqual({ type: GGUFValueType.UINT32, value: 7 });
    expect(b.tensors.map((t) => t.toJSON())).toEqual(a.tensors.map((t) => ({ ...t.toJSON(), absoluteOffset: t.absoluteOffset - a.dataOffset + b.dataOffset })));
    for (const t of a.tensors) expect(sha(await b.readTensorData(t.name))).toBe(sha(await a.readTensorData(t)));
    await a.close();
    await b.close();
    // Editing back restores the original bytes exactly.
    const back = join(tmp, "back.gguf");
    const orig = parseGgufBytes(new Uint8Array(readFileSync(src)));
    await editGgufMetadata(out, back, (md) => {
      md.delete("quantlab.note");
      md.set("general.name", orig.getTyped("general.name")!);
      const rebuilt = new Map();
      for (const [k, v] of orig.metadata) rebuilt.set(k, md.get(k) ?? v);
      return rebuilt;
    });
    expect(sha(new Uint8Array(readFileSync(back)))).toBe(sha(new Uint8Array(readFileSync(src))));
  });

  it("re-lays-out the tensor data when the alignment changes", async () => {
    const src = sharedPath("models", "stories260K.gguf");
    const out = join(tmp, "align64.gguf");
    await editGgufMetadata(src, out, { set: { "general.alignment": ggufValue.uint32(64) } });
    const a = await openGguf(src);
    const b = await openGguf(out);
    expect(b.alignment).toBe(64);
    expect(b.dataOffset % 64).toBe(0);
    for (const t of b.tensors) expect(t.offset % 64).toBe(0);
    for (const t of a.tensors) expect(sha(await b.readTensorData(t.name))).toBe(sha(await a.readTensorData(t)));
    await a.close();
    await b.close();
  });

  it("can rewrite a file in place", async () => {
    const p = join(tmp, "inplace.gguf");
    writeFileSync(p, readFileSync(sharedPath("golden", "llamacpp-c392e50", "stories260K", "stories260K-Q2_K.gguf")));
    await editGgufMetadata(p, p, { set: { "general.name": ggufValue.string("x") } });
    const f = await openGguf(p);
    expect(f.get("general.name")).toBe("x");
    expect(f.tensors.length).toBe(48);
    await f.close();
  });
});
