import { createReadStream, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedPath } from "@quantlab/testing/fixtures";
import { runCli } from "../main.js";
import { capture } from "../test-utils/capture.js";

const Q4KM = sharedPath("golden", "llamacpp-c392e50", "tinystories-5m", "tinystories-5m-Q4_K_M.gguf");

/** results.tsv row (llama.cpp's own figures) for a preset without imatrix. */
function goldenRow(preset: string): { size: number; bpw: number } {
  const lines = readFileSync(sharedPath("golden", "llamacpp-c392e50", "tinystories-5m", "results.tsv"), "utf8").trim().split("\n");
  const head = lines[0]!.split("\t");
  const row = lines.map((l) => l.split("\t")).find((c) => c[0] === preset && c[1] === "no")!;
  return { size: Number(row[head.indexOf("size_bytes")]), bpw: Number(row[head.indexOf("bpw")]) };
}

describe("quantlab inspect", () => {
  it("reports parameters, size and bpw as llama.cpp does (Q4_K_M golden file)", async () => {
    const cap = capture();
    expect(await runCli(["inspect", "--json", Q4KM], cap.io)).toBe(0);
    const r = JSON.parse(cap.out());
    const g = goldenRow("Q4_K_M");
    expect(r.fileSize).toBe(g.size);
    expect(r.parameters).toBe(4_984_064); // the model README's count
    expect(r.bitsPerWeight.toFixed(4)).toBe(g.bpw.toFixed(4));
    expect(r.fileTypeName).toBe("MOSTLY_Q4_K_M");
    expect(r.types.map((t: { type: string }) => t.type).sort()).toEqual(["f32", "q4_K", "q6_K"]);
    expect(r.types.find((t: { type: string }) => t.type === "q6_K").tensors).toBe(5);
  });

  it("prints a readable table and lists tensors with --tensors", async () => {
    const cap = capture();
    expect(await runCli(["inspect", "--tensors", Q4KM], cap.io)).toBe(0);
    const out = cap.out();
    expect(out).toContain("file type MOSTLY_Q4_K_M");
    expect(out).toContain("tokenizer.ggml.tokens");
    expect(out).toMatch(/blk\.2\.attn_v\.weight\s+\[256, 128\]\s+q6_K/);
  });

  it("gives a typed error for a file that is not GGUF, and exit code 1", async () => {
    const cap = capture();
    expect(await runCli(["inspect", sharedPath("data", "hellaswag", "hellaswag_val_first1000.txt")], cap.io)).toBe(1);
    expect(cap.err()).toMatch(/error \[GGUF_BAD_MAGIC\]/);
  });

  describe("over HTTP", () => {
    let server: Server;
    let url = "";
    let bytesSent = 0;
    beforeAll(async () => {
      const size = statSync(Q4KM).size;
      server = createServer((req, res) => {
        const m = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? "");
        const start = m ? Number(m[1]) : 0;
        const end = m && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
        res.writeHead(m ? 206 : 200, {
          "content-length": end - start + 1,
          "accept-ranges": "bytes",
          ...(m ? { "content-range": `bytes ${start}-${end}/${size}` } : {}),
        });
        bytesSent += end - start + 1;
        if (req.method === "HEAD") return res.end();
        createReadStream(Q4KM, { start, end }).pipe(res);
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tinystories-5m-Q4_K_M.gguf`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("inspects a remote file with range requests, reading only the header", async () => {
      const local = capture();
      await runCli(["inspect", "--json", Q4KM], local.io);
      const remote = capture();
      expect(await runCli(["inspect", "--json", url], remote.io)).toBe(0);
      const a = JSON.parse(local.out());
      const b = JSON.parse(remote.out());
      expect({ ...b, file: a.file }).toEqual(a);
      expect(bytesSent).toBeLessThan(200_000); // the file is 2.9 MB
    });
  });
});
