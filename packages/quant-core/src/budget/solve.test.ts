import { Lcg64 } from "@quantlab/testing/fixtures";
import { describe, expect, it } from "vitest";
import { BudgetError } from "./errors.js";
import { solveKnapsack, type KnapsackOption } from "./solve.js";

/** Random instance: items with 1-5 options, sizes in multiples of `unit`, errors falling with size (mostly). */
function instance(seed: number, nItems: number, unit = 16): KnapsackOption[][] {
  const g = new Lcg64(seed);
  const items: KnapsackOption[][] = [];
  for (let i = 0; i < nItems; i++) {
    const k = 1 + Math.floor(g.u01() * 5);
    const opts: KnapsackOption[] = [];
    for (let j = 0; j < k; j++) {
      const bytes = unit * (1 + Math.floor(g.u01() * 20));
      opts.push({ bytes, error: (1000 / bytes) * (0.5 + g.u01()) });
    }
    items.push(opts);
  }
  return items;
}

function bruteForce(items: readonly (readonly KnapsackOption[])[], budget: number): number {
  let best = Infinity;
  const rec = (i: number, bytes: number, err: number): void => {
    if (bytes > budget) return;
    if (i === items.length) {
      best = Math.min(best, err);
      return;
    }
    for (const o of items[i]) rec(i + 1, bytes + o.bytes, err + o.error);
  };
  rec(0, 0, 0);
  return best;
}

function check(items: readonly (readonly KnapsackOption[])[], choice: readonly number[]): [number, number] {
  let b = 0;
  let e = 0;
  items.forEach((opts, i) => {
    b += opts[choice[i]].bytes;
    e += opts[choice[i]].error;
  });
  return [b, e];
}

describe("solveKnapsack", () => {
  it("exact solver matches brute force; lagrangian respects the budget and stays above the dual bound", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const items = instance(seed, 6);
      const minB = items.reduce((s, o) => s + Math.min(...o.map((x) => x.bytes)), 0);
      const maxB = items.reduce((s, o) => s + Math.max(...o.map((x) => x.bytes)), 0);
      for (const f of [0, 0.2, 0.5, 0.8, 1]) {
        const budget = Math.round(minB + f * (maxB - minB));
        const opt = bruteForce(items, budget);
        const ex = solveKnapsack(items, budget, "exact");
        const [b, e] = check(items, ex.choice);
        expect(b).toBe(ex.totalBytes);
        expect(b).toBeLessThanOrEqual(budget);
        expect(e).toBeCloseTo(opt, 9);
        const lg = solveKnapsack(items, budget, "lagrangian");
        const [lb, le] = check(items, lg.choice);
        expect(lb).toBeLessThanOrEqual(budget);
        expect(le).toBeGreaterThanOrEqual(opt - 1e-9);
        expect(lg.lowerBound).toBeLessThanOrEqual(opt + 1e-9);
        expect(ex.lowerBound).toBeLessThanOrEqual(opt + 1e-9);
      }
    }
  });

  it("more budget never gives more error (exact)", () => {
    const items = instance(99, 30);
    const minB = items.reduce((s, o) => s + Math.min(...o.map((x) => x.bytes)), 0);
    const maxB = items.reduce((s, o) => s + Math.max(...o.map((x) => x.bytes)), 0);
    let last = Infinity;
    for (let budget = minB; budget <= maxB + 64; budget += 8) {
      const s = solveKnapsack(items, budget);
      expect(s.solver).toBe("exact");
      expect(s.totalBytes).toBeLessThanOrEqual(budget);
      expect(s.totalError).toBeLessThanOrEqual(last * (1 + 1e-12));
      last = s.totalError;
    }
  });

  it("throws BUDGET_INFEASIBLE below the smallest total, with the numbers", () => {
    const items = [[{ bytes: 10, error: 1 }, { bytes: 20, error: 0.5 }], [{ bytes: 5, error: 2 }]];
    expect(solveKnapsack(items, 15).choice).toEqual([0, 0]);
    try {
      solveKnapsack(items, 14);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(BudgetError);
      expect((e as BudgetError).code).toBe("BUDGET_INFEASIBLE");
      expect((e as BudgetError).minBytes).toBe(15);
      expect((e as BudgetError).budgetBytes).toBe(14);
    }
  });

  it("ignores dominated options and handles equal sizes", () => {
    const items = [
      [
        { bytes: 10, error: 5 },
        { bytes: 10, error: 4 },
        { bytes: 20, error: 6 }, // dominated
        { bytes: 30, error: 1 },
      ],
    ];
    expect(solveKnapsack(items, 25, "lagrangian").choice).toEqual([1]);
    expect(solveKnapsack(items, 25, "exact").choice).toEqual([1]);
    expect(solveKnapsack(items, 30).choice).toEqual([3]);
  });
});
