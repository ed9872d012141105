/**
 * The calling thread's engine of the optimised CPU backend: owns the WebAssembly memory layout of a call,
 * splits matmul rows (and attention heads) between itself and the workers, and copies results out.
 *
 * Memory layout of a matmul call (byte offsets, 16-aligned), after a reserved low area:
 *   x [nTokens, ldx] | out [nTokens, rows] | per thread: f32 panel [P, ldx], raw panel bytes [P, rowBytes]
 * Threads own contiguous row ranges (multiples of 4 rows), so the output does not depend on the thread count.
 */
import { availableParallelism } from "node:os";
import { KernelError, type KernelErrorCode } from "../errors.js";
import { builtinSchemes, ensureSchemeInit, type QuantScheme } from "@quantlab/quant-core";
import type { QuantMatrix } from "../types.js";
import {
  SHARED_MAX_PAGES,
  cpuWasmModule,
  instantiateCpuWasm,
  wasmSharedMemorySupported,
} from "../wasm/load.js";
import { PanelMode, WasmArena, align16, matmulRows, panelModeOf, panelRows, type MatmulJob } from "./core.js";
import { CpuWorkerPool } from "./pool.js";
import * as P from "./protocol.js";

/** Low bytes left alone (the module's own data, if any). */
const RESERVED = 65536;
/** Matmuls with fewer multiply-adds than this run on the calling thread only (waking workers costs more). */
export const MIN_PARALLEL_MACS = 1 << 19;
/**
 * f32 weights up to this many bytes in all are copied once into the WebAssembly memory and multiplied in place
 * (no panel copies: decode reads each weight once). Larger totals fall back to per-call panels.
 */
export const RESIDENT_F32_BUDGET = 256 * 1024 * 1024;
/** Attention with fewer q·k pairs × headDim than this runs on the calling thread only. */
const MIN_PARALLEL_ATTENTION = 1 << 18;

const schemeIndex = new Map<string, number>(builtinSchemes.map((s, i) => [s.name, i]));

/** Schemes the matmul/dequantize kernels handle: every built-in scheme with a dequantizer. */
export const supportedSchemes: readonly string[] = builtinSchemes.filter((s) => typeof s.dequantizeRow === "function").map((s) => s.name);

function kernelError(code: KernelErrorCode, message: string, tensor?: string): KernelError {
  return new KernelError(code, message, tensor === undefined ? {} : { tensor });
}

/** A weight buffer as the workers see it: a SharedArrayBuffer (an id each) and the byte offset of the tensor. */
interface SharedWeight {
  id: number;
  buffer: SharedArrayBuffer;
  byteOffset: number;
}

export class CpuEngine {
  readonly threads: number;
  private arena: WasmArena | null = null;
  private pool: CpuWorkerPool | null = null;
  private poolFailed = false;
  private readonly job: MatmulJob = {
    mode: 0, scheme: null, data: new Uint8Array(0), rows: 0, cols: 0, rowBytes: 0, nTokens: 0, ldx: 0,
    xOff: 0, outOff: 0, r0: 0, r1: 0, panelOff: 0, rawOff: 0, panel: 0, wOff: -1,
  };
  /**
   * Resident f32 weights: memory byte offset by (buffer, byteOffset) of the weight bytes. Weights are assumed
   * immutable once used (as model weights are). Each weight is placed above everything used so far; per-call
   * scratch starts at `scratchBase`, above the last resident weight.
   */
  private residents = new WeakMap<ArrayBufferLike, Map<number, number>>();
  private residentBytes = 0;
  private scratchBase = RESERVED;
  private scratchHigh = RESERVED;
  /** Ids of shared buffers (weights already in a SharedArrayBuffer). */
  private readonly bufferIds = new WeakMap<SharedArrayBuffer, number>();
  /** Shared copies of weights that are not in a SharedArrayBuffer, by the weight's byte view. */
  private readonly copies = new WeakMap<Uint8Array, SharedWeight>();
  private nextBufferId = 1;

  private readonly residentBudget: number;

  constructor(threads?: number, residentF32Bytes: number = RESIDENT_F32_BUDGET) {
    this.residentBudget = Math.max(0, residentF32Bytes);
    const t = threads ?? safeParallelism();
    this.threads = Math.max(1, Math.min(64, Math.floor(t)));
  }

  /** Whether this engine runs with worker threads (shared memory). */
  private get parallel(): boolean {
    return this.threads > 1 && !this.poolFailed && wasmSharedMemorySupported();
  }

  private getArena(): WasmArena {
    if (this.arena) return this.arena;
    const shared = this.parallel;
    const memory = shared
      ? new WebAssembly.Memory({ initial: 64, maximum: SHARED_MAX_PAGES, shared: true })
      : new WebAssembly.Memory({ initial: 64 });
    this.arena = new WasmArena(memory, instantiateCpuWasm(cpuWasmModule(shared), memory));
    return this.arena;
  }

  /** The worker pool (threads − 1 workers), started on first need; null when running single-threaded. */
  private getPool(): CpuWorkerPool | null {
    if (!this.parallel) return null;
    if (this.pool) return this.pool;
    const a = this.getArena();
    try {
      this.pool = new CpuWorkerPool(cpuWasmModule(true), a.memory, this.threads - 1);
    } catch (e) {
      // no threads here (e.g. the worker entry cannot be found): keep going on this thread; same results
      this.poolFailed = true;
      this.poolError = e;
      return null;
    }
    return this.pool;
  }

  /** Why the worker pool could not start (null when it did or was not needed). */
  poolError: unknown = null;

  /** Number of threads that run a large matmul (1 + live workers). */
  get effectiveThreads(): number {
    return this.parallel ? 1 + (this.getPool()?.size ?? 0) : 1;
  }

  private sharedWeight(w: QuantMatrix): SharedWeight {
    const d = w.data;
    if (d.buffer instanceof SharedArrayBuffer) {
      let id = this.bufferIds.get(d.buffer);
      if (id === undefined) {
        id = this.nextBufferId++;
        this.bufferIds.set(d.buffer, id);
      }
      return { id, buffer: d.buffer, byteOffset: d.byteOffset };
    }
    let c = this.copies.get(d);
    if (!c) {
      const buffer = new SharedArrayBuffer(w.rows * w.rowBytes);
      new Uint8Array(buffer).set(d.subarray(0, w.rows * w.rowBytes));
      c = { id: this.nextBufferId++, buffer, byteOffset: 0 };
      this.copies.set(d, c);
    }
    return c;
  }

  /** Offset of `w` (f32, cols % 4 = 0) in the memory, copying it there on first use; -1 when over budget. */
  private residentOffset(w: QuantMatrix): number {
    const d = w.data;
    let byOffset = this.residents.get(d.buffer);
    const known = byOffset?.get(d.byteOffset);
    if (known !== undefined) return known;
    const bytes = w.rows * w.rowBytes;
    if (this.residentBytes + bytes > this.residentBudget) return -1;
    const a = this.getArena();
    const off = align16(Math.max(this.scratchBase, this.scratchHigh));
    a.ensure(off + bytes);
    a.refresh();
    a.u8.set(d.subarray(0, bytes), off);
    this.residentBytes += bytes;
    this.scratchBase = this.scratchHigh = align16(off + bytes);
    if (!byOffset) {
      byOffset = new Map();
      this.residents.set(d.buffer, byOffset);
    }
    byOffset.set(d.byteOffset, off);
    return off;
  }

  /** Grows the memory for a call's scratch ending at `end` and remembers the high-water mark. */
  private reserve(a: WasmArena, end: number): void {
    a.ensure(end);
    a.refresh();
    if (end > this.scratchHigh) this.scratchHigh = end;
  }

  matmul(x: Float32Array, nTokens: number, w: QuantMatrix, out: Float32Array): void {
    const { rows, cols, rowBytes } = w;
    const scheme = lookupScheme(w);
    if (w.data.length < rows * rowBytes) throw kernelError("KERNEL_BAD_ARGUMENT", `weight has ${w.data.length} bytes, ${rows * rowBytes} needed`, w.name);
    if (x.length < nTokens * cols) throw kernelError("KERNEL_BAD_ARGUMENT", `x has ${x.length} values, ${nTokens * cols} needed`, w.name);
    if (out.length < nTokens * rows) throw kernelError("KERNEL_BAD_ARGUMENT", `out has ${out.length} values, ${nTokens * rows} needed`, w.name);
    if (nTokens === 0 || rows === 0) return;
    if (cols === 0) {
      out.fill(0, 0, nTokens * rows);
      return;
    }
    const mode = panelModeOf(scheme.name);
    if (mode === PanelMode.Generic) ensureSchemeInit(scheme);

    const ldx = (cols + 3) & ~3;
    const panel = panelRows(ldx);
    const wOff = mode === PanelMode.F32 && ldx === cols ? this.residentOffset(w) : -1;
    const parallel = this.parallel && rows >= 8 && nTokens * rows * cols >= MIN_PARALLEL_MACS;
    const pool = parallel ? this.getPool() : null;
    const nThreads = pool ? Math.min(1 + pool.size, rows >> 2) : 1;

    const xOff = this.scratchBase;
    const outOff = xOff + align16(nTokens * ldx * 4);
    const scratch0 = outOff + align16(nTokens * rows * 4);
    const panelBytes = align16(panel * ldx * 4);
    const rawBytes = mode === PanelMode.F16 || mode === PanelMode.Q8_0 ? align16(panel * rowBytes) : 0;
    const perThread = wOff >= 0 ? 0 : panelBytes + rawBytes;
    const a = this.getArena();
    this.reserve(a, scratch0 + nThreads * perThread);

    // x → memory, rows padded with zeros to ldx
    if (ldx === cols) {
      a.f32.set(x.subarray(0, nTokens * cols), xOff >> 2);
    } else {
      for (let t = 0; t < nTokens; t++) {
        const o = (xOff >> 2) + t * ldx;
        a.f32.set(x.subarray(t * cols, (t + 1) * cols), o);
        a.f32.fill(0, o + cols, o + ldx);
      }
    }

    // row ranges: thread i gets [bound(i), bound(i + 1)), bounds multiples of 4
    const bound = (i: number): number => (i === nThreads ? rows : Math.round((i * rows) / nThreads / 4) * 4);
    if (pool && nThreads > 1) {
      const sw = wOff >= 0 ? null : this.sharedWeight(w);
      for (let i = 1; i < nThreads; i++) {
        const wi = i - 1;
        if (sw) pool.share(wi, sw.id, sw.buffer);
        const p = pool.params(wi);
        p[P.P_OP] = P.OP_MATMUL;
        p[P.M_MODE] = mode;
        p[P.M_SCHEME] = schemeIndex.get(scheme.name)!;
        p[P.M_BUF] = sw ? sw.id : 0;
        p[P.M_BYTE_OFFSET] = sw ? sw.byteOffset : 0;
        p[P.M_WOFF] = wOff;
        p[P.M_ROWS] = rows;
        p[P.M_COLS] = cols;
        p[P.M_ROW_BYTES] = rowBytes;
        p[P.M_NTOKENS] = nTokens;
        p[P.M_LDX] = ldx;
        p[P.M_XOFF] = xOff;
        p[P.M_OUTOFF] = outOff;
        p[P.M_R0] = bound(i);
        p[P.M_R1] = bound(i + 1);
        p[P.M_PANELOFF] = scratch0 + i * perThread;
        p[P.M_RAWOFF] = scratch0 + i * perThread + panelBytes;
        p[P.M_PANEL] = panel;
        pool.start(wi);
      }
    }
    const job = this.job;
    job.mode = mode;
    job.scheme = scheme;
    job.data = w.data;
    job.rows = rows;
    job.cols = cols;
    job.rowBytes = rowBytes;
    job.nTokens = nTokens;
    job.ldx = ldx;
    job.xOff = xOff;
    job.outOff = outOff;
    job.r0 = 0;
    job.r1 = bound(1);
    job.panelOff = scratch0;
    job.rawOff = scratch0 + panelBytes;
    job.panel = panel;
    job.wOff = wOff;
    let err: unknown = null;
    try {
      matmulRows(a, job);
    } catch (e) {
      err = e;
    }
    job.data = EMPTY;
    if (pool) for (let i = 1; i < nThreads; i++) pool.wait(i - 1);
    if (err) throw err;
    a.refresh();
    out.set(a.f32.subarray(outOff >> 2, (outOff >> 2) + nTokens * rows));
  }

  attention(
    q: Float32Array, nTokens: number, positions: Int32Array, kCache: Float32Array, vCache: Float32Array,
    nHead: number, nKvHead: number, headDim: number, scale: number, out: Float32Array,
  ): void {
    if (nTokens === 0) return;
    if (nKvHead <= 0 || nHead % nKvHead !== 0) throw kernelError("KERNEL_BAD_ARGUMENT", `nHead ${nHead} is not a multiple of nKvHead ${nKvHead}`);
    const ldq = nHead * headDim;
    const kvDim = nKvHead * headDim;
    let maxPos = -1;
    for (let t = 0; t < nTokens; t++) {
      const p = positions[t]!;
      if (!(p >= 0)) throw kernelError("KERNEL_BAD_ARGUMENT", `position ${p} of token ${t} is negative`);
      if (p > maxPos) maxPos = p;
    }
    const nCtx = maxPos + 1;
    if (kCache.length < nCtx * kvDim || vCache.length < nCtx * kvDim) {
      throw kernelError("KERNEL_BAD_ARGUMENT", `KV cache holds ${Math.floor(kCache.length / kvDim)} positions, ${nCtx} needed`);
    }
    if (q.length < nTokens * ldq || out.length < nTokens * ldq) throw kernelError("KERNEL_BAD_ARGUMENT", `q/out hold fewer than ${nTokens * ldq} values`);

    const pool = this.parallel && nHead >= 2 && nTokens * nCtx * headDim * nHead >= MIN_PARALLEL_ATTENTION ? this.getPool() : null;
    const nThreads = pool ? Math.min(1 + pool.size, nHead) : 1;
    const qOff = this.scratchBase;
    const kOff = qOff + align16(nTokens * ldq * 4);
    const vOff = kOff + align16(nCtx * kvDim * 4);
    const oOff = vOff + align16(nCtx * kvDim * 4);
    const posOff = oOff + align16(nTokens * ldq * 4);
    const scOff = posOff + align16(nTokens * 4);
    const scBytes = align16(nCtx * 4);
    const a = this.getArena();
    this.reserve(a, scOff + nThreads * scBytes);
    a.f32.set(q.subarray(0, nTokens * ldq), qOff >> 2);
    a.f32.set(kCache.subarray(0, nCtx * kvDim), kOff >> 2);
    a.f32.set(vCache.subarray(0, nCtx * kvDim), vOff >> 2);
    a.i32.set(positions.subarray(0, nTokens), posOff >> 2);
    const bound = (i: number): number => (i === nThreads ? nHead : Math.round((i * nHead) / nThreads));
    if (pool) {
      for (let i = 1; i < nThreads; i++) {
        const p = pool.params(i - 1);
        p[P.P_OP] = P.OP_ATTENTION;
        p[P.A_Q] = qOff;
        p[P.A_K] = kOff;
        p[P.A_V] = vOff;
        p[P.A_OUT] = oOff;
        p[P.A_SCORES] = scOff + i * scBytes;
        p[P.A_NTOKENS] = nTokens;
        p[P.A_POS] = posOff;
        p[P.A_NHEAD] = nHead;
        p[P.A_NKVHEAD] = nKvHead;
        p[P.A_HEADDIM] = headDim;
        p[P.A_LDQ] = ldq;
        p[P.A_SCALE] = Math.fround(scale);
        p[P.A_H0] = bound(i);
        p[P.A_H1] = bound(i + 1);
        pool.start(i - 1);
      }
    }
    a.k.attention(qOff, kOff, vOff, oOff, scOff, nTokens, posOff, nHead, nKvHead, headDim, ldq, scale, 0, bound(1));
    if (pool) for (let i = 1; i < nThreads; i++) pool.wait(i - 1);
    a.refresh();
    out.set(a.f32.subarray(oOff >> 2, (oOff >> 2) + nTokens * ldq));
  }

  async dispose(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    this.arena = null;
    this.residents = new WeakMap();
    this.residentBytes = 0;
    this.scratchBase = this.scratchHigh = RESERVED;
    if (p) await p.dispose();
  }
}

const EMPTY = new Uint8Array(0);

const schemesByName = new Map<string, QuantScheme>(builtinSchemes.map((s) => [s.name, s]));

function lookupScheme(w: QuantMatrix): QuantScheme {
  const s = schemesByName.get(w.scheme);
  if (!s) throw kernelError("KERNEL_NOT_FOUND", `the cpu backend has no kernel for scheme '${w.scheme}'`, w.name);
  const expect = (w.cols / s.layout.blockSize) * s.layout.typeSize;
  if (!Number.isInteger(expect) || expect !== w.rowBytes) {
    throw kernelError("KERNEL_BAD_ARGUMENT", `${w.scheme} row of ${w.cols} values is ${expect} bytes, the matrix says ${w.rowBytes}`, w.name);
  }
  return s;
}

export function dequantizeRows(w: QuantMatrix, rowStart: number, nRows: number, out: Float32Array): void {
  const s = lookupScheme(w);
  if (rowStart < 0 || nRows < 0 || rowStart + nRows > w.rows) {
    throw kernelError("KERNEL_BAD_ARGUMENT", `rows [${rowStart}, ${rowStart + nRows}) outside [0, ${w.rows})`, w.name);
  }
  const n = nRows * w.cols;
  if (out.length < n) throw kernelError("KERNEL_BAD_ARGUMENT", `out has ${out.length} values, ${n} needed`, w.name);
  if (n === 0) return;
  ensureSchemeInit(s);
  s.dequantizeRow(w.data.subarray(rowStart * w.rowBytes, (rowStart + nRows) * w.rowBytes), out.length === n ? out : out.subarray(0, n), n);
}

function safeParallelism(): number {
  try {
    return availableParallelism();
  } catch {
    return 1;
  }
}
