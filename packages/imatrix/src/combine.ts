/**
 * Combining imatrices like `llama-imatrix --in-file a --in-file b ...`: every file is loaded into the same
 * collector state, so sums and counts of a tensor add up, datasets are concatenated and the chunk count is
 * recomputed from the largest count.
 *
 * @see IMatrixCollector::load_imatrix / load_imatrix_legacy (tools/imatrix/imatrix.cpp)
 */
import { ImatrixError } from "./errors.js";
import { chunkCountFromCounts, type Imatrix, type ImatrixTensor } from "./imatrix.js";

interface Acc {
  nPerRow: number;
  nMat: number;
  sums: Float32Array;
  activationSums: Float32Array | undefined;
  counts: Float64Array;
}

export interface CombineOptions {
  /** Chunk size of the result (default: the first input's). llama.cpp uses its own n_ctx / n_parallel. */
  readonly chunkSize?: number | undefined;
}

/**
 * Adds several imatrices. Sums are added in float (`e.values[j] += in_sum2[j]`), counts as integers. A tensor with
 * one count meeting one with several (an old dense-shaped file and a per-expert one) is broadcast as llama.cpp does.
 * Activation sums (`in_sum`) are kept only when every input that has the tensor has them (llama.cpp would keep a
 * partial sum).
 */
export function combineImatrix(list: readonly Imatrix[], options: CombineOptions = {}): Imatrix {
  if (list.length === 0) throw new ImatrixError("IMATRIX_EMPTY", "nothing to combine");
  const chunkSize = options.chunkSize ?? list[0]!.chunkSize;
  const acc = new Map<string, Acc>();
  const datasets: string[] = [];
  for (const im of list) {
    datasets.push(...im.datasets);
    for (const [name, e] of im.entries) {
      let a = acc.get(name);
      if (!a) {
        a = { nPerRow: e.nPerRow, nMat: e.nMat, sums: new Float32Array(e.sums.length), activationSums: e.activationSums ? new Float32Array(e.sums.length) : undefined, counts: new Float64Array(e.nMat) };
        acc.set(name, a);
      } else if (a.sums.length !== e.sums.length) {
        throw new ImatrixError("IMATRIX_MISMATCH", `mismatched sums size for ${name}: ${e.sums.length} != ${a.sums.length}`, { tensor: name });
      }
      if (a.counts.length === 1 && e.nMat > 1) {
        // broadcast, when loading an old imatrix
        const c = new Float64Array(e.nMat).fill(a.counts[0]!);
        a.counts = c;
        a.nMat = e.nMat;
        a.nPerRow = e.nPerRow;
      }
      if (e.nMat === a.counts.length) {
        for (let j = 0; j < e.nMat; j++) a.counts[j] = a.counts[j]! + e.counts[j]!;
      } else if (e.nMat === 1) {
        // the legacy format does not distinguish experts: its count goes to every matrix
        for (let j = 0; j < a.counts.length; j++) a.counts[j] = a.counts[j]! + e.counts[0]!;
      } else {
        throw new ImatrixError("IMATRIX_MISMATCH", `mismatched counts size for ${name}: ${e.nMat} != ${a.counts.length}`, { tensor: name });
      }
      const s = a.sums;
      for (let j = 0; j < s.length; j++) s[j] = s[j]! + e.sums[j]!; // float += float (one rounding)
      if (a.activationSums && e.activationSums) {
        const t = a.activationSums;
        for (let j = 0; j < t.length; j++) t[j] = t[j]! + e.activationSums[j]!;
      } else {
        a.activationSums = undefined;
      }
    }
  }
  const entries = new Map<string, ImatrixTensor>();
  for (const [name, a] of acc) {
    entries.set(name, { nPerRow: a.nPerRow, nMat: a.nMat, sums: a.sums, ...(a.activationSums ? { activationSums: a.activationSums } : {}), counts: a.counts });
  }
  const out: Imatrix = { entries, datasets, chunkCount: 0, chunkSize };
  out.chunkCount = chunkCountFromCounts(out);
  return out;
}
