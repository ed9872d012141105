import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sharedPath } from "@quantlab/testing/fixtures";
import { ggufWriteSpecFrom } from "./edit.js";
import { openGguf } from "./open.js";
import { KEY_SPLIT_COUNT, KEY_SPLIT_NO, KEY_SPLIT_TENSORS_COUNT, mergeGgufShards, openGgufModel, parseShardName, shardPath, writeGgufSplit } from "./shards.js";
import { GGUFValueType } from "./types.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const tmp = mkdtempSync(join(tmpdir(), "quantlab-gguf-split-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("shard names", () => {
  it("parses and builds llama.cpp split names", () => {
    expect(parseShardName("/m/Model-Q4_K_M-00002-of-00003.gguf")).toEqual({ prefix: "/m/Model-Q4_K_M", index: 1, count: 3 });
    expect(parseShardName("model.gguf")).toBeNull();
    expect(parseShardName("m-00004-of-00003.gguf")).toBeNull();
    expect(parseShardName("m-00000-of-00003.gguf")).toBeNull();
    expect(shardPath("/m/x", 0, 12)).toBe("/m/x-00001-of-00012.gguf");
  });
});

describe("split and re-join", () => {
  it("splits a model by tensor count, opens the shards as one model, and re-joins it byte-identically", async () => {
    const src = sharedPath("models", "stories260K.gguf");
    const f = await openGguf(src);
    const prefix = join(tmp, "stories");
    const { paths } = await writeGgufSplit(prefix, ggufWriteSpecFrom(f), { maxTensors: 20 });
    expect(paths).toEqual([0, 1, 2].map((i) => shardPath(prefix, i, 3)));
    expect(readdirSync(tmp).sort()).toEqual(paths.map((p) => p.split("/").pop()).sort());

    const shard2 = await openGguf(paths[1]!);
    expect([...shard2.metadata.keys()]).toEqual([KEY_SPLIT_NO, KEY_SPLIT_COUNT, KEY_SPLIT_TENSORS_COUNT]);
    expect(shard2.getTyped(KEY_SPLIT_NO)).toEqual({ type: GGUFValueType.UINT16, value: 1 });
    expect(shard2.getTyped(KEY_SPLIT_COUNT)).toEqual({ type: GGUFValueType.UINT16, value: 3 });
    expect(shard2.getTyped(KEY_SPLIT_TENSORS_COUNT)).toEqual({ type: GGUFValueType.INT32, value: 48 });
    expect(shard2.tensors.map((t) => t.name)).toEqual(f.tensors.slice(20, 40).map((t) => t.name));
    await shard2.close();

    // Any shard's name opens the whole model.
    const model = await openGgufModel(paths[2]!);
    expect(model.shards.length).toBe(3);
    expect(model.tensors.map((t) => t.info.name)).toEqual(f.tensors.map((t) => t.name));
    expect(model.get("general.architecture")).toBe("llama");
    for (const t of f.tensors) expect(sha(await model.readTensorData(t.name))).toBe(sha(await f.readTensorData(t)));

    const joined = join(tmp, "joined.gguf");
    await mergeGgufShards(model, joined);
    await model.close();
    expect(sha(new Uint8Array(readFileSync(joined)))).toBe(sha(new Uint8Array(readFileSync(src))));
    await f.close();
  });

  it("splits by bytes like gguf-split --split-max-size", async () => {
    const f = await openGguf(sharedPath("golden", "llamacpp-c392e50", "stories260K", "stories260K-Q4_K_M.gguf"));
    const prefix = join(tmp, "bysize");
    const maxBytes = 100_000;
    const { paths } = await writeGgufSplit(prefix, ggufWriteSpecFrom(f), { maxBytes });
    expect(paths.length).toBeGreaterThan(1);
    const model = await openGgufModel(paths[0]!);
    for (const s of model.shards) {
      const data = s.tensors.reduce((a, t) => a + Math.ceil(t.nBytes / 32) * 32, 0);
      expect(data <= maxBytes || s.tensors.length === 1).toBe(true);
    }
    for (const t of f.tensors) expect(sha(await model.readTensorData(t.name))).toBe(sha(await f.readTensorData(t)));
    await model.close();
    await f.close();
  });

  it("refuses shards that do not belong together", async () => {
    const f = await openGguf(sharedPath("models", "stories260K.gguf"));
    const prefix = join(tmp, "bad");
    const { paths } = await writeGgufSplit(prefix, ggufWriteSpecFrom(f), { maxTensors: 30 });
    await f.close();
    // Overwrite shard 2 with a shard claiming to be number 1 of 2 from another split.
    const other = join(tmp, "other");
    const g = await openGguf(paths[0]!);
    await writeGgufSplit(other, { metadata: g.metadata, tensors: [] }, { maxTensors: 1 });
    await g.close();
    const { copyFileSync } = await import("node:fs");
    copyFileSync(shardPath(other, 0, 1), paths[1]!);
    await expect(openGgufModel(paths[0]!)).rejects.toMatchObject({ code: "GGUF_SHARD_MISMATCH" });
    await expect(writeGgufSplit(prefix, { metadata: {}, tensors: [] }, {})).rejects.toMatchObject({ code: "GGUF_BAD_ARGUMENT" });
  });
});
