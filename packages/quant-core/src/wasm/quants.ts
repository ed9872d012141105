/**
 * Loader and dispatch for quant-core's WebAssembly kernels (assembly/quants.ts, compiled by
 * scripts/build-wasm.mjs into quants.wasm.gen.ts).
 *
 * The module is instantiated once, lazily, on first use (synchronously: it is small). Its memory holds a work
 * area above the static data: input blocks/rows are copied in and results copied out in chunks of up to
 * {@link CHUNK_ELEMENTS} values, never per block. When WebAssembly is missing, or the module fails to load, or
 * a test turns it off with {@link setQuantCoreWasm}, every scheme runs its TypeScript implementation, which stays
 * the readable reference; both paths give identical bytes (golden.test.ts runs both).
 */
import { wasmBase64 } from "./quants.wasm.gen.js";

/** Kernel signature: `fn(srcPtr, dstPtr, count)` where count is blocks (or values for the float types). */
type Kernel = (src: number, dst: number, count: number) => void;

interface QuantExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  init(): void;
  [name: string]: unknown;
}

/** Values per chunk copied through the module's memory (1 MiB of float32). */
const CHUNK_ELEMENTS = 1 << 18;

let enabled = typeof WebAssembly === "object" && typeof WebAssembly.Module === "function";
let exportsCache: QuantExports | null | undefined;
let u8: Uint8Array = new Uint8Array(0);
let f32: Float32Array = new Float32Array(0);
let base = 0;

/**
 * Turns the WebAssembly kernels on or off for this thread (for tests and comparisons; on by default where
 * WebAssembly exists). Returns the previous setting.
 */
export function setQuantCoreWasm(on: boolean): boolean {
  const prev = enabled;
  enabled = on && typeof WebAssembly === "object";
  return prev;
}

/** Whether the WebAssembly kernels are in use (enabled and loaded). */
export function quantCoreWasmActive(): boolean {
  return enabled && load() !== null;
}

function decodeBase64(s: string): Uint8Array {
  const B = (globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array } }).Buffer;
  if (B) return new Uint8Array(B.from(s, "base64"));
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function load(): QuantExports | null {
  if (exportsCache !== undefined) return exportsCache;
  try {
    const mod = new WebAssembly.Module(decodeBase64(wasmBase64) as Uint8Array<ArrayBuffer>);
    const inst = new WebAssembly.Instance(mod, { env: { abort: () => { throw new Error("quant-core wasm abort"); } } });
    const ex = inst.exports as unknown as QuantExports;
    ex.init();
    base = ex.heapBase();
    exportsCache = ex;
    refreshViews(ex);
  } catch {
    exportsCache = null;
  }
  return exportsCache;
}

function refreshViews(ex: QuantExports): void {
  if (u8.buffer !== ex.memory.buffer) {
    u8 = new Uint8Array(ex.memory.buffer);
    f32 = new Float32Array(ex.memory.buffer);
  }
}

/** Makes room for `bytes` bytes of work area; returns its start (64-aligned). */
function reserve(ex: QuantExports, bytes: number): number {
  const need = base + bytes;
  const have = ex.memory.buffer.byteLength;
  if (need > have) ex.memory.grow(Math.ceil((need - have) / 65536));
  refreshViews(ex);
  return base;
}

const align64 = (n: number) => (n + 63) & ~63;

/** The kernel `name` when the WebAssembly path is on, else null. */
function kernel(name: string): { ex: QuantExports; fn: Kernel } | null {
  if (!enabled) return null;
  const ex = load();
  if (ex === null) return null;
  return { ex, fn: ex[name] as Kernel };
}

export type DequantizeFn = (src: Uint8Array, dst: Float32Array, n: number) => void;
export type QuantizeFn = (src: Float32Array, dst: Uint8Array, n: number) => void;

/**
 * A dequantizer that runs the WebAssembly kernel `name` over whole blocks of `blockSize` values stored in
 * `typeSize` bytes, or `js` when the WebAssembly path is off.
 */
export function wasmDequantizer(name: string, blockSize: number, typeSize: number, js: DequantizeFn): DequantizeFn {
  const chunkBlocks = Math.max(1, Math.floor(CHUNK_ELEMENTS / blockSize));
  return (src, dst, n) => {
    const k = kernel(name);
    if (k === null) return js(src, dst, n);
    const nb = n / blockSize;
    const inBytes = align64(Math.min(nb, chunkBlocks) * typeSize);
    const p = reserve(k.ex, inBytes + Math.min(nb, chunkBlocks) * blockSize * 4);
    const q = p + inBytes;
    for (let b = 0; b < nb; b += chunkBlocks) {
      const c = Math.min(chunkBlocks, nb - b);
      u8.set(src.subarray(b * typeSize, (b + c) * typeSize), p);
      k.fn(p, q, c);
      dst.set(f32.subarray(q >> 2, (q >> 2) + c * blockSize), b * blockSize);
    }
  };
}

/**
 * A reference quantizer that runs the WebAssembly kernel `name` (whole blocks), or `js` when the WebAssembly
 * path is off. `keepDst`: copy the destination bytes in first (kernels that leave some bytes unwritten, as
 * ggml does for q8_K's bsums of an all-zero block).
 */
export function wasmQuantizer(name: string, blockSize: number, typeSize: number, js: QuantizeFn, keepDst = false): QuantizeFn {
  const chunkBlocks = Math.max(1, Math.floor(CHUNK_ELEMENTS / blockSize));
  return (src, dst, n) => {
    const k = kernel(name);
    if (k === null) return js(src, dst, n);
    const nb = n / blockSize;
    const inBytes = Math.min(nb, chunkBlocks) * blockSize * 4;
    const p = reserve(k.ex, inBytes + Math.min(nb, chunkBlocks) * typeSize);
    const q = p + inBytes;
    for (let b = 0; b < nb; b += chunkBlocks) {
      const c = Math.min(chunkBlocks, nb - b);
      f32.set(src.subarray(b * blockSize, (b + c) * blockSize), p >> 2);
      if (keepDst) u8.set(dst.subarray(b * typeSize, (b + c) * typeSize), q);
      k.fn(p, q, c);
      dst.set(u8.subarray(q, q + c * typeSize), b * typeSize);
    }
  };
}

/** Kernels that return 0, or 1 when they met an inf/NaN input and wrote nothing (the caller then runs TypeScript). */
type RowKernel = (src: number, dst: number, count: number, qw: number, extra: number) => number;

/**
 * Runs a row kernel of the form `fn(x, y, count, qw, extra)` over `nRows` rows: with `importance`, row by row
 * (the importance row is copied in once; count = `perRowCount`), else over all blocks in chunks with qw = 0
 * (count = blocks). Returns false when the WebAssembly path is off or the kernel declined (non-finite input).
 */
export function runWasmRows(
  name: string,
  blockSize: number,
  typeSize: number,
  src: Float32Array,
  dst: Uint8Array,
  nRows: number,
  nPerRow: number,
  importance: Float32Array | null,
  perRowCount: number,
  extra = 0,
): boolean {
  const k = kernel(name);
  if (k === null) return false;
  const fn = k.fn as unknown as RowKernel;
  const rowBytes = (nPerRow / blockSize) * typeSize;
  if (importance !== null) {
    const inBytes = nPerRow * 4;
    const p = reserve(k.ex, 2 * inBytes + align64(rowBytes));
    const w = p + inBytes;
    const q = w + inBytes;
    f32.set(importance.subarray(0, nPerRow), w >> 2);
    for (let r = 0; r < nRows; r++) {
      f32.set(src.subarray(r * nPerRow, (r + 1) * nPerRow), p >> 2);
      if (fn(p, q, perRowCount, w, extra) !== 0) return false;
      dst.set(u8.subarray(q, q + rowBytes), r * rowBytes);
    }
    return true;
  }
  const nb = (nRows * nPerRow) / blockSize;
  const chunkBlocks = Math.max(1, Math.floor(CHUNK_ELEMENTS / blockSize));
  const inBytes = Math.min(nb, chunkBlocks) * blockSize * 4;
  const p = reserve(k.ex, inBytes + Math.min(nb, chunkBlocks) * typeSize);
  const q = p + inBytes;
  for (let b = 0; b < nb; b += chunkBlocks) {
    const c = Math.min(chunkBlocks, nb - b);
    f32.set(src.subarray(b * blockSize, (b + c) * blockSize), p >> 2);
    if (fn(p, q, c, 0, extra) !== 0) return false;
    dst.set(u8.subarray(q, q + c * typeSize), b * typeSize);
  }
  return true;
}

const tablesDone = new Set<string>();

/**
 * Copies constant lookup tables (grids, maps) into the module's memory once per thread, below the work area, and
 * passes their addresses (then `extra`) to the module's `setter` export. Returns false when the WebAssembly path
 * is off.
 */
export function ensureWasmTables(key: string, setter: string, tables: readonly ArrayBufferView[], extra: readonly number[] = []): boolean {
  if (!enabled) return false;
  const ex = load();
  if (ex === null) return false;
  if (tablesDone.has(key)) return true;
  const ptrs: number[] = [];
  let total = 0;
  for (const t of tables) total += align64(t.byteLength);
  reserve(ex, total);
  let p = base;
  for (const t of tables) {
    u8.set(new Uint8Array(t.buffer, t.byteOffset, t.byteLength), p);
    ptrs.push(p);
    p += align64(t.byteLength);
  }
  base = p; // the work area starts above the tables from now on
  (ex[setter] as (...a: number[]) => void)(...ptrs, ...extra);
  tablesDone.add(key);
  return true;
}

/**
 * The export `name` and a current float32 view of the module's memory, for kernels that TypeScript drives
 * block by block through a static buffer of the module (no copying of rows); null when the WebAssembly path is
 * off. The view stays valid until the memory grows (only the row/chunk helpers above grow it), so take it once
 * per call of a quantizer, not once per thread.
 */
export function wasmExport<F>(name: string): { fn: F; ex: QuantExports; f32: Float32Array } | null {
  const k = kernel(name);
  if (k === null) return null;
  refreshViews(k.ex);
  return { fn: k.fn as unknown as F, ex: k.ex, f32 };
}
