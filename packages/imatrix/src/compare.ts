/** Comparing two imatrices value by value (what quantization sees: sums / count per matrix). */
import { imatrixImportance, sortedNames, type Imatrix } from "./imatrix.js";

export interface ImatrixEntryDiff {
  readonly name: string;
  readonly values: number;
  /** max over columns of |ours − ref| / |ref| (columns where ref is 0 count only if ours is not). */
  readonly maxRelError: number;
  readonly meanRelError: number;
  /** Cosine similarity of the two importance vectors. */
  readonly cosine: number;
  /** mean(ours) / mean(ref). */
  readonly meanRatio: number;
}

export interface ImatrixDiff {
  /** In the reference, not in ours. */
  readonly missing: string[];
  /** In ours, not in the reference. */
  readonly extra: string[];
  /** Names in both whose sizes differ. */
  readonly sizeMismatch: string[];
  readonly entries: ImatrixEntryDiff[];
  readonly maxRelError: number;
  readonly meanRelError: number;
}

/** Compares the importances (`sums / count`) of `ours` against `reference`, entry by entry. */
export function compareImatrix(ours: Pick<Imatrix, "entries">, reference: Pick<Imatrix, "entries">): ImatrixDiff {
  const missing: string[] = [];
  const sizeMismatch: string[] = [];
  const entries: ImatrixEntryDiff[] = [];
  let maxAll = 0;
  let sumAll = 0;
  let nAll = 0;
  for (const name of sortedNames(reference)) {
    const r = reference.entries.get(name)!;
    const o = ours.entries.get(name);
    if (!o) {
      missing.push(name);
      continue;
    }
    if (o.sums.length !== r.sums.length) {
      sizeMismatch.push(name);
      continue;
    }
    const a = imatrixImportance(o);
    const b = imatrixImportance(r);
    let max = 0;
    let sum = 0;
    let dot = 0;
    let na = 0;
    let nb = 0;
    let sa = 0;
    let sb = 0;
    for (let j = 0; j < a.length; j++) {
      const x = a[j]!;
      const y = b[j]!;
      const rel = y === 0 ? (x === 0 ? 0 : Infinity) : Math.abs(x - y) / Math.abs(y);
      if (rel > max) max = rel;
      sum += rel;
      dot += x * y;
      na += x * x;
      nb += y * y;
      sa += x;
      sb += y;
    }
    const mean = sum / a.length;
    entries.push({ name, values: a.length, maxRelError: max, meanRelError: mean, cosine: na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : na === nb ? 1 : 0, meanRatio: sb === 0 ? (sa === 0 ? 1 : Infinity) : sa / sb });
    if (max > maxAll) maxAll = max;
    sumAll += sum;
    nAll += a.length;
  }
  const extra = [...ours.entries.keys()].filter((n) => !reference.entries.has(n)).sort();
  return { missing, extra, sizeMismatch, entries, maxRelError: maxAll, meanRelError: nAll > 0 ? sumAll / nAll : 0 };
}
