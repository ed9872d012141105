/**
 * Byte sources: where a GGUF file's bytes come from. The parser asks only for the ranges it needs, so a header can
 * be read from a 100 GB file or over HTTP without touching the tensor data.
 *
 * This module is browser-safe (no Node imports). The local-file source lives in `./node/` and is loaded lazily.
 */
import { GgufError } from "./gguf-error.js";

/** Random-access, read-only bytes. Implement this to parse from anything (a `Blob`, a cache, a custom transport). */
export interface ByteSource {
  /** Path or URL, used in error messages. */
  readonly name?: string | undefined;
  /** Total size in bytes, when known (an HTTP source learns it from its first response). */
  readonly size: number | undefined;
  /**
   * Reads up to `length` bytes at `offset`. Returns fewer only at the end of the data (an empty array past it).
   * The returned array may be a view that the caller must not modify.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases the underlying resource (file handle). Optional. */
  close?(): Promise<void>;
  /** Number of bytes fetched so far (for tests and diagnostics). Optional. */
  readonly bytesRead?: number;
}

/** A source over bytes already in memory. */
export class MemoryByteSource implements ByteSource {
  readonly size: number;
  bytesRead = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly name?: string,
  ) {
    this.size = bytes.byteLength;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    const start = Math.min(offset, this.size);
    const end = Math.min(this.size, offset + length);
    this.bytesRead += end - start;
    return Promise.resolve(this.bytes.subarray(start, end));
  }
}

export interface HttpSourceOptions {
  /** `fetch` implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. `Authorization`). */
  headers?: Record<string, string>;
  /** Abort signal passed to every request. */
  signal?: AbortSignal;
}

/**
 * HTTP(S) source using `Range: bytes=a-b` requests through `fetch`. Learns the file size from `Content-Range`.
 * A server that ignores ranges (status 200) is refused with `GGUF_HTTP_ERROR` after the first response instead of
 * silently downloading the whole file.
 */
export class HttpByteSource implements ByteSource {
  size: number | undefined = undefined;
  bytesRead = 0;
  /** Number of HTTP requests made. */
  requests = 0;
  readonly name: string;
  private readonly fetchFn: typeof fetch;
  constructor(
    readonly url: string,
    private readonly options: HttpSourceOptions = {},
  ) {
    this.name = url;
    const f = options.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
    if (!f) throw new GgufError("GGUF_BAD_ARGUMENT", "no fetch implementation available", { file: url });
    this.fetchFn = f;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (length <= 0) return new Uint8Array(0);
    if (this.size !== undefined) {
      if (offset >= this.size) return new Uint8Array(0);
      length = Math.min(length, this.size - offset);
    }
    this.requests++;
    let res: Response;
    try {
      const init: RequestInit = { headers: { ...this.options.headers, Range: `bytes=${offset}-${offset + length - 1}` } };
      if (this.options.signal) init.signal = this.options.signal;
      res = await this.fetchFn(this.url, init);
    } catch (cause) {
      throw new GgufError("GGUF_HTTP_ERROR", `request failed: ${String(cause)}`, { file: this.url, offset }, { cause });
    }
    if (res.status === 416) {
      await res.body?.cancel();
      return new Uint8Array(0);
    }
    if (res.status !== 206) {
      await res.body?.cancel();
      throw new GgufError(
        "GGUF_HTTP_ERROR",
        res.status === 200 ? "server does not support range requests (got 200, expected 206)" : `HTTP ${res.status} ${res.statusText}`,
        { file: this.url, offset, status: res.status },
      );
    }
    const range = res.headers.get("content-range");
    const m = range ? /\/(\d+)\s*$/.exec(range) : null;
    if (m) this.size = Number(m[1]);
    const bytes = new Uint8Array(await res.arrayBuffer());
    this.bytesRead += bytes.byteLength;
    return bytes.byteLength > length ? bytes.subarray(0, length) : bytes;
  }
}

/** True for strings that look like http(s) URLs. */
export function isHttpUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}
