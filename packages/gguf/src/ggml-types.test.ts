import { describe, expect, it } from "vitest";
import { readSharedJson } from "@quantlab/testing/fixtures";
import { GGML_REMOVED_TYPES, GGML_TYPES, GGML_TYPE_COUNT, GGMLQuantizationType, ggmlTypeByName, ggmlTypeInfo, ggmlTypeName, LlamaFileType } from "./ggml-types.js";

interface ManifestType { type_id: number; type_name: string; block_size: number; type_size: number; is_quantized: boolean }
const manifest = readSharedJson<{ types: ManifestType[] }>("golden", "quants", "manifest.json");

describe("ggml type table", () => {
  it("matches ggml d99724f's type_traits for every type the reference lists", () => {
    expect(manifest.types.length).toBeGreaterThanOrEqual(35);
    for (const t of manifest.types) {
      const ours = ggmlTypeInfo(t.type_id);
      expect(ours, `type id ${t.type_id}`).toBeDefined();
      expect({ name: ours!.name, block: ours!.blockSize, size: ours!.typeSize, q: ours!.quantized }).toEqual({
        name: t.type_name,
        block: t.block_size,
        size: t.type_size,
        q: t.is_quantized,
      });
    }
  });

  it("covers ids 0..42 exactly once: live types plus removed ids", () => {
    const live = Object.keys(GGML_TYPES).map(Number);
    const removed = Object.keys(GGML_REMOVED_TYPES).map(Number);
    expect([...live, ...removed].sort((a, b) => a - b)).toEqual(Array.from({ length: GGML_TYPE_COUNT }, (_, i) => i));
    expect(live.filter((id) => removed.includes(id))).toEqual([]);
  });

  it("mirrors the enum values and names", () => {
    expect(GGMLQuantizationType.Q4_K).toBe(12);
    expect(GGMLQuantizationType.BF16).toBe(30);
    expect(GGMLQuantizationType.Q2_0).toBe(42);
    expect(GGML_TYPES[GGMLQuantizationType.Q8_1].typeSize).toBe(36); // not gguf-py's 40
    for (const t of Object.values(GGML_TYPES)) expect(GGMLQuantizationType[t.enumName as keyof typeof GGMLQuantizationType]).toBe(t.id);
  });

  it("looks up names case-insensitively and names unknown and removed ids", () => {
    expect(ggmlTypeByName("Q4_K")?.id).toBe(12);
    expect(ggmlTypeByName("q4_k")?.id).toBe(12);
    expect(ggmlTypeByName("iq2_xxs")?.bitsPerWeight).toBeCloseTo(2.0625, 10);
    expect(ggmlTypeName(31)).toBe("removed:q4_0_4_4");
    expect(ggmlTypeName(99)).toBe("unknown(99)");
    expect(ggmlTypeInfo(4)).toBeUndefined();
  });

  it("keeps llama_ftype distinct from ggml_type", () => {
    expect(LlamaFileType.MOSTLY_Q4_K_M).toBe(15);
    expect(LlamaFileType.MOSTLY_Q8_0).toBe(7);
    expect(LlamaFileType.MOSTLY_BF16).toBe(32);
    expect(LlamaFileType.MOSTLY_MXFP4_MOE).toBe(38);
  });
});
