/**
 * Loading the WebAssembly modules built by scripts/build-wasm.mjs (base64 in `*.wasm.gen.ts`).
 *
 * Modules are compiled once per process (per thread) and cached; instances are created per memory. The CPU
 * kernels import their memory (`env.memory`), so the JS side owns it: a private growable memory for one
 * thread, or a shared one (`shared: true`) that worker threads instantiate the same module against.
 */
import { wasmBase64 as probeBase64 } from "./probe.wasm.gen.js";
import { wasmBase64 as cpuBase64 } from "./cpu.wasm.gen.js";
import { wasmBase64 as cpuMtBase64 } from "./cpu_mt.wasm.gen.js";

/** Decodes base64 without Node's Buffer (works in browsers too). */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const g = globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array } };
  if (g.Buffer) {
    const b = g.Buffer.from(b64, "base64");
    const out = new Uint8Array(b.length);
    out.set(b);
    return out;
  }
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

let simdOk: boolean | undefined;

/** Whether WebAssembly with SIMD (v128) is available here: the tiny probe module validates. Cached. */
export function wasmSimdSupported(): boolean {
  if (simdOk !== undefined) return simdOk;
  try {
    simdOk = typeof WebAssembly === "object" && WebAssembly.validate(decodeBase64(probeBase64));
  } catch {
    simdOk = false;
  }
  return simdOk;
}

/** Whether shared WebAssembly memory (for worker threads) can be created here. Cached. */
let sharedOk: boolean | undefined;
export function wasmSharedMemorySupported(): boolean {
  if (sharedOk !== undefined) return sharedOk;
  try {
    sharedOk =
      typeof SharedArrayBuffer === "function" &&
      new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    sharedOk = false;
  }
  return sharedOk;
}

/** Exports of the CPU kernel module (packages/kernels/assembly/_cpu.ts); pointers are byte offsets. */
export interface CpuWasmExports {
  gemm(x: number, ldx: number, nT: number, w: number, ldw: number, nR: number, k: number, out: number, ldo: number): void;
  gemv(x: number, w: number, ldw: number, nR: number, k: number, out: number): void;
  dequantQ8_0(src: number, dst: number, nBlocks: number): void;
  dequantF16(src: number, dst: number, n: number): void;
  attention(
    q: number, k: number, v: number, out: number, scores: number,
    nTokens: number, positions: number, nHead: number, nKvHead: number, headDim: number, ldq: number, scale: number,
    h0: number, h1: number,
  ): void;
}

/** Maximum pages of the shared build (asc `--maximumMemory 65536`, i.e. 4 GiB). */
export const SHARED_MAX_PAGES = 65536;

let cpuModule: WebAssembly.Module | undefined;
let cpuMtModule: WebAssembly.Module | undefined;

/** The compiled CPU kernel module: `shared` selects the build that imports a shared memory. */
export function cpuWasmModule(shared: boolean): WebAssembly.Module {
  if (shared) return (cpuMtModule ??= new WebAssembly.Module(decodeBase64(cpuMtBase64)));
  return (cpuModule ??= new WebAssembly.Module(decodeBase64(cpuBase64)));
}

/** Instantiates the CPU kernels against `memory` (its `shared` flag must match the module's). */
export function instantiateCpuWasm(module: WebAssembly.Module, memory: WebAssembly.Memory): CpuWasmExports {
  const inst = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: () => {
        throw new Error("wasm abort");
      },
    },
  });
  return inst.exports as unknown as CpuWasmExports;
}
