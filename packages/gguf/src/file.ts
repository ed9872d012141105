/**
 * `GgufFile`: a parsed header bound to its byte source, with typed lookups and tensor-data reads.
 */
import { ggmlTypeInfo, ggmlTypeName } from "./ggml-types.js";
import { GgufError } from "./gguf-error.js";
import type { ParsedHeader, RawTensorInfo } from "./parse.js";
import type { ByteSource } from "./source.js";
import { plainValue, type GgufMetadata, type GgufPlainValue, type GgufValue } from "./types.js";

/** One tensor's description, as stored in the header. */
export class GgufTensorInfo {
  /** Tensor name. */
  readonly name: string;
  /** Dimensions, ne0 first, as stored (`[cols, rows]` for a matrix). */
  readonly shape: number[];
  /** Raw ggml type id (`GGMLQuantizationType`), kept even when this library does not know it. */
  readonly type: number;
  /** Offset relative to the data section, as stored. */
  readonly offset: number;
  /** Absolute offset of the tensor's first byte in the file. */
  readonly absoluteOffset: number;
  /** Product of the dimensions. */
  readonly nElements: number;
  /** Absolute offset of this tensor's info in the header. */
  readonly infoOffset: number;
  private readonly _nBytes: number;
  /** Path or URL of the file, for errors. */
  readonly file: string | undefined;

  constructor(raw: RawTensorInfo, dataOffset: number, file: string | undefined) {
    this.name = raw.name;
    this.shape = raw.shape;
    this.type = raw.type;
    this.offset = raw.offset;
    this.absoluteOffset = dataOffset + raw.offset;
    this.nElements = raw.nElements;
    this.infoOffset = raw.infoOffset;
    this._nBytes = raw.nBytes;
    this.file = file;
  }

  /** Byte size (`ggml_nbytes`). Throws `GGUF_UNKNOWN_TENSOR_TYPE` when the ggml type is unknown. */
  get nBytes(): number {
    if (this._nBytes < 0) {
      throw new GgufError("GGUF_UNKNOWN_TENSOR_TYPE", `tensor '${this.name}' has unknown ggml type ${this.type} (${ggmlTypeName(this.type)}); its size is unknown`, {
        file: this.file,
        tensor: this.name,
        offset: this.infoOffset,
        ggmlType: this.type,
      });
    }
    return this._nBytes;
  }

  /** Whether {@link nBytes} is known (the ggml type is known). */
  get hasKnownSize(): boolean {
    return this._nBytes >= 0;
  }

  /** ggml type name (`q4_K`), `removed:<old>` or `unknown(<id>)`. */
  get typeName(): string {
    return ggmlTypeName(this.type);
  }

  /** Number of dimensions. */
  get nDims(): number {
    return this.shape.length;
  }

  /** Plain object form (for JSON). */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      shape: this.shape,
      type: this.type,
      typeName: this.typeName,
      offset: this.offset,
      absoluteOffset: this.absoluteOffset,
      nElements: this.nElements,
      nBytes: this._nBytes >= 0 ? this._nBytes : undefined,
    };
  }
}

/** Default chunk size of {@link GgufFile.readTensorChunks}. */
export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

/** A parsed GGUF file. */
export class GgufFile {
  /** GGUF version (1, 2 or 3). */
  readonly version: number;
  /** False for big-endian files (all values and tensor data are then big-endian). */
  readonly littleEndian: boolean;
  /** Alignment of the data section and of tensors (`general.alignment`, default 32). */
  readonly alignment: number;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  /** File size in bytes, when the source knows it. */
  readonly fileSize: number | undefined;
  /** Typed metadata in file order. */
  readonly metadata: GgufMetadata;
  /** Absolute offset of each KV pair, by key. */
  readonly metadataOffsets: Map<string, number>;
  /** Tensor infos in file order. */
  readonly tensors: GgufTensorInfo[];
  /** `[start, end)` of the tensor-info section (end before the padding). */
  readonly tensorInfoRange: [number, number];
  /** Path or URL, when there is one. */
  readonly file: string | undefined;
  private readonly byName: Map<string, GgufTensorInfo>;
  private closed = false;

  constructor(
    header: ParsedHeader,
    private readonly source: ByteSource | undefined,
    file: string | undefined,
  ) {
    this.version = header.version;
    this.littleEndian = header.littleEndian;
    this.alignment = header.alignment;
    this.dataOffset = header.dataOffset;
    this.fileSize = header.fileSize;
    this.metadata = header.metadata;
    this.file = file;
    this.metadataOffsets = new Map();
    let i = 0;
    for (const key of header.metadata.keys()) this.metadataOffsets.set(key, header.kvOffsets[i++]!);
    this.tensors = header.tensors.map((t) => new GgufTensorInfo(t, header.dataOffset, file));
    this.byName = new Map(this.tensors.map((t) => [t.name, t]));
    this.tensorInfoRange = header.tensorInfoRange;
  }

  /** The plain JS value of a key (bigint for 64-bit integers, arrays as arrays), or undefined. */
  get(key: string): GgufPlainValue | undefined {
    const v = this.metadata.get(key);
    return v === undefined ? undefined : plainValue(v);
  }

  /** The typed value of a key, or undefined. */
  getTyped(key: string): GgufValue | undefined {
    return this.metadata.get(key);
  }

  /** Whether the key is present. */
  has(key: string): boolean {
    return this.metadata.has(key);
  }

  /** The tensor info with this name, or undefined. */
  tensor(name: string): GgufTensorInfo | undefined {
    return this.byName.get(name);
  }

  /** Number of bytes the source has delivered so far (header + any tensor reads), when it counts them. */
  get bytesRead(): number | undefined {
    return this.source?.bytesRead;
  }

  private resolve(nameOrInfo: string | GgufTensorInfo): GgufTensorInfo {
    const info = typeof nameOrInfo === "string" ? this.byName.get(nameOrInfo) : nameOrInfo;
    if (!info) throw new GgufError("GGUF_TENSOR_NOT_FOUND", `no tensor named '${String(nameOrInfo)}'`, { file: this.file, tensor: String(nameOrInfo) });
    return info;
  }

  private src(): ByteSource {
    if (this.closed) throw new GgufError("GGUF_CLOSED", "the file is closed", { file: this.file });
    if (!this.source) throw new GgufError("GGUF_BAD_ARGUMENT", "this GgufFile has no byte source (parsed from a header only)", { file: this.file });
    return this.source;
  }

  /** Reads exactly this tensor's bytes (nothing else). */
  async readTensorData(nameOrInfo: string | GgufTensorInfo): Promise<Uint8Array> {
    const info = this.resolve(nameOrInfo);
    const n = info.nBytes;
    const bytes = await this.readExact(info.absoluteOffset, n, info.name);
    return bytes;
  }

  /** Streams this tensor's bytes in chunks of at most `chunkSize` bytes. */
  async *readTensorChunks(nameOrInfo: string | GgufTensorInfo, chunkSize = DEFAULT_CHUNK_SIZE): AsyncGenerator<Uint8Array> {
    const info = this.resolve(nameOrInfo);
    const n = info.nBytes;
    for (let done = 0; done < n; ) {
      const len = Math.min(chunkSize, n - done);
      yield await this.readExact(info.absoluteOffset + done, len, info.name);
      done += len;
    }
  }

  /** Reads `length` bytes at an absolute offset, failing with `GGUF_TRUNCATED` if the file is shorter. */
  async readExact(offset: number, length: number, tensor?: string): Promise<Uint8Array> {
    const source = this.src();
    const parts: Uint8Array[] = [];
    let got = 0;
    while (got < length) {
      let chunk: Uint8Array;
      try {
        chunk = await source.read(offset + got, length - got);
      } catch (cause) {
        if (GgufError.isGgufError(cause)) throw cause;
        throw new GgufError("GGUF_IO_ERROR", `read failed: ${String(cause)}`, { file: this.file, offset: offset + got, tensor }, { cause });
      }
      if (chunk.byteLength === 0) {
        throw new GgufError("GGUF_TRUNCATED", `file ends inside the data of ${tensor ? `tensor '${tensor}'` : "a read"}`, { file: this.file, offset: offset + got, tensor });
      }
      parts.push(chunk);
      got += chunk.byteLength;
    }
    if (parts.length === 1) return parts[0]!;
    const out = new Uint8Array(length);
    let p = 0;
    for (const c of parts) {
      out.set(c, p);
      p += c.byteLength;
    }
    return out;
  }

  /** Releases the byte source (closes the file handle). Further reads fail with `GGUF_CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.source?.close?.();
  }

  /** The ggml type info of a tensor's type, or undefined when unknown. */
  static typeInfoOf(t: GgufTensorInfo) {
    return ggmlTypeInfo(t.type);
  }
}
