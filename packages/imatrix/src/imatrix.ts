/**
 * The in-memory importance matrix, in the shape of llama.cpp's current collector state (`struct Stats` in
 * tools/imatrix/imatrix.cpp): per weight tensor the float sums of x² per input column and matrix, optionally the
 * float sums of x, and one token count per matrix (one matrix for a dense weight, one per expert for a MoE
 * `*_exps` weight).
 *
 * Layout of `sums` (and `activationSums`): `nMat` consecutive rows of `nPerRow` floats, matrix (expert) `m` at
 * `[m * nPerRow, (m + 1) * nPerRow)`: the GGUF tensor `<name>.in_sum2` of shape `[nPerRow, nMat]`.
 */
import { ImatrixError } from "./errors.js";

export interface ImatrixTensor {
  /** Input columns of one matrix (`ne0` of the weight). */
  readonly nPerRow: number;
  /** Matrices: 1 for a dense weight, the expert count for `*_exps` (MUL_MAT_ID) weights. */
  readonly nMat: number;
  /** Σ x² per column and matrix (`Stats::values`, float as in the C), length `nPerRow * nMat`. */
  readonly sums: Float32Array;
  /** Σ x per column and matrix (`Stats::activations`, GGUF `<name>.in_sum`), when known. */
  readonly activationSums?: Float32Array | undefined;
  /** Tokens seen per matrix (`Stats::counts`, int64 in the C; integers held exactly in a Float64Array). */
  readonly counts: Float64Array;
}

export interface Imatrix {
  /** Weight name (`blk.0.attn_q.weight`) → statistics. Iteration order is insertion order; writers sort names. */
  readonly entries: Map<string, ImatrixTensor>;
  /** Calibration dataset names, oldest first (`imatrix.datasets`; the `.dat` trailer holds one). */
  readonly datasets: string[];
  /** Chunks processed (`imatrix.chunk_count`, llama.cpp's `m_last_chunk`). */
  chunkCount: number;
  /** Tokens per chunk (`imatrix.chunk_size` = n_ctx / n_parallel). */
  chunkSize: number;
}

/** An empty imatrix. */
export function createImatrix(chunkSize: number, datasets: string[] = []): Imatrix {
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new ImatrixError("IMATRIX_BAD_ARGUMENT", `chunk size must be a positive integer, got ${chunkSize}`);
  return { entries: new Map(), datasets: [...datasets], chunkCount: 0, chunkSize };
}

/** A zeroed tensor entry. */
export function createImatrixTensor(nPerRow: number, nMat = 1, withActivations = false): ImatrixTensor {
  const n = nPerRow * nMat;
  return {
    nPerRow,
    nMat,
    sums: new Float32Array(n),
    ...(withActivations ? { activationSums: new Float32Array(n) } : {}),
    counts: new Float64Array(nMat),
  };
}

/** A deep copy. */
export function cloneImatrix(im: Imatrix): Imatrix {
  const entries = new Map<string, ImatrixTensor>();
  for (const [name, e] of im.entries) {
    entries.set(name, {
      nPerRow: e.nPerRow,
      nMat: e.nMat,
      sums: e.sums.slice(),
      ...(e.activationSums ? { activationSums: e.activationSums.slice() } : {}),
      counts: e.counts.slice(),
    });
  }
  return { entries, datasets: [...im.datasets], chunkCount: im.chunkCount, chunkSize: im.chunkSize };
}

/**
 * `m_last_chunk` as llama.cpp recomputes it after loading files: the largest count of any matrix divided
 * (integer division) by the chunk size. @see IMatrixCollector::load_imatrix (tools/imatrix/imatrix.cpp)
 */
export function chunkCountFromCounts(im: Pick<Imatrix, "entries" | "chunkSize">): number {
  let max = 0;
  for (const e of im.entries.values()) for (let i = 0; i < e.counts.length; i++) if (e.counts[i]! > max) max = e.counts[i]!;
  return Math.floor(max / im.chunkSize);
}

/**
 * What quantization uses for one tensor: `sums / count` per matrix in float, as llama-quantize's `load_imatrix`
 * computes it for a GGUF imatrix; a matrix with count 0 gets 1 (no information).
 */
export function imatrixImportance(e: ImatrixTensor): Float32Array {
  const out = new Float32Array(e.sums.length);
  for (let m = 0; m < e.nMat; m++) {
    const c = e.counts[m]!;
    const off = m * e.nPerRow;
    for (let j = 0; j < e.nPerRow; j++) out[off + j] = c > 0 ? e.sums[off + j]! / c : 1;
  }
  return out;
}

/** Names in llama.cpp's deterministic write order (`std::sort` of std::string: byte order). */
export function sortedNames(im: { readonly entries: ReadonlyMap<string, unknown> }): string[] {
  const enc = new TextEncoder();
  const names = [...im.entries.keys()];
  const keys = new Map(names.map((n) => [n, enc.encode(n)]));
  return names.sort((a, b) => {
    const x = keys.get(a)!;
    const y = keys.get(b)!;
    const n = Math.min(x.length, y.length);
    for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return x.length - y.length;
  });
}
