import { open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, extname, join, resolve } from "node:path";
import {
  formatChunkPpl,
  formatHellaswagLine,
  formatKldSummary,
  formatMcFinal,
  formatPerplexityFinal,
  hellaswagScore,
  KLD_CHUNK_HEADER,
  klDivergence,
  multipleChoiceScore,
  openKldBase,
  parseArcJsonl,
  parseHellaswag,
  parseLlamaMcBinary,
  parseMmluCsv,
  perplexity,
  type KldSummary,
  type McResult,
  type McTask,
} from "@quantlab/eval";
import { QuantlabError } from "@quantlab/gguf";
import { loadModel, type BackendChoice, type Model } from "@quantlab/runtime";
import { UsageError, type OptionSpec, type ParsedArgs } from "../args.js";
import { defineCommand } from "../command.js";
import { print, printJson, Progress, type CliIO, type OutputMode } from "../io.js";

// ------------------------------------------------------------------------------------------ shared by eval commands

const BACKENDS = ["auto", "cpu", "cpu-ref", "gpu"] as const;

/** Model-loading options shared by perplexity, kld, mc and imatrix (llama.cpp spellings). */
export const MODEL_OPTIONS: readonly OptionSpec[] = [
  { name: "model", flags: ["-m", "--model"], kind: "string", arg: "FILE", description: "GGUF model (any block type)" },
  { name: "threads", flags: ["-t", "--threads"], kind: "number", arg: "N", description: "CPU threads (default: all cores)" },
  { name: "batch", flags: ["-b", "--batch-size"], kind: "number", arg: "N", description: "tokens per forward batch (default: the whole chunk)" },
  { name: "backend", flags: ["--backend"], kind: "string", arg: "NAME", description: "auto, cpu, cpu-ref or gpu", default: "cpu" },
  { name: "activations", flags: ["--activations"], kind: "string", arg: "ggml|f32", description: "matmul activations rounded like ggml's CPU backend (default, figures comparable with llama.cpp) or exact f32" },
];

/** A positive integer option, or undefined when absent; a {@link UsageError} otherwise. */
export function intOption(args: ParsedArgs, name: string, flag: string, command: string, min = 1): number | undefined {
  const v = args.options[name];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new UsageError(`${flag} expects an integer >= ${min}, got ${String(v)}`, command);
  return v;
}

export function requireString(args: ParsedArgs, name: string, what: string, command: string): string {
  const v = args.options[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`${what} is required`, command);
  return v;
}

/**
 * The runtime model seen through the evaluators' `evaluate(tokens, { logits })`, with `-b` passed on as the
 * runtime's `nBatch` (the evaluators themselves know nothing of batches).
 */
export function withBatch(model: Model, nBatch: number | undefined): Model {
  if (nBatch === undefined) return model;
  return new Proxy(model, {
    get(target, prop, receiver) {
      if (prop === "evaluate") {
        return (tokens: ArrayLike<number>, opts: Parameters<Model["evaluate"]>[1] = {}) => target.evaluate(tokens, { ...opts, nBatch });
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Validates `-m`, `-t`, `-b`, `--backend` and loads the model (with a progress note on stderr). */
export async function loadEvalModel(args: ParsedArgs, io: CliIO, mode: OutputMode, command: string): Promise<{ model: Model; path: string; nBatch: number | undefined }> {
  const path = requireString(args, "model", "model path (-m FILE)", command);
  const backend = (typeof args.options.backend === "string" ? args.options.backend : "cpu") as BackendChoice;
  if (!BACKENDS.includes(backend as (typeof BACKENDS)[number])) throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")} (got '${String(backend)}')`, command);
  const threads = intOption(args, "threads", "-t", command);
  const nBatch = intOption(args, "batch", "-b", command);
  const full = await inputPath(io, path, "-m");
  const t0 = Date.now();
  const act = args.options.activations ?? "ggml";
  if (act !== "ggml" && act !== "f32") throw new UsageError(`--activations must be ggml or f32 (got '${String(act)}')`, command);
  const model = await loadModel(full, { backend, activations: act, ...(threads !== undefined ? { threads } : {}) });
  note(io, mode, `loaded ${path} (${model.config.arch}, backend ${model.backend}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { model: withBatch(model, nBatch), path, nBatch };
}

/** Resolves an input path and checks that it can be read: `CLI_FILE_NOT_FOUND` (with the file) instead of a raw fs error. */
export async function inputPath(io: CliIO, name: string, flag: string): Promise<string> {
  const p = resolve(io.cwd, name);
  try {
    await stat(p);
  } catch (e) {
    throw new QuantlabError("CLI_FILE_NOT_FOUND", `${flag}: cannot read '${name}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: name });
  }
  return p;
}

/** A line on stderr unless --quiet/--json. */
export function note(io: CliIO, mode: OutputMode, text: string): void {
  if (!mode.quiet && !mode.json) io.stderr.write(`${text}\n`);
}

/** Streams bytes to `path` through a temporary file renamed at the end (removed on failure): never a half file. */
export async function writeStreamAtomic(path: string, produce: (write: (bytes: Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fh = await open(tmp, "w");
  let ok = false;
  try {
    await produce(async (bytes) => {
      let off = 0;
      while (off < bytes.length) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten;
    });
    await fh.close();
    await rename(tmp, path);
    ok = true;
  } finally {
    if (!ok) {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
    }
  }
}

// ------------------------------------------------------------------------------------------ modes

export interface KldRun {
  readonly summary: KldSummary;
  readonly lines: string[];
  readonly nChunk: number;
  readonly nCtx: number;
}

/** `--kl-divergence` with a base file: every chunk line and the summary block, like llama-perplexity. */
export async function runKld(model: Model, basePath: string, chunks: number | undefined, io: CliIO, mode: OutputMode, signal: AbortSignal): Promise<KldRun> {
  const base = await openKldBase(basePath);
  try {
    const progress = new Progress(io, mode, "kld");
    const lines: string[] = [];
    const r = await klDivergence(model, base, {
      chunks,
      signal,
      onChunk: (p) => {
        lines.push(p.line);
        progress.update({ done: p.chunk, total: p.nChunk, label: `chunk ${p.chunk}/${p.nChunk} KLD ${p.running.kld.value.toFixed(6)}`, unit: "chunks" });
      },
    });
    progress.done();
    return { summary: r.summary, lines, nChunk: r.nChunk, nCtx: r.nCtx };
  } finally {
    await base.close();
  }
}

export function printKld(io: CliIO, mode: OutputMode, extra: Record<string, unknown>, r: KldRun): void {
  if (mode.json) {
    printJson(io, { ...extra, mode: "kl-divergence", nCtx: r.nCtx, nChunk: r.nChunk, summary: r.summary });
    return;
  }
  print(io, [KLD_CHUNK_HEADER, ...r.lines].join("\n"));
  print(io);
  print(io, formatKldSummary(r.summary));
}

/** MMLU subject from a file name: `abstract_algebra_test.csv` → `abstract algebra`. */
function mmluSubject(file: string): string {
  return basename(file, extname(file)).replace(/_(dev|test|val|validation)$/, "").replace(/_/g, " ");
}

/** Reads a multiple-choice task file: ARC `.jsonl`, MMLU `.csv` (or a folder of them), else llama.cpp's binary format. */
export async function readMcTasks(path: string, kind: "arc" | "mmlu" | "binary" | "auto"): Promise<McTask[]> {
  const st = await stat(path);
  if (st.isDirectory()) {
    const names = (await readdir(path)).filter((n) => n.toLowerCase().endsWith(".csv")).sort();
    if (names.length === 0) throw new UsageError(`${path}: no .csv files in the folder`);
    const all: McTask[] = [];
    for (const n of names) all.push(...(await readMcTasks(join(path, n), "mmlu")));
    return all;
  }
  const ext = extname(path).toLowerCase();
  const k = kind === "auto" ? (ext === ".jsonl" || ext === ".json" ? "arc" : ext === ".csv" ? "mmlu" : "binary") : kind;
  if (k === "binary") return parseLlamaMcBinary(new Uint8Array(await readFile(path)), path);
  const text = await readFile(path, "utf8");
  return k === "arc" ? parseArcJsonl(text, path) : parseMmluCsv(text, path, { subject: mmluSubject(path) });
}

export function mcJson(r: McResult): Record<string, unknown> {
  return {
    n: r.n,
    nCorrect: r.nCorrect,
    accuracy: r.accuracy,
    stderr: r.stderr,
    wilson95: r.wilson95,
    randomChance: r.randomChance,
    tasks: r.tasks.map((t) => ({ index: t.index, id: t.id, answer: t.answer, predicted: t.predicted, correct: t.correct, scores: t.scores })),
  };
}

/** Scores tasks with a progress bar (HellaSwag: llama.cpp's task pick and default of 400). */
export async function runMc(
  model: Model,
  tasks: readonly McTask[],
  kind: "hellaswag" | "mc",
  opts: { tasks: number | undefined; nCtx: number | undefined; noShuffle?: boolean },
  io: CliIO,
  mode: OutputMode,
  signal: AbortSignal,
): Promise<McResult> {
  const progress = new Progress(io, mode, kind === "hellaswag" ? "hellaswag" : "multiple-choice");
  const o = {
    tasks: opts.tasks,
    nCtx: opts.nCtx,
    noShuffle: opts.noShuffle === true,
    signal,
    onTask: (p: { done: number; total: number; accuracy: number }) =>
      progress.update({ done: p.done, total: p.total, label: `acc ${(p.accuracy * 100).toFixed(2)}%`, unit: "tasks" }),
  };
  const r = kind === "hellaswag" ? await hellaswagScore(model, tasks, o) : await multipleChoiceScore(model, tasks, o);
  progress.done();
  return r;
}

/** HellaSwag's running lines (`i\tacc%\t[lo%, hi%]`), one per task as llama-perplexity prints them. */
export function hellaswagLines(r: McResult): string[] {
  const lines: string[] = [];
  let correct = 0;
  r.tasks.forEach((t, i) => {
    if (t.correct) correct++;
    lines.push(formatHellaswagLine(i + 1, correct));
  });
  return lines;
}

/** multiple_choice_score's running lines (`i\tacc%` with 8 decimals), one per task. */
export function mcLines(r: McResult): string[] {
  let correct = 0;
  return r.tasks.map((t, i) => {
    if (t.correct) correct++;
    return `${i + 1}\t${((100 * correct) / (i + 1)).toFixed(8)}`;
  });
}

// ------------------------------------------------------------------------------------------ the command

/** `quantlab perplexity`: llama-perplexity (plain PPL, KL divergence, HellaSwag, multiple choice). */
export const perplexityCommand = defineCommand(
  {
    name: "perplexity",
    summary: "perplexity, KL divergence, HellaSwag and multiple-choice accuracy, like llama-perplexity",
    usage: "-m FILE -f FILE [-c N] [--chunks N] [--kl-divergence-base FILE [--kl-divergence]] [--hellaswag | --multiple-choice] [options]",
    options: [
      ...MODEL_OPTIONS,
      { name: "file", flags: ["-f", "--file"], kind: "string", arg: "FILE", description: "text (perplexity, HellaSwag) or task file" },
      { name: "binaryFile", flags: ["-bf", "--binary-file"], kind: "string", arg: "FILE", description: "llama.cpp binary multiple-choice file (as -f)" },
      { name: "ctx", flags: ["-c", "--ctx-size"], kind: "number", arg: "N", description: "tokens per chunk", default: 512 },
      { name: "chunks", flags: ["--chunks"], kind: "number", arg: "N", description: "at most N chunks (default all)" },
      { name: "kldBase", flags: ["--kl-divergence-base", "--save-all-logits"], kind: "string", arg: "FILE", description: "write (or with --kl-divergence read) a KL-divergence base file" },
      { name: "kld", flags: ["--kl-divergence"], kind: "boolean", description: "compare against --kl-divergence-base FILE (no -f needed)" },
      { name: "hellaswag", flags: ["--hellaswag"], kind: "boolean", description: "HellaSwag accuracy (-f: llama.cpp's 6-line text format)" },
      { name: "hellaswagTasks", flags: ["--hellaswag-tasks"], kind: "number", arg: "N", description: "HellaSwag tasks, picked as llama.cpp does", default: 400 },
      { name: "multipleChoice", flags: ["--multiple-choice"], kind: "boolean", description: "multiple-choice accuracy (-f: binary file, ARC .jsonl or MMLU .csv)" },
      { name: "multipleChoiceTasks", flags: ["--multiple-choice-tasks"], kind: "number", arg: "N", description: "tasks to score (default all)" },
    ],
    details: [
      "examples:",
      "  quantlab perplexity -m model.gguf -f wiki.test.raw -c 512",
      "  quantlab perplexity -m f32.gguf -f wiki.test.raw --kl-divergence-base base.bin   # PPL + writes base.bin",
      "  quantlab perplexity -m q4.gguf --kl-divergence-base base.bin --kl-divergence     # KLD vs the base",
      "  quantlab perplexity -m model.gguf -f hellaswag_val_full.txt --hellaswag --hellaswag-tasks 400",
      "-b is passed to the forward pass as its batch size; results do not depend on it.",
    ].join("\n"),
  },
  async ({ io, mode, args, signal }) => {
    const o = args.options;
    const cmd = "perplexity";
    const nCtx = intOption(args, "ctx", "-c", cmd, 4)!;
    const chunks = intOption(args, "chunks", "--chunks", cmd);
    const kldBase = typeof o.kldBase === "string" ? o.kldBase : undefined;
    const kldMode = o.kld === true;
    const hs = o.hellaswag === true;
    const mc = o.multipleChoice === true;
    if ([kldMode, hs, mc].filter(Boolean).length > 1) throw new UsageError("--kl-divergence, --hellaswag and --multiple-choice are mutually exclusive", cmd);
    if (kldMode && kldBase === undefined) throw new UsageError("--kl-divergence needs --kl-divergence-base FILE", cmd);
    const file = (o.file ?? o.binaryFile) as string | undefined;
    if (!kldMode && file === undefined) throw new UsageError("an input file is required (-f FILE)", cmd);
    requireString(args, "model", "model path (-m FILE)", cmd);
    const hsTasks = intOption(args, "hellaswagTasks", "--hellaswag-tasks", cmd);
    const mcTasks = intOption(args, "multipleChoiceTasks", "--multiple-choice-tasks", cmd, 0);

    const { model, path, nBatch } = await loadEvalModel(args, io, mode, cmd);
    const head = { model: path, backend: model.backend, ...(nBatch !== undefined ? { nBatch } : {}) };
    try {
      if (kldMode) {
        const r = await runKld(model, await inputPath(io, kldBase!, "--kl-divergence-base"), chunks, io, mode, signal);
        printKld(io, mode, { ...head, base: kldBase }, r);
        return 0;
      }
      const input = await inputPath(io, file!, "-f");
      if (hs || mc) {
        const tasks = hs ? parseHellaswag(await readFile(input, "utf8"), file) : await readMcTasks(input, o.binaryFile !== undefined ? "binary" : "auto");
        note(io, mode, `${tasks.length} tasks in ${file}`);
        const r = await runMc(model, tasks, hs ? "hellaswag" : "mc", { tasks: hs ? hsTasks : mcTasks, nCtx }, io, mode, signal);
        if (mode.json) printJson(io, { ...head, mode: hs ? "hellaswag" : "multiple-choice", file, ...mcJson(r) });
        else if (hs) print(io, `\ntask\tacc_norm\t95% confidence interval\n${hellaswagLines(r).join("\n")}`);
        else print(io, `\ntask\tacc_norm\n${mcLines(r).join("\n")}\n\n${formatMcFinal(r)}`);
        return 0;
      }

      const text = await readFile(input, "utf8");
      const progress = new Progress(io, mode, "perplexity");
      let tokensDone = 0;
      const opts = {
        nCtx,
        chunks,
        signal,
        onChunk: (p: { chunk: number; nChunk: number; ppl: number; count: number }) => {
          tokensDone = p.chunk * nCtx;
          progress.update({ done: p.chunk, total: p.nChunk, label: `[${p.chunk}]${p.ppl.toFixed(4)} ${tokensDone} tokens`, unit: "chunks" });
        },
      };
      let r;
      if (kldBase !== undefined) {
        // llama-perplexity --kl-divergence-base without --kl-divergence: PPL, plus the base file, streamed to disk
        const out = resolve(io.cwd, kldBase);
        await writeStreamAtomic(out, async (write) => {
          r = await perplexity(model, text, { ...opts, onKldBaseBytes: write });
        });
      } else {
        r = await perplexity(model, text, opts);
      }
      progress.done();
      const res = r!;
      if (mode.json) {
        printJson(io, {
          ...head,
          mode: "perplexity",
          file,
          nCtx: res.nCtx,
          nChunk: res.nChunk,
          tokens: res.tokens.length,
          count: res.count,
          ppl: res.ppl,
          pplError: res.pplError,
          meanNll: res.meanNll,
          chunkPpl: res.chunkPpl,
          ...(kldBase !== undefined ? { kldBaseFile: kldBase } : {}),
        });
        return 0;
      }
      note(io, mode, `perplexity: ${res.tokens.length} tokens, ${res.nChunk} chunks of n_ctx=${res.nCtx}`);
      print(io, formatChunkPpl(res.chunkPpl));
      print(io, formatPerplexityFinal(res));
      if (kldBase !== undefined) note(io, mode, `saved the KL-divergence base to ${kldBase}`);
      return 0;
    } finally {
      await model.dispose();
    }
  },
);
