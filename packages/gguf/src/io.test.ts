import { createReadStream, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readShared, sharedPath } from "@quantlab/testing/fixtures";
import { GgufFile } from "./file.js";
import { FileByteSource } from "./node/io.js";
import { openGguf, parseGgufBytes } from "./open.js";
import { HttpByteSource, MemoryByteSource, type ByteSource } from "./source.js";

/** Everything observable about a parse, for comparing two parses of the same file. */
function snapshot(f: GgufFile) {
  return {
    version: f.version,
    littleEndian: f.littleEndian,
    alignment: f.alignment,
    dataOffset: f.dataOffset,
    fileSize: f.fileSize,
    metadata: [...f.metadata],
    offsets: [...f.metadataOffsets],
    tensors: f.tensors.map((t) => t.toJSON()),
  };
}

const F32 = ["models", "tinystories-5m-f32.gguf"];

describe("local file source", () => {
  it("parses the header of a 20 MB model reading only the first 64 KiB (no tensor data)", async () => {
    const path = sharedPath(...F32);
    const size = statSync(path).size;
    expect(size).toBeGreaterThan(19_000_000);
    const f = await openGguf(path);
    try {
      expect(f.tensors.length).toBe(57);
      // The header ends at dataOffset (14,848 bytes); one 64 KiB read covers it.
      expect(f.dataOffset).toBe(14848);
      expect(f.bytesRead).toBeLessThanOrEqual(64 * 1024);
      expect(f.bytesRead! / size).toBeLessThan(0.004);
      // Reading one tensor reads exactly its bytes.
      const t = f.tensor("blk.0.attn_q.weight")!;
      const before = f.bytesRead!;
      const data = await f.readTensorData(t);
      expect(data.byteLength).toBe(t.nBytes);
      expect(f.bytesRead! - before).toBe(t.nBytes);
      const whole = readShared(...F32);
      expect(Buffer.from(data).equals(Buffer.from(whole.subarray(t.absoluteOffset, t.absoluteOffset + t.nBytes)))).toBe(true);
    } finally {
      await f.close();
    }
    await expect(f.readTensorData("output_norm.weight")).rejects.toMatchObject({ code: "GGUF_CLOSED" });
  });

  it("grows its buffer for multi-megabyte vocabularies with few reads and gives the same result as in memory", async () => {
    const parts = ["models", "vocab", "ggml-vocab-deepseek-llm.gguf"];
    const src = await FileByteSource.open(sharedPath(...parts));
    const f = await openGguf(src);
    const mem = parseGgufBytes(readShared(...parts));
    expect(snapshot(f)).toEqual(snapshot(mem));
    expect(src.reads).toBeLessThanOrEqual(6);
    expect(src.bytesRead).toBeLessThanOrEqual(statSync(sharedPath(...parts)).size);
    await f.close();
  });

  it("accepts file: URLs and reports a missing file as GGUF_IO_ERROR", async () => {
    const f = await openGguf(new URL(`file://${sharedPath("models", "stories260K.gguf")}`));
    expect(f.tensors.length).toBe(48);
    await f.close();
    await expect(openGguf("/nonexistent/x.gguf")).rejects.toMatchObject({ code: "GGUF_IO_ERROR", context: { file: "/nonexistent/x.gguf" } });
  });

  it("reads tensors in chunks", async () => {
    const f = await openGguf(sharedPath("models", "stories260K.gguf"));
    const t = f.tensor("token_embd.weight")!;
    const chunks: Uint8Array[] = [];
    for await (const c of f.readTensorChunks(t, 10_000)) chunks.push(c);
    expect(chunks.length).toBe(Math.ceil(t.nBytes / 10_000));
    expect(Buffer.concat(chunks).equals(Buffer.from(await f.readTensorData(t)))).toBe(true);
    await expect(f.readTensorData("nope")).rejects.toMatchObject({ code: "GGUF_TENSOR_NOT_FOUND" });
    await f.close();
  });
});

describe("memory source", () => {
  it("opens Uint8Array input asynchronously with the same result as parseGgufBytes", async () => {
    const bytes = readShared("models", "stories260K.gguf");
    const a = await openGguf(bytes);
    expect(snapshot(a)).toEqual(snapshot(parseGgufBytes(bytes)));
    const src = new MemoryByteSource(bytes);
    await openGguf(src, { initialReadSize: 100 });
    expect(src.bytesRead).toBeLessThan(2 * 14176 + 100);
  });
});

describe("custom sources", () => {
  it("copes with a source that returns short reads, and with one that returns nothing", async () => {
    const bytes = readShared("models", "vocab", "ggml-vocab-bert-bge.gguf");
    const dribble: ByteSource = { name: "dribble", size: bytes.length, read: (o, n) => Promise.resolve(bytes.slice(o, o + Math.min(n, 1000))) };
    expect(snapshot(await openGguf(dribble))).toEqual(snapshot(parseGgufBytes(bytes)));
    const empty: ByteSource = { name: "empty", size: 1e9, read: () => Promise.resolve(new Uint8Array(0)) };
    await expect(openGguf(empty)).rejects.toMatchObject({ code: "GGUF_TRUNCATED", context: { file: "empty", offset: 0 } });
    const failing: ByteSource = { name: "failing", size: 100, read: () => Promise.reject(new Error("EIO")) };
    await expect(openGguf(failing)).rejects.toMatchObject({ code: "GGUF_IO_ERROR", context: { file: "failing" } });
  });
});

describe("HTTP range source", () => {
  let server: Server;
  let base = "";
  let transferred = 0;
  let requests = 0;
  const files: Record<string, string> = {
    "/f32.gguf": sharedPath(...F32),
    "/vocab.gguf": sharedPath("models", "vocab", "ggml-vocab-llama-spm.gguf"),
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      const path = files[req.url ?? ""];
      if (req.url === "/norange.gguf") {
        res.writeHead(200, { "content-length": "4" });
        res.end("GGUF");
        return;
      }
      if (!path) {
        res.writeHead(404).end();
        return;
      }
      const size = statSync(path).size;
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
      if (!m) {
        res.writeHead(200, { "content-length": String(size) });
        createReadStream(path).pipe(res);
        transferred += size;
        return;
      }
      const start = Number(m[1]);
      const end = Math.min(Number(m[2]), size - 1);
      if (start >= size) {
        res.writeHead(416, { "content-range": `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { "content-range": `bytes ${start}-${end}/${size}`, "content-length": String(end - start + 1), "accept-ranges": "bytes" });
      transferred += end - start + 1;
      createReadStream(path, { start, end }).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("parses a 20 MB model over HTTP transferring only a few KB, same result as the local parse", async () => {
    transferred = 0;
    requests = 0;
    const remote = await openGguf(`${base}/f32.gguf`);
    const local = await openGguf(sharedPath(...F32));
    expect(snapshot(remote)).toEqual(snapshot(local));
    expect(transferred).toBeLessThanOrEqual(64 * 1024);
    expect(requests).toBe(1);
    // Tensor data over HTTP equals the local bytes.
    const name = "blk.3.ffn_down.weight";
    const before = transferred;
    expect(Buffer.from(await remote.readTensorData(name)).equals(Buffer.from(await local.readTensorData(name)))).toBe(true);
    expect(transferred - before).toBe(remote.tensor(name)!.nBytes);
    await remote.close();
    await local.close();
  });

  it("fetches a 700 KB vocabulary header in a few requests", async () => {
    requests = 0;
    const src = new HttpByteSource(`${base}/vocab.gguf`);
    const remote = await openGguf(src);
    expect(snapshot(remote)).toEqual(snapshot(parseGgufBytes(readShared("models", "vocab", "ggml-vocab-llama-spm.gguf"))));
    expect(src.requests).toBeLessThanOrEqual(5);
    expect(src.requests).toBe(requests);
  });

  it("reports HTTP failures as GGUF_HTTP_ERROR", async () => {
    await expect(openGguf(`${base}/missing.gguf`)).rejects.toMatchObject({ code: "GGUF_HTTP_ERROR", context: { status: 404 } });
    await expect(openGguf(`${base}/norange.gguf`)).rejects.toMatchObject({ code: "GGUF_HTTP_ERROR", context: { status: 200 } });
    await expect(openGguf("http://127.0.0.1:1/x.gguf")).rejects.toMatchObject({ code: "GGUF_HTTP_ERROR" });
  });
});
