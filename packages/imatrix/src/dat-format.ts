/**
 * llama.cpp's legacy `.dat` imatrix (the only format up to mid 2025, still written with `--output-format dat`),
 * converted to and from the common {@link Imatrix} model the way current llama-imatrix does it.
 *
 * The byte codec itself is quant-core's ({@link parseImatrixDat} / {@link serializeImatrixDat}); this module adds
 * the arithmetic:
 * - reading (`load_imatrix_legacy`): `sums[i] = value[i] * chunk_size` (float), one count `ncall * chunk_size`;
 *   the chunk size is not stored in a `.dat`, llama.cpp takes its own `n_ctx / n_parallel`.
 * - writing (`save_imatrix_legacy`): `ncall = ceil(max(counts) / chunk_size)`,
 *   `value[i] = (sums[i] / count_of_its_matrix) * ncall` (float), `1 * ncall` for a matrix with no tokens;
 *   entries with no tokens at all are skipped; names sorted; trailer = chunk count and the last dataset name.
 *
 * The c392e50 writer (`save_imatrix`, examples/imatrix) computed `(values[i] / counts[i]) * ncall` with
 * `ncall` = number of calls, which for one batch per chunk is the same number; so a `.dat` made by either version
 * reads into the same sums. `.dat → GGUF → .dat` gives back the same bytes when the chunk size is a power of two
 * (the multiply is exact) and `fround(fround(v / n) * n) === v`, true for every value of a file that was itself
 * written as `fround(q * n)`; see the tests for the golden files.
 */
import { parseImatrixDat, serializeImatrixDat, type ImatrixData, type ImatrixEntry } from "@quantlab/quant-core";
import { ImatrixError } from "./errors.js";
import { chunkCountFromCounts, sortedNames, type Imatrix, type ImatrixTensor } from "./imatrix.js";

export interface DatReadOptions {
  /** Tokens per chunk the `.dat` was collected with (`-c` of llama-imatrix when one batch holds one chunk). Default 512. */
  readonly chunkSize?: number | undefined;
  readonly file?: string | undefined;
}

/** Converts quant-core's parsed `.dat` into the common model. @see IMatrixCollector::load_imatrix_legacy */
export function imatrixFromDatData(data: ImatrixData, options: DatReadOptions = {}): Imatrix {
  const chunkSize = options.chunkSize ?? 512;
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new ImatrixError("IMATRIX_BAD_ARGUMENT", `chunk size must be a positive integer, got ${chunkSize}`);
  const entries = new Map<string, ImatrixTensor>();
  for (const [name, e] of data.entries) {
    const nval = e.stored.length;
    if (nval < 1) throw new ImatrixError("IMATRIX_FORMAT", `failed reading number of values for entry '${name}'`, { file: options.file, tensor: name });
    const sums = new Float32Array(nval);
    // e.values[i] += tmp[i] * chunk_size (float * int → float)
    for (let i = 0; i < nval; i++) sums[i] = Math.fround(e.stored[i]! * chunkSize);
    const counts = new Float64Array(1);
    counts[0] = e.ncall * chunkSize;
    entries.set(name, { nPerRow: nval, nMat: 1, sums, counts });
  }
  const im: Imatrix = { entries, datasets: [...data.datasets], chunkCount: 0, chunkSize };
  im.chunkCount = chunkCountFromCounts(im);
  return im;
}

/** Parses `.dat` bytes into the common model. */
export function parseImatrixDatFile(bytes: Uint8Array, options: DatReadOptions = {}): Imatrix {
  return imatrixFromDatData(parseImatrixDat(bytes, options.file), options);
}

/** What `save_imatrix_legacy` would store for each entry: ncall and the stored (mean × ncall) values. */
export function imatrixToDatData(im: Imatrix): ImatrixData {
  const cs = im.chunkSize;
  const entries = new Map<string, ImatrixEntry>();
  for (const name of sortedNames(im)) {
    const e = im.entries.get(name)!;
    const nAll = e.counts.length;
    if (nAll === 0) continue;
    let nZeros = 0;
    let maxCount = 0;
    for (let m = 0; m < nAll; m++) {
      if (e.counts[m] === 0) nZeros++;
      if (e.counts[m]! > maxCount) maxCount = e.counts[m]!;
    }
    if (nZeros === nAll) continue; // "has no data - skipping"
    // ceiling division to avoid accidental zeros
    const ncall = Math.floor((maxCount + (cs - 1)) / cs);
    const nval = e.sums.length;
    const stored = new Float32Array(nval);
    const importance = new Float32Array(nval);
    const fn = Math.fround(ncall);
    const per = nval / e.nMat;
    for (let i = 0; i < nval; i++) {
      let count = Math.fround(e.counts[Math.floor(i / per)]!);
      let value = e.sums[i]!;
      if (count === 0) {
        value = 1; // store 1 for partial data
        count = 1;
      }
      stored[i] = Math.fround(Math.fround(value / count) * fn);
      importance[i] = stored[i]! / (ncall > 0 ? ncall : 1);
    }
    entries.set(name, { name, ncall, stored, importance });
  }
  const last = im.datasets[im.datasets.length - 1];
  return { format: "dat", entries, datasets: last === undefined ? [] : [last], chunkCount: im.chunkCount };
}

/** Serialises to legacy `.dat` bytes, as `llama-imatrix --output-format dat` writes them. */
export function serializeImatrixDatFile(im: Imatrix): Uint8Array {
  const data = imatrixToDatData(im);
  if (data.entries.size === 0) throw new ImatrixError("IMATRIX_EMPTY", "no imatrix entry has data");
  return serializeImatrixDat(data);
}
