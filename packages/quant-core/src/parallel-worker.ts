/**
 * Worker side of {@link quantizeTensorParallel} (parallel.ts): quantizes a chunk of rows in place in shared
 * memory with a built-in scheme found by name, and replies `{ id, ok }` or `{ id, ok: false, error }`.
 */
import { isMainThread, parentPort } from "node:worker_threads";
import { QuantlabError } from "@quantlab/gguf";
import { builtinRegistry } from "./builtin.js";
import { quantizeTensor } from "./registry.js";

/** One chunk of rows to quantize. Byte offsets point into the shared buffers. */
export interface WorkerTask {
  id: number;
  scheme: string;
  src: SharedArrayBuffer;
  srcByteOffset: number;
  dst: SharedArrayBuffer;
  dstByteOffset: number;
  nRows: number;
  nPerRow: number;
  importance: Float32Array | null;
  tensorName: string | undefined;
  /** Index of the chunk's first row in the tensor (for error context). */
  rowStart: number;
}

/** A SchemeError flattened for postMessage. */
export interface SerializedSchemeError {
  code: string;
  message: string;
  context: Record<string, unknown>;
}

export type WorkerReply = { id: number; ok: true } | { id: number; ok: false; error: SerializedSchemeError };

function serialize(e: unknown, task: WorkerTask): SerializedSchemeError {
  if (QuantlabError.isInstance(e)) {
    const context: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e.context)) {
      if (v === undefined || typeof v === "string" || typeof v === "number" || typeof v === "boolean") context[k] = v;
    }
    if (typeof context["row"] === "number") context["row"] = (context["row"] as number) + task.rowStart;
    return { code: e.code, message: e.message, context };
  }
  return {
    code: "QUANT_SCHEME_FAILED",
    message: `[${task.scheme}] quantize failed in a worker: ${e instanceof Error ? e.message : String(e)}`,
    context: { scheme: task.scheme, tensor: task.tensorName },
  };
}

/** Runs one task (exported for tests that want to call it without a thread). */
export function runWorkerTask(task: WorkerTask): WorkerReply {
  try {
    const scheme = builtinRegistry().get(task.scheme);
    const rowBytes = (task.nPerRow / scheme.layout.blockSize) * scheme.layout.typeSize;
    const src = new Float32Array(task.src, task.srcByteOffset, task.nRows * task.nPerRow);
    const dst = new Uint8Array(task.dst, task.dstByteOffset, task.nRows * rowBytes);
    quantizeTensor(scheme, src, task.nRows, task.nPerRow, {
      importance: task.importance,
      tensorName: task.tensorName,
      dst,
      // the caller scanned the whole tensor already
      skipFiniteCheck: true,
    });
    return { id: task.id, ok: true };
  } catch (e) {
    return { id: task.id, ok: false, error: serialize(e, task) };
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  port.on("message", (task: WorkerTask) => {
    port.postMessage(runWorkerTask(task));
  });
}
