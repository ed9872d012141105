/**
 * Split (sharded) models: `<prefix>-00001-of-00003.gguf` … as written by llama.cpp's `llama-gguf-split`.
 * The first shard holds all metadata; every shard holds `split.no` (UINT16, 0-based), `split.count` (UINT16) and
 * `split.tensors.count` (INT32, total over all shards). @see gguf_split / gguf_merge (tools/gguf-split/gguf-split.cpp)
 * and llama_split_path / llama_split_prefix (src/llama.cpp).
 */
import { GGUF_DEFAULT_ALIGNMENT, ggmlPad } from "./constants.js";
import type { GgufFile, GgufTensorInfo } from "./file.js";
import { GgufError } from "./gguf-error.js";
import { openGguf, type GgufSourceInput, type OpenOptions } from "./open.js";
import { GGUFValueType, plainValue, type GgufMetadata, type GgufPlainValue, type GgufValue } from "./types.js";
import { metadataEntries, writeGguf, type GgufWriteResult, type GgufWriteSpec, type GgufWriteTensor, type WritableSink } from "./write.js";
import { ggufWriteSpecFrom } from "./edit.js";
import { ggmlTypeInfo } from "./ggml-types.js";

/** `LLM_KV_SPLIT_NO`. */
export const KEY_SPLIT_NO = "split.no";
/** `LLM_KV_SPLIT_COUNT`. */
export const KEY_SPLIT_COUNT = "split.count";
/** `LLM_KV_SPLIT_TENSORS_COUNT`. */
export const KEY_SPLIT_TENSORS_COUNT = "split.tensors.count";

const SHARD_RE = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

export interface ShardName {
  /** Everything before `-00001-of-00003.gguf`. */
  prefix: string;
  /** 0-based shard index. */
  index: number;
  /** Number of shards. */
  count: number;
}

/** Parses a shard file name or path (`llama_split_prefix`); null when it is not one. */
export function parseShardName(path: string): ShardName | null {
  const m = SHARD_RE.exec(path);
  if (!m) return null;
  const no = Number(m[2]);
  const count = Number(m[3]);
  if (no < 1 || count < 1 || no > count) return null;
  return { prefix: m[1]!, index: no - 1, count };
}

/** `llama_split_path`: `<prefix>-<index+1, 5 digits>-of-<count, 5 digits>.gguf`. */
export function shardPath(prefix: string, index: number, count: number): string {
  return `${prefix}-${String(index + 1).padStart(5, "0")}-of-${String(count).padStart(5, "0")}.gguf`;
}

/** A tensor of a sharded model, with the shard it lives in. */
export interface GgufModelTensor {
  info: GgufTensorInfo;
  shard: number;
}

/** Several shards opened as one model. */
export class GgufModel {
  /** Metadata of the first shard (which holds the model's metadata). */
  readonly metadata: GgufMetadata;
  /** All tensors in shard order, then file order. */
  readonly tensors: GgufModelTensor[];
  private readonly byName = new Map<string, GgufModelTensor>();

  constructor(readonly shards: GgufFile[]) {
    this.metadata = shards[0]!.metadata;
    this.tensors = [];
    shards.forEach((s, shard) => {
      for (const info of s.tensors) {
        if (this.byName.has(info.name)) {
          throw new GgufError("GGUF_DUPLICATE_TENSOR", `tensor '${info.name}' is in more than one shard`, { file: s.file, tensor: info.name, offset: info.infoOffset });
        }
        const t = { info, shard };
        this.tensors.push(t);
        this.byName.set(info.name, t);
      }
    });
  }

  get(key: string): GgufPlainValue | undefined {
    const v = this.metadata.get(key);
    return v === undefined ? undefined : plainValue(v);
  }

  tensor(name: string): GgufModelTensor | undefined {
    return this.byName.get(name);
  }

  private resolve(name: string): GgufModelTensor {
    const t = this.byName.get(name);
    if (!t) throw new GgufError("GGUF_TENSOR_NOT_FOUND", `no tensor named '${name}'`, { tensor: name });
    return t;
  }

  readTensorData(name: string): Promise<Uint8Array> {
    const t = this.resolve(name);
    return this.shards[t.shard]!.readTensorData(t.info);
  }

  readTensorChunks(name: string, chunkSize?: number): AsyncGenerator<Uint8Array> {
    const t = this.resolve(name);
    return this.shards[t.shard]!.readTensorChunks(t.info, chunkSize);
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()));
  }
}

function splitNumber(f: GgufFile, key: string): number | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v.value !== "number" && typeof v.value !== "bigint") {
    throw new GgufError("GGUF_SHARD_MISMATCH", `'${key}' is not an integer`, { file: f.file, key, offset: f.metadataOffsets.get(key) });
  }
  return Number(v.value);
}

/**
 * Opens a model that may be split. A path or URL named like `x-00001-of-00003.gguf` opens all its shards (any shard's
 * name works) and checks `split.no`, `split.count` and `split.tensors.count`; anything else opens as one shard.
 */
export async function openGgufModel(input: GgufSourceInput, options: OpenOptions = {}): Promise<GgufModel> {
  const name = typeof input === "string" ? input : input instanceof URL ? input.href : undefined;
  const shard = name ? parseShardName(name) : null;
  if (!shard) return new GgufModel([await openGguf(input, options)]);
  const paths = Array.from({ length: shard.count }, (_, i) => shardPath(shard.prefix, i, shard.count));
  const files: GgufFile[] = [];
  try {
    for (const p of paths) files.push(await openGguf(p, options));
    let total = 0;
    files.forEach((f, i) => {
      const no = splitNumber(f, KEY_SPLIT_NO);
      const count = splitNumber(f, KEY_SPLIT_COUNT);
      if (no !== i || count !== shard.count) {
        throw new GgufError("GGUF_SHARD_MISMATCH", `shard ${i + 1} says split.no=${no}, split.count=${count}; expected ${i}, ${shard.count}`, { file: f.file });
      }
      total += f.tensors.length;
    });
    const declared = splitNumber(files[0]!, KEY_SPLIT_TENSORS_COUNT);
    if (declared !== undefined && declared !== total) {
      throw new GgufError("GGUF_SHARD_MISMATCH", `split.tensors.count is ${declared} but the shards hold ${total} tensors`, { file: files[0]!.file });
    }
    return new GgufModel(files);
  } catch (e) {
    await Promise.all(files.map((f) => f.close()));
    throw e;
  }
}

export interface SplitOptions {
  /** Start a new shard every this many tensors (`--split-max-tensors`). */
  maxTensors?: number;
  /** Start a new shard when the tensor data would exceed this many bytes (`--split-max-size`). */
  maxBytes?: number;
}

/**
 * Writes `spec` as shards `<prefix>-0000i-of-0000n.gguf` (or to the sinks `target(i, n)` returns). The first shard
 * gets all metadata; every shard gets the `split.*` keys (appended, replacing any present). Splitting follows
 * `split_strategy` of gguf-split: by tensor count, or by bytes (each tensor counted padded to the alignment).
 */
export async function writeGgufSplit(
  target: string | ((index: number, count: number) => string | WritableSink),
  spec: GgufWriteSpec,
  options: SplitOptions,
): Promise<{ paths: string[]; results: GgufWriteResult[] }> {
  const { maxTensors, maxBytes } = options;
  if ((maxTensors === undefined) === (maxBytes === undefined)) throw new GgufError("GGUF_BAD_ARGUMENT", "give exactly one of maxTensors and maxBytes", {});
  if (maxTensors !== undefined && (!Number.isInteger(maxTensors) || maxTensors < 1)) throw new GgufError("GGUF_BAD_ARGUMENT", `maxTensors must be a positive integer`, {});
  if (maxBytes !== undefined && (!Number.isFinite(maxBytes) || maxBytes < 1)) throw new GgufError("GGUF_BAD_ARGUMENT", `maxBytes must be positive`, {});
  const entries = metadataEntries(spec.metadata);
  const alignmentValue = entries.find(([k]) => k === "general.alignment")?.[1].value;
  const alignment = spec.alignment ?? (typeof alignmentValue === "number" ? alignmentValue : GGUF_DEFAULT_ALIGNMENT);
  const groups: GgufWriteTensor[][] = [[]];
  let current = 0;
  spec.tensors.forEach((t, i) => {
    const info = ggmlTypeInfo(t.type);
    const n = t.shape.reduce((a, d) => a * d, 1);
    const nBytes = info ? (n / info.blockSize) * info.typeSize : (t.nBytes ?? (t.data instanceof Uint8Array ? t.data.byteLength : 0));
    const padded = ggmlPad(nBytes, alignment);
    const split = maxBytes !== undefined ? current + padded > maxBytes && groups[groups.length - 1]!.length > 0 : i > 0 && i % maxTensors! === 0;
    if (split) {
      groups.push([]);
      current = padded;
    } else current += padded;
    groups[groups.length - 1]!.push(t);
  });
  const count = groups.length;
  const base = entries.filter(([k]) => k !== KEY_SPLIT_NO && k !== KEY_SPLIT_COUNT && k !== KEY_SPLIT_TENSORS_COUNT);
  const alignmentKv = base.find(([k]) => k === "general.alignment");
  const paths: string[] = [];
  const results: GgufWriteResult[] = [];
  for (let i = 0; i < count; i++) {
    const md: [string, GgufValue][] = i === 0 ? [...base] : alignmentKv ? [alignmentKv] : [];
    md.push([KEY_SPLIT_NO, { type: GGUFValueType.UINT16, value: i }]);
    md.push([KEY_SPLIT_COUNT, { type: GGUFValueType.UINT16, value: count }]);
    md.push([KEY_SPLIT_TENSORS_COUNT, { type: GGUFValueType.INT32, value: spec.tensors.length }]);
    const out = typeof target === "string" ? shardPath(target, i, count) : target(i, count);
    if (typeof out === "string") paths.push(out);
    const shardSpec: GgufWriteSpec = { ...spec, metadata: md, tensors: groups[i]! };
    results.push(await writeGguf(out, shardSpec));
  }
  return { paths, results };
}

/**
 * Joins the shards of a model into one file (`gguf_merge`): metadata of the first shard without the `split.*` keys,
 * then every tensor in order, streamed.
 */
export async function mergeGgufShards(model: GgufModel, output: string | WritableSink): Promise<GgufWriteResult> {
  const first = model.shards[0]!;
  const metadata: GgufMetadata = new Map([...first.metadata].filter(([k]) => k !== KEY_SPLIT_NO && k !== KEY_SPLIT_COUNT && k !== KEY_SPLIT_TENSORS_COUNT));
  const tensors = model.shards.flatMap((s) => ggufWriteSpecFrom(s).tensors);
  return writeGguf(output, { metadata, tensors, version: first.version as 1 | 2 | 3, littleEndian: first.littleEndian });
}
