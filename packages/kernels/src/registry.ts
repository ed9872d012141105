/**
 * The kernel registry: probes backends once, picks one (`auto` = the highest-priority backend whose probe passes), and
 * hands out an object implementing every op that dispatches each call to the best kernel for (op, scheme), falling
 * back to the available lower-priority backends (in priority order) when the chosen one has no kernel for it.
 */
import { KernelError } from "./errors.js";
import type { Backend, BackendChoice, BackendName, KernelDef, MaybePromise, OpName, OpSignatures, QuantMatrix } from "./types.js";

/** Default priority, highest first (`auto` takes the first whose probe passes). */
export const BACKEND_PRIORITY: readonly BackendName[] = Object.freeze(["gpu", "cpu", "cpu-ref"]);

/** What ran an (op, scheme) pair, and how often (counted since `resolve`). */
export interface KernelUsage {
  readonly op: OpName;
  /** The weight's scheme for matmul/dequantize, `"*"` for the other ops. */
  readonly scheme: string;
  readonly backend: BackendName;
  /** Whether this is a fallback away from the chosen backend. */
  readonly fallback: boolean;
  readonly calls: number;
}

/** Every op of the contract, dispatched; plus what was chosen and what ran. */
export interface ResolvedKernels extends OpSignatures {
  /** The chosen backend. */
  readonly backend: BackendName;
  /** Backends in the order they are tried for an (op, scheme): the chosen one, then the available lower-priority ones. */
  readonly order: readonly BackendName[];
  /** The backend that would run `op` on a weight of `scheme` (`"*"` for weight-less ops); throws `KERNEL_NOT_FOUND`. */
  backendFor(op: OpName, scheme?: string): BackendName;
  /** Whether some available backend can run `op` on `scheme`. */
  supports(op: OpName, scheme?: string): boolean;
  /** Which backend ran what so far. */
  usage(): KernelUsage[];
  /** A one-line-per-entry human summary of {@link usage}. */
  describe(): string;
}

export interface KernelRegistry {
  /** The backends, in priority order. */
  readonly backends: readonly Backend[];
  /** Probe result of one backend (cached; a throwing probe counts as false). */
  probe(name: BackendName): Promise<boolean>;
  /** Names of the backends whose probe passes, in priority order. */
  available(): Promise<BackendName[]>;
  /** The dispatching op set for a backend choice; throws `BACKEND_UNAVAILABLE` / `BACKEND_UNKNOWN`. */
  resolve(choice?: BackendChoice): Promise<ResolvedKernels>;
  /** Disposes every backend that has `dispose`. */
  dispose(): Promise<void>;
}

const WEIGHT_OPS: ReadonlySet<OpName> = new Set<OpName>(["matmul", "dequantize"]);
const ALL_OPS: readonly OpName[] = ["dequantize", "matmul", "rmsnorm", "rope", "softmax", "swiglu", "attention"];

function rank(name: BackendName): number {
  const i = BACKEND_PRIORITY.indexOf(name);
  return i < 0 ? BACKEND_PRIORITY.length : i;
}

/** The best kernel of one backend for (op, scheme): an explicit scheme list beats `"*"`, then higher priority. */
function bestKernel(backend: Backend, op: OpName, scheme: string): KernelDef | undefined {
  let best: KernelDef | undefined;
  let bestScore = -Infinity;
  for (const k of backend.kernels) {
    if (k.op !== op) continue;
    const explicit = k.schemes !== "*" && k.schemes.includes(scheme);
    if (!explicit && k.schemes !== "*") continue;
    const score = (k.priority ?? 0) * 2 + (explicit ? 1 : 0);
    if (score > bestScore) {
      best = k;
      bestScore = score;
    }
  }
  return best;
}

interface Entry {
  readonly run: (...args: never[]) => MaybePromise<void>;
  readonly usage: { op: OpName; scheme: string; backend: BackendName; fallback: boolean; calls: number };
}

/** Builds a registry over these backends (sorted by priority gpu > cpu > cpu-ref; the list order breaks ties). */
export function createKernelRegistry(backends: readonly Backend[]): KernelRegistry {
  const sorted = [...backends].map((b, i) => ({ b, i })).sort((p, q) => rank(p.b.name) - rank(q.b.name) || p.i - q.i).map((p) => p.b);
  const probes = new Map<Backend, Promise<boolean>>();

  const probeBackend = (b: Backend): Promise<boolean> => {
    let p = probes.get(b);
    if (!p) {
      p = (async () => {
        try {
          return (await b.probe()) === true;
        } catch {
          return false;
        }
      })();
      probes.set(b, p);
    }
    return p;
  };

  const availableBackends = async (): Promise<Backend[]> => {
    const ok = await Promise.all(sorted.map(probeBackend));
    return sorted.filter((_, i) => ok[i]);
  };

  return {
    backends: sorted,
    async probe(name) {
      const b = sorted.find((x) => x.name === name);
      return b ? probeBackend(b) : false;
    },
    async available() {
      return (await availableBackends()).map((b) => b.name);
    },
    async resolve(choice: BackendChoice = "auto") {
      // Probes only what can be used: for `auto`, backends in priority order until one passes; for a named backend,
      // that one. Fallbacks are the lower-priority backends whose probe passes (a GPU is never started for cpu-ref).
      let start: number;
      if (choice === "auto") {
        start = -1;
        for (let i = 0; i < sorted.length; i++) {
          if ((await probeBackend(sorted[i]!)) && (sorted[i]!.autoEligible?.() ?? true)) {
            start = i;
            break;
          }
        }
        if (start < 0) throw new KernelError("BACKEND_UNAVAILABLE", `no backend is usable here (tried ${sorted.map((b) => b.name).join(", ") || "none"})`);
      } else {
        start = sorted.findIndex((b) => b.name === choice);
        if (start < 0) {
          throw new KernelError("BACKEND_UNKNOWN", `no backend named '${choice}' is registered (have ${sorted.map((b) => b.name).join(", ")})`, { backend: choice });
        }
        if (!(await probeBackend(sorted[start]!))) {
          throw new KernelError("BACKEND_UNAVAILABLE", `backend '${choice}' is not available here (its probe failed)`, { backend: choice });
        }
      }
      const chosen = sorted[start]!;
      const order = [chosen];
      for (const b of sorted.slice(start + 1)) if (b !== chosen && (await probeBackend(b))) order.push(b);
      return createResolved(chosen, order);
    },
    async dispose() {
      for (const b of sorted) await b.dispose?.();
    },
  };
}

function createResolved(chosen: Backend, order: readonly Backend[]): ResolvedKernels {
  const tables = new Map<OpName, Map<string, Entry>>();
  for (const op of ALL_OPS) tables.set(op, new Map());

  const lookup = (op: OpName, scheme: string): Entry | undefined => {
    const table = tables.get(op)!;
    let e = table.get(scheme);
    if (e) return e;
    for (const b of order) {
      const k = bestKernel(b, op, scheme);
      if (k) {
        e = { run: k.run as Entry["run"], usage: { op, scheme, backend: b.name, fallback: b !== chosen, calls: 0 } };
        table.set(scheme, e);
        return e;
      }
    }
    return undefined;
  };

  const entry = (op: OpName, scheme: string, w?: QuantMatrix): Entry => {
    const e = lookup(op, scheme);
    if (!e) {
      throw new KernelError(
        "KERNEL_NOT_FOUND",
        `no available backend (${order.map((b) => b.name).join(", ")}) has a '${op}' kernel` + (WEIGHT_OPS.has(op) ? ` for scheme '${scheme}'` : ""),
        { tensor: w?.name, op, scheme },
      );
    }
    return e;
  };

  // Per-op fast paths: one Map lookup per weight op, none for the others after the first call.
  const dq = tables.get("dequantize")!;
  const mm = tables.get("matmul")!;
  let rms: Entry | undefined;
  let rope: Entry | undefined;
  let sm: Entry | undefined;
  let sw: Entry | undefined;
  let att: Entry | undefined;

  return {
    backend: chosen.name,
    order: order.map((b) => b.name),
    backendFor(op, scheme = "*") {
      return entry(op, scheme).usage.backend;
    },
    supports(op, scheme = "*") {
      return lookup(op, scheme) !== undefined;
    },
    usage() {
      const out: KernelUsage[] = [];
      for (const t of tables.values()) for (const e of t.values()) out.push({ ...e.usage });
      return out;
    },
    describe() {
      return this.usage()
        .map((u) => `${u.op}${u.scheme === "*" ? "" : `[${u.scheme}]`} -> ${u.backend}${u.fallback ? " (fallback)" : ""}: ${u.calls} calls`)
        .join("\n");
    },
    dequantize(w, rowStart, nRows, out) {
      const e = dq.get(w.scheme) ?? entry("dequantize", w.scheme, w);
      e.usage.calls++;
      return (e.run as OpSignatures["dequantize"])(w, rowStart, nRows, out);
    },
    matmul(x, nTokens, w, out) {
      const e = mm.get(w.scheme) ?? entry("matmul", w.scheme, w);
      e.usage.calls++;
      return (e.run as OpSignatures["matmul"])(x, nTokens, w, out);
    },
    rmsnorm(x, nTokens, dim, weight, eps, out) {
      const e = (rms ??= entry("rmsnorm", "*"));
      e.usage.calls++;
      return (e.run as OpSignatures["rmsnorm"])(x, nTokens, dim, weight, eps, out);
    },
    rope(x, nTokens, nHeads, headDim, positions, opts) {
      const e = (rope ??= entry("rope", "*"));
      e.usage.calls++;
      return (e.run as OpSignatures["rope"])(x, nTokens, nHeads, headDim, positions, opts);
    },
    softmax(x, rows, cols) {
      const e = (sm ??= entry("softmax", "*"));
      e.usage.calls++;
      return (e.run as OpSignatures["softmax"])(x, rows, cols);
    },
    swiglu(gate, up, n, out) {
      const e = (sw ??= entry("swiglu", "*"));
      e.usage.calls++;
      return (e.run as OpSignatures["swiglu"])(gate, up, n, out);
    },
    attention(q, nTokens, positions, kCache, vCache, nHead, nKvHead, headDim, scale, out) {
      const e = (att ??= entry("attention", "*"));
      e.usage.calls++;
      return (e.run as OpSignatures["attention"])(q, nTokens, positions, kCache, vCache, nHead, nKvHead, headDim, scale, out);
    },
  };
}
