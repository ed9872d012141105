/**
 * A small byte builder for hand-made GGUF files, independent of `@quantlab/gguf`'s writer (so the reader is tested
 * against bytes it did not produce). Low-level: {@link GgufByteBuilder} appends primitives. High-level:
 * {@link buildGguf} lays out a whole minimal file, with overrides for every count so tests can corrupt it.
 *
 * Value type ids follow `enum gguf_type` (UINT8 = 0 … FLOAT64 = 12); ggml type ids follow `enum ggml_type`.
 */

export const T = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** Appends primitives in one byte order. `size()` writes uint32 for version 1 and uint64 after, like GGUF. */
export class GgufByteBuilder {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  length = 0;
  constructor(
    readonly littleEndian = true,
    readonly version = 3,
  ) {}

  private grow(n: number): number {
    if (this.length + n > this.buf.byteLength) {
      let cap = this.buf.byteLength * 2;
      while (cap < this.length + n) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  bytes(b: ArrayLike<number>): this {
    const at = this.grow(b.length);
    this.buf.set(b, at);
    return this;
  }
  u8(v: number): this {
    const at = this.grow(1); // grow() may replace this.buf: take the offset first
    this.buf[at] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    const at = this.grow(2); // grow() may replace this.view
    this.view.setUint16(at, v, this.littleEndian);
    return this;
  }
  u32(v: number): this {
    const at = this.grow(4); // grow() may replace this.view
    this.view.setUint32(at, v >>> 0, this.littleEndian);
    return this;
  }
  i32(v: number): this {
    const at = this.grow(4); // grow() may replace this.view
    this.view.setInt32(at, v, this.littleEndian);
    return this;
  }
  u64(v: number | bigint): this {
    const at = this.grow(8); // grow() may replace this.view
    this.view.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), this.littleEndian);
    return this;
  }
  f32(v: number): this {
    const at = this.grow(4); // grow() may replace this.view
    this.view.setFloat32(at, v, this.littleEndian);
    return this;
  }
  f64(v: number): this {
    const at = this.grow(8); // grow() may replace this.view
    this.view.setFloat64(at, v, this.littleEndian);
    return this;
  }
  /** A length or count: uint32 in GGUF v1, uint64 after. */
  size(v: number | bigint): this {
    return this.version === 1 ? this.u32(Number(v)) : this.u64(v);
  }
  /** A GGUF string: length + UTF-8 bytes (or the given raw bytes). */
  str(s: string | Uint8Array): this {
    const b = typeof s === "string" ? new TextEncoder().encode(s) : s;
    return this.size(b.length).bytes(b);
  }
  /** One value of a GGUF type (no type id). Arrays: `{ elementType, values }`. */
  value(type: number, v: unknown): this {
    switch (type) {
      case T.UINT8:
      case T.INT8:
        return this.u8(v as number);
      case T.BOOL:
        return this.u8(v ? 1 : 0);
      case T.UINT16:
      case T.INT16:
        return this.u16((v as number) & 0xffff);
      case T.UINT32:
      case T.INT32:
        return this.u32(v as number);
      case T.FLOAT32:
        return this.f32(v as number);
      case T.FLOAT64:
        return this.f64(v as number);
      case T.UINT64:
      case T.INT64:
        return this.u64(v as bigint);
      case T.STRING:
        return this.str(v as string);
      case T.ARRAY: {
        const a = v as { elementType: number; values: unknown[] };
        this.u32(a.elementType).size(a.values.length);
        for (const e of a.values) this.value(a.elementType, e);
        return this;
      }
      default:
        throw new Error(`builder: unknown value type ${type}`);
    }
  }
  /** A KV pair: key, type id, value. */
  kv(key: string, type: number, v: unknown): this {
    return this.str(key).u32(type).value(type, v);
  }
  /** A tensor info. */
  tensorInfo(name: string, dims: readonly (number | bigint)[], ggmlType: number, offset: number | bigint): this {
    this.str(name).u32(dims.length);
    for (const d of dims) this.size(d);
    return this.u32(ggmlType).u64(offset);
  }
  /** Zero padding up to a multiple of `alignment`. */
  pad(alignment: number): this {
    const n = (alignment - (this.length % alignment)) % alignment;
    return this.bytes(new Uint8Array(n));
  }
  build(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

export interface BuildKv {
  key: string;
  type: number;
  value: unknown;
}
export interface BuildTensor {
  name: string;
  dims: readonly (number | bigint)[];
  /** ggml type id (default 0 = F32). */
  type?: number;
  /** Stored offset relative to the data section (default: packed, aligned). */
  offset?: number | bigint;
  /** Data bytes (default: zeros of the size implied by dims for F32/F16/I8-like types, else `dataSize`). */
  dataSize?: number;
}
export interface BuildSpec {
  version?: number;
  littleEndian?: boolean;
  magic?: ArrayLike<number>;
  kvs?: BuildKv[];
  tensors?: BuildTensor[];
  /** Alignment used for layout (write `general.alignment` yourself in `kvs` when it is not 32). */
  alignment?: number;
  /** Overrides of the stored counts. */
  kvCount?: number | bigint;
  tensorCount?: number | bigint;
  /** Extra bytes appended at the end. */
  trailing?: number;
}

/** Byte size of an F32/F16/BF16/I8/I16/I32 tensor; `dataSize` otherwise. */
function defaultSize(t: BuildTensor): number {
  if (t.dataSize !== undefined) return t.dataSize;
  const n = t.dims.reduce<number>((a, d) => a * Number(d), 1);
  const per: Record<number, number> = { 0: 4, 1: 2, 24: 1, 25: 2, 26: 4, 27: 8, 28: 8, 30: 2 };
  return n * (per[t.type ?? 0] ?? 1);
}

/** Lays out a minimal GGUF file. Tensor data is a byte pattern (i & 0xff) so reads can be checked. */
export function buildGguf(spec: BuildSpec = {}): Uint8Array {
  const version = spec.version ?? 3;
  const b = new GgufByteBuilder(spec.littleEndian ?? true, version);
  const kvs = spec.kvs ?? [];
  const tensors = spec.tensors ?? [];
  const alignment = spec.alignment ?? 32;
  b.bytes(spec.magic ?? [0x47, 0x47, 0x55, 0x46]).u32(version);
  b.size(spec.tensorCount ?? tensors.length).size(spec.kvCount ?? kvs.length);
  for (const kv of kvs) b.kv(kv.key, kv.type, kv.value);
  let offset = 0;
  const sizes = tensors.map(defaultSize);
  tensors.forEach((t, i) => {
    b.tensorInfo(t.name, t.dims, t.type ?? 0, t.offset ?? offset);
    offset += Math.ceil(sizes[i]! / alignment) * alignment;
  });
  if (tensors.length > 0) {
    b.pad(alignment);
    const data = new Uint8Array(offset);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    b.bytes(data);
  }
  if (spec.trailing) b.bytes(new Uint8Array(spec.trailing));
  return b.build();
}
