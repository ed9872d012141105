/**
 * Entry points: `openGguf` (any source, async) and `parseGgufBytes` (bytes in memory, sync).
 */
import { MAX_METADATA_BYTES } from "./constants.js";
import { GgufFile } from "./file.js";
import { GgufError } from "./gguf-error.js";
import { HeaderParser, NeedMore, parseHeaderSync, type ParseOptions, type ParsedHeader } from "./parse.js";
import { HttpByteSource, MemoryByteSource, isHttpUrl, type ByteSource, type HttpSourceOptions } from "./source.js";

export interface OpenOptions extends ParseOptions, HttpSourceOptions {
  /**
   * Bytes fetched by the first read (default 64 KiB). Later reads at least double what is buffered, or jump to an
   * estimate of where a long array ends.
   */
  initialReadSize?: number;
}

/** Anything `openGguf` accepts: a local path, an http(s) URL (string or `URL`), bytes, or a {@link ByteSource}. */
export type GgufSourceInput = string | URL | Uint8Array | ByteSource;

/** Loads the Node-only module lazily, so browsers never load `node:fs`. */
let nodeIo: Promise<typeof import("./node/io.js")> | undefined;
function loadNode(): Promise<typeof import("./node/io.js")> {
  return (nodeIo ??= import("./node/io.js"));
}

/** Turns an input into a byte source (opening a local file if needed). */
export async function toByteSource(input: GgufSourceInput, options: HttpSourceOptions = {}): Promise<ByteSource> {
  if (input instanceof Uint8Array) return new MemoryByteSource(input);
  if (typeof input === "string") {
    if (isHttpUrl(input)) return new HttpByteSource(input, options);
    return (await loadNode()).FileByteSource.open(input);
  }
  if (input instanceof URL) {
    if (input.protocol === "http:" || input.protocol === "https:") return new HttpByteSource(input.href, options);
    if (input.protocol === "file:") return (await loadNode()).FileByteSource.open(input);
    throw new GgufError("GGUF_BAD_ARGUMENT", `unsupported URL protocol ${input.protocol}`, { file: input.href });
  }
  return input;
}

/**
 * Opens a GGUF file and parses its header, reading only the metadata bytes (never tensor data).
 * Keep the returned file open to read tensors with `readTensorData`; `close()` it when done.
 */
export async function openGguf(input: GgufSourceInput, options: OpenOptions = {}): Promise<GgufFile> {
  const source = await toByteSource(input, options);
  try {
    const header = await parseFromSource(source, options);
    return new GgufFile(header, source, source.name ?? (typeof input === "string" ? input : undefined));
  } catch (e) {
    await source.close?.().catch(() => undefined);
    throw e;
  }
}

/** Parses the header of a byte source (the async driver of {@link HeaderParser}). */
export async function parseFromSource(source: ByteSource, options: OpenOptions = {}): Promise<ParsedHeader> {
  const file = source.name;
  const readMore = async (offset: number, length: number): Promise<Uint8Array> => {
    try {
      return await source.read(offset, length);
    } catch (cause) {
      if (GgufError.isGgufError(cause)) throw cause;
      throw new GgufError("GGUF_IO_ERROR", `read failed: ${String(cause)}`, { file, offset }, { cause });
    }
  };
  const first = Math.max(32, options.initialReadSize ?? 64 * 1024);
  let buf = await readMore(0, source.size !== undefined ? Math.min(first, source.size) : first);
  // With a known size, a short read is just a short read; without one (or when nothing came back) it is the end.
  const atEnd = (have: number, got: number, asked: number) => got === 0 || (source.size !== undefined ? have >= source.size : got < asked);
  let eof = atEnd(buf.byteLength, buf.byteLength, first);
  const parser = new HeaderParser(buf, eof, source.size, file, options);
  for (;;) {
    try {
      return parser.run();
    } catch (e) {
      if (!(e instanceof NeedMore)) throw e;
      const size = source.size;
      parser.fileSize = size;
      let want = Math.max(e.end, buf.byteLength * 2);
      const cap = Math.min(options.maxMetadataBytes ?? MAX_METADATA_BYTES, MAX_METADATA_BYTES);
      if (want > cap) want = Math.max(e.end, cap);
      if (size !== undefined) want = Math.min(want, size);
      const more = await readMore(buf.byteLength, want - buf.byteLength);
      const next = new Uint8Array(buf.byteLength + more.byteLength);
      next.set(buf, 0);
      next.set(more, buf.byteLength);
      eof = atEnd(next.byteLength, more.byteLength, want - buf.byteLength);
      buf = next;
      parser.setBuffer(buf, eof);
    }
  }
}

/**
 * Parses a GGUF file held in memory (synchronously). `bytes` may be only the beginning of the file: pass the real
 * `fileSize` in the options (or `validateTensorData: false`) so the tensor range checks use it.
 * Tensor data can be read from the result when `bytes` holds it.
 */
export function parseGgufBytes(bytes: Uint8Array, options: ParseOptions & { name?: string } = {}): GgufFile {
  const header = parseHeaderSync(bytes, options.name, options);
  return new GgufFile(header, new MemoryByteSource(bytes, options.name), options.name);
}
