export type {
  BackendName,
  BackendChoice,
  MaybePromise,
  QuantMatrix,
  RopeOptions,
  OpSignatures,
  OpName,
  KernelDef,
  Backend,
} from "./types.js";
export { KernelError, type KernelErrorCode } from "./errors.js";
export { cpuRefBackend, createCpuRefBackend } from "./cpu-ref/index.js";
export {
  createKernelRegistry,
  BACKEND_PRIORITY,
  type KernelRegistry,
  type ResolvedKernels,
  type KernelUsage,
} from "./registry.js";
export { builtinBackends, type BuiltinBackendOptions } from "./backends.js";
export { createCpuBackend, type CpuBackend, type CpuBackendOptions } from "./cpu/index.js";
export { createGpuBackend, type GpuBackendOptions } from "./gpu/index.js";
