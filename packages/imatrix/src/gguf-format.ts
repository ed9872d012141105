/**
 * llama.cpp's GGUF imatrix format (PR #9400, default output of `llama-imatrix` since mid 2025).
 *
 * - KV `general.type` = "imatrix", `imatrix.datasets` (string array), `imatrix.chunk_count` (u32),
 *   `imatrix.chunk_size` (u32, n_ctx / n_parallel).
 * - Per weight `<name>`, in name order: `<name>.in_sum2` F32 `[nPerRow, nMat]` (raw Σx², not averaged),
 *   `<name>.counts` F32 `[1, nMat]` (tokens per matrix), and optionally `<name>.in_sum` F32 `[nPerRow, nMat]` (Σx).
 *
 * @see IMatrixCollector::save_imatrix / IMatrixCollector::load_imatrix (tools/imatrix/imatrix.cpp)
 */
import { GGMLQuantizationType, GGUFValueType, ggufValue, parseGgufBytes, writeGguf, writeGgufToBytes, type GgufFile, type GgufWriteSpec, type GgufWriteTensor } from "@quantlab/gguf";
import { ImatrixError } from "./errors.js";
import { chunkCountFromCounts, sortedNames, type Imatrix, type ImatrixTensor } from "./imatrix.js";

export const KEY_DATASETS = "imatrix.datasets";
export const KEY_CHUNK_COUNT = "imatrix.chunk_count";
export const KEY_CHUNK_SIZE = "imatrix.chunk_size";

const SUFFIX_SUM2 = ".in_sum2";
const SUFFIX_COUNTS = ".counts";
const SUFFIX_SUM = ".in_sum";

export interface ParseImatrixOptions {
  /** Chunk size to assume when the file does not say (llama.cpp uses its own n_ctx / n_parallel; default 512). */
  readonly chunkSize?: number | undefined;
  /** File name for error messages. */
  readonly file?: string | undefined;
}

function readF32(bytes: Uint8Array, g: GgufFile, name: string, file: string | undefined): Float32Array {
  const t = g.tensor(name)!;
  if (t.type !== GGMLQuantizationType.F32) throw new ImatrixError("IMATRIX_FORMAT", `imatrix tensor '${name}' must be F32`, { file, tensor: name });
  const n = t.nElements;
  if (t.absoluteOffset + 4 * n > bytes.length) throw new ImatrixError("IMATRIX_FORMAT", `imatrix tensor '${name}' data lies past the end of the file`, { file, tensor: name, offset: t.absoluteOffset });
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset + t.absoluteOffset, 4 * n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function numberKv(g: GgufFile, key: string): number | undefined {
  const v = g.get(key);
  return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined;
}

/** Parses a GGUF imatrix file. */
export function parseImatrixGguf(bytes: Uint8Array, options: ParseImatrixOptions = {}): Imatrix {
  const file = options.file;
  let g: GgufFile;
  try {
    g = parseGgufBytes(bytes, file === undefined ? {} : { name: file });
  } catch (e) {
    throw new ImatrixError("IMATRIX_FORMAT", `not a readable GGUF file: ${(e as Error).message}`, { file }, { cause: e });
  }
  // std::map in load_imatrix: names in sorted order
  const parts = new Map<string, { sum2?: string; counts?: string; sum?: string }>();
  for (const t of g.tensors) {
    const n = t.name;
    let base: string | undefined;
    let kind: "sum2" | "counts" | "sum" | undefined;
    if (n.endsWith(SUFFIX_SUM2)) [base, kind] = [n.slice(0, -SUFFIX_SUM2.length), "sum2"];
    else if (n.endsWith(SUFFIX_COUNTS)) [base, kind] = [n.slice(0, -SUFFIX_COUNTS.length), "counts"];
    else if (n.endsWith(SUFFIX_SUM)) [base, kind] = [n.slice(0, -SUFFIX_SUM.length), "sum"];
    if (base === undefined || kind === undefined || base === "") continue; // other tensors are ignored
    const p = parts.get(base) ?? {};
    p[kind] = n;
    parts.set(base, p);
  }
  if (parts.size === 0) throw new ImatrixError("IMATRIX_FORMAT", "no imatrix tensors (<name>.in_sum2 / <name>.counts) in the file", { file });
  const entries = new Map<string, ImatrixTensor>();
  for (const name of sortedNames({ entries: parts })) {
    const p = parts.get(name)!;
    if (p.sum2 === undefined || p.counts === undefined) {
      throw new ImatrixError("IMATRIX_FORMAT", `mismatched sums and counts for ${name}`, { file, tensor: name });
    }
    const sums = readF32(bytes, g, p.sum2, file);
    const countsF = readF32(bytes, g, p.counts, file);
    const activationSums = p.sum === undefined ? undefined : readF32(bytes, g, p.sum, file);
    const nMat = countsF.length;
    if (nMat === 0 || sums.length === 0 || sums.length % nMat !== 0 || (activationSums && activationSums.length !== sums.length)) {
      throw new ImatrixError("IMATRIX_FORMAT", `mismatched sums and counts for ${name} (${sums.length} sums, ${nMat} counts${activationSums ? `, ${activationSums.length} activation sums` : ""})`, { file, tensor: name });
    }
    const counts = new Float64Array(nMat);
    for (let j = 0; j < nMat; j++) counts[j] = lround(countsF[j]!); // std::lround
    entries.set(name, { nPerRow: sums.length / nMat, nMat, sums, ...(activationSums ? { activationSums } : {}), counts });
  }
  const ds = g.get(KEY_DATASETS);
  const datasets = Array.isArray(ds) ? ds.map(String) : typeof ds === "string" ? [ds] : [];
  const chunkSize = numberKv(g, KEY_CHUNK_SIZE) ?? options.chunkSize ?? 512;
  const im: Imatrix = { entries, datasets, chunkCount: 0, chunkSize };
  im.chunkCount = numberKv(g, KEY_CHUNK_COUNT) ?? chunkCountFromCounts(im);
  return im;
}

/** C `lround`: nearest integer, halves away from zero. */
function lround(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

function f32Bytes(a: Float32Array | Float64Array): Uint8Array {
  const out = new Uint8Array(4 * a.length);
  const v = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) v.setFloat32(4 * i, a[i]!, true);
  return out;
}

/**
 * The GGUF write spec llama-imatrix's `save_imatrix` produces: KV pairs in its order, tensors by sorted name, each
 * `in_sum2`, `counts`, then `in_sum` when activation sums are kept.
 */
export function imatrixGgufSpec(im: Imatrix): GgufWriteSpec {
  if (im.entries.size === 0) throw new ImatrixError("IMATRIX_EMPTY", "the imatrix has no entries");
  const tensors: GgufWriteTensor[] = [];
  for (const name of sortedNames(im)) {
    const e = im.entries.get(name)!;
    if (e.sums.length === 0 || e.nMat === 0) continue; // `if (nval > 0 && nmat > 0)`
    tensors.push({ name: name + SUFFIX_SUM2, shape: [e.nPerRow, e.nMat], type: GGMLQuantizationType.F32, data: f32Bytes(e.sums) });
    tensors.push({ name: name + SUFFIX_COUNTS, shape: [1, e.nMat], type: GGMLQuantizationType.F32, data: f32Bytes(e.counts) });
    if (e.activationSums) tensors.push({ name: name + SUFFIX_SUM, shape: [e.nPerRow, e.nMat], type: GGMLQuantizationType.F32, data: f32Bytes(e.activationSums) });
  }
  return {
    metadata: [
      ["general.type", ggufValue.string("imatrix")],
      [KEY_DATASETS, ggufValue.array(GGUFValueType.STRING, [...im.datasets])],
      [KEY_CHUNK_COUNT, ggufValue.uint32(im.chunkCount)],
      [KEY_CHUNK_SIZE, ggufValue.uint32(im.chunkSize)],
    ],
    tensors,
  };
}

/** Serialises to GGUF bytes. */
export function serializeImatrixGguf(im: Imatrix): Promise<Uint8Array> {
  return writeGgufToBytes(imatrixGgufSpec(im));
}

/** Writes a GGUF imatrix file (atomically: a temp file renamed into place). */
export async function writeImatrixGguf(path: string, im: Imatrix): Promise<void> {
  await writeGguf(path, imatrixGgufSpec(im));
}
