/**
 * The multiple-choice knapsack behind {@link planBudget}: one option (a quantization type, with its byte size and
 * measured error) per item (a tensor), minimising the total error with the total size within a budget.
 *
 * Two solvers:
 * - `lagrangian`: for a price λ on bytes each item independently takes the option minimising `error + λ·bytes`,
 *   which is always a vertex of the lower convex hull of its (bytes, error) points. The total size falls as λ
 *   rises, so a bisection over λ (over the hull's slopes, the only values where a choice changes) finds the
 *   smallest λ whose solution fits. A greedy fix-up then spends what is left: repeatedly the single upgrade that fits
 *   with the best error saved per byte. Fast for any size; near-optimal, not exact.
 * - `exact`: dynamic programming over the extra bytes above the all-smallest choice, in steps of the greatest common
 *   divisor of the size differences (tensor sizes are products of row counts and block sizes, so this step is large
 *   and the table small). Optimal, hence the total error never rises when the budget grows. Used when the table is
 *   small enough (`auto`, the default), else the Lagrangian solution is returned.
 *
 * Both also give the Lagrangian dual bound `Σ_i min_k (e_ik + λ·b_ik) − λ·B`, a lower bound on the optimum.
 */
import { BudgetError } from "./errors.js";

/** One choice for one item. */
export interface KnapsackOption {
  readonly bytes: number;
  readonly error: number;
}

export type BudgetSolver = "auto" | "exact" | "lagrangian";

export interface KnapsackSolution {
  /** Index into each item's options. */
  readonly choice: readonly number[];
  readonly totalBytes: number;
  readonly totalError: number;
  readonly solver: "exact" | "lagrangian";
  /** The price per byte at the Lagrangian solution (before the fix-up). */
  readonly lambda: number;
  /** Lagrangian dual bound: no choice within the budget has a smaller total error. */
  readonly lowerBound: number;
}

/** Largest `cells × items` for which `auto` runs the exact table (≈ 1 byte of memory per cell and item). */
export const EXACT_SOLVER_MAX_CELLS = 3e7;

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** Indices of the lower convex hull of the options, by bytes ascending (error strictly descending). */
function lowerHull(options: readonly KnapsackOption[]): number[] {
  const idx = options.map((_, i) => i).sort((a, b) => options[a].bytes - options[b].bytes || options[a].error - options[b].error);
  // Pareto front: strictly less error for strictly more bytes
  const front: number[] = [];
  for (const i of idx) {
    const o = options[i];
    if (front.length > 0) {
      const last = options[front[front.length - 1]];
      if (o.bytes === last.bytes || o.error >= last.error) continue;
    }
    front.push(i);
  }
  const hull: number[] = [];
  for (const i of front) {
    while (hull.length >= 2) {
      const a = options[hull[hull.length - 2]];
      const b = options[hull[hull.length - 1]];
      const c = options[i];
      // b lies on or above the segment a–c: drop it (slope a→b no steeper than b→c)
      const s1 = (a.error - b.error) / (b.bytes - a.bytes);
      const s2 = (b.error - c.error) / (c.bytes - b.bytes);
      if (s1 <= s2) hull.pop();
      else break;
    }
    hull.push(i);
  }
  return hull;
}

function totals(items: readonly (readonly KnapsackOption[])[], choice: readonly number[]): [bytes: number, error: number] {
  let bytes = 0;
  let error = 0;
  for (let i = 0; i < items.length; i++) {
    bytes += items[i][choice[i]].bytes;
    error += items[i][choice[i]].error;
  }
  return [bytes, error];
}

/**
 * Solves the multiple-choice knapsack. Every item needs at least one option. Throws `BUDGET_INFEASIBLE` when the
 * smallest option of every item together exceed `budget`.
 */
export function solveKnapsack(items: readonly (readonly KnapsackOption[])[], budget: number, solver: BudgetSolver = "auto"): KnapsackSolution {
  const n = items.length;
  const minChoice: number[] = [];
  let minBytes = 0;
  for (let i = 0; i < n; i++) {
    const opts = items[i];
    if (opts.length === 0) throw new BudgetError("BUDGET_BAD_OPTIONS", `item ${i} has no option`);
    let best = 0;
    for (let k = 1; k < opts.length; k++) {
      if (opts[k].bytes < opts[best].bytes || (opts[k].bytes === opts[best].bytes && opts[k].error < opts[best].error)) best = k;
    }
    minChoice.push(best);
    minBytes += opts[best].bytes;
  }
  if (!(minBytes <= budget)) {
    throw new BudgetError("BUDGET_INFEASIBLE", `the budget of ${budget} bytes is below the smallest reachable size, ${minBytes} bytes`, {
      minBytes,
      budgetBytes: budget,
    });
  }

  // ---- Lagrangian relaxation ----
  const hulls = items.map(lowerHull);
  /** The hull choice of every item at price λ (ties go to fewer bytes) and its total bytes. */
  const atLambda = (lambda: number): [number[], number] => {
    const ch: number[] = new Array(n);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const opts = items[i];
      const h = hulls[i];
      let best = h[0];
      let bestCost = opts[best].error + lambda * opts[best].bytes;
      for (let k = 1; k < h.length; k++) {
        const c = opts[h[k]].error + lambda * opts[h[k]].bytes;
        if (c < bestCost) {
          best = h[k];
          bestCost = c;
        }
      }
      ch[i] = best;
      bytes += opts[best].bytes;
    }
    return [ch, bytes];
  };
  // the λ where some choice changes: the hull's segment slopes
  const slopeSet = new Set<number>([0]);
  for (let i = 0; i < n; i++) {
    const h = hulls[i];
    for (let k = 0; k + 1 < h.length; k++) {
      const a = items[i][h[k]];
      const b = items[i][h[k + 1]];
      slopeSet.add((a.error - b.error) / (b.bytes - a.bytes));
    }
  }
  const slopes = [...slopeSet].sort((a, b) => a - b);
  // bisection: the smallest λ among the slopes whose solution fits (the largest slope always fits: every item is at
  // the hull's first vertex, its smallest option, since ties go to fewer bytes)
  let lo = 0;
  let hi = slopes.length - 1;
  if (atLambda(slopes[0])[1] <= budget) hi = 0;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (atLambda(slopes[mid])[1] <= budget) hi = mid;
    else lo = mid;
  }
  const lambda = slopes[hi];
  let [choice, bytes] = atLambda(lambda);
  if (bytes > budget) [choice, bytes] = [minChoice.slice(), minBytes];
  let lowerBound = -lambda * budget;
  for (let i = 0; i < n; i++) {
    let m = Infinity;
    for (const o of items[i]) m = Math.min(m, o.error + lambda * o.bytes);
    lowerBound += m;
  }

  // greedy fix-up: spend the leftover bytes on the upgrade with the best error saved per byte, while one fits
  for (;;) {
    const left = budget - bytes;
    let bi = -1;
    let bk = -1;
    let bestRate = 0;
    for (let i = 0; i < n; i++) {
      const cur = items[i][choice[i]];
      const opts = items[i];
      for (let k = 0; k < opts.length; k++) {
        const o = opts[k];
        const dErr = cur.error - o.error;
        if (dErr <= 0) continue;
        const dBytes = o.bytes - cur.bytes;
        if (dBytes > left) continue;
        const rate = dBytes <= 0 ? Infinity : dErr / dBytes;
        if (rate > bestRate || (rate === bestRate && bi >= 0 && dErr > items[bi][choice[bi]].error - items[bi][bk].error)) {
          bestRate = rate;
          bi = i;
          bk = k;
        }
      }
    }
    if (bi < 0) break;
    bytes += items[bi][bk].bytes - items[bi][choice[bi]].bytes;
    choice[bi] = bk;
  }
  const [lagBytes, lagError] = totals(items, choice);
  const lagrangian: KnapsackSolution = { choice, totalBytes: lagBytes, totalError: lagError, solver: "lagrangian", lambda, lowerBound };
  if (solver === "lagrangian") return lagrangian;

  // ---- exact dynamic programming ----
  let step = 0;
  let maxExtra = 0;
  for (let i = 0; i < n; i++) {
    const base = items[i][minChoice[i]].bytes;
    let itemMax = 0;
    for (const o of items[i]) {
      const d = o.bytes - base;
      if (d > 0) step = gcd(d, step);
      itemMax = Math.max(itemMax, d);
    }
    maxExtra += itemMax;
  }
  const integral = items.every((opts) => opts.every((o) => Number.isSafeInteger(o.bytes)));
  if (step === 0 || !integral) return lagrangian; // nothing to choose, or sizes that are not whole bytes
  const cap = Math.floor(Math.min(budget - minBytes, maxExtra) / step);
  const cells = cap + 1;
  const choosers = items.filter((o) => o.length > 1).length;
  if (solver === "auto" && cells * Math.max(1, choosers) > EXACT_SOLVER_MAX_CELLS) return lagrangian;
  if (items.some((o) => o.length > 255)) return lagrangian;

  let prev = new Float64Array(cells); // min error of the items so far with extra ≤ j·step bytes
  let next = new Float64Array(cells);
  const picks: (Uint8Array | undefined)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const opts = items[i];
    const base = opts[minChoice[i]].bytes;
    if (opts.length === 1) {
      const e = opts[0].error;
      for (let j = 0; j < cells; j++) prev[j] += e;
      continue;
    }
    const pick = new Uint8Array(cells);
    const d = opts.map((o) => (o.bytes - base) / step);
    next.fill(Infinity);
    for (let k = 0; k < opts.length; k++) {
      const dk = d[k];
      const e = opts[k].error;
      for (let j = dk; j < cells; j++) {
        const v = prev[j - dk] + e;
        if (v < next[j]) {
          next[j] = v;
          pick[j] = k;
        }
      }
    }
    picks[i] = pick;
    [prev, next] = [next, prev];
  }
  const exactChoice: number[] = new Array(n);
  let j = cap;
  for (let i = n - 1; i >= 0; i--) {
    const pick = picks[i];
    if (!pick) {
      exactChoice[i] = 0;
      continue;
    }
    const k = pick[j];
    exactChoice[i] = k;
    j -= (items[i][k].bytes - items[i][minChoice[i]].bytes) / step;
  }
  const [exBytes, exError] = totals(items, exactChoice);
  // the table's optimum is at least as good as the Lagrangian one up to rounding in the sums; keep the better
  if (lagError < exError) return { ...lagrangian, solver: "exact" };
  return { choice: exactChoice, totalBytes: exBytes, totalError: exError, solver: "exact", lambda, lowerBound };
}
