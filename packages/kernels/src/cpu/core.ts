/**
 * The work both the calling thread and the worker threads run: one WebAssembly instance over a memory
 * (private or shared) plus the code that fills a weight panel and multiplies it.
 *
 * Matmul plan (`out[t, r] = Σ_c x[t, c] · W[r, c]`):
 * - x is copied once per call into the memory, rows padded with zeros to `ldx` = cols rounded up to 4;
 * - W is walked in panels of `P` rows (P · ldx floats ≈ 128 KiB, 4..64 rows); each panel is dequantized to f32
 *   in the thread's own scratch (f32: a byte copy; f16 and q8_0: raw bytes copied in and decoded by WASM SIMD;
 *   every other scheme: quant-core's `dequantizeRow` writing straight into the memory), then multiplied against
 *   all tokens by the register-blocked SIMD kernel (`gemm`, 4 tokens × 2 rows; `gemv` for one token);
 * - results land in an output region `[nTokens, rows]`; threads own disjoint row ranges of it.
 */
import type { QuantScheme } from "@quantlab/quant-core";
import type { CpuWasmExports } from "../wasm/load.js";

/** How a scheme's rows reach the f32 panel. */
export const PanelMode = {
  /** f32: the bytes are copied. */
  F32: 0,
  /** f16: raw bytes copied in, decoded by WASM. */
  F16: 1,
  /** q8_0: raw bytes copied in, decoded by WASM SIMD. */
  Q8_0: 2,
  /** Any other scheme: `scheme.dequantizeRow` into the memory. */
  Generic: 3,
} as const;
export type PanelMode = (typeof PanelMode)[keyof typeof PanelMode];

export function panelModeOf(scheme: string): PanelMode {
  switch (scheme) {
    case "f32":
      return PanelMode.F32;
    case "f16":
      return PanelMode.F16;
    case "q8_0":
      return PanelMode.Q8_0;
    default:
      return PanelMode.Generic;
  }
}

/** Bytes of f32 panel a thread works on (fits L2 comfortably beside an x tile). */
export const PANEL_BYTES = 128 * 1024;
export const MAX_PANEL_ROWS = 64;

/** Rows per panel for a padded row of `ldx` floats: a multiple of 4 in [4, 64]. */
export function panelRows(ldx: number): number {
  const p = Math.floor(PANEL_BYTES / (ldx * 4)) & ~3;
  return p < 4 ? 4 : p > MAX_PANEL_ROWS ? MAX_PANEL_ROWS : p;
}

export const align16 = (n: number): number => (n + 15) & ~15;

/** One WebAssembly instance and cached views of its memory (refreshed when the memory grows). */
export class WasmArena {
  readonly memory: WebAssembly.Memory;
  readonly k: CpuWasmExports;
  f32: Float32Array;
  u8: Uint8Array;
  i32: Int32Array;
  private byteLength: number;

  constructor(memory: WebAssembly.Memory, k: CpuWasmExports) {
    this.memory = memory;
    this.k = k;
    const buf = memory.buffer;
    this.byteLength = buf.byteLength;
    this.f32 = new Float32Array(buf);
    this.u8 = new Uint8Array(buf);
    this.i32 = new Int32Array(buf);
  }

  /** Re-creates the views if the memory grew (here or, for a shared memory, in another thread). */
  refresh(): void {
    const buf = this.memory.buffer;
    // growth always changes the length (a private memory's old buffer is then detached)
    if (buf.byteLength === this.byteLength) return;
    this.byteLength = buf.byteLength;
    this.f32 = new Float32Array(buf);
    this.u8 = new Uint8Array(buf);
    this.i32 = new Int32Array(buf);
  }

  /** Grows the memory to at least `bytes` (the caller then refreshes the views). */
  ensure(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    const pages = Math.ceil((bytes - have) / 65536);
    // grow a little extra so a slowly rising size does not grow every call
    this.memory.grow(Math.max(pages, Math.ceil(have / 65536 / 8)));
    this.refresh();
  }
}

/** The parameters of one matmul row range (same on every thread but r0/r1 and the scratch offsets). */
export interface MatmulJob {
  mode: PanelMode;
  /** Needed for PanelMode.Generic. */
  scheme: QuantScheme | null;
  /** The weight bytes (rows · rowBytes from row 0). */
  data: Uint8Array;
  rows: number;
  cols: number;
  rowBytes: number;
  nTokens: number;
  /** Padded row stride of x and the panel, in floats. */
  ldx: number;
  xOff: number;
  outOff: number;
  r0: number;
  r1: number;
  panelOff: number;
  rawOff: number;
  panel: number;
  /** Byte offset of W itself in the memory when it is resident there (f32, cols % 4 = 0), else -1: no panels. */
  wOff: number;
}

/** Fills the f32 panel at `job.panelOff` with rows [r, r + n) of W (zero padding to ldx). */
function fillPanel(a: WasmArena, job: MatmulJob, r: number, n: number): void {
  const { data, cols, rowBytes, ldx, panelOff, rawOff } = job;
  const src = r * rowBytes;
  const padded = ldx !== cols;
  switch (job.mode) {
    case PanelMode.F32:
      if (!padded) {
        a.u8.set(data.subarray(src, src + n * rowBytes), panelOff);
      } else {
        for (let i = 0; i < n; i++) {
          const o = panelOff + i * ldx * 4;
          a.u8.set(data.subarray(src + i * rowBytes, src + (i + 1) * rowBytes), o);
          a.f32.fill(0, (o >> 2) + cols, (o >> 2) + ldx);
        }
      }
      return;
    case PanelMode.Q8_0:
      a.u8.set(data.subarray(src, src + n * rowBytes), rawOff);
      a.k.dequantQ8_0(rawOff, panelOff, (n * cols) >> 5);
      return;
    case PanelMode.F16:
      a.u8.set(data.subarray(src, src + n * rowBytes), rawOff);
      if (!padded) {
        a.k.dequantF16(rawOff, panelOff, n * cols);
      } else {
        for (let i = 0; i < n; i++) {
          const o = panelOff + i * ldx * 4;
          a.k.dequantF16(rawOff + i * rowBytes, o, cols);
          a.f32.fill(0, (o >> 2) + cols, (o >> 2) + ldx);
        }
      }
      return;
    default: {
      const scheme = job.scheme!;
      if (!padded) {
        // rows are plain sequences of blocks: n rows decode as one run of n · cols values
        const o = panelOff >> 2;
        scheme.dequantizeRow(data.subarray(src, src + n * rowBytes), a.f32.subarray(o, o + n * cols), n * cols);
      } else {
        for (let i = 0; i < n; i++) {
          const o = (panelOff >> 2) + i * ldx;
          scheme.dequantizeRow(data.subarray(src + i * rowBytes, src + (i + 1) * rowBytes), a.f32.subarray(o, o + cols), cols);
          a.f32.fill(0, o + cols, o + ldx);
        }
      }
    }
  }
}

/** Runs rows [job.r0, job.r1) of a matmul whose x is already in the memory; writes the output region. */
export function matmulRows(a: WasmArena, job: MatmulJob): void {
  a.refresh();
  const { nTokens, ldx, rows, xOff, outOff, panelOff, panel, r1 } = job;
  if (job.wOff >= 0) {
    // W already lives in the memory as f32 rows of ldx = cols floats: multiply it in place, panel by panel
    // (a panel stays in cache while every token tile passes over it)
    if (nTokens === 1) {
      a.k.gemv(xOff, job.wOff + job.r0 * ldx * 4, ldx, r1 - job.r0, ldx, outOff + job.r0 * 4);
      return;
    }
    for (let r = job.r0; r < r1; r += panel) {
      const n = r1 - r < panel ? r1 - r : panel;
      a.k.gemm(xOff, ldx, nTokens, job.wOff + r * ldx * 4, ldx, n, ldx, outOff + r * 4, rows);
    }
    return;
  }
  for (let r = job.r0; r < r1; r += panel) {
    const n = r1 - r < panel ? r1 - r : panel;
    fillPanel(a, job, r, n);
    if (nTokens === 1) a.k.gemv(xOff, panelOff, ldx, n, ldx, outOff + r * 4);
    else a.k.gemm(xOff, ldx, nTokens, panelOff, ldx, n, ldx, outOff + r * 4, rows);
  }
}
