/**
 * Worker thread of the optimised CPU backend: instantiates the kernel module against the shared memory and then
 * blocks on its control word (Atomics.wait) for jobs; see protocol.ts. Built as its own entry
 * (dist/cpu-worker.js) so it can be started from the built package.
 */
import { receiveMessageOnPort, workerData } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import { builtinSchemes, ensureSchemeInit, type QuantScheme } from "@quantlab/quant-core";
import { instantiateCpuWasm } from "../wasm/load.js";
import { WasmArena, matmulRows, type MatmulJob, type PanelMode } from "./core.js";
import * as P from "./protocol.js";

const data = workerData as P.CpuWorkerData;
const port: MessagePort = data.port;
const ctl = new Int32Array(data.ctl);
const params = new Float64Array(data.params);
const arena = new WasmArena(data.memory, instantiateCpuWasm(data.module, data.memory));
const EMPTY = new Uint8Array(0);
const buffers = new Map<number, Uint8Array>();
const initialised = new Set<QuantScheme>();

const job: MatmulJob = {
  mode: 0,
  scheme: null,
  data: new Uint8Array(0),
  rows: 0,
  cols: 0,
  rowBytes: 0,
  nTokens: 0,
  ldx: 0,
  xOff: 0,
  outOff: 0,
  r0: 0,
  r1: 0,
  panelOff: 0,
  rawOff: 0,
  panel: 0,
  wOff: -1,
};

function drainPort(): void {
  for (;;) {
    const m = receiveMessageOnPort(port);
    if (!m) return;
    const msg = m.message as P.ShareBufferMessage;
    if (msg.type === "buffer") buffers.set(msg.id, new Uint8Array(msg.buffer));
  }
}

function runMatmul(): void {
  const wOff = params[P.M_WOFF];
  const buf = wOff >= 0 ? EMPTY : buffers.get(params[P.M_BUF]);
  if (!buf) throw new Error(`weight buffer ${params[P.M_BUF]} was not shared with this worker`);
  const mode = params[P.M_MODE] as PanelMode;
  let scheme: QuantScheme | null = null;
  if (mode === 3) {
    scheme = builtinSchemes[params[P.M_SCHEME]]!;
    if (!initialised.has(scheme)) {
      ensureSchemeInit(scheme);
      initialised.add(scheme);
    }
  }
  const rows = params[P.M_ROWS];
  const rowBytes = params[P.M_ROW_BYTES];
  const off = params[P.M_BYTE_OFFSET];
  job.mode = mode;
  job.scheme = scheme;
  job.data = buf.subarray(off, off + rows * rowBytes);
  job.rows = rows;
  job.cols = params[P.M_COLS];
  job.rowBytes = rowBytes;
  job.nTokens = params[P.M_NTOKENS];
  job.ldx = params[P.M_LDX];
  job.xOff = params[P.M_XOFF];
  job.outOff = params[P.M_OUTOFF];
  job.r0 = params[P.M_R0];
  job.r1 = params[P.M_R1];
  job.panelOff = params[P.M_PANELOFF];
  job.rawOff = params[P.M_RAWOFF];
  job.panel = params[P.M_PANEL];
  job.wOff = wOff;
  matmulRows(arena, job);
}

function runAttention(): void {
  arena.refresh();
  arena.k.attention(
    params[P.A_Q], params[P.A_K], params[P.A_V], params[P.A_OUT], params[P.A_SCORES],
    params[P.A_NTOKENS], params[P.A_POS], params[P.A_NHEAD], params[P.A_NKVHEAD], params[P.A_HEADDIM],
    params[P.A_LDQ], params[P.A_SCALE], params[P.A_H0], params[P.A_H1],
  );
}

Atomics.store(ctl, P.CTL_READY, 1);
Atomics.notify(ctl, P.CTL_READY);

// the caller's sequence starts at 0 (it may already have posted job 1 when we get here)
let seen = 0;
for (;;) {
  Atomics.wait(ctl, P.CTL_SEQ, seen);
  const seq = Atomics.load(ctl, P.CTL_SEQ);
  if (seq === seen) continue;
  seen = seq;
  drainPort();
  const op = params[P.P_OP];
  if (op === P.OP_QUIT) break;
  try {
    if (op === P.OP_MATMUL) runMatmul();
    else if (op === P.OP_ATTENTION) runAttention();
    Atomics.store(ctl, P.CTL_ERROR, 0);
  } catch (e) {
    Atomics.store(ctl, P.CTL_ERROR, 1);
    const msg: P.WorkerErrorMessage = { type: "error", message: e instanceof Error ? e.message : String(e) };
    port.postMessage(msg);
  }
  Atomics.store(ctl, P.CTL_DONE, seq);
  Atomics.notify(ctl, P.CTL_DONE);
}
port.close();
