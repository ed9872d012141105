/**
 * The optimised CPU backend: matmul through dequantized weight panels and a WebAssembly SIMD register-blocked
 * kernel (optionally split by output rows over worker threads), attention in WebAssembly SIMD (split by heads),
 * and the light ops in plain JS. See core.ts (matmul plan) and engine.ts (memory layout, threading).
 */
import type { Backend, KernelDef, OpName, OpSignatures } from "../types.js";
import { wasmSimdSupported } from "../wasm/load.js";
import { CpuEngine, dequantizeRows, supportedSchemes } from "./engine.js";
import { rmsnorm, rope, softmax, swiglu } from "./ops.js";

export interface CpuBackendOptions {
  /** Worker threads for matmul and attention (1 = run on the calling thread). Default: available parallelism. */
  readonly threads?: number;
  /**
   * f32 weights are copied once into the WebAssembly memory and multiplied in place, up to this many bytes in all
   * (default 256 MiB; 0 = never: every call copies panels). Weights must not change after their first use.
   */
  readonly residentF32Bytes?: number;
}

/** The cpu backend, with a little introspection for benchmarks and diagnostics. */
export interface CpuBackend extends Backend {
  /** Threads a large matmul runs on now (1 + live workers; starts the workers if needed). */
  effectiveThreads(): number;
}

function def<O extends OpName>(op: O, schemes: readonly string[] | "*", run: OpSignatures[O]): KernelDef<O> {
  return { op, backend: "cpu", schemes, run };
}

/** Creates the optimised CPU backend. Its kernels are synchronous; `dispose()` stops its worker threads. */
export function createCpuBackend(opts: CpuBackendOptions = {}): CpuBackend {
  const engine = new CpuEngine(opts.threads, opts.residentF32Bytes);
  const kernels: KernelDef[] = [
    def("matmul", supportedSchemes, (x, nTokens, w, out) => engine.matmul(x, nTokens, w, out)),
    def("dequantize", supportedSchemes, dequantizeRows),
    def("rmsnorm", "*", rmsnorm),
    def("rope", "*", rope),
    def("softmax", "*", softmax),
    def("swiglu", "*", swiglu),
    def("attention", "*", (q, nTokens, positions, k, v, nHead, nKvHead, headDim, scale, out) =>
      engine.attention(q, nTokens, positions, k, v, nHead, nKvHead, headDim, scale, out),
    ),
  ] as KernelDef[];
  return {
    name: "cpu",
    probe: () => wasmSimdSupported(),
    kernels,
    dispose: () => engine.dispose(),
    effectiveThreads: () => engine.effectiveThreads,
  };
}
