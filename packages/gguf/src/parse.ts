/**
 * The GGUF reader.
 *
 * Byte layout (ggml/include/gguf.h, ggml/docs/gguf.md); every multi-byte value is in the file's byte order:
 *
 *   1. magic: the 4 bytes "GGUF"
 *   2. version: uint32 (1, 2 or 3). A big-endian file reads as 0x03000000 little-endian: the low 16 bits are 0.
 *   3. n_tensors: uint64 (uint32 in v1)
 *   4. n_kv: uint64 (uint32 in v1)
 *   5. n_kv key/value pairs: key (string), value type (int32, `enum gguf_type`), value.
 *      A string is a uint64 byte length (uint32 in v1) and that many UTF-8 bytes, no NUL.
 *      An array is an element type (int32), a count (uint64, uint32 in v1) and the elements; nested arrays repeat this.
 *   6. n_tensors tensor infos: name (string), n_dims (uint32), ne[n_dims] (uint64 each, uint32 in v1; ne0 first),
 *      ggml type (int32), offset (uint64, relative to the data section, a multiple of the alignment).
 *   7. zero padding up to a multiple of `general.alignment` (UINT32, default 32): the data section starts here.
 *   8. the tensor data; each tensor at data_offset + offset, padded to the alignment.
 *
 * Parsing is synchronous over a buffer holding the file's first bytes. Each item (the preamble, one KV pair, one
 * tensor info) is parsed whole or not at all: when the buffer ends inside an item and more bytes can be fetched,
 * the parser stops with {@link NeedMore}, the async driver fetches them and the item is parsed again. Only the
 * metadata section is ever read. Mirrors the checks of `gguf_init_from_reader` (ggml/src/gguf.cpp).
 */
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_KEY_GENERAL_ALIGNMENT,
  MAX_ALIGNMENT,
  MAX_ARRAY_LENGTH,
  MAX_ARRAY_NESTING_DEPTH,
  MAX_KV_COUNT,
  MAX_METADATA_BYTES,
  MAX_STRING_LENGTH,
  MAX_TENSOR_COUNT,
  MAX_TENSOR_DIMS,
  MAX_TENSOR_NAME_LENGTH,
  ggmlPad,
} from "./constants.js";
import { ggmlTypeInfo } from "./ggml-types.js";
import { GgufError, type GgufErrorCode } from "./gguf-error.js";
import { decodeUtf8, lastDecodeWasLossy } from "./utf8.js";
import { GGUFValueType, GGUF_TYPE_COUNT, GGUF_TYPE_SIZE, type GgufArrayElement, type GgufArrayValue, type GgufMetadata, type GgufValue } from "./types.js";

/** Thrown (internally) when the buffer ends inside an item and the source may have more bytes. */
export class NeedMore {
  constructor(readonly end: number) {}
}

/** A tensor info as parsed, before it is bound to a file. */
export interface RawTensorInfo {
  name: string;
  shape: number[];
  type: number;
  offset: number;
  nElements: number;
  /** Byte size, or -1 when the ggml type is unknown. */
  nBytes: number;
  /** Absolute offset of this tensor info in the header. */
  infoOffset: number;
}

/** Everything the header says. */
export interface ParsedHeader {
  version: number;
  littleEndian: boolean;
  metadata: GgufMetadata;
  /** Absolute offset of each KV pair (at its key's length), in file order. */
  kvOffsets: number[];
  tensors: RawTensorInfo[];
  alignment: number;
  /** Absolute offset of the data section (end of the tensor infos, rounded up to the alignment). */
  dataOffset: number;
  /** `[start, end)` of the tensor-info section (end before padding). */
  tensorInfoRange: [number, number];
  /** File size, when known. */
  fileSize: number | undefined;
}

export interface ParseOptions {
  /**
   * Size of the whole file when the bytes given are only its beginning (used for the tensor range checks).
   * Default: the size of the source.
   */
  fileSize?: number;
  /** Check tensor ranges against the file size, alignment and each other (default true). */
  validateTensorData?: boolean;
  /** Largest metadata section accepted, in bytes (default and maximum {@link MAX_METADATA_BYTES}). */
  maxMetadataBytes?: number;
}

const TWO32 = 4294967296;
const NAME_BY_TYPE = ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"];

/** The resumable parser state. */
export class HeaderParser {
  buf: Uint8Array;
  view: DataView;
  /** Bytes of the file available in `buf` (from offset 0). */
  avail: number;
  /** True when `buf` holds the file up to its end (or nothing more can be fetched). */
  eof: boolean;
  pos = 0;
  private committed = 0;
  private phase = 0;
  private le = true;
  private v1 = false;
  version = 0;
  private kvCount = 0;
  private tensorCount = 0;
  private readonly metadata: GgufMetadata = new Map();
  private readonly kvOffsets: number[] = [];
  private readonly tensors: RawTensorInfo[] = [];
  private readonly tensorNames = new Set<string>();
  private alignment = GGUF_DEFAULT_ALIGNMENT;
  private tensorInfoStart = 0;
  result: ParsedHeader | undefined;
  private readonly maxMetadata: number;

  constructor(
    buf: Uint8Array,
    eof: boolean,
    public fileSize: number | undefined,
    private readonly file: string | undefined,
    private readonly options: ParseOptions = {},
  ) {
    this.buf = buf;
    this.avail = buf.byteLength;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.eof = eof;
    this.maxMetadata = Math.min(options.maxMetadataBytes ?? MAX_METADATA_BYTES, MAX_METADATA_BYTES);
  }

  /** Replaces the buffer with a longer one holding the same prefix. */
  setBuffer(buf: Uint8Array, eof: boolean): void {
    this.buf = buf;
    this.avail = buf.byteLength;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.eof = eof;
  }

  /** Throws a {@link GgufError}. */
  fail(code: GgufErrorCode, message: string, offset: number, extra: Record<string, unknown> = {}): never {
    throw new GgufError(code, message, { file: this.file, offset, ...extra });
  }

  /** Slow path of a bounds check: more bytes are needed up to `end`. */
  private short(end: number, what: string): never {
    if (end > this.maxMetadata) this.fail("GGUF_METADATA_TOO_LARGE", `metadata section exceeds ${this.maxMetadata} bytes`, this.pos);
    if (this.eof || (this.fileSize !== undefined && end > this.fileSize)) {
      this.fail("GGUF_TRUNCATED", `file ends inside ${what}`, this.pos, { needed: end - this.pos });
    }
    throw new NeedMore(end);
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.avail) this.short(this.pos + n, what);
  }

  private u32(what: string): number {
    if (this.pos + 4 > this.avail) this.short(this.pos + 4, what);
    const v = this.view.getUint32(this.pos, this.le);
    this.pos += 4;
    return v;
  }

  /** A uint64 as a double: exact up to 2^53, beyond that only good for comparisons. */
  private u64(what: string): number {
    if (this.pos + 8 > this.avail) this.short(this.pos + 8, what);
    const a = this.view.getUint32(this.pos, this.le);
    const b = this.view.getUint32(this.pos + 4, this.le);
    this.pos += 8;
    return this.le ? b * TWO32 + a : a * TWO32 + b;
  }

  /** `readVersionedSize`: uint32 in v1, uint64 after. */
  private size(what: string): number {
    return this.v1 ? this.u32(what) : this.u64(what);
  }

  private string(what: string): string {
    const start = this.pos;
    const len = this.size(what);
    if (len > MAX_STRING_LENGTH) this.fail("GGUF_STRING_TOO_LONG", `${what}: string length ${len} exceeds ${MAX_STRING_LENGTH}`, start, { length: len });
    if (this.pos + len > this.avail) this.short(this.pos + len, what);
    const s = decodeUtf8(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** Runs until the header is parsed; throws {@link NeedMore} when the buffer is too short. */
  run(): ParsedHeader {
    if (this.phase === 0) {
      this.pos = 0;
      this.readPreamble();
      this.committed = this.pos;
      this.phase = 1;
    }
    while (this.kvOffsets.length < this.kvCount) {
      this.pos = this.committed;
      this.readKv();
      this.committed = this.pos;
      if (this.committed > this.maxMetadata) this.fail("GGUF_METADATA_TOO_LARGE", `metadata section exceeds ${this.maxMetadata} bytes`, this.committed);
    }
    if (this.phase === 1) {
      this.tensorInfoStart = this.committed;
      this.phase = 2;
    }
    while (this.tensors.length < this.tensorCount) {
      this.pos = this.committed;
      this.readTensorInfo();
      this.committed = this.pos;
      if (this.committed > this.maxMetadata) this.fail("GGUF_METADATA_TOO_LARGE", `metadata section exceeds ${this.maxMetadata} bytes`, this.committed);
    }
    this.pos = this.committed;
    this.result = this.finish();
    return this.result;
  }

  /** Magic, version (and byte order), counts. @see gguf_init_from_reader "file magic" and "header" (ggml/src/gguf.cpp) */
  private readPreamble(): void {
    this.need(4, "the magic");
    const b = this.buf;
    if (b[0] !== 0x47 || b[1] !== 0x47 || b[2] !== 0x55 || b[3] !== 0x46) {
      const shown = Array.from(b.subarray(0, 4), (c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "?")).join("");
      this.fail("GGUF_BAD_MAGIC", `invalid magic '${shown}', expected 'GGUF'`, 0);
    }
    this.pos = 4;
    let version = this.u32("the version");
    // A big-endian file's version reads byte-swapped: its low 16 bits are zero (gguf_init_from_reader, HF gguf()).
    if ((version & 0xffff) === 0 && version !== 0) {
      this.le = false;
      version = this.view.getUint32(4, false);
    }
    if (version < 1 || version > 3) this.fail("GGUF_UNSUPPORTED_VERSION", `unsupported GGUF version ${version} (supported: 1, 2, 3)`, 4, { version });
    this.version = version;
    this.v1 = version === 1;
    const tensorAt = this.pos;
    const nTensors = this.size("the tensor count");
    const kvAt = this.pos;
    const nKv = this.size("the KV count");
    if (nTensors > MAX_TENSOR_COUNT) this.fail("GGUF_TOO_MANY_TENSORS", `tensor count ${nTensors} exceeds ${MAX_TENSOR_COUNT}`, tensorAt, { count: nTensors });
    if (nKv > MAX_KV_COUNT) this.fail("GGUF_TOO_MANY_KVS", `KV count ${nKv} exceeds ${MAX_KV_COUNT}`, kvAt, { count: nKv });
    this.tensorCount = nTensors;
    this.kvCount = nKv;
  }

  /** One KV pair; `general.alignment` is checked here. @see gguf_init_from_reader "KV pairs", gguf_read_emplace_helper */
  private readKv(): void {
    const start = this.pos;
    const key = this.string("a metadata key");
    if (this.metadata.has(key)) this.fail("GGUF_DUPLICATE_KEY", `duplicate key '${key}'`, start, { key });
    const typeAt = this.pos;
    const type = this.u32(`the type of '${key}'`);
    if (type >= GGUF_TYPE_COUNT) this.fail("GGUF_BAD_VALUE_TYPE", `key '${key}' has invalid value type ${type | 0}`, typeAt, { key, valueType: type | 0 });
    const value = this.readValue(type as GGUFValueType, key, 0);
    if (key === GGUF_KEY_GENERAL_ALIGNMENT) {
      if (value.type !== GGUFValueType.UINT32) {
        this.fail("GGUF_BAD_ALIGNMENT", `${key} must be UINT32, got ${NAME_BY_TYPE[value.type]}`, start, { key });
      }
      const a = value.value;
      if (a === 0 || (a & (a - 1)) !== 0) this.fail("GGUF_BAD_ALIGNMENT", `${key} ${a} is not a power of two`, start, { key, alignment: a });
      if (a > MAX_ALIGNMENT) this.fail("GGUF_BAD_ALIGNMENT", `${key} ${a} exceeds ${MAX_ALIGNMENT}`, start, { key, alignment: a });
      this.alignment = a;
    }
    this.metadata.set(key, value);
    this.kvOffsets.push(start);
  }

  private readValue(type: GGUFValueType, key: string, depth: number): GgufValue {
    const v = this.view;
    const le = this.le;
    switch (type) {
      case GGUFValueType.UINT8:
        this.need(1, key);
        return { type, value: this.buf[this.pos++]! };
      case GGUFValueType.INT8:
        this.need(1, key);
        return { type, value: v.getInt8(this.pos++) };
      case GGUFValueType.UINT16:
        this.need(2, key);
        this.pos += 2;
        return { type, value: v.getUint16(this.pos - 2, le) };
      case GGUFValueType.INT16:
        this.need(2, key);
        this.pos += 2;
        return { type, value: v.getInt16(this.pos - 2, le) };
      case GGUFValueType.UINT32:
        this.need(4, key);
        this.pos += 4;
        return { type, value: v.getUint32(this.pos - 4, le) };
      case GGUFValueType.INT32:
        this.need(4, key);
        this.pos += 4;
        return { type, value: v.getInt32(this.pos - 4, le) };
      case GGUFValueType.FLOAT32:
        this.need(4, key);
        this.pos += 4;
        return { type, value: v.getFloat32(this.pos - 4, le) };
      case GGUFValueType.BOOL:
        this.need(1, key);
        return { type, value: this.buf[this.pos++] !== 0 };
      case GGUFValueType.UINT64:
        this.need(8, key);
        this.pos += 8;
        return { type, value: v.getBigUint64(this.pos - 8, le) };
      case GGUFValueType.INT64:
        this.need(8, key);
        this.pos += 8;
        return { type, value: v.getBigInt64(this.pos - 8, le) };
      case GGUFValueType.FLOAT64:
        this.need(8, key);
        this.pos += 8;
        return { type, value: v.getFloat64(this.pos - 8, le) };
      case GGUFValueType.STRING: {
        const at = this.pos;
        const s = this.string(key);
        if (lastDecodeWasLossy) return { type, value: s, raw: this.buf.slice(at + (this.v1 ? 4 : 8), this.pos) };
        return { type, value: s };
      }
      case GGUFValueType.ARRAY:
        return this.readArray(key, depth + 1);
    }
  }

  /** An array value: element type, count, elements. @see gguf_reader::read(std::vector<T> &, n) */
  private readArray(key: string, depth: number): GgufArrayValue {
    const start = this.pos;
    if (depth > MAX_ARRAY_NESTING_DEPTH) this.fail("GGUF_NESTING_TOO_DEEP", `'${key}': arrays nested deeper than ${MAX_ARRAY_NESTING_DEPTH}`, start, { key });
    const et = this.u32(key);
    if (et >= GGUF_TYPE_COUNT) this.fail("GGUF_BAD_VALUE_TYPE", `'${key}': invalid array element type ${et | 0}`, start, { key, valueType: et | 0 });
    const elementType = et as GGUFValueType;
    const countAt = this.pos;
    const n = this.size(key);
    if (n > MAX_ARRAY_LENGTH) this.fail("GGUF_ARRAY_TOO_LONG", `'${key}': array length ${n} exceeds ${MAX_ARRAY_LENGTH}`, countAt, { key, length: n });
    const elemSize = GGUF_TYPE_SIZE[elementType];
    // Refuse a count that cannot fit in the rest of the file before allocating anything (gguf_reader::read).
    const minBytes = n * (elemSize || (elementType === GGUFValueType.STRING ? (this.v1 ? 4 : 8) : this.v1 ? 8 : 12));
    const limit = this.fileSize ?? (this.eof ? this.avail : Infinity);
    if (this.pos + minBytes > limit) this.fail("GGUF_TRUNCATED", `'${key}': array of ${n} elements does not fit in the file`, countAt, { key, length: n });
    const v = this.view;
    const le = this.le;
    if (elemSize > 0) {
      // The bytes are in the buffer before the array is allocated, so memory follows what was really read.
      this.need(minBytes, key);
      const out: GgufArrayElement[] = new Array(n);
      let p = this.pos;
      switch (elementType) {
        case GGUFValueType.UINT8:
          for (let i = 0; i < n; i++) out[i] = this.buf[p + i]!;
          break;
        case GGUFValueType.INT8:
          for (let i = 0; i < n; i++) out[i] = v.getInt8(p + i);
          break;
        case GGUFValueType.BOOL:
          for (let i = 0; i < n; i++) out[i] = this.buf[p + i] !== 0;
          break;
        case GGUFValueType.UINT16:
          for (let i = 0; i < n; i++, p += 2) out[i] = v.getUint16(p, le);
          break;
        case GGUFValueType.INT16:
          for (let i = 0; i < n; i++, p += 2) out[i] = v.getInt16(p, le);
          break;
        case GGUFValueType.UINT32:
          for (let i = 0; i < n; i++, p += 4) out[i] = v.getUint32(p, le);
          break;
        case GGUFValueType.INT32:
          for (let i = 0; i < n; i++, p += 4) out[i] = v.getInt32(p, le);
          break;
        case GGUFValueType.FLOAT32:
          for (let i = 0; i < n; i++, p += 4) out[i] = v.getFloat32(p, le);
          break;
        case GGUFValueType.UINT64:
          for (let i = 0; i < n; i++, p += 8) out[i] = v.getBigUint64(p, le);
          break;
        case GGUFValueType.INT64:
          for (let i = 0; i < n; i++, p += 8) out[i] = v.getBigInt64(p, le);
          break;
        case GGUFValueType.FLOAT64:
          for (let i = 0; i < n; i++, p += 8) out[i] = v.getFloat64(p, le);
          break;
      }
      this.pos += minBytes;
      return { type: GGUFValueType.ARRAY, elementType, value: out };
    }
    // Variable-size elements: the count was checked against the file size above. When the size is not known (yet),
    // a large array grows as its elements are actually read instead: the count alone must not size an allocation.
    const out: GgufArrayElement[] = n <= 65536 || this.fileSize !== undefined ? new Array(n) : [];
    const dataStart = this.pos;
    let i = 0;
    try {
      if (elementType === GGUFValueType.STRING) {
        // The hot loop of vocabularies: `string()` inlined, the cursor in a local.
        let raw: Map<number, Uint8Array> | undefined;
        const buf = this.buf;
        const avail = this.avail;
        const lenSize = this.v1 ? 4 : 8;
        let p = this.pos;
        for (; i < n; i++) {
          if (p + lenSize > avail) {
            this.pos = p;
            this.short(p + lenSize, key);
          }
          const len = this.v1 ? v.getUint32(p, le) : le ? v.getUint32(p + 4, true) * TWO32 + v.getUint32(p, true) : v.getUint32(p, false) * TWO32 + v.getUint32(p + 4, false);
          if (len > MAX_STRING_LENGTH) {
            this.pos = p;
            this.fail("GGUF_STRING_TOO_LONG", `${key}: string length ${len} exceeds ${MAX_STRING_LENGTH}`, p, { length: len });
          }
          const s0 = p + lenSize;
          const e = s0 + len;
          if (e > avail) {
            this.pos = s0;
            this.short(e, key);
          }
          out[i] = decodeUtf8(buf, s0, e);
          if (lastDecodeWasLossy) (raw ??= new Map()).set(i, buf.slice(s0, e));
          p = e;
        }
        this.pos = p;
        const res: GgufArrayValue = { type: GGUFValueType.ARRAY, elementType, value: out };
        if (raw) res.rawStrings = raw;
        return res;
      }
      for (; i < n; i++) out[i] = this.readArray(key, depth + 1);
      return { type: GGUFValueType.ARRAY, elementType, value: out };
    } catch (e) {
      if (e instanceof NeedMore && i > 0) {
        // Estimate where the array ends from the average element size so far: one fetch instead of many.
        const est = dataStart + Math.ceil(((this.pos - dataStart) / i) * n * 1.05) + 1024;
        throw new NeedMore(Math.max(e.end, est));
      }
      throw e;
    }
  }

  /** One tensor info: name, shape, type, offset, with the shape and size checks. @see gguf_init_from_reader "read the tensor info" */
  private readTensorInfo(): void {
    const start = this.pos;
    const nameAt = this.pos;
    const nameLen = this.v1 ? this.u32("a tensor name") : this.u64("a tensor name");
    if (nameLen > MAX_TENSOR_NAME_LENGTH) {
      this.fail("GGUF_TENSOR_NAME_TOO_LONG", `tensor name of ${nameLen} bytes (at most ${MAX_TENSOR_NAME_LENGTH})`, nameAt, { length: nameLen });
    }
    this.pos = nameAt;
    const name = this.string("a tensor name");
    if (this.tensorNames.has(name)) this.fail("GGUF_DUPLICATE_TENSOR", `duplicate tensor name '${name}'`, start, { tensor: name });
    const dimsAt = this.pos;
    const nDims = this.u32(`the dimensions of '${name}'`);
    if (nDims > MAX_TENSOR_DIMS) this.fail("GGUF_TOO_MANY_DIMS", `tensor '${name}' has ${nDims} dimensions (at most ${MAX_TENSOR_DIMS})`, dimsAt, { tensor: name });
    const shape: number[] = new Array(nDims);
    let nElements = 1;
    for (let j = 0; j < nDims; j++) {
      const at = this.pos;
      const d = this.size(`the shape of '${name}'`);
      if (d === 0 || d > Number.MAX_SAFE_INTEGER) {
        this.fail("GGUF_BAD_DIMENSION", `tensor '${name}' dimension ${j} is ${d === 0 ? 0 : "out of range"}`, at, { tensor: name, dim: j });
      }
      shape[j] = d;
      nElements *= d;
    }
    if (nElements > Number.MAX_SAFE_INTEGER) {
      this.fail("GGUF_ELEMENT_COUNT_OVERFLOW", `tensor '${name}' shape [${shape.join(", ")}] has too many elements`, dimsAt, { tensor: name });
    }
    const typeAt = this.pos;
    const type = this.u32(`the type of '${name}'`);
    const offAt = this.pos;
    const offset = this.u64(`the offset of '${name}'`);
    if (offset > Number.MAX_SAFE_INTEGER) this.fail("GGUF_OFFSET_OVERFLOW", `tensor '${name}' offset does not fit in 2^53`, offAt, { tensor: name });
    let nBytes = -1;
    const t = ggmlTypeInfo(type);
    if (t) {
      const ne0 = nDims > 0 ? shape[0]! : 1;
      if (ne0 % t.blockSize !== 0) {
        this.fail("GGUF_BAD_ROW_SIZE", `tensor '${name}' of type ${t.name} has ${ne0} elements per row, not a multiple of ${t.blockSize}`, typeAt, { tensor: name });
      }
      nBytes = (nElements / t.blockSize) * t.typeSize;
      if (nBytes > Number.MAX_SAFE_INTEGER) this.fail("GGUF_ELEMENT_COUNT_OVERFLOW", `tensor '${name}' byte size does not fit in 2^53`, typeAt, { tensor: name });
    }
    this.tensorNames.add(name);
    this.tensors.push({ name, shape, type, offset, nElements, nBytes, infoOffset: start });
  }

  /** The data section starts at the end of the infos padded to the alignment (`GGML_PAD(gr.tell(), alignment)`). */
  private finish(): ParsedHeader {
    const infoEnd = this.committed;
    const alignment = this.alignment;
    const dataOffset = ggmlPad(infoEnd, alignment);
    const fileSize = this.options.fileSize ?? this.fileSize;
    if (this.options.validateTensorData !== false && this.tensors.length > 0) this.checkTensorRanges(dataOffset, fileSize);
    return {
      version: this.version,
      littleEndian: this.le,
      metadata: this.metadata,
      kvOffsets: this.kvOffsets,
      tensors: this.tensors,
      alignment,
      dataOffset,
      tensorInfoRange: [this.tensorInfoStart, infoEnd],
      fileSize,
    };
  }

  /**
   * Alignment, bounds and overlap of every tensor's bytes. The C reader demands the packed layout (each offset equal to
   * the padded end of the previous tensor); we accept any order and gaps (other writers may leave them), but no overlap.
   */
  private checkTensorRanges(dataOffset: number, fileSize: number | undefined): void {
    const ts = this.tensors;
    const alignment = this.alignment;
    for (const t of ts) {
      if (t.offset % alignment !== 0) {
        this.fail("GGUF_MISALIGNED_TENSOR", `tensor '${t.name}' offset ${t.offset} is not a multiple of the alignment ${alignment}`, t.infoOffset, { tensor: t.name, dataOffset: t.offset });
      }
      const abs = dataOffset + t.offset;
      const end = abs + Math.max(t.nBytes, 0);
      if (end > Number.MAX_SAFE_INTEGER) this.fail("GGUF_OFFSET_OVERFLOW", `tensor '${t.name}' ends beyond 2^53`, t.infoOffset, { tensor: t.name });
      if (fileSize !== undefined && (end > fileSize || abs > fileSize)) {
        this.fail("GGUF_TENSOR_OUT_OF_BOUNDS", `tensor '${t.name}' data [${abs}, ${end}) ends past the end of the file (${fileSize} bytes)`, t.infoOffset, {
          tensor: t.name,
          fileSize,
        });
      }
    }
    // No two tensors may share bytes. Sort a copy by offset (file order is usually already sorted).
    let sorted = true;
    for (let i = 1; i < ts.length; i++) if (ts[i]!.offset < ts[i - 1]!.offset) sorted = false;
    const order = sorted ? ts : [...ts].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < order.length; i++) {
      const a = order[i - 1]!;
      const b = order[i]!;
      if (b.offset < a.offset + Math.max(a.nBytes, 0) || (b.offset === a.offset && (a.nBytes !== 0 || b.nBytes !== 0))) {
        this.fail("GGUF_OVERLAPPING_TENSORS", `tensors '${a.name}' and '${b.name}' overlap`, b.infoOffset, { tensor: b.name, other: a.name });
      }
    }
  }
}

/** Parses a whole header from bytes in memory (synchronous). */
export function parseHeaderSync(bytes: Uint8Array, file: string | undefined, options: ParseOptions = {}): ParsedHeader {
  const p = new HeaderParser(bytes, true, options.fileSize ?? bytes.byteLength, file, options);
  return p.run();
}
