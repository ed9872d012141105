/**
 * The accumulation half of llama-imatrix: what `IMatrixCollector::collect_imatrix` does with the input activations of
 * one matrix multiplication (tools/imatrix/imatrix.cpp).
 *
 * - Which weights: `blk.*` matmul weights, `output.weight` only with `processOutput`; a plain matmul with fewer than
 *   16 input rows is ignored ("why are small batches ignored (<16 tokens)?" in the C), expert matmuls never are.
 * - Dense: `values[j] += x[j]*x[j]` in float over every input row, `activations[j] += x[j]`, and one count per
 *   weight incremented by the number of rows.
 * - Experts (`MUL_MAT_ID`): per expert `ex`, for every (slot, token) routed to it, the same sums into that expert's
 *   row of the tensor and `counts[ex]++`.
 *
 * The c392e50 collector (which made the golden `.dat` files) kept one count per column instead of per matrix; the
 * sums are the same floats added in the same order, so the results agree.
 */
import { ImatrixError } from "./errors.js";
import { chunkCountFromCounts, cloneImatrix, createImatrix, type Imatrix, type ImatrixTensor } from "./imatrix.js";

export interface ImatrixCollectorOptions {
  /** Tokens per chunk (`n_ctx / n_parallel`), used for the chunk count. */
  readonly chunkSize: number;
  /** Also collect `output.weight` (`--process-output`). Default false. */
  readonly processOutput?: boolean | undefined;
  /** Keep Σx per column (GGUF `in_sum`, what current llama-imatrix writes). Default true. */
  readonly activations?: boolean | undefined;
  /** Start from these sums (`--in-file`), copied. */
  readonly initial?: Imatrix | undefined;
  /** Datasets to record (added after the initial imatrix's). */
  readonly datasets?: readonly string[] | undefined;
}

interface Mutable {
  nPerRow: number;
  nMat: number;
  sums: Float32Array;
  activationSums: Float32Array | undefined;
  counts: Float64Array;
}

/** llama-imatrix's rule for which weights it collects. */
export function isImatrixWeight(name: string, processOutput = false): boolean {
  return name.startsWith("blk.") || (processOutput && name === "output.weight");
}

export class ImatrixCollector {
  readonly chunkSize: number;
  readonly processOutput: boolean;
  readonly withActivations: boolean;
  private readonly stats = new Map<string, Mutable>();
  private readonly datasets: string[];
  private lastChunk = 0;

  constructor(options: ImatrixCollectorOptions) {
    this.chunkSize = options.chunkSize;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize <= 0) throw new ImatrixError("IMATRIX_BAD_ARGUMENT", `chunk size must be a positive integer, got ${this.chunkSize}`);
    this.processOutput = options.processOutput ?? false;
    this.withActivations = options.activations ?? true;
    this.datasets = [...(options.initial?.datasets ?? []), ...(options.datasets ?? [])];
    if (options.initial) {
      const init = cloneImatrix(options.initial);
      for (const [name, e] of init.entries) {
        this.stats.set(name, { nPerRow: e.nPerRow, nMat: e.nMat, sums: e.sums, activationSums: e.activationSums, counts: e.counts });
      }
      this.lastChunk = chunkCountFromCounts({ entries: init.entries, chunkSize: this.chunkSize });
    }
  }

  /** The scheduler's "ask" question: does the collector want this plain matmul's input? */
  wants(name: string, nRows: number): boolean {
    return nRows >= 16 && isImatrixWeight(name, this.processOutput);
  }

  /** Chunks seen so far (`m_last_chunk`: the largest count divided by the chunk size). */
  get chunkCount(): number {
    return this.lastChunk;
  }

  private entry(name: string, nPerRow: number, nMat: number, perExpert: boolean): Mutable {
    let e = this.stats.get(name);
    if (!e) {
      e = {
        nPerRow,
        nMat,
        sums: new Float32Array(nPerRow * nMat),
        activationSums: this.withActivations ? new Float32Array(nPerRow * nMat) : undefined,
        counts: new Float64Array(perExpert ? nMat : 1),
      };
      this.stats.set(name, e);
      return e;
    }
    if (e.sums.length !== nPerRow * nMat) {
      throw new ImatrixError("IMATRIX_MISMATCH", `inconsistent size for ${name} (${e.sums.length} vs ${nPerRow * nMat})`, { tensor: name });
    }
    if (perExpert && e.counts.length === 1 && nMat > 1) {
      e.counts = new Float64Array(nMat).fill(e.counts[0]!); // broadcast, when continuing an old imatrix
      e.nMat = nMat;
      e.nPerRow = nPerRow;
    } else if (perExpert && e.counts.length !== nMat) {
      throw new ImatrixError("IMATRIX_MISMATCH", `inconsistent expert count for ${name} (${e.counts.length} vs ${nMat})`, { tensor: name });
    }
    return e;
  }

  private check(name: string, e: Mutable, from: number, n: number): void {
    const s = e.sums;
    for (let j = from; j < from + n; j++) {
      if (!Number.isFinite(s[j]!)) throw new ImatrixError("IMATRIX_NON_FINITE", `${s[j]} detected in ${name}`, { tensor: name });
    }
  }

  private updateChunk(count: number): void {
    const n = Math.floor(count / this.chunkSize);
    if (n > this.lastChunk) this.lastChunk = n;
  }

  /**
   * Adds the input of a plain matmul: `x` holds `nRows` rows of `nCols` floats (row-major, the weight's `ne0` columns).
   * Call {@link wants} first to apply llama-imatrix's filter; this method accumulates unconditionally.
   */
  addMatmulInput(name: string, x: Float32Array, nRows: number, nCols: number): void {
    const e = this.entry(name, nCols, 1, false);
    const s = e.sums;
    const a = e.activationSums;
    for (let row = 0; row < nRows; row++) {
      const o = row * nCols;
      if (a) {
        for (let j = 0; j < nCols; j++) {
          const v = x[o + j]!;
          a[j] = a[j]! + v;
          s[j] = s[j]! + Math.fround(v * v); // float: values[j] += x[j]*x[j]
        }
      } else {
        for (let j = 0; j < nCols; j++) {
          const v = x[o + j]!;
          s[j] = s[j]! + Math.fround(v * v);
        }
      }
    }
    this.check(name, e, 0, nCols);
    for (let i = 0; i < e.counts.length; i++) {
      e.counts[i] = e.counts[i]! + nRows;
      this.updateChunk(e.counts[i]!);
    }
  }

  /**
   * Adds the input of an expert matmul (`GGML_OP_MUL_MAT_ID`).
   * @param x activations `[nCols, xRowsPerToken, nTokens]` (`xRowsPerToken` is 1 when all selected experts share one
   *   input row, else `nExpertUsed`)
   * @param ids selected experts `[nExpertUsed, nTokens]` (token-major: `ids[t * nExpertUsed + k]`)
   */
  addMatmulIdInput(name: string, x: Float32Array, ids: Int32Array, nExpertUsed: number, xRowsPerToken: number, nTokens: number, nCols: number, nExperts: number): void {
    const e = this.entry(name, nCols, nExperts, true);
    const s = e.sums;
    const a = e.activationSums;
    // loop over all possible experts, regardless if they are used or not in the batch
    for (let ex = 0; ex < nExperts; ex++) {
      const eStart = ex * nCols;
      for (let idx = 0; idx < nExpertUsed; idx++) {
        for (let row = 0; row < nTokens; row++) {
          const excur = ids[row * nExpertUsed + idx]!;
          if (excur < 0 || excur >= nExperts) throw new ImatrixError("IMATRIX_BAD_ARGUMENT", `expert id ${excur} out of range for ${name}`, { tensor: name });
          if (excur !== ex) continue;
          const o = (row * xRowsPerToken + (idx % xRowsPerToken)) * nCols;
          e.counts[ex] = e.counts[ex]! + 1;
          for (let j = 0; j < nCols; j++) {
            const v = x[o + j]!;
            if (a) a[eStart + j] = a[eStart + j]! + v;
            s[eStart + j] = s[eStart + j]! + Math.fround(v * v);
          }
        }
      }
      this.check(name, e, eStart, nCols);
      this.updateChunk(e.counts[ex]!);
    }
  }

  /** Records a dataset name. */
  addDataset(name: string): void {
    this.datasets.push(name);
  }

  /** The collected data (a snapshot; the collector keeps accumulating). */
  snapshot(): Imatrix {
    const im = createImatrix(this.chunkSize, this.datasets);
    for (const [name, e] of this.stats) {
      const t: ImatrixTensor = { nPerRow: e.nPerRow, nMat: e.nMat, sums: e.sums.slice(), ...(e.activationSums ? { activationSums: e.activationSums.slice() } : {}), counts: e.counts.slice() };
      im.entries.set(name, t);
    }
    im.chunkCount = this.lastChunk;
    return im;
  }
}
