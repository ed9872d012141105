/**
 * Multi-threaded quantization of one tensor on node:worker_threads.
 *
 * Rows are independent in every ggml quantization type (a row's bytes depend only on that row and the
 * importance vector), so the rows are cut into contiguous chunks and each chunk is quantized by a worker
 * with the same scheme code; the output is byte-identical to {@link quantizeTensor} for any thread count.
 *
 * Input and output live in SharedArrayBuffers: a worker reads its rows and writes its blocks in place, nothing
 * is copied per row (an input that is not already in a SharedArrayBuffer is copied into one once per tensor).
 * Workers resolve the scheme by name from the built-in registry, so only built-in schemes can run here; a
 * custom scheme runs inline through `quantizeTensor`.
 *
 * The workers form one small pool per process, created on first use and reused by later calls (grown when a
 * call asks for more threads). Idle workers do not keep the process alive; {@link terminateQuantizePool}
 * stops them. Works from the TypeScript sources (vitest, tsx: the worker is started with `--import tsx`) and
 * from the built package (`dist/parallel-worker.js` beside `dist/index.js`).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { builtinRegistry } from "./builtin.js";
import { SchemeError } from "./errors.js";
import { firstNonFinite, quantizeTensor } from "./registry.js";
import type { QuantScheme } from "./scheme.js";
import type { SerializedSchemeError, WorkerReply, WorkerTask } from "./parallel-worker.js";

export interface QuantizeParallelOptions {
  /** Importance vector (`nPerRow` finite, non-negative floats), as for `quantizeTensor`. */
  importance?: Float32Array | null | undefined;
  /** Worker threads to use. Default: `os.availableParallelism()`. `<= 1` runs inline on this thread. */
  threads?: number | undefined;
  /** Tensor name, for error messages. */
  tensorName?: string | undefined;
  /** Skip the NaN/Inf scan of the input. */
  skipFiniteCheck?: boolean | undefined;
  /**
   * Output buffer (at least `nRows · rowSize` bytes). Written in place by the workers when it lives in a
   * SharedArrayBuffer, else filled by one copy at the end. When absent, the result is a new Uint8Array over a
   * SharedArrayBuffer (usable like any other; `fs.write` and `Buffer.from` accept it).
   */
  dst?: Uint8Array | undefined;
  /**
   * Tensors with fewer values than this run inline (starting workers would cost more than it saves).
   * Default {@link MIN_PARALLEL_ELEMENTS}.
   */
  minParallelElements?: number | undefined;
}

/**
 * Default for {@link QuantizeParallelOptions.minParallelElements}: 2^20 values. With the WebAssembly kernels a tensor
 * below that quantizes in about 1–15 ms on one thread, while starting the pool costs 50–100 ms and each hand-off
 * ~0.1–0.5 ms: measured on tinystories-5m (largest tensor 196,608 values), 2 threads with the old 65,536 threshold
 * were slower than 1 (Q8_0 0.29 s vs 0.20 s for the whole process).
 */
export const MIN_PARALLEL_ELEMENTS = 1 << 20;
/** The pool never grows past this many workers. */
const MAX_POOL_SIZE = 64;
/** Chunks per thread: a few per worker evens out rows of different cost without much messaging. */
const CHUNKS_PER_THREAD = 4;

/**
 * Quantizes `nRows` rows of `nPerRow` values with the built-in scheme `schemeName`, spread over worker threads.
 * Resolves to the quantized bytes (`nRows · rowSize`), identical to `quantizeTensor` for any `threads`.
 * Errors are the same `SchemeError`s as `quantizeTensor` raises (plus `SCHEME_NOT_FOUND` for an unknown name).
 */
export async function quantizeTensorParallel(
  schemeName: string,
  src: Float32Array,
  nRows: number,
  nPerRow: number,
  options: QuantizeParallelOptions = {},
): Promise<Uint8Array> {
  const scheme = builtinRegistry().get(schemeName);
  const importance = options.importance ?? null;
  const threads = Math.max(1, Math.min(MAX_POOL_SIZE, Math.floor(options.threads ?? availableParallelism())));
  const minElements = options.minParallelElements ?? MIN_PARALLEL_ELEMENTS;
  const common = { importance, tensorName: options.tensorName, skipFiniteCheck: options.skipFiniteCheck, dst: options.dst };

  // Shape, row length and importance checks: the host's own, run on zero rows (no quantization happens).
  quantizeTensor(scheme, src, 0, nPerRow, { importance, tensorName: options.tensorName, skipFiniteCheck: true });
  if (!Number.isInteger(nRows) || nRows < 0 || src.length < nRows * nPerRow) {
    // let the host produce the exact error
    return quantizeTensor(scheme, src, nRows, nPerRow, common);
  }
  if (threads <= 1 || nRows < 2 || nRows * nPerRow < minElements) {
    return quantizeTensor(scheme, src, nRows, nPerRow, common);
  }
  if (!options.skipFiniteCheck) checkFinite(scheme, src, nRows, nPerRow, importance, options.tensorName);

  const n = nRows * nPerRow;
  const { blockSize, typeSize } = scheme.layout;
  const rowBytes = (nPerRow / blockSize) * typeSize;

  // Input in shared memory: used in place when it already is, else copied once.
  let srcBuf: SharedArrayBuffer;
  let srcOffset: number;
  if (src.buffer instanceof SharedArrayBuffer) {
    srcBuf = src.buffer;
    srcOffset = src.byteOffset;
  } else {
    srcBuf = new SharedArrayBuffer(n * 4);
    srcOffset = 0;
    new Float32Array(srcBuf).set(src.subarray(0, n));
  }
  const bytes = nRows * rowBytes;
  const userDst = options.dst;
  if (userDst && userDst.length < bytes) {
    throw new SchemeError("QUANT_BAD_SHAPE", `output buffer has ${userDst.length} bytes, ${bytes} needed`, {
      scheme: scheme.name,
      tensor: options.tensorName,
    });
  }
  let dstBuf: SharedArrayBuffer;
  let dstOffset: number;
  if (userDst && userDst.buffer instanceof SharedArrayBuffer) {
    dstBuf = userDst.buffer;
    dstOffset = userDst.byteOffset;
  } else {
    dstBuf = new SharedArrayBuffer(bytes);
    dstOffset = 0;
  }

  const pool = getPool(threads);
  const nChunks = Math.min(nRows, threads * CHUNKS_PER_THREAD);
  const tasks: Promise<void>[] = [];
  for (let c = 0; c < nChunks; c++) {
    const rowStart = Math.floor((c * nRows) / nChunks);
    const rowEnd = Math.floor(((c + 1) * nRows) / nChunks);
    if (rowEnd <= rowStart) continue;
    tasks.push(
      pool.run({
        id: 0,
        scheme: scheme.name,
        src: srcBuf,
        srcByteOffset: srcOffset + rowStart * nPerRow * 4,
        dst: dstBuf,
        dstByteOffset: dstOffset + rowStart * rowBytes,
        nRows: rowEnd - rowStart,
        nPerRow,
        importance,
        tensorName: options.tensorName,
        rowStart,
      }),
    );
  }
  await settleAll(tasks);
  const out = new Uint8Array(dstBuf, dstOffset, bytes);
  if (!userDst) return out;
  if (userDst.buffer !== dstBuf) userDst.set(out);
  return userDst.length === bytes ? userDst : userDst.subarray(0, bytes);
}

/** Waits for every task; rethrows the first failure (after all have settled, so no worker writes late). */
async function settleAll(tasks: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(tasks);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}

/** The host's NaN/Inf check with its error, run once over the whole input on this thread. */
function checkFinite(
  scheme: QuantScheme,
  src: Float32Array,
  nRows: number,
  nPerRow: number,
  importance: Float32Array | null,
  tensorName: string | undefined,
): void {
  if (firstNonFinite(src, 0, nRows * nPerRow) < 0) return;
  // the host raises QUANT_NONFINITE_INPUT (with row and column) before it looks at the output buffer
  quantizeTensor(scheme, src, nRows, nPerRow, { tensorName, importance, dst: new Uint8Array(0) });
}

// ------------------------------------------------------------------------------------------------ pool

interface PendingTask {
  msg: WorkerTask;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface PoolWorker {
  worker: Worker;
  busy: PendingTask | null;
}

/** A fixed set of workers with a FIFO task queue. */
class QuantizePool {
  readonly workers: PoolWorker[] = [];
  private readonly queue: PendingTask[] = [];
  private nextId = 1;
  /** Workers started over the pool's life (tests check that calls reuse them). */
  spawned = 0;
  /** Workers lost to a crash. */
  failures = 0;

  grow(size: number): void {
    while (this.workers.length < size) this.workers.push(this.spawn());
  }

  run(msg: WorkerTask): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ msg: { ...msg, id: this.nextId++ }, resolve, reject });
      this.pump();
    });
  }

  async terminate(): Promise<void> {
    const ws = this.workers.splice(0);
    for (const t of this.queue.splice(0)) t.reject(new SchemeError("QUANT_SCHEME_FAILED", "the quantization pool was terminated"));
    await Promise.all(ws.map((w) => w.worker.terminate()));
  }

  private pump(): void {
    for (const pw of this.workers) {
      if (this.queue.length === 0) return;
      if (pw.busy) continue;
      const t = this.queue.shift()!;
      pw.busy = t;
      pw.worker.ref(); // keep the process alive while work is in flight
      pw.worker.postMessage(t.msg);
    }
  }

  private spawn(): PoolWorker {
    const worker = startWorker();
    this.spawned++;
    const pw: PoolWorker = { worker, busy: null };
    worker.unref();
    worker.on("message", (reply: WorkerReply) => {
      const t = pw.busy;
      pw.busy = null;
      worker.unref();
      if (t) {
        if (reply.ok) t.resolve();
        else t.reject(reviveError(reply.error));
      }
      this.pump();
    });
    const fail = (e: unknown): void => {
      const i = this.workers.indexOf(pw);
      if (i >= 0) this.workers.splice(i, 1);
      this.failures++;
      const err =
        e instanceof SchemeError
          ? e
          : new SchemeError("QUANT_SCHEME_FAILED", `quantization worker failed: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e });
      const t = pw.busy;
      pw.busy = null;
      if (t) t.reject(err);
      if (this.queue.length === 0) return;
      if (this.failures <= MAX_WORKER_FAILURES) {
        // replace the lost worker so queued tasks still run
        this.workers.push(this.spawn());
        this.pump();
      } else if (this.workers.length === 0) {
        for (const q of this.queue.splice(0)) q.reject(err);
      }
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      if (pw.busy) fail(new Error(`worker exited with code ${code}`));
      else {
        const i = this.workers.indexOf(pw);
        if (i >= 0) this.workers.splice(i, 1);
      }
    });
    return pw;
  }
}

/** Worker crashes tolerated over a pool's life before queued work is failed instead of retried. */
const MAX_WORKER_FAILURES = 3;

/**
 * Starts one worker on parallel-worker.{ts,js} beside this module. From the built package it is the .js file.
 * From the TypeScript sources (this module's URL ends in .ts: vitest, tsx) the worker must load tsx before
 * the .ts entry: on Node 20 a worker's `execArgv: ['--import', 'tsx']` registers the hooks too late for the
 * entry module ("Unknown file extension .ts"), so a two-line bootstrap registers tsx's ESM hooks
 * (`tsx/esm/api` register()) and then imports the entry. The "source" export condition is passed on, so
 * workspace packages resolve to their sources as in the parent.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith(".ts")) {
    return new Worker(new URL("./parallel-worker.js", import.meta.url));
  }
  const entry = new URL("./parallel-worker.ts", import.meta.url).href;
  const api = tsxEsmApiUrl();
  const code =
    `import(${JSON.stringify(api)})` +
    `.then((m) => { m.register(); return import(${JSON.stringify(entry)}); })` +
    `.catch((e) => { setTimeout(() => { throw e; }); });`;
  return new Worker(code, { eval: true, execArgv: tsWorkerExecArgv() });
}

let tsxApi: string | undefined;

/** file: URL of tsx's ESM API (`tsx/esm/api`, import condition), resolved from this package. */
function tsxEsmApiUrl(): string {
  if (tsxApi) return tsxApi;
  let pkgPath: string;
  try {
    pkgPath = createRequire(import.meta.url).resolve("tsx/package.json");
  } catch (e) {
    throw new SchemeError("QUANT_UNSUPPORTED", "parallel quantization from TypeScript sources needs the 'tsx' package", {}, { cause: e });
  }
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { exports: Record<string, { import?: { default?: string } } | string> };
  const entry = pkg.exports["./esm/api"];
  const rel = typeof entry === "object" ? entry.import?.default : undefined;
  if (!rel) throw new SchemeError("QUANT_UNSUPPORTED", `tsx at ${pkgPath} has no ./esm/api export`);
  tsxApi = pathToFileURL(join(dirname(pkgPath), rel)).href;
  return tsxApi;
}

/** Node options for a worker that runs the TypeScript sources: tsx, and the "source" export condition. */
function tsWorkerExecArgv(): string[] {
  const argv: string[] = [];
  const src = process.execArgv;
  for (let i = 0; i < src.length; i++) {
    const a = src[i]!;
    // loaders are registered by the bootstrap; everything else (conditions, warnings) is inherited
    if ((a === "--import" || a === "--loader" || a === "--experimental-loader" || a === "--require" || a === "-r") && i + 1 < src.length) {
      i++;
      continue;
    }
    if (/^--(import|loader|experimental-loader|require)=/.test(a)) continue;
    argv.push(a);
  }
  if (!argv.some((a, i) => a === "--conditions=source" || a === "-C=source" || ((a === "--conditions" || a === "-C") && argv[i + 1] === "source"))) {
    argv.push("--conditions=source");
  }
  return argv;
}

function reviveError(e: SerializedSchemeError): Error {
  const err = new SchemeError(e.code, e.message, e.context);
  // keep the worker's exact message (the constructor adds the scheme/tensor decorations a second time)
  err.message = e.message;
  return err;
}

let pool: QuantizePool | undefined;

function getPool(threads: number): QuantizePool {
  pool ??= new QuantizePool();
  pool.grow(threads);
  return pool;
}

/** Stops the worker pool (a later call starts a new one). */
export async function terminateQuantizePool(): Promise<void> {
  const p = pool;
  pool = undefined;
  if (p) await p.terminate();
}

/** Pool size and the number of workers started so far (0 before first use). */
export function quantizePoolStats(): { size: number; spawned: number } {
  return { size: pool?.workers.length ?? 0, spawned: pool?.spawned ?? 0 };
}
