/**
 * The GGUF writer: one writer per reader (mirrors `gguf_writer_base`, ggml/src/gguf.cpp).
 *
 * `writeGguf` streams: the header is built in memory, then each tensor's data is pulled from its source, written
 * and padded to the alignment, one at a time, so a model never has to fit in memory.
 */
import { GGUF_DEFAULT_ALIGNMENT, GGUF_KEY_GENERAL_ALIGNMENT, MAX_ALIGNMENT, MAX_ARRAY_NESTING_DEPTH, MAX_TENSOR_DIMS, MAX_TENSOR_NAME_LENGTH, ggmlPad } from "./constants.js";
import { ggmlTypeInfo, ggmlTypeName } from "./ggml-types.js";
import { GgufError } from "./gguf-error.js";
import { GGUFValueType, GGUF_TYPE_COUNT, type GgufArrayValue, type GgufMetadata, type GgufValue } from "./types.js";
import { decodeUtf8, encodeUtf8 } from "./utf8.js";

/** Where written bytes go. `write` may keep the chunk: the writer never reuses a chunk it has handed over. */
export interface WritableSink {
  write(chunk: Uint8Array): void | Promise<void>;
  /** Called once after the last write (a file sink renames its temp file here). */
  close?(): void | Promise<void>;
  /** Called instead of `close` when writing fails (a file sink deletes its temp file here). */
  abort?(reason: unknown): void | Promise<void>;
}

/** Tensor data: bytes, or a function returning bytes or an async iterable of chunks (called once, when needed). */
export type GgufTensorData = Uint8Array | (() => AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Promise<Uint8Array> | Uint8Array);

export interface GgufWriteTensor {
  name: string;
  /** Dimensions, ne0 first. */
  shape: readonly number[];
  /** ggml type id. */
  type: number;
  data: GgufTensorData;
  /** Byte size; required only when `type` is unknown to this library and `data` is not a Uint8Array. */
  nBytes?: number;
}

/** Metadata in any ordered form: a Map, `[key, value]` pairs, or a plain object (its key order). */
export type GgufMetadataInput = GgufMetadata | Iterable<readonly [string, GgufValue]> | Record<string, GgufValue>;

export interface GgufWriteSpec {
  metadata: GgufMetadataInput;
  tensors: readonly GgufWriteTensor[];
  /** Alignment (default: `general.alignment` from the metadata, else 32). Added as `general.alignment` if not 32 and absent. */
  alignment?: number;
  /** GGUF version to write (default 3). */
  version?: 1 | 2 | 3;
  /** Byte order (default little-endian). Tensor data is written as given. */
  littleEndian?: boolean;
  /**
   * Pad the header to the alignment even when there are no tensors (ggml's `gguf_write_to_file` does; gguf-py's
   * vocab-only output does not). Default false.
   */
  alignEmptyDataSection?: boolean;
}

export interface GgufWriteResult {
  bytesWritten: number;
  dataOffset: number;
  alignment: number;
  tensors: { name: string; offset: number; absoluteOffset: number; nBytes: number }[];
}

/** A growable little/big-endian byte buffer. */
class ByteWriter {
  buf = new Uint8Array(1 << 16);
  view = new DataView(this.buf.buffer);
  len = 0;
  constructor(readonly le: boolean) {}
  ensure(n: number): void {
    if (this.len + n <= this.buf.byteLength) return;
    let cap = this.buf.byteLength * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.len, v, this.le);
    this.len += 4;
  }
  u64(v: number | bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.len, BigInt(v), this.le);
    this.len += 8;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.byteLength);
    this.buf.set(b, this.len);
    this.len += b.byteLength;
  }
  pad(alignment: number): void {
    const n = ggmlPad(this.len, alignment) - this.len;
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function invalid(message: string, key?: string): never {
  throw new GgufError("GGUF_INVALID_VALUE", message, key === undefined ? {} : { key });
}

const INT_RANGE: Partial<Record<GGUFValueType, [number, number]>> = {
  [GGUFValueType.UINT8]: [0, 0xff],
  [GGUFValueType.INT8]: [-0x80, 0x7f],
  [GGUFValueType.UINT16]: [0, 0xffff],
  [GGUFValueType.INT16]: [-0x8000, 0x7fff],
  [GGUFValueType.UINT32]: [0, 0xffffffff],
  [GGUFValueType.INT32]: [-0x80000000, 0x7fffffff],
};

/** Writes one scalar of a fixed type (mirrors the reader's `readValue` cases). */
function writeScalar(w: ByteWriter, type: GGUFValueType, v: unknown, key: string, v1: boolean, raw?: Uint8Array): void {
  const range = INT_RANGE[type];
  if (range) {
    if (typeof v !== "number" || !Number.isInteger(v) || v < range[0] || v > range[1]) invalid(`'${key}': ${String(v)} is not a valid ${GGUFValueType[type]}`, key);
  }
  switch (type) {
    case GGUFValueType.UINT8:
    case GGUFValueType.INT8:
      w.u8((v as number) & 0xff);
      return;
    case GGUFValueType.UINT16:
    case GGUFValueType.INT16:
      w.ensure(2);
      w.view.setUint16(w.len, (v as number) & 0xffff, w.le);
      w.len += 2;
      return;
    case GGUFValueType.UINT32:
    case GGUFValueType.INT32:
      w.u32((v as number) >>> 0);
      return;
    case GGUFValueType.FLOAT32:
    case GGUFValueType.FLOAT64:
      if (typeof v !== "number") invalid(`'${key}': ${String(v)} is not a number`, key);
      w.ensure(8);
      if (type === GGUFValueType.FLOAT32) {
        w.view.setFloat32(w.len, v, w.le);
        w.len += 4;
      } else {
        w.view.setFloat64(w.len, v, w.le);
        w.len += 8;
      }
      return;
    case GGUFValueType.BOOL:
      if (typeof v !== "boolean") invalid(`'${key}': ${String(v)} is not a boolean`, key);
      w.u8(v ? 1 : 0);
      return;
    case GGUFValueType.UINT64:
    case GGUFValueType.INT64: {
      let b: bigint;
      if (typeof v === "bigint") b = v;
      else if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
      else invalid(`'${key}': ${String(v)} is not a 64-bit integer`, key);
      const ok = type === GGUFValueType.UINT64 ? b >= 0n && b <= 0xffffffffffffffffn : b >= -(1n << 63n) && b < 1n << 63n;
      if (!ok) invalid(`'${key}': ${b} is out of range for ${GGUFValueType[type]}`, key);
      w.u64(BigInt.asUintN(64, b));
      return;
    }
    case GGUFValueType.STRING: {
      if (typeof v !== "string") invalid(`'${key}': ${String(v)} is not a string`, key);
      const bytes = raw !== undefined && decodeUtf8(raw, 0, raw.byteLength) === v ? raw : encodeUtf8(v);
      if (v1) w.u32(bytes.byteLength);
      else w.u64(bytes.byteLength);
      w.bytes(bytes);
      return;
    }
    default:
      invalid(`'${key}': invalid value type ${String(type)}`, key);
  }
}

function writeArray(w: ByteWriter, a: GgufArrayValue, key: string, v1: boolean, depth: number): void {
  if (depth > MAX_ARRAY_NESTING_DEPTH) invalid(`'${key}': arrays nested deeper than ${MAX_ARRAY_NESTING_DEPTH}`, key);
  if (!Number.isInteger(a.elementType) || a.elementType < 0 || a.elementType >= GGUF_TYPE_COUNT) invalid(`'${key}': invalid array element type ${a.elementType}`, key);
  if (!Array.isArray(a.value)) invalid(`'${key}': array value must be an array`, key);
  w.u32(a.elementType);
  if (v1) w.u32(a.value.length);
  else w.u64(a.value.length);
  const items = a.value;
  if (a.elementType === GGUFValueType.ARRAY) {
    for (const item of items) {
      if (typeof item !== "object" || item === null || (item as GgufArrayValue).type !== GGUFValueType.ARRAY) invalid(`'${key}': nested array element is not an array value`, key);
      writeArray(w, item as GgufArrayValue, key, v1, depth + 1);
    }
    return;
  }
  const raw = a.rawStrings;
  for (let i = 0; i < items.length; i++) writeScalar(w, a.elementType, items[i], key, v1, raw?.get(i));
}

/** Writes one typed value (after its type id). */
function writeValue(w: ByteWriter, v: GgufValue, key: string, v1: boolean): void {
  if (typeof v !== "object" || v === null || !Number.isInteger(v.type) || v.type < 0 || v.type >= GGUF_TYPE_COUNT) invalid(`'${key}': not a typed GGUF value`, key);
  w.u32(v.type);
  if (v.type === GGUFValueType.ARRAY) writeArray(w, v, key, v1, 1);
  else writeScalar(w, v.type, v.value, key, v1, v.type === GGUFValueType.STRING ? v.raw : undefined);
}

/** Normalises any metadata input to ordered entries, refusing duplicate keys. */
export function metadataEntries(input: GgufMetadataInput): [string, GgufValue][] {
  let entries: [string, GgufValue][];
  if (input instanceof Map) entries = [...input.entries()];
  else if (typeof (input as Iterable<unknown>)[Symbol.iterator] === "function") entries = [...(input as Iterable<readonly [string, GgufValue]>)].map(([k, v]) => [k, v]);
  else entries = Object.entries(input as Record<string, GgufValue>);
  const seen = new Set<string>();
  for (const [k] of entries) {
    if (typeof k !== "string" || k.length === 0) invalid(`metadata keys must be non-empty strings`);
    if (seen.has(k)) throw new GgufError("GGUF_DUPLICATE_KEY", `duplicate key '${k}'`, { key: k });
    seen.add(k);
  }
  return entries;
}

interface PlannedTensor {
  spec: GgufWriteTensor;
  nBytes: number;
  offset: number;
}

/** Computes each tensor's byte size and offset (`gguf_add_tensor`: each offset is the previous end, padded). */
function planTensors(tensors: readonly GgufWriteTensor[], alignment: number): PlannedTensor[] {
  const names = new Set<string>();
  let offset = 0;
  return tensors.map((t) => {
    const name = t.name;
    if (typeof name !== "string") invalid("tensor name must be a string");
    if (encodeUtf8(name).byteLength > MAX_TENSOR_NAME_LENGTH) throw new GgufError("GGUF_TENSOR_NAME_TOO_LONG", `tensor name '${name}' is longer than ${MAX_TENSOR_NAME_LENGTH} bytes`, { tensor: name });
    if (names.has(name)) throw new GgufError("GGUF_DUPLICATE_TENSOR", `duplicate tensor name '${name}'`, { tensor: name });
    names.add(name);
    if (t.shape.length > MAX_TENSOR_DIMS) throw new GgufError("GGUF_TOO_MANY_DIMS", `tensor '${name}' has ${t.shape.length} dimensions`, { tensor: name });
    let n = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d <= 0) throw new GgufError("GGUF_BAD_DIMENSION", `tensor '${name}' has invalid dimension ${d}`, { tensor: name });
      n *= d;
    }
    if (!Number.isSafeInteger(n)) throw new GgufError("GGUF_ELEMENT_COUNT_OVERFLOW", `tensor '${name}' has too many elements`, { tensor: name });
    const info = ggmlTypeInfo(t.type);
    let nBytes: number;
    if (info) {
      const ne0 = t.shape.length > 0 ? t.shape[0]! : 1;
      if (ne0 % info.blockSize !== 0) throw new GgufError("GGUF_BAD_ROW_SIZE", `tensor '${name}': ${ne0} is not a multiple of the ${info.name} block size ${info.blockSize}`, { tensor: name });
      nBytes = (n / info.blockSize) * info.typeSize;
    } else if (t.nBytes !== undefined) nBytes = t.nBytes;
    else if (t.data instanceof Uint8Array) nBytes = t.data.byteLength;
    else throw new GgufError("GGUF_UNKNOWN_TENSOR_TYPE", `tensor '${name}' has unknown type ${ggmlTypeName(t.type)}; give nBytes`, { tensor: name, ggmlType: t.type });
    if (t.nBytes !== undefined && t.nBytes !== nBytes) throw new GgufError("GGUF_DATA_SIZE_MISMATCH", `tensor '${name}': nBytes ${t.nBytes} but shape and type give ${nBytes}`, { tensor: name });
    const planned = { spec: t, nBytes, offset };
    offset += ggmlPad(nBytes, alignment);
    return planned;
  });
}

/** Resolves the alignment from the spec and metadata, adding `general.alignment` when needed. */
function resolveAlignment(entries: [string, GgufValue][], requested: number | undefined): number {
  const kv = entries.find(([k]) => k === GGUF_KEY_GENERAL_ALIGNMENT);
  let alignment = requested ?? GGUF_DEFAULT_ALIGNMENT;
  if (kv) {
    const v = kv[1];
    if (v.type !== GGUFValueType.UINT32) throw new GgufError("GGUF_BAD_ALIGNMENT", `${GGUF_KEY_GENERAL_ALIGNMENT} must be UINT32`, { key: GGUF_KEY_GENERAL_ALIGNMENT });
    if (requested !== undefined && requested !== v.value) throw new GgufError("GGUF_BAD_ALIGNMENT", `alignment ${requested} differs from ${GGUF_KEY_GENERAL_ALIGNMENT} ${v.value}`, {});
    alignment = v.value;
  }
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0 || alignment > MAX_ALIGNMENT) {
    throw new GgufError("GGUF_BAD_ALIGNMENT", `alignment ${alignment} must be a power of two up to ${MAX_ALIGNMENT}`, { alignment });
  }
  if (!kv && alignment !== GGUF_DEFAULT_ALIGNMENT) entries.push([GGUF_KEY_GENERAL_ALIGNMENT, { type: GGUFValueType.UINT32, value: alignment }]);
  return alignment;
}

interface HeaderPlan {
  header: Uint8Array;
  alignment: number;
  tensors: PlannedTensor[];
}

function buildHeader(spec: GgufWriteSpec): HeaderPlan {
  const version = spec.version ?? 3;
  if (version !== 1 && version !== 2 && version !== 3) throw new GgufError("GGUF_UNSUPPORTED_VERSION", `cannot write GGUF version ${String(version)}`, {});
  const v1 = version === 1;
  const entries = metadataEntries(spec.metadata);
  const alignment = resolveAlignment(entries, spec.alignment);
  const tensors = planTensors(spec.tensors, alignment);
  const w = new ByteWriter(spec.littleEndian ?? true);
  w.bytes(new Uint8Array([0x47, 0x47, 0x55, 0x46]));
  w.u32(version);
  if (v1) {
    w.u32(tensors.length);
    w.u32(entries.length);
  } else {
    w.u64(tensors.length);
    w.u64(entries.length);
  }
  for (const [key, value] of entries) {
    writeScalar(w, GGUFValueType.STRING, key, key, v1);
    writeValue(w, value, key, v1);
  }
  for (const t of tensors) {
    writeScalar(w, GGUFValueType.STRING, t.spec.name, t.spec.name, v1);
    w.u32(t.spec.shape.length);
    for (const d of t.spec.shape) {
      if (v1) w.u32(d);
      else w.u64(d);
    }
    w.u32(t.spec.type >>> 0);
    w.u64(t.offset);
  }
  if (tensors.length > 0 || spec.alignEmptyDataSection) w.pad(alignment);
  return { header: w.result(), alignment, tensors };
}

/**
 * Serialises only the metadata section (header, KV pairs, tensor infos and the padding before the data).
 * Tensor offsets are computed as `writeGguf` would write them.
 */
export function serializeGgufHeader(spec: GgufWriteSpec): Uint8Array {
  return buildHeader(spec).header;
}

const FLUSH_BYTES = 1 << 20;
const ZEROS = new Uint8Array(MAX_ALIGNMENT);

/** Coalesces small writes into ~1 MiB chunks; hands large chunks through. */
class Out {
  private parts: Uint8Array[] = [];
  private pending = 0;
  written = 0;
  constructor(private readonly sink: WritableSink) {}
  async write(chunk: Uint8Array): Promise<void> {
    if (chunk.byteLength === 0) return;
    this.written += chunk.byteLength;
    if (chunk.byteLength >= FLUSH_BYTES) {
      await this.flush();
      await this.sink.write(chunk);
      return;
    }
    this.parts.push(chunk);
    this.pending += chunk.byteLength;
    if (this.pending >= FLUSH_BYTES) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.pending === 0) return;
    const out = new Uint8Array(this.pending);
    let p = 0;
    for (const c of this.parts) {
      out.set(c, p);
      p += c.byteLength;
    }
    this.parts = [];
    this.pending = 0;
    await this.sink.write(out);
  }
}

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array> {
  return typeof x === "object" && x !== null && typeof (x as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === "function";
}
function isIterable(x: unknown): x is Iterable<Uint8Array> {
  return typeof x === "object" && x !== null && !(x instanceof Uint8Array) && typeof (x as Iterable<Uint8Array>)[Symbol.iterator] === "function";
}

async function writeTensorData(out: Out, t: PlannedTensor): Promise<void> {
  const name = t.spec.name;
  let written = 0;
  const put = async (chunk: Uint8Array): Promise<void> => {
    if (!(chunk instanceof Uint8Array)) throw new GgufError("GGUF_INVALID_VALUE", `tensor '${name}': data chunks must be Uint8Array`, { tensor: name });
    written += chunk.byteLength;
    if (written > t.nBytes) throw new GgufError("GGUF_DATA_SIZE_MISMATCH", `tensor '${name}': more than ${t.nBytes} bytes of data`, { tensor: name });
    await out.write(chunk);
  };
  const data = t.spec.data;
  if (data instanceof Uint8Array) await put(data);
  else {
    let produced: unknown;
    try {
      produced = await data();
    } catch (cause) {
      if (GgufError.isGgufError(cause)) throw cause;
      throw new GgufError("GGUF_IO_ERROR", `tensor '${name}': data source failed: ${String(cause)}`, { tensor: name }, { cause });
    }
    if (produced instanceof Uint8Array) await put(produced);
    else if (isAsyncIterable(produced)) for await (const c of produced) await put(c);
    else if (isIterable(produced)) for (const c of produced) await put(c);
    else throw new GgufError("GGUF_INVALID_VALUE", `tensor '${name}': data must give a Uint8Array or an iterable of them`, { tensor: name });
  }
  if (written !== t.nBytes) throw new GgufError("GGUF_DATA_SIZE_MISMATCH", `tensor '${name}': got ${written} bytes, expected ${t.nBytes}`, { tensor: name });
}

/** Loads the Node-only module lazily (only for path targets). */
let nodeIo: Promise<typeof import("./node/io.js")> | undefined;
function loadNode(): Promise<typeof import("./node/io.js")> {
  return (nodeIo ??= import("./node/io.js"));
}

/**
 * Writes a GGUF file. `target` is a path (Node: written to `<target>.tmp-<random>`, renamed on success, removed on
 * failure) or any {@link WritableSink}. Tensor data is pulled one tensor at a time and padded to the alignment.
 */
export async function writeGguf(target: string | WritableSink, spec: GgufWriteSpec): Promise<GgufWriteResult> {
  const plan = buildHeader(spec); // validate everything before creating the output
  const sink: WritableSink = typeof target === "string" ? await (await loadNode()).AtomicFileSink.create(target) : target;
  const file = typeof target === "string" ? target : undefined;
  const out = new Out(sink);
  try {
    await out.write(plan.header);
    const dataOffset = plan.header.byteLength;
    for (const t of plan.tensors) {
      await writeTensorData(out, t);
      const pad = ggmlPad(t.nBytes, plan.alignment) - t.nBytes;
      if (pad > 0) await out.write(ZEROS.slice(0, pad));
    }
    await out.flush();
    await sink.close?.();
    return {
      bytesWritten: out.written,
      dataOffset,
      alignment: plan.alignment,
      tensors: plan.tensors.map((t) => ({ name: t.spec.name, offset: t.offset, absoluteOffset: dataOffset + t.offset, nBytes: t.nBytes })),
    };
  } catch (e) {
    await Promise.resolve(sink.abort?.(e)).catch(() => undefined);
    if (GgufError.isGgufError(e)) throw e;
    throw new GgufError("GGUF_IO_ERROR", `writing failed: ${String(e)}`, { file }, { cause: e });
  }
}

/** A sink that collects everything in memory. */
export function memorySink(): WritableSink & { bytes(): Uint8Array } {
  const parts: Uint8Array[] = [];
  let total = 0;
  return {
    write(chunk) {
      parts.push(chunk);
      total += chunk.byteLength;
    },
    bytes() {
      const out = new Uint8Array(total);
      let p = 0;
      for (const c of parts) {
        out.set(c, p);
        p += c.byteLength;
      }
      return out;
    },
  };
}

/** Writes a GGUF file to memory. */
export async function writeGgufToBytes(spec: GgufWriteSpec): Promise<Uint8Array> {
  const sink = memorySink();
  await writeGguf(sink, spec);
  return sink.bytes();
}
