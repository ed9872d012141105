/**
 * The `gpu` backend: WebGPU through the `webgpu` package (Dawn for Node; on a machine without a GPU, a software Vulkan
 * driver such as Mesa lavapipe: `.ci/setup-gpu.sh`).
 *
 * - matmul and dequantize: raw WGSL, the weight dequantized on the fly inside the shader (wgsl-dequant.ts) from the GGUF
 *   block bytes, uploaded once per QuantMatrix (cached in a WeakMap) and split by rows into buffers of ≤ 128 MiB.
 *   matmul uses a 32 × 32 workgroup-tiled shader for ≥ 5 tokens, a one-workgroup-per-row matvec for 1–4 tokens.
 * - swiglu and rmsnorm: gpu.js kernels in gpu.js's webgpu mode (gpujs-ops.ts) when gpu.js loads, else raw WGSL.
 * - softmax, rope, attention: raw WGSL (they need workgroup reductions, which gpu.js cannot express).
 *
 * Every op returns a Promise; work is split into dispatches of bounded size (software drivers abort on very long
 * dispatches) and the result is read back into the caller's buffer. Precision: f32 throughout.
 */
import { QuantlabError } from "@quantlab/gguf";
import type { Backend, KernelDef, OpName, OpSignatures, QuantMatrix, RopeOptions } from "../types.js";
import { GRID_X, GpuContext, USAGE_COPY_SRC, USAGE_STORAGE, destroyAll, getNavigatorGpu } from "./device.js";
import { GPUJS_MAX_ELEMENTS, GpuJsOps } from "./gpujs-ops.js";
import { GPU_SCHEMES, WGSL_SCHEMES, type WgslScheme } from "./wgsl-dequant.js";
import {
  ATTENTION_SHADER,
  MM_TILE_ROWS,
  MM_TILE_TOKENS,
  MV_MAX_TOKENS,
  RMSNORM_SHADER,
  ROPE_SHADER,
  SOFTMAX_SHADER,
  SWIGLU_SHADER,
  dequantShader,
  matmulShader,
  matvecRowShader,
  matvecShader,
} from "./wgsl-kernels.js";

export { GPU_SCHEMES } from "./wgsl-dequant.js";

export interface GpuBackendOptions {
  /** Adapter power preference. */
  readonly powerPreference?: "low-power" | "high-performance";
  /** Run swiglu and rmsnorm as gpu.js kernels (webgpu mode) when gpu.js loads; false = raw WGSL for every op. Default true. */
  readonly useGpuJs?: boolean;
  /** Time limit of the adapter/device request in probe(), ms. Default 15000. */
  readonly probeTimeoutMs?: number;
  /** Largest storage buffer binding used, bytes (default: the device's limit, at most 128 MiB). Tests lower it to exercise splitting. */
  readonly maxBindingBytes?: number;
  /** Multiply-adds per matmul dispatch / elements per dequantize dispatch (default 2^26). Tests lower it to exercise splitting. */
  readonly workPerDispatch?: number;
  /**
   * matvec shape for 1–4 tokens: "row" = one invocation per weight row (fastest on CPU Vulkan drivers), "workgroup" =
   * one 64-thread workgroup per row with a reduction (the GPU shape). Default "auto": "row" on llvmpipe/lavapipe/SwiftShader.
   */
  readonly matvec?: "auto" | "row" | "workgroup";
}

/** What the backend found, for reports and skip messages. */
export interface GpuBackendStatus {
  /** undefined until probe() has run. */
  readonly available: boolean | undefined;
  /** Why the backend is unavailable ("" when available). */
  readonly reason: string;
  /** Adapter vendor/architecture/description. */
  readonly adapter: string;
  /** The adapter is a CPU implementation of Vulkan (lavapipe/llvmpipe, SwiftShader): slower than the cpu backend for decode. */
  readonly software: boolean;
  /** "gpu.js" when swiglu/rmsnorm run through gpu.js, else "wgsl" (see gpuJsReason). */
  readonly elementwise: "gpu.js" | "wgsl" | "pending";
  readonly gpuJsReason: string;
}

/** Counters, for tests and benchmarks. */
export interface GpuBackendStats {
  /** Weight matrices uploaded (once each) since creation. */
  readonly weightUploads: number;
  readonly weightBytes: number;
  /** Compute dispatches submitted by WGSL kernels. */
  readonly dispatches: number;
}

export interface GpuBackend extends Backend {
  status(): GpuBackendStatus;
  stats(): GpuBackendStats;
}

/** Multiply-adds per matmul dispatch (and elements per dequantize dispatch): keeps each dispatch well under a second on a CPU driver. */
const MACS_PER_DISPATCH = 1 << 26;

interface WeightChunk {
  readonly buffer: GPUBuffer;
  readonly rowStart: number;
  readonly nRows: number;
}

function fail(code: string, message: string, tensor?: string): never {
  throw new QuantlabError(code, message, tensor === undefined ? {} : { tensor });
}

export function createGpuBackend(opts: GpuBackendOptions = {}): GpuBackend {
  const useGpuJs = opts.useGpuJs ?? true;
  const timeoutMs = opts.probeTimeoutMs ?? 15000;
  const macs = opts.workPerDispatch ?? MACS_PER_DISPATCH;
  const binding = (ctx: GpuContext): number => Math.min(ctx.maxBinding, opts.maxBindingBytes ?? Infinity);
  let weightUploads = 0;
  let weightBytes = 0;
  let ctxPromise: Promise<{ ctx: GpuContext | null; reason: string }> | undefined;
  let ctxNow: GpuContext | null = null;
  let reason = "";
  let available: boolean | undefined;
  let gpuJsPromise: Promise<GpuJsOps | null> | undefined;
  let gpuJsOps: GpuJsOps | null = null;
  let gpuJsReason = useGpuJs ? "" : "disabled by option useGpuJs: false";
  let weights = new WeakMap<QuantMatrix, WeightChunk[]>();
  const finalizer = new FinalizationRegistry<WeightChunk[]>((chunks) => {
    if (ctxNow) for (const c of chunks) ctxNow.release(c.buffer);
  });

  function init(): Promise<{ ctx: GpuContext | null; reason: string }> {
    ctxPromise ??= GpuContext.create(opts.powerPreference, timeoutMs).then((r) => {
      ctxNow = r.ctx;
      reason = r.reason;
      available = r.ctx !== null;
      return r;
    });
    return ctxPromise;
  }

  async function need(): Promise<GpuContext> {
    const { ctx, reason: why } = await init();
    if (!ctx) fail("GPU_UNAVAILABLE", `gpu backend unavailable: ${why}`);
    if (ctx.isLost) fail("GPU_DEVICE_LOST", "the WebGPU device was lost");
    return ctx;
  }

  function gpuJs(): Promise<GpuJsOps | null> {
    if (!useGpuJs) return Promise.resolve(null);
    gpuJsPromise ??= (async () => {
      const gpu = await getNavigatorGpu();
      if (!gpu) {
        gpuJsReason = "webgpu module unavailable";
        return null;
      }
      const r = await GpuJsOps.create(gpu);
      gpuJsOps = r.ops;
      gpuJsReason = r.reason;
      return r.ops;
    })();
    return gpuJsPromise;
  }

  /** Whether matvec uses one invocation per row (CPU drivers) rather than a workgroup per row. */
  function rowMatvec(ctx: GpuContext): boolean {
    const m = opts.matvec ?? "auto";
    return m === "row" || (m === "auto" && ctx.isCpuAdapter);
  }

  function schemeOf(w: QuantMatrix): WgslScheme {
    const s = WGSL_SCHEMES[w.scheme];
    if (!s) fail("GPU_UNSUPPORTED_SCHEME", `gpu backend has no kernel for scheme ${w.scheme}`, w.name);
    if (w.cols % s.blockSize !== 0 || w.rowBytes !== (w.cols / s.blockSize) * s.typeSize || w.data.byteLength < w.rows * w.rowBytes) {
      fail("GPU_BAD_ARGS", `weight ${w.rows}x${w.cols} ${w.scheme}: rowBytes ${w.rowBytes} / data ${w.data.byteLength} bytes do not match`, w.name);
    }
    return s;
  }

  /** The weight's GPU buffers, uploaded on first use (rows split so that each buffer fits one storage binding). */
  function weightChunks(ctx: GpuContext, w: QuantMatrix): WeightChunk[] {
    let chunks = weights.get(w);
    if (chunks) return chunks;
    const rowsPer = Math.max(1, Math.floor(binding(ctx) / w.rowBytes));
    chunks = [];
    for (let r = 0; r < w.rows; r += rowsPer) {
      const n = Math.min(rowsPer, w.rows - r);
      const buffer = ctx.upload(w.data.subarray(r * w.rowBytes, (r + n) * w.rowBytes), USAGE_STORAGE, true);
      chunks.push({ buffer, rowStart: r, nRows: n });
    }
    weights.set(w, chunks);
    weightUploads++;
    weightBytes += w.rows * w.rowBytes;
    finalizer.register(w, chunks);
    return chunks;
  }

  function checkLen(buf: { length: number }, need: number, what: string): void {
    if (buf.length < need) fail("GPU_BAD_ARGS", `${what} holds ${buf.length} elements, needs ${need}`);
  }

  const dequantize: OpSignatures["dequantize"] = async (w, rowStart, nRows, out) => {
    const ctx = await need();
    const s = schemeOf(w);
    if (rowStart < 0 || nRows < 0 || rowStart + nRows > w.rows) fail("GPU_BAD_ARGS", `rows [${rowStart}, ${rowStart + nRows}) outside 0..${w.rows}`, w.name);
    checkLen(out, nRows * w.cols, "out");
    if (nRows === 0) return;
    const pipe = ctx.pipeline(`dq:${s.name}`, () => dequantShader(s));
    const groupRows = Math.max(1, Math.floor(Math.min(binding(ctx) / 4, macs) / w.cols));
    for (const chunk of weightChunks(ctx, w)) {
      const lo = Math.max(rowStart, chunk.rowStart);
      const hi = Math.min(rowStart + nRows, chunk.rowStart + chunk.nRows);
      for (let r = lo; r < hi; r += groupRows) {
        const g = Math.min(groupRows, hi - r);
        const o = ctx.storage(g * w.cols * 4);
        const u = ctx.uniform([g, w.cols, 0, w.rowBytes, r - chunk.rowStart, 0, 0, 0]);
        ctx.dispatch(pipe, ctx.bind(pipe, [u, chunk.buffer, o]), Math.ceil((g * w.cols) / 256));
        try {
          await ctx.read(o, out, (r - rowStart) * w.cols, g * w.cols);
        } finally {
          destroyAll([o, u]);
        }
      }
    }
  };

  const matmul: OpSignatures["matmul"] = async (x, nTokens, w, out) => {
    const ctx = await need();
    const s = schemeOf(w);
    const { rows, cols } = w;
    checkLen(x, nTokens * cols, "x");
    checkLen(out, nTokens * rows, "out");
    if (nTokens <= 0 || rows === 0) return;
    const chunks = weightChunks(ctx, w);
    const maxTok = Math.max(1, Math.floor(binding(ctx) / 4 / Math.max(rows, cols)));
    for (let t0 = 0; t0 < nTokens; t0 += maxTok) {
      const nt = Math.min(maxTok, nTokens - t0);
      const mv = nt <= MV_MAX_TOKENS;
      const rowMv = mv && rowMatvec(ctx);
      const pipe = !mv
        ? ctx.pipeline(`mm:${s.name}`, () => matmulShader(s))
        : rowMv
          ? ctx.pipeline(`mvr${nt}:${s.name}`, () => matvecRowShader(s, nt))
          : ctx.pipeline(`mv:${s.name}`, () => matvecShader(s));
      const budgetRows = Math.floor(macs / (cols * nt));
      const rowsPer = mv
        ? Math.min(GRID_X, Math.max(1, budgetRows))
        : Math.min(65535 * MM_TILE_ROWS, Math.max(MM_TILE_ROWS, budgetRows - (budgetRows % MM_TILE_ROWS)));
      const xBuf = ctx.upload(x.subarray(t0 * cols, (t0 + nt) * cols));
      const oBuf = ctx.storage(nt * rows * 4);
      const temps: GPUBuffer[] = [xBuf, oBuf];
      try {
        for (const chunk of chunks) {
          for (let r = 0; r < chunk.nRows; r += rowsPer) {
            const n = Math.min(rowsPer, chunk.nRows - r);
            const u = ctx.uniform([n, cols, nt, w.rowBytes, r, rows, chunk.rowStart + r, 0]);
            temps.push(u);
            const group = ctx.bind(pipe, [u, chunk.buffer, xBuf, oBuf]);
            if (rowMv) ctx.dispatch(pipe, group, Math.ceil(n / 64));
            else if (mv) ctx.dispatch(pipe, group, n);
            else ctx.dispatch(pipe, group, Math.ceil(n / MM_TILE_ROWS), Math.ceil(nt / MM_TILE_TOKENS));
          }
        }
        await ctx.read(oBuf, out, t0 * rows, nt * rows);
      } finally {
        destroyAll(temps);
      }
    }
  };

  const softmax: OpSignatures["softmax"] = async (x, rows, cols) => {
    const ctx = await need();
    checkLen(x, rows * cols, "x");
    if (rows === 0 || cols === 0) return;
    const pipe = ctx.pipeline("softmax", () => SOFTMAX_SHADER);
    const group = Math.max(1, Math.floor(Math.min(binding(ctx) / 4, macs) / cols));
    for (let r = 0; r < rows; r += group) {
      const g = Math.min(group, rows - r);
      const b = ctx.upload(x.subarray(r * cols, (r + g) * cols), USAGE_STORAGE | USAGE_COPY_SRC);
      const u = ctx.uniform([g, cols]);
      ctx.dispatch(pipe, ctx.bind(pipe, [u, b]), g);
      try {
        await ctx.read(b, x, r * cols, g * cols);
      } finally {
        destroyAll([b, u]);
      }
    }
  };

  const rope: OpSignatures["rope"] = async (x, nTokens, nHeads, headDim, positions, o: RopeOptions) => {
    const ctx = await need();
    checkLen(x, nTokens * nHeads * headDim, "x");
    checkLen(positions, nTokens, "positions");
    if (o.nRot > headDim || o.nRot % 2 !== 0) fail("GPU_BAD_ARGS", `rope nRot ${o.nRot} must be even and ≤ headDim ${headDim}`);
    if (nTokens === 0 || o.nRot === 0) return;
    const pipe = ctx.pipeline("rope", () => ROPE_SHADER);
    const per = nHeads * headDim;
    const group = Math.max(1, Math.floor(Math.min(binding(ctx) / 4, macs) / per));
    for (let t = 0; t < nTokens; t += group) {
      const g = Math.min(group, nTokens - t);
      const b = ctx.upload(x.subarray(t * per, (t + g) * per), USAGE_STORAGE | USAGE_COPY_SRC);
      const p = ctx.upload(positions.subarray(t, t + g));
      const u = ctx.uniform([g, nHeads, headDim, o.nRot, o.mode, o.freqBase, o.freqScale, 0], [5, 6]);
      ctx.dispatch(pipe, ctx.bind(pipe, [u, b, p]), Math.ceil((g * nHeads * (o.nRot / 2)) / 64));
      try {
        await ctx.read(b, x, t * per, g * per);
      } finally {
        destroyAll([b, p, u]);
      }
    }
  };

  const attention: OpSignatures["attention"] = async (q, nTokens, positions, kCache, vCache, nHead, nKvHead, headDim, scale, out) => {
    const ctx = await need();
    if (nKvHead <= 0 || nHead % nKvHead !== 0) fail("GPU_BAD_ARGS", `nHead ${nHead} is not a multiple of nKvHead ${nKvHead}`);
    checkLen(q, nTokens * nHead * headDim, "q");
    checkLen(out, nTokens * nHead * headDim, "out");
    checkLen(positions, nTokens, "positions");
    if (nTokens === 0) return;
    let maxPos = 0;
    for (let t = 0; t < nTokens; t++) {
      const p = positions[t]!;
      if (p < 0) fail("GPU_BAD_ARGS", `negative position ${p}`);
      if (p > maxPos) maxPos = p;
    }
    const nCtx = maxPos + 1;
    const kvLen = nCtx * nKvHead * headDim;
    checkLen(kCache, kvLen, "kCache");
    checkLen(vCache, kvLen, "vCache");
    const pipe = ctx.pipeline("attention", () => ATTENTION_SHADER);
    const k = ctx.upload(kCache.subarray(0, kvLen));
    const v = ctx.upload(vCache.subarray(0, kvLen));
    const per = nHead * headDim;
    const group = Math.max(1, Math.min(65535, Math.floor(binding(ctx) / 4 / Math.max(nHead * nCtx, per)), Math.floor(macs / (nHead * nCtx * headDim * 2))));
    try {
      for (let t = 0; t < nTokens; t += group) {
        const g = Math.min(group, nTokens - t);
        const qb = ctx.upload(q.subarray(t * per, (t + g) * per));
        const pb = ctx.upload(positions.subarray(t, t + g));
        const sb = ctx.storage(g * nHead * nCtx * 4);
        const ob = ctx.storage(g * per * 4);
        const u = ctx.uniform([g, nHead, nKvHead, headDim, nCtx, scale, 0, 0], [5]);
        ctx.dispatch(pipe, ctx.bind(pipe, [u, qb, k, v, pb, sb, ob]), nHead, g);
        try {
          await ctx.read(ob, out, t * per, g * per);
        } finally {
          destroyAll([qb, pb, sb, ob, u]);
        }
      }
    } finally {
      destroyAll([k, v]);
    }
  };

  const swiglu: OpSignatures["swiglu"] = async (gate, up, n, out) => {
    const ctx = await need();
    checkLen(gate, n, "gate");
    checkLen(up, n, "up");
    checkLen(out, n, "out");
    if (n === 0) return;
    const gj = n < GPUJS_MAX_ELEMENTS ? await gpuJs() : null;
    if (gj) return gj.swiglu(gate, up, n, out);
    const pipe = ctx.pipeline("swiglu", () => SWIGLU_SHADER);
    const group = Math.floor(binding(ctx) / 4);
    for (let i = 0; i < n; i += group) {
      const g = Math.min(group, n - i);
      const gb = ctx.upload(gate.subarray(i, i + g));
      const ub = ctx.upload(up.subarray(i, i + g));
      const ob = ctx.storage(g * 4);
      const u = ctx.uniform([g]);
      ctx.dispatch(pipe, ctx.bind(pipe, [u, gb, ub, ob]), Math.ceil(g / 256));
      try {
        await ctx.read(ob, out, i, g);
      } finally {
        destroyAll([gb, ub, ob, u]);
      }
    }
  };

  const rmsnorm: OpSignatures["rmsnorm"] = async (x, nTokens, dim, weight, eps, out) => {
    const ctx = await need();
    checkLen(x, nTokens * dim, "x");
    checkLen(out, nTokens * dim, "out");
    checkLen(weight, dim, "weight");
    if (nTokens === 0 || dim === 0) return;
    const gj = nTokens * dim < GPUJS_MAX_ELEMENTS ? await gpuJs() : null;
    if (gj) return gj.rmsnorm(x, nTokens, dim, weight, eps, out);
    const pipe = ctx.pipeline("rmsnorm", () => RMSNORM_SHADER);
    const wb = ctx.upload(weight.subarray(0, dim));
    const group = Math.max(1, Math.floor(Math.min(binding(ctx) / 4, macs) / dim));
    try {
      for (let t = 0; t < nTokens; t += group) {
        const g = Math.min(group, nTokens - t);
        const xb = ctx.upload(x.subarray(t * dim, (t + g) * dim));
        const ob = ctx.storage(g * dim * 4);
        const u = ctx.uniform([g, dim, eps], [2]);
        ctx.dispatch(pipe, ctx.bind(pipe, [u, xb, wb, ob]), g);
        try {
          await ctx.read(ob, out, t * dim, g * dim);
        } finally {
          destroyAll([xb, ob, u]);
        }
      }
    } finally {
      wb.destroy();
    }
  };

  function def<O extends OpName>(op: O, schemes: readonly string[] | "*", run: OpSignatures[O]): KernelDef<O> {
    return { op, backend: "gpu", schemes, run };
  }

  const kernels: readonly KernelDef[] = [
    def("dequantize", GPU_SCHEMES, dequantize),
    def("matmul", GPU_SCHEMES, matmul),
    def("rmsnorm", "*", rmsnorm),
    def("rope", "*", rope),
    def("softmax", "*", softmax),
    def("swiglu", "*", swiglu),
    def("attention", "*", attention),
  ];

  return {
    name: "gpu",
    kernels,
    async probe(): Promise<boolean> {
      try {
        const r = await init();
        return r.ctx !== null;
      } catch {
        return false;
      }
    },
    autoEligible(): boolean {
      // A CPU-emulated adapter is slower than the WebAssembly CPU backend: `auto` skips it unless asked to keep it.
      return !(ctxNow?.isCpuAdapter ?? false) || (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.QUANTLAB_GPU_SOFTWARE_AUTO === "1";
    },
    status(): GpuBackendStatus {
      return {
        available,
        reason,
        adapter: ctxNow?.adapterDescription ?? "",
        software: ctxNow?.isCpuAdapter ?? false,
        elementwise: gpuJsOps ? "gpu.js" : !useGpuJs || (gpuJsPromise && gpuJsReason) ? "wgsl" : "pending",
        gpuJsReason,
      };
    },
    stats(): GpuBackendStats {
      return { weightUploads, weightBytes, dispatches: ctxNow?.dispatches ?? 0 };
    },
    async dispose(): Promise<void> {
      const gj = gpuJsOps;
      const ctx = ctxNow;
      gpuJsOps = null;
      gpuJsPromise = undefined;
      ctxNow = null;
      ctxPromise = undefined;
      available = undefined;
      weights = new WeakMap();
      if (gj) await gj.destroy();
      ctx?.destroy();
    },
  };
}
