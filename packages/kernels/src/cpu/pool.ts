/**
 * The calling thread's side of the CPU kernel workers: starts them on a shared WebAssembly.Memory, shares weight
 * buffers with them once, and runs jobs synchronously (write parameters, notify, do the own share, Atomics.wait).
 *
 * Workers are unref'd (they never keep the process alive) and stopped by {@link CpuWorkerPool.dispose}. Started
 * from the TypeScript sources (vitest, tsx) a worker boots through tsx; from the built package it is
 * `dist/cpu-worker.js` (an extra tsup entry) beside the bundle.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { QuantlabError } from "@quantlab/gguf";
import * as P from "./protocol.js";

/** How long the caller waits for a new worker to come up before giving up on threads. */
const START_TIMEOUT_MS = 30_000;

interface PoolWorker {
  worker: Worker;
  ctl: Int32Array;
  params: Float64Array;
  port: MessagePort;
  /** Ids of the weight buffers this worker holds. */
  shared: Set<number>;
  seq: number;
}

export class CpuWorkerPool {
  readonly workers: PoolWorker[] = [];
  private disposed = false;

  constructor(
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    size: number,
  ) {
    try {
      for (let i = 0; i < size; i++) this.workers.push(this.spawn());
    } catch (e) {
      void this.dispose();
      throw e;
    }
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (const w of this.workers) {
      while (Atomics.load(w.ctl, P.CTL_READY) === 0) {
        const left = deadline - Date.now();
        if (left <= 0) {
          void this.dispose();
          throw new QuantlabError("KERNEL_WORKER_FAILED", `cpu kernel worker did not start within ${START_TIMEOUT_MS} ms`);
        }
        Atomics.wait(w.ctl, P.CTL_READY, 0, Math.min(left, 50));
        // a worker that failed to load reports nothing; notice its exit through the error flag set below
        if (Atomics.load(w.ctl, P.CTL_ERROR) === 2) {
          void this.dispose();
          throw new QuantlabError("KERNEL_WORKER_FAILED", "cpu kernel worker failed to start");
        }
      }
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Makes sure worker `i` holds buffer `id` (posted before the job is signalled; the worker drains its port first). */
  share(i: number, id: number, buffer: SharedArrayBuffer): void {
    const w = this.workers[i]!;
    if (w.shared.has(id)) return;
    const msg: P.ShareBufferMessage = { type: "buffer", id, buffer };
    w.port.postMessage(msg);
    w.shared.add(id);
  }

  /** Parameter block of worker `i` (write the job here, then {@link start}). */
  params(i: number): Float64Array {
    return this.workers[i]!.params;
  }

  start(i: number): void {
    const w = this.workers[i]!;
    w.seq = (w.seq + 1) | 0;
    Atomics.store(w.ctl, P.CTL_SEQ, w.seq);
    Atomics.notify(w.ctl, P.CTL_SEQ);
  }

  /** Waits for worker `i`'s current job; throws its error, if any. */
  wait(i: number): void {
    const w = this.workers[i]!;
    for (;;) {
      const done = Atomics.load(w.ctl, P.CTL_DONE);
      if (done === w.seq) break;
      Atomics.wait(w.ctl, P.CTL_DONE, done, 1000);
      if (Atomics.load(w.ctl, P.CTL_ERROR) === 2) throw new QuantlabError("KERNEL_WORKER_FAILED", "a cpu kernel worker exited");
    }
    if (Atomics.load(w.ctl, P.CTL_ERROR) === 1) {
      let text = "unknown error";
      for (;;) {
        const m = receiveMessageOnPort(w.port);
        if (!m) break;
        const msg = m.message as P.WorkerErrorMessage;
        if (msg.type === "error") text = msg.message;
      }
      throw new QuantlabError("KERNEL_WORKER_FAILED", `cpu kernel worker: ${text}`);
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const ws = this.workers.splice(0);
    for (const w of ws) {
      w.params[P.P_OP] = P.OP_QUIT;
      w.seq = (w.seq + 1) | 0;
      Atomics.store(w.ctl, P.CTL_SEQ, w.seq);
      Atomics.notify(w.ctl, P.CTL_SEQ);
    }
    await Promise.all(ws.map((w) => w.worker.terminate().catch(() => 0)));
    for (const w of ws) w.port.close();
  }

  private spawn(): PoolWorker {
    const ctlBuf = new SharedArrayBuffer(P.CTL_INTS * 4);
    const paramBuf = new SharedArrayBuffer(P.PARAM_DOUBLES * 8);
    const { port1, port2 } = new MessageChannel();
    const workerData: P.CpuWorkerData = {
      module: this.module,
      memory: this.memory,
      ctl: ctlBuf,
      params: paramBuf,
      port: port2,
    };
    const worker = startWorker(workerData, [port2]);
    const ctl = new Int32Array(ctlBuf);
    worker.unref();
    port1.unref();
    const onGone = (): void => {
      Atomics.store(ctl, P.CTL_ERROR, 2);
      Atomics.notify(ctl, P.CTL_READY);
      Atomics.notify(ctl, P.CTL_DONE);
    };
    worker.on("error", onGone);
    worker.on("exit", onGone);
    return { worker, ctl, params: new Float64Array(paramBuf), port: port1, shared: new Set(), seq: 0 };
  }
}

/**
 * Starts one worker on cpu-worker.{ts,js}. From the built package: `cpu-worker.js` beside the bundle (or in a
 * `cpu/` folder, depending on how the bundler names entries). From the sources (this module's URL ends in .ts),
 * the worker must register tsx's ESM hooks before importing the .ts entry (on Node 20 `execArgv: ['--import',
 * 'tsx']` registers them too late for the entry module), so a small eval'd bootstrap does that; the "source"
 * export condition is passed on so workspace packages resolve to their sources as in the caller.
 */
function startWorker(workerData: P.CpuWorkerData, transferList: MessagePort[]): Worker {
  const transfer = transferList as unknown as import("node:worker_threads").TransferListItem[];
  if (!import.meta.url.endsWith(".ts")) {
    const here = new URL(".", import.meta.url);
    const candidates = ["./cpu-worker.js", "./cpu/cpu-worker.js", "../cpu-worker.js"].map((p) => new URL(p, here));
    const found = candidates.find((u) => u.protocol !== "file:" || existsSync(fileURLToPath(u)));
    // without the entry a Worker fails only asynchronously, which a caller blocked in Atomics.wait never sees
    if (!found) throw new QuantlabError("KERNEL_WORKER_FAILED", `cpu-worker.js not found beside ${import.meta.url}`);
    return new Worker(found, { workerData, transferList: transfer });
  }
  const entry = new URL("./cpu-worker.ts", import.meta.url).href;
  const api = tsxEsmApiUrl();
  const code =
    `import(${JSON.stringify(api)})` +
    `.then((m) => { m.register(); return import(${JSON.stringify(entry)}); })` +
    `.catch((e) => { setTimeout(() => { throw e; }); });`;
  return new Worker(code, { eval: true, execArgv: tsWorkerExecArgv(), workerData, transferList: transfer });
}

let tsxApi: string | undefined;

/** file: URL of tsx's ESM API (`tsx/esm/api`, import condition), resolved from this package. */
function tsxEsmApiUrl(): string {
  if (tsxApi) return tsxApi;
  let pkgPath: string;
  try {
    pkgPath = createRequire(import.meta.url).resolve("tsx/package.json");
  } catch (e) {
    throw new QuantlabError("KERNEL_WORKER_FAILED", "cpu kernel threads from TypeScript sources need the 'tsx' package", {}, { cause: e });
  }
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { exports: Record<string, { import?: { default?: string } } | string> };
  const entry = pkg.exports["./esm/api"];
  const rel = typeof entry === "object" ? entry.import?.default : undefined;
  if (!rel) throw new QuantlabError("KERNEL_WORKER_FAILED", `tsx at ${pkgPath} has no ./esm/api export`);
  tsxApi = pathToFileURL(join(dirname(pkgPath), rel)).href;
  return tsxApi;
}

/** Node options for a worker running the sources: the caller's, minus loaders (the bootstrap adds tsx), plus `--conditions=source`. */
function tsWorkerExecArgv(): string[] {
  const argv: string[] = [];
  const src = process.execArgv;
  for (let i = 0; i < src.length; i++) {
    const a = src[i]!;
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
