/**
 * The built-in backends in priority order. Creating them starts nothing: GPU adapters and worker threads are acquired
 * by the backends lazily (on probe or first use).
 */
import type { Backend } from "./types.js";
import { createGpuBackend } from "./gpu/index.js";
import { createCpuBackend } from "./cpu/index.js";
import { cpuRefBackend } from "./cpu-ref/index.js";

export interface BuiltinBackendOptions {
  /** Worker threads for the cpu backend (default: its own default, the available parallelism). */
  readonly threads?: number;
}

/** `[gpu, cpu, cpu-ref]`: pass to {@link createKernelRegistry}. */
export function builtinBackends(opts: BuiltinBackendOptions = {}): Backend[] {
  return [createGpuBackend(), createCpuBackend(opts.threads === undefined ? {} : { threads: opts.threads }), cpuRefBackend];
}
