import { statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, resolve } from "node:path";
import { openGguf } from "@quantlab/gguf";
import { createDefaultEvaluator, memoryCheck, parseSize, runSweep, type KvCacheType, type McTaskFile, type SweepEvent } from "@quantlab/eval";
import { collectImatrix, saveImatrix } from "@quantlab/imatrix";
import { loadModel, type BackendChoice } from "@quantlab/runtime";
import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";
import { fmtDuration, print, printJson, Progress } from "../io.js";

/** Ten presets across the range, the IQ ones need an imatrix (refused and reported without one). */
export const DEFAULT_SWEEP_PRESETS = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_XS", "Q3_K_M", "Q2_K", "IQ2_XXS", "IQ1_S"];

const MC_KINDS = ["hellaswag", "arc", "mmlu"] as const;

function csv(v: unknown): string[] {
  const parts = Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
  return parts.flatMap((p: string) => p.split(",")).map((s) => s.trim()).filter(Boolean);
}

/** `quantlab sweep`: the whole quantization study in one command. */
export const sweepCommand = defineCommand(
  {
    name: "sweep",
    summary: "quantize a model to many presets, evaluate each (PPL, KLD, accuracy, answers) and write a report with charts",
    usage: "-m FILE -o DIR [--presets P1,P2,...] [--imatrix auto|FILE --calib FILE] [--text FILE] [--mc KIND=FILE] [--prompts FILE] [--vram SIZE --ctx N]",
    options: [
      { name: "model", flags: ["-m", "--model"], kind: "string", arg: "FILE", description: "the full-precision GGUF (F32/F16/BF16)" },
      { name: "out", flags: ["-o", "--output"], kind: "string", arg: "DIR", description: "report folder (quantized files go to DIR/models)" },
      { name: "presets", flags: ["--presets"], kind: "list", arg: "P1,P2,...", description: `presets (default ${DEFAULT_SWEEP_PRESETS.join(",")})` },
      { name: "targetBpw", flags: ["--target-bpw"], kind: "list", arg: "X,Y", description: "also budget-driven mixes at these bits per weight" },
      { name: "imatrix", flags: ["--imatrix"], kind: "string", arg: "auto|FILE", description: "importance matrix: a file, or auto (computed once from --calib)" },
      { name: "calib", flags: ["--calib"], kind: "string", arg: "FILE", description: "calibration text for --imatrix auto" },
      { name: "calibChunks", flags: ["--calib-chunks"], kind: "number", arg: "N", description: "chunks of calibration text for --imatrix auto (default all)" },
      { name: "noPlain", flags: ["--no-plain"], kind: "boolean", description: "with an imatrix, do not also evaluate each preset without it" },
      { name: "text", flags: ["--text"], kind: "string", arg: "FILE", description: "held-out text for perplexity and KL divergence" },
      { name: "ctx", flags: ["-c", "--ctx-size"], kind: "number", arg: "N", description: "context for perplexity/KLD/imatrix chunks (default 512)" },
      { name: "chunks", flags: ["--chunks"], kind: "number", arg: "N", description: "at most N chunks of --text" },
      { name: "mc", flags: ["--mc"], kind: "list", arg: "KIND=FILE", description: "multiple-choice tasks: hellaswag=FILE, arc=FILE.jsonl, mmlu=FILE.csv (repeatable)" },
      { name: "mcTasks", flags: ["--mc-tasks"], kind: "number", arg: "N", description: "tasks per multiple-choice set (default: hellaswag 400, others all)" },
      { name: "prompts", flags: ["--prompts"], kind: "string", arg: "FILE", description: "prompts, one per line: answers shown side by side" },
      { name: "nPredict", flags: ["-n", "--n-predict"], kind: "number", arg: "N", description: "tokens per prompt answer (default 48)" },
      { name: "vram", flags: ["--vram"], kind: "string", arg: "SIZE", description: "memory to fit (12GiB, 8GB, ...): marks what fits and recommends" },
      { name: "kvCtx", flags: ["--ctx"], kind: "number", arg: "N", description: "context wanted for the memory check (default: the model's)" },
      { name: "kvType", flags: ["--kv-type"], kind: "string", arg: "TYPE", description: "KV cache type for the memory check (default f16)" },
      { name: "threads", flags: ["-t", "--threads"], kind: "number", arg: "N", description: "threads (quantize and evaluation)" },
      { name: "backend", flags: ["--backend"], kind: "string", arg: "NAME", description: "evaluation backend: cpu (default), cpu-ref, gpu, auto" },
      { name: "activations", flags: ["--activations"], kind: "string", arg: "ggml|f32", description: "matmul activations as ggml rounds them (default) or exact f32" },
      { name: "fresh", flags: ["--fresh"], kind: "boolean", description: "ignore results saved by an earlier run" },
    ],
    details: [
      "examples:",
      "  quantlab sweep -m tinystories-5m-f32.gguf --text heldout.txt -c 256 --chunks 40 -o report/",
      "  quantlab sweep -m model-f16.gguf --imatrix auto --calib calib.txt --text wiki.test.raw --mc arc=ARC-Easy-test.jsonl \\",
      "      --prompts prompts.txt --vram 12GiB --ctx 8192 -o report/",
      "Writes DIR/report.json, report.md, report.html (self-contained, charts inline) and one .svg per chart.",
      "Interrupted? Run the same command again: finished presets are reused. A failing preset is reported, the rest go on.",
    ].join("\n"),
  },
  async ({ io, mode, args, signal }) => {
    const o = args.options;
    if (typeof o.model !== "string") throw new UsageError("model path is required (-m)", "sweep");
    if (typeof o.out !== "string") throw new UsageError("report folder is required (-o DIR)", "sweep");
    const at = (p: string) => resolve(io.cwd, p);
    const model = at(o.model);
    const outDir = at(o.out);
    const presets = csv(o.presets);
    const targets = csv(o.targetBpw).map((s) => {
      const n = Number(s);
      if (!(n > 0)) throw new UsageError(`--target-bpw: bad value '${s}'`, "sweep");
      return n;
    });
    const ctx = typeof o.ctx === "number" ? o.ctx : 512;
    const threads = typeof o.threads === "number" ? o.threads : availableParallelism();
    const backend = (typeof o.backend === "string" ? o.backend : "cpu") as BackendChoice;
    if (o.imatrix === "auto" && typeof o.calib !== "string") throw new UsageError("--imatrix auto needs --calib FILE", "sweep");
    const mc: McTaskFile[] = csv(o.mc).map((spec) => {
      const eq = spec.indexOf("=");
      const kind = (eq > 0 ? spec.slice(0, eq) : spec) as McTaskFile["kind"];
      if (!MC_KINDS.includes(kind)) throw new UsageError(`--mc: unknown task '${kind}' (hellaswag, arc, mmlu)`, "sweep");
      if (eq < 0) throw new UsageError(`--mc ${kind}: give the file as ${kind}=FILE`, "sweep");
      return { kind, file: at(spec.slice(eq + 1)), tasks: typeof o.mcTasks === "number" ? o.mcTasks : undefined };
    });
    const vram = typeof o.vram === "string" ? o.vram : undefined;
    if (vram !== undefined) {
      try {
        parseSize(vram);
      } catch {
        throw new UsageError(`--vram: '${vram}' is not a size (e.g. 12GiB)`, "sweep");
      }
    }
    const text = typeof o.text === "string" ? await readFile(at(o.text), "utf8") : undefined;
    const prompts = typeof o.prompts === "string" ? (await readFile(at(o.prompts), "utf8")).split("\n").map((l) => l.trim()).filter(Boolean) : undefined;

    const gguf = await openGguf(model);
    let nWeights = 0;
    for (const t of gguf.tensors) nWeights += t.shape.reduce((a, b) => a * b, 1);
    const arch = String(gguf.get("general.architecture") ?? "unknown");
    const nLayer = Number(gguf.get(`${arch}.block_count`) ?? 0);
    await gguf.close();
    const fileBytes = statSync(model).size;

    // One progress line per phase of each row (imatrix, perplexity, kld, a task): rate and ETA are per phase.
    let progress = new Progress(io, mode, "sweep");
    let phaseKey = "";
    const phase = (key: string): Progress => {
      if (key !== phaseKey) {
        progress.done();
        progress = new Progress(io, mode, key);
        phaseKey = key;
      }
      return progress;
    };
    const say = (s: string) => {
      if (!mode.quiet && !mode.json) io.stderr.write(`${s}\n`);
    };
    const evaluator = createDefaultEvaluator({
      workDir: outDir,
      text,
      textName: typeof o.text === "string" ? basename(o.text) : undefined,
      ctx,
      chunks: typeof o.chunks === "number" ? o.chunks : undefined,
      mc,
      prompts,
      maxTokens: typeof o.nPredict === "number" ? o.nPredict : undefined,
      backend,
      threads,
      activations: o.activations === "f32" ? "f32" : "ggml",
      signal,
      onProgress: (p) => phase(`${p.label} ${p.phase}`).update({ done: p.done, total: p.total }),
    });
    const t0 = performance.now();
    const { report, files } = await runSweep({
      model,
      outDir,
      presets: presets.length > 0 ? presets : DEFAULT_SWEEP_PRESETS,
      targetBpw: targets,
      imatrix: o.imatrix === "auto" ? "auto" : typeof o.imatrix === "string" ? at(o.imatrix) : undefined,
      collectImatrix: async (path) => {
        const calib = await readFile(at(o.calib as string), "utf8");
        const m = await loadModel(model, { backend, ...(threads !== undefined ? { threads } : {}) });
        try {
          say(`computing the imatrix from ${o.calib as string} ...`);
          const r = await collectImatrix(m, calib, {
            nCtx: ctx,
            chunks: typeof o.calibChunks === "number" ? o.calibChunks : undefined,
            dataset: basename(o.calib as string),
            computePpl: false,
            outputFrequency: 0,
            signal,
            onProgress: (p) => phase("imatrix").update({ done: p.chunk, total: p.nChunks, unit: "chunks", scale: 1 }),
          });
          await saveImatrix(path, r.imatrix);
        } finally {
          await m.dispose();
        }
      },
      compareWithoutImatrix: o.noPlain !== true,
      evaluator,
      memory: vram !== undefined ? memoryCheck({ vram, ctx: typeof o.kvCtx === "number" ? o.kvCtx : undefined, kvType: typeof o.kvType === "string" ? (o.kvType as KvCacheType) : undefined }) : undefined,
      threads,
      reportSettings: { text: typeof o.text === "string" ? basename(o.text) : undefined, ctx, chunks: typeof o.chunks === "number" ? o.chunks : undefined, imatrix: typeof o.imatrix === "string" ? o.imatrix : undefined, vram: vram !== undefined ? parseSize(vram) : undefined, kvCtx: typeof o.kvCtx === "number" ? o.kvCtx : undefined, backend, threads },
      prompts,
      modelInfo: { file: basename(model), arch, fileBytes, nWeights, nLayer },
      fresh: o.fresh === true,
      signal,
      onEvent: (e: SweepEvent) => {
        if (e.kind === "start") say(`[${e.index + 1}/${e.total}] ${e.label}`);
        else if (e.kind === "row") {
          const r = e.row;
          const figs = r.status === "ok"
            ? [r.bpw !== undefined ? `${r.bpw.toFixed(2)} bpw` : "", r.ppl !== undefined ? `PPL ${r.ppl.toFixed(4)}` : "", r.meanKld !== undefined ? `KLD ${r.meanKld.toFixed(6)}` : ""].filter(Boolean).join(", ")
            : `${r.status}: ${r.error ?? ""}`;
          say(`  ${r.label}${e.reused ? " (saved)" : ""}: ${figs}`);
        } else if (e.kind === "imatrix") say(`imatrix: ${e.file}${e.reused ? " (saved)" : ""}`);
      },
    });
    progress.done();
    if (mode.json) {
      printJson(io, { report, files });
      return 0;
    }
    print(io, `sweep of ${basename(model)}: ${report.rows.filter((r) => r.status === "ok").length} of ${report.rows.length} presets evaluated in ${fmtDuration((performance.now() - t0) / 1000)}`);
    if (report.recommendation) print(io, `recommendation: ${report.recommendation.label} — ${report.recommendation.reason}`);
    for (const f of files) print(io, `wrote ${f}`);
    return report.rows.some((r) => r.status === "ok") ? 0 : 1;
  },
);
