import { readdir, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { estimateMemory, fitModels, formatBytes, KV_CACHE_TYPES, memoryModelInfo, parseSize, type MemoryEstimate, type MemoryModelInfo, type MemoryOptions } from "@quantlab/eval";
import { openGguf, QuantlabError } from "@quantlab/gguf";
import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";
import { print, printJson, table } from "../io.js";
import { intOption } from "./perplexity.js";

const CMD = "fit";

function kvTypeOption(v: unknown, flag: string): string | undefined {
  if (v === undefined) return undefined;
  const t = String(v).toLowerCase();
  if (!(t in KV_CACHE_TYPES)) throw new UsageError(`${flag}: unknown KV cache type '${String(v)}' (one of ${Object.keys(KV_CACHE_TYPES).join(", ")})`, CMD);
  return t;
}

/** The GGUF files named: files as given, folders expanded to their `.gguf` files (first shard of split models only). */
async function expandModels(io: { cwd: string }, names: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const n of names) {
    const p = resolve(io.cwd, n);
    let isDir = false;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch {
      throw new QuantlabError("CLI_FILE_NOT_FOUND", `no such file or folder: ${n}`, { file: n });
    }
    if (!isDir) {
      out.push(p);
      continue;
    }
    const files = (await readdir(p))
      .filter((f) => f.toLowerCase().endsWith(".gguf"))
      .filter((f) => !/-\d{5}-of-\d{5}\.gguf$/i.test(f) || /-00001-of-\d{5}\.gguf$/i.test(f))
      .sort();
    if (files.length === 0) throw new UsageError(`no .gguf files in ${n}`, CMD);
    out.push(...files.map((f) => join(p, f)));
  }
  return out;
}

function perLayerSummary(e: MemoryEstimate): string {
  const groups = new Map<number, number>();
  for (const b of e.kvPerLayer) groups.set(b, (groups.get(b) ?? 0) + 1);
  return [...groups].map(([b, n]) => `${n} layer${n === 1 ? "" : "s"} × ${formatBytes(b)}`).join(" + ");
}

function estimateJson(file: string, info: MemoryModelInfo, e: MemoryEstimate, fit?: { fits: boolean; maxCtx: number }): Record<string, unknown> {
  return {
    file,
    architecture: info.architecture,
    nLayer: info.nLayer,
    nHead: info.nHead,
    nHeadKv: info.nHeadKv,
    headDimK: info.headDimK,
    headDimV: info.headDimV,
    nVocab: info.nVocab,
    nCtxTrain: info.nCtxTrain,
    slidingWindow: info.slidingWindow,
    ctx: e.ctx,
    weights: e.weights,
    kvCache: e.kvCache,
    kvPerLayer: e.kvPerLayer,
    compute: e.compute,
    output: e.output,
    total: e.total,
    ...(fit ? { fits: fit.fits, maxCtx: fit.maxCtx } : {}),
  };
}

/** `quantlab fit`: memory needed by a model (weights, KV cache, compute), and which quantizations fit a budget. */
export const fitCommand = defineCommand(
  {
    name: "fit",
    summary: "memory a model needs (weights, KV cache, compute) and which quantizations fit in --vram, with their largest context",
    usage: "MODEL... [--ctx N] [--kv-type TYPE] [--vram SIZE] [--ubatch N] [options]",
    positionals: [{ name: "models", description: "GGUF files, or folders of them (e.g. the quantizations of one model)", variadic: true }],
    options: [
      { name: "ctx", flags: ["-c", "--ctx", "--ctx-size"], kind: "number", arg: "N", description: "context size (default: the model's training context, 4096 when unknown)" },
      { name: "kvType", flags: ["--kv-type"], kind: "string", arg: "TYPE", description: `KV cache type for K and V: ${Object.keys(KV_CACHE_TYPES).join(", ")} (default f16)` },
      { name: "kvTypeK", flags: ["-ctk", "--cache-type-k"], kind: "string", arg: "TYPE", description: "KV cache type for K only" },
      { name: "kvTypeV", flags: ["-ctv", "--cache-type-v"], kind: "string", arg: "TYPE", description: "KV cache type for V only" },
      { name: "vram", flags: ["--vram", "--memory"], kind: "string", arg: "SIZE", description: "memory budget: 12GiB, 12GB, 800MiB, 1.5 GiB, bytes" },
      { name: "ubatch", flags: ["-ub", "--ubatch", "--ubatch-size"], kind: "number", arg: "N", description: "micro-batch size (default 512)" },
      { name: "parallel", flags: ["-np", "--parallel"], kind: "number", arg: "N", description: "parallel sequences, each with its own context (default 1)" },
      { name: "flashAttn", flags: ["-fa", "--flash-attn"], kind: "boolean", description: "flash attention (no attention score buffer)" },
      { name: "swaFull", flags: ["--swa-full"], kind: "boolean", description: "full-size KV cache on sliding-window layers" },
    ],
    details: [
      "examples:",
      "  quantlab fit model-Q4_K_M.gguf --ctx 8192 --kv-type q8_0",
      "  quantlab fit quants/ --vram 12GiB --ctx 8192",
      "Weights are exact (tensor data sizes); the KV cache follows llama.cpp's layout; the compute buffer is an estimate.",
    ].join("\n"),
  },
  async ({ io, mode, args }) => {
    const o = args.options;
    if (args.positionals.length === 0) throw new UsageError("at least one MODEL (file or folder) is required", CMD);
    const ctx = intOption(args, "ctx", "--ctx", CMD);
    const nUbatch = intOption(args, "ubatch", "--ubatch", CMD);
    const nSeq = intOption(args, "parallel", "-np", CMD);
    const kvType = kvTypeOption(o.kvType, "--kv-type");
    const kvTypeK = kvTypeOption(o.kvTypeK, "-ctk");
    const kvTypeV = kvTypeOption(o.kvTypeV, "-ctv");
    let vram: number | undefined;
    if (o.vram !== undefined) {
      try {
        vram = parseSize(String(o.vram));
      } catch (e) {
        throw new UsageError(`--vram: ${(e as Error).message}`, CMD);
      }
    }
    const memOpts: Omit<MemoryOptions, "ctx"> = {
      ...(kvType !== undefined ? { kvType } : {}),
      ...(kvTypeK !== undefined ? { kvTypeK } : {}),
      ...(kvTypeV !== undefined ? { kvTypeV } : {}),
      ...(nUbatch !== undefined ? { nUbatch } : {}),
      ...(nSeq !== undefined ? { nSeq } : {}),
      flashAttention: o.flashAttn === true,
      swaFull: o.swaFull === true,
    };
    const files = await expandModels(io, args.positionals);
    const rows: { file: string; info: MemoryModelInfo; estimate: MemoryEstimate; fit?: { fits: boolean; maxCtx: number } }[] = [];
    if (vram !== undefined) {
      for (const r of await fitModels(files, { ...memOpts, vram, ctx })) rows.push({ file: r.file, info: r.info, estimate: r.estimate, fit: { fits: r.fits, maxCtx: r.maxCtx } });
    } else {
      for (const f of files) {
        const g = await openGguf(f);
        try {
          const info = memoryModelInfo(g);
          rows.push({ file: f, info, estimate: estimateMemory(info, { ...memOpts, ctx: ctx ?? (info.nCtxTrain || 4096) }) });
        } finally {
          await g.close();
        }
      }
    }
    const kvLabel = `${kvTypeK ?? kvType ?? "f16"}/${kvTypeV ?? kvType ?? "f16"}`;
    if (mode.json) {
      printJson(io, { vram: vram ?? null, kvType: kvLabel, models: rows.map((r) => estimateJson(r.file, r.info, r.estimate, r.fit)) });
      return 0;
    }
    if (rows.length === 1) {
      const { file, info, estimate: e, fit } = rows[0]!;
      const kvHeads = [...new Set(info.nHeadKv)].join("/");
      print(io, `${basename(file)}: ${info.architecture}, ${info.nLayer} layers, ${info.nHead} heads / ${kvHeads} KV heads, head dim ${info.headDimK}, vocab ${info.nVocab}, trained context ${info.nCtxTrain}`);
      print(io, `context ${e.ctx}, KV cache ${kvLabel}${nSeq !== undefined && nSeq > 1 ? `, ${nSeq} sequences` : ""}`);
      print(io);
      print(
        io,
        table(
          ["part", "bytes", "size", "notes"],
          [
            ["weights", e.weights, formatBytes(e.weights), `${info.nTensors} tensors (exact)`],
            ["KV cache", e.kvCache, formatBytes(e.kvCache), `${perLayerSummary(e)} (K+V)`],
            ["compute", e.compute, formatBytes(e.compute), "estimate"],
            ["output", e.output, formatBytes(e.output), "logits"],
            ["total", e.total, formatBytes(e.total), ""],
          ],
        ),
      );
      if (fit && vram !== undefined) {
        print(io);
        print(io, `${fit.fits ? "fits" : "does not fit"} in ${formatBytes(vram)}; largest context that fits: ${fit.maxCtx === 0 ? "none" : fit.maxCtx}`);
      }
      return 0;
    }
    const headers = ["model", "weights", "KV cache", "compute", "total", ...(vram !== undefined ? ["fits", "max ctx"] : [])];
    print(io, `context ${ctx ?? "(each model's training context)"}, KV cache ${kvLabel}${vram !== undefined ? `, budget ${formatBytes(vram)}` : ""}`);
    print(io);
    print(
      io,
      table(
        headers,
        rows.map((r) => [
          basename(r.file),
          formatBytes(r.estimate.weights),
          formatBytes(r.estimate.kvCache),
          formatBytes(r.estimate.compute),
          formatBytes(r.estimate.total),
          ...(r.fit ? [r.fit.fits ? "yes" : "no", r.fit.maxCtx] : []),
        ]),
      ),
    );
    return 0;
  },
);
