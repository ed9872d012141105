/**
 * Importance-matrix files as llama.cpp writes them, reduced to what quantization needs: per tensor, the mean
 * squared activation of each input column (what `llama-quantize` passes to `ggml_quantize_chunk`).
 *
 * Legacy binary `.dat` (llama.cpp `examples/imatrix/imatrix.cpp` `save_imatrix` / `quantize.cpp` `load_imatrix`):
 *
 *   int32 n_entries
 *   n_entries × { int32 name_len; char name[name_len]; int32 ncall; int32 nval; float values[nval] }
 *   optional: int32 last_chunk; int32 dataset_len; char dataset[dataset_len]
 *
 * Stored values are `mean(x²) · ncall`, so llama-quantize divides each by `ncall`.
 *
 * The GGUF imatrix format (`<name>.in_sum2`, `<name>.counts`, `imatrix.*` keys) is read by `@quantlab/imatrix`;
 * this module holds the format-neutral result type and the legacy codec, which quantization needs without
 * depending on the runtime.
 */
import { QuantlabError } from "@quantlab/gguf";

export interface ImatrixEntry {
  /** Tensor name (`blk.0.attn_q.weight`). */
  readonly name: string;
  /** Number of calls (chunks) accumulated, as stored. */
  readonly ncall: number;
  /** Values as stored in the file (mean x² × ncall for `.dat`). */
  readonly stored: Float32Array;
  /** What quantization uses: stored / ncall (float32, as llama-quantize computes it). */
  readonly importance: Float32Array;
}

export interface ImatrixData {
  readonly format: "dat" | "gguf";
  readonly entries: ReadonlyMap<string, ImatrixEntry>;
  /** Dataset name(s) recorded in the file. */
  readonly datasets: readonly string[];
  /** Chunks processed (`last_chunk` for .dat, `imatrix.chunk_count` for GGUF); undefined when absent. */
  readonly chunkCount: number | undefined;
  /** Source path, if read from a file. */
  readonly file?: string;
}

/** Limits for untrusted `.dat` files. */
const MAX_ENTRIES = 1 << 20; // more tensors than any model has
const MAX_NAME = 1 << 12;
const MAX_VALUES = 1 << 28;

export class ImatrixFormatError extends QuantlabError {
  constructor(code: string, message: string, file: string | undefined, offset: number) {
    super(code, message, { file, offset });
    this.name = "ImatrixFormatError";
  }
}

/** Parses a legacy llama.cpp `.dat` importance matrix. Throws `IMATRIX_*` errors with the byte offset. */
export function parseImatrixDat(bytes: Uint8Array, file?: string): ImatrixData {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  const need = (n: number, what: string) => {
    if (off + n > bytes.length) {
      throw new ImatrixFormatError("IMATRIX_TRUNCATED", `file ends inside ${what} (needs ${n} bytes at ${off}, size ${bytes.length})`, file, off);
    }
  };
  const i32 = (what: string) => {
    need(4, what);
    const v = view.getInt32(off, true);
    off += 4;
    return v;
  };
  const dec = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  const n = i32("the entry count");
  if (n < 0 || n > MAX_ENTRIES) throw new ImatrixFormatError("IMATRIX_BAD_COUNT", `entry count ${n} is out of range`, file, 0);
  const entries = new Map<string, ImatrixEntry>();
  for (let e = 0; e < n; e++) {
    const at = off;
    const len = i32(`entry ${e}'s name length`);
    if (len <= 0 || len > MAX_NAME) throw new ImatrixFormatError("IMATRIX_BAD_NAME", `entry ${e} has name length ${len}`, file, at);
    need(len, `entry ${e}'s name`);
    const name = dec.decode(bytes.subarray(off, off + len));
    off += len;
    const ncall = i32(`entry '${name}' call count`);
    const nval = i32(`entry '${name}' value count`);
    if (nval < 0 || nval > MAX_VALUES) throw new ImatrixFormatError("IMATRIX_BAD_COUNT", `entry '${name}' has ${nval} values`, file, off - 4);
    need(nval * 4, `entry '${name}' values`);
    const stored = new Float32Array(nval);
    for (let j = 0; j < nval; j++) stored[j] = view.getFloat32(off + 4 * j, true);
    off += nval * 4;
    if (entries.has(name)) throw new ImatrixFormatError("IMATRIX_DUPLICATE", `entry '${name}' appears twice`, file, at);
    const importance = new Float32Array(nval);
    // llama-quantize: e[j] = value[j] / ncall (float division); ncall 0 would be a broken file
    const div = ncall > 0 ? ncall : 1;
    for (let j = 0; j < nval; j++) importance[j] = stored[j]! / div;
    entries.set(name, { name, ncall, stored, importance });
  }
  let chunkCount: number | undefined;
  const datasets: string[] = [];
  if (off + 4 <= bytes.length) {
    chunkCount = i32("the chunk count");
    if (off + 4 <= bytes.length) {
      const len = i32("the dataset name length");
      if (len < 0 || len > MAX_NAME * 16) throw new ImatrixFormatError("IMATRIX_BAD_NAME", `dataset name length ${len}`, file, off - 4);
      need(len, "the dataset name");
      datasets.push(dec.decode(bytes.subarray(off, off + len)));
      off += len;
    }
  }
  return { format: "dat", entries, datasets, chunkCount, ...(file === undefined ? {} : { file }) };
}

/** Serialises entries in the legacy `.dat` layout (stored values, i.e. mean × ncall). */
export function serializeImatrixDat(data: Pick<ImatrixData, "entries" | "datasets" | "chunkCount">): Uint8Array {
  const enc = new TextEncoder();
  const names = [...data.entries.values()];
  const dataset = enc.encode(data.datasets[0] ?? "");
  let size = 4;
  const encoded = names.map((e) => enc.encode(e.name));
  names.forEach((e, i) => (size += 4 + encoded[i]!.length + 8 + 4 * e.stored.length));
  if (data.chunkCount !== undefined) size += 8 + dataset.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let off = 0;
  v.setInt32(off, names.length, true);
  off += 4;
  names.forEach((e, i) => {
    const nb = encoded[i]!;
    v.setInt32(off, nb.length, true);
    out.set(nb, off + 4);
    off += 4 + nb.length;
    v.setInt32(off, e.ncall, true);
    v.setInt32(off + 4, e.stored.length, true);
    off += 8;
    for (let j = 0; j < e.stored.length; j++) v.setFloat32(off + 4 * j, e.stored[j]!, true);
    off += 4 * e.stored.length;
  });
  if (data.chunkCount !== undefined) {
    v.setInt32(off, data.chunkCount, true);
    v.setInt32(off + 4, dataset.length, true);
    out.set(dataset, off + 8);
  }
  return out;
}
