/**
 * Node-only I/O: a local-file byte source and a file sink that writes to a temporary file and renames it on
 * success. Loaded lazily by the core (`import()`), or statically through the `@quantlab/gguf/node` subpath.
 */
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { GgufError } from "../gguf-error.js";
import type { ByteSource } from "../source.js";
import type { WritableSink } from "../write.js";

/** A local file read with positioned reads: only the requested ranges are read. */
export class FileByteSource implements ByteSource {
  bytesRead = 0;
  /** Number of read calls made. */
  reads = 0;
  private constructor(
    private readonly fh: FileHandle,
    readonly name: string,
    readonly size: number,
  ) {}

  static async open(path: string | URL): Promise<FileByteSource> {
    const p = path instanceof URL ? fileURLToPath(path) : path;
    let fh: FileHandle;
    try {
      fh = await open(p, "r");
    } catch (cause) {
      throw new GgufError("GGUF_IO_ERROR", `cannot open: ${(cause as Error).message}`, { file: p }, { cause });
    }
    const st = await fh.stat();
    return new FileByteSource(fh, p, st.size);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(this.size, offset + length);
    if (end <= offset) return new Uint8Array(0);
    const out = new Uint8Array(end - offset);
    let got = 0;
    try {
      while (got < out.byteLength) {
        this.reads++;
        const { bytesRead } = await this.fh.read(out, got, out.byteLength - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (cause) {
      throw new GgufError("GGUF_IO_ERROR", `read failed: ${(cause as Error).message}`, { file: this.name, offset: offset + got }, { cause });
    }
    this.bytesRead += got;
    return got === out.byteLength ? out : out.subarray(0, got);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/**
 * A sink that writes `<target>.tmp-<random>` and renames it to `target` on `close()`. `abort()` (or any failure)
 * removes the temporary file, so `target` is never left half-written.
 */
export class AtomicFileSink implements WritableSink {
  private constructor(
    private readonly fh: FileHandle,
    readonly target: string,
    readonly tempPath: string,
  ) {}

  static async create(target: string): Promise<AtomicFileSink> {
    const tempPath = `${target}.tmp-${Math.random().toString(36).slice(2, 10)}`;
    let fh: FileHandle;
    try {
      fh = await open(tempPath, "wx");
    } catch (cause) {
      throw new GgufError("GGUF_IO_ERROR", `cannot create: ${(cause as Error).message}`, { file: tempPath }, { cause });
    }
    return new AtomicFileSink(fh, target, tempPath);
  }

  async write(chunk: Uint8Array): Promise<void> {
    try {
      let done = 0;
      while (done < chunk.byteLength) {
        const { bytesWritten } = await this.fh.write(chunk, done, chunk.byteLength - done);
        done += bytesWritten;
      }
    } catch (cause) {
      throw new GgufError("GGUF_IO_ERROR", `write failed: ${(cause as Error).message}`, { file: this.tempPath }, { cause });
    }
  }

  async close(): Promise<void> {
    try {
      await this.fh.close();
      await rename(this.tempPath, this.target);
    } catch (cause) {
      await rm(this.tempPath, { force: true }).catch(() => undefined);
      throw new GgufError("GGUF_IO_ERROR", `cannot finish writing: ${(cause as Error).message}`, { file: this.target }, { cause });
    }
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await rm(this.tempPath, { force: true }).catch(() => undefined);
  }
}
