import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { readShared, readSharedJson, sharedPath } from "@quantlab/testing/fixtures";
import { GGMLQuantizationType, ggmlTypeInfo } from "./ggml-types.js";
import { parseGgufBytes } from "./open.js";
import { GGUFValueType, type GgufArrayValue, type GgufValue } from "./types.js";

interface GoldenKv {
  key: string;
  type: string;
  offset: number;
  value?: unknown;
  element_type?: string;
  length?: number;
  first?: unknown[];
  sha256?: string;
}
interface GoldenTensor {
  name: string;
  n_dims: number;
  dims: number[];
  type_id: number;
  type_name: string;
  offset: number;
  n_elements: number;
  n_bytes: number;
}
interface Golden {
  file: string;
  file_size: number;
  file_sha256: string;
  version: number;
  tensor_count: number;
  kv_count: number;
  alignment: number;
  data_offset: number;
  kv: GoldenKv[];
  tensors: GoldenTensor[];
}

/** Canonical JSON encoding of one element, as the golden README defines it. */
function canon(v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && !Number.isFinite(v)) return null;
  return v;
}

function findGguf(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findGguf(p));
    else if (name.endsWith(".gguf")) out.push(p);
  }
  return out.sort();
}

const index = readSharedJson<{ file: string; golden: string }[]>("golden", "gguf", "index.json");

describe("parse: every shared model against gguf-py goldens", () => {
  it("has a golden for every .gguf under shared/models", () => {
    const models = findGguf(sharedPath("models")).map((p) => relative(sharedPath("models"), p));
    expect(models.length).toBeGreaterThanOrEqual(13);
    const withGolden = new Set(index.map((e) => e.file));
    // tinystories-5m-{f32,f16,bf16} have no gguf-py golden; they are checked against tensor_types.tsv below.
    for (const m of models) if (!m.startsWith("tinystories-5m-")) expect(withGolden.has(m), m).toBe(true);
  });

  for (const entry of index) {
    it(`matches ${entry.golden}`, () => {
      const g = readSharedJson<Golden>("golden", "gguf", entry.golden);
      const bytes = readShared("models", entry.file);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(g.file_sha256);
      const f = parseGgufBytes(bytes);
      expect(f.version).toBe(g.version);
      expect(f.littleEndian).toBe(true);
      expect(f.fileSize).toBe(g.file_size);
      expect(f.alignment).toBe(g.alignment);
      expect(f.dataOffset).toBe(g.data_offset);
      expect(f.metadata.size).toBe(g.kv_count);
      expect(f.tensors.length).toBe(g.tensor_count);

      const keys = [...f.metadata.keys()];
      expect(keys).toEqual(g.kv.map((k) => k.key));
      for (const gk of g.kv) {
        const v = f.metadata.get(gk.key) as GgufValue;
        expect(GGUFValueType[v.type], gk.key).toBe(gk.type);
        expect(f.metadataOffsets.get(gk.key), gk.key).toBe(gk.offset);
        if (v.type !== GGUFValueType.ARRAY) {
          expect(canon(v.value), gk.key).toEqual(gk.value);
          continue;
        }
        const a = v as GgufArrayValue;
        expect(GGUFValueType[a.elementType], gk.key).toBe(gk.element_type);
        expect(a.value.length, gk.key).toBe(gk.length);
        const all = a.value.map(canon);
        if (gk.value !== undefined) expect(all, gk.key).toEqual(gk.value);
        if (gk.first !== undefined) expect(all.slice(0, 8), gk.key).toEqual(gk.first);
        const sha = createHash("sha256").update(JSON.stringify(all), "utf8").digest("hex");
        expect(sha, `${gk.key} sha256`).toBe(gk.sha256);
      }

      for (let i = 0; i < g.tensors.length; i++) {
        const gt = g.tensors[i]!;
        const t = f.tensors[i]!;
        expect({
          name: t.name,
          n_dims: t.nDims,
          dims: t.shape,
          type_id: t.type,
          type_name: GGMLQuantizationType[t.type],
          offset: t.offset,
          n_elements: t.nElements,
          n_bytes: t.nBytes,
        }).toEqual(gt);
        expect(t.absoluteOffset).toBe(g.data_offset + gt.offset);
        expect(f.tensor(gt.name)).toBe(t);
      }
    });
  }
});

describe("parse: llama.cpp outputs against tensor_types.tsv and results.tsv", () => {
  const root = sharedPath("golden", "llamacpp-c392e50");
  const files = findGguf(root);
  it("finds the llama.cpp golden files", () => expect(files.length).toBeGreaterThanOrEqual(16));

  for (const model of ["stories260K", "tinystories-5m"]) {
    const tsv = readFileSync(join(root, model, "tensor_types.tsv"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"));
    const results = readFileSync(join(root, model, "results.tsv"), "utf8").trim().split("\n");
    const header = results[0]!.split("\t");
    const rows = results.slice(1).map((l) => Object.fromEntries(l.split("\t").map((v, i) => [header[i]!, v])));
    const candidates = [...files.filter((p) => p.includes(`/${model}/`)), ...findGguf(sharedPath("models")).filter((p) => p.includes(`/${model}-`))];
    for (const path of candidates) {
      const base = path.split("/").pop()!;
      const m = new RegExp(`^${model}-(.+?)(-imatrix)?\\.gguf$`).exec(base);
      if (!m) continue;
      const preset = m[1]!.toUpperCase();
      const imatrix = m[2] ? "yes" : "no";
      const expected = new Map(tsv.filter((r) => r[0] === preset && r[1] === imatrix).map((r) => [r[2]!, r[3]!]));
      if (expected.size === 0) continue;
      it(`${base}: tensor types, sizes and layout`, () => {
        const bytes = new Uint8Array(readFileSync(path));
        const f = parseGgufBytes(bytes);
        expect(f.version).toBe(3);
        expect(new Map(f.tensors.map((t) => [t.name, GGMLQuantizationType[t.type]!]))).toEqual(expected);
        // The data section is contiguous (llama.cpp layout) and ends at the end of the file.
        let end = 0;
        for (const t of f.tensors) {
          expect(t.offset).toBe(end);
          const info = ggmlTypeInfo(t.type)!;
          expect(t.nBytes).toBe((t.nElements / info.blockSize) * info.typeSize);
          end = t.offset + Math.ceil(t.nBytes / f.alignment) * f.alignment;
        }
        expect(f.dataOffset + end).toBe(bytes.byteLength);
        const row = rows.find((r) => r.model === base || (r.file ?? "").endsWith(base) || (r.preset === preset && r.imatrix === imatrix));
        if (row) {
          expect(Number(row.size_bytes)).toBe(bytes.byteLength);
          expect(createHash("sha256").update(bytes).digest("hex")).toBe(row.sha256);
        }
      });
    }
  }
});
