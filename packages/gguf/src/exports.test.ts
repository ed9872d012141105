import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as api from "./index.js";
import * as nodeApi from "./node/index.js";

const here = dirname(fileURLToPath(import.meta.url));

describe("public surface", () => {
  it("exports the agreed names", () => {
    for (const name of [
      "openGguf",
      "parseGgufBytes",
      "writeGguf",
      "editGgufMetadata",
      "modelInfo",
      "openGgufModel",
      "writeGgufSplit",
      "mergeGgufShards",
      "parseShardName",
      "GgufFile",
      "GgufTensorInfo",
      "GgufError",
      "GgufErrorCode",
      "QuantlabError",
      "GGUFValueType",
      "GGMLQuantizationType",
      "LlamaFileType",
      "ggmlTypeInfo",
      "MAX_KV_COUNT",
      "MAX_TENSOR_DIMS",
    ]) {
      expect(api, name).toHaveProperty(name);
    }
    expect(api.GGUFValueType.UINT8).toBe(0);
    expect(api.GGUFValueType.FLOAT64).toBe(12);
    expect(api.MAX_TENSOR_DIMS).toBe(4);
    expect(new api.GgufError("GGUF_TRUNCATED", "x", { offset: 3 })).toBeInstanceOf(api.QuantlabError);
    expect(nodeApi).toHaveProperty("FileByteSource");
    expect(nodeApi).toHaveProperty("AtomicFileSink");
  });

  it("keeps Node-only imports out of the core modules (browser-safe): only src/node/ imports node:*", () => {
    const core = readdirSync(here).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    expect(core.length).toBeGreaterThan(8);
    for (const f of core) {
      const src = readFileSync(join(here, f), "utf8");
      expect(src, f).not.toMatch(/from\s+["']node:/);
      expect(src, f).not.toMatch(/import\(\s*["']node:/);
      // The only dynamic import is the lazy Node I/O module.
      for (const m of src.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)) expect(m[1]).toBe("./node/io.js");
    }
  });

  it("has zero runtime dependencies", () => {
    const pkg = JSON.parse(readFileSync(join(here, "..", "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    expect(Object.keys(pkg.dependencies ?? {})).toEqual([]);
  });
});
