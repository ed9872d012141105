/**
 * The wire format between the calling thread and the CPU kernel workers (no structured cloning per call).
 *
 * Each worker has a small control block (Int32Array over a SharedArrayBuffer) and a parameter block
 * (Float64Array over another). The caller writes the parameters, bumps `SEQ` and notifies; the worker runs the
 * job and stores the same sequence number in `DONE`. Rare messages (a new weight buffer to share, an error
 * text) travel on a MessagePort that both sides read synchronously with `receiveMessageOnPort`.
 */
import type { MessagePort } from "node:worker_threads";

export const CTL_SEQ = 0;
export const CTL_DONE = 1;
export const CTL_ERROR = 2;
export const CTL_READY = 3;
export const CTL_INTS = 4;

export const PARAM_DOUBLES = 24;

export const OP_MATMUL = 1;
export const OP_ATTENTION = 2;
export const OP_QUIT = 3;

// matmul parameters
export const P_OP = 0;
export const M_MODE = 1;
export const M_SCHEME = 2;
export const M_BUF = 3;
export const M_BYTE_OFFSET = 4;
export const M_ROWS = 5;
export const M_COLS = 6;
export const M_ROW_BYTES = 7;
export const M_NTOKENS = 8;
export const M_LDX = 9;
export const M_XOFF = 10;
export const M_OUTOFF = 11;
export const M_R0 = 12;
export const M_R1 = 13;
export const M_PANELOFF = 14;
export const M_RAWOFF = 15;
export const M_PANEL = 16;
export const M_WOFF = 17;

// attention parameters
export const A_Q = 1;
export const A_K = 2;
export const A_V = 3;
export const A_OUT = 4;
export const A_SCORES = 5;
export const A_NTOKENS = 6;
export const A_POS = 7;
export const A_NHEAD = 8;
export const A_NKVHEAD = 9;
export const A_HEADDIM = 10;
export const A_LDQ = 11;
export const A_SCALE = 12;
export const A_H0 = 13;
export const A_H1 = 14;

/** Data given to a worker at start. */
export interface CpuWorkerData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctl: SharedArrayBuffer;
  params: SharedArrayBuffer;
  port: MessagePort;
}

/** Port messages: caller → worker. */
export interface ShareBufferMessage {
  type: "buffer";
  id: number;
  buffer: SharedArrayBuffer;
}

/** Port messages: worker → caller. */
export interface WorkerErrorMessage {
  type: "error";
  message: string;
}
