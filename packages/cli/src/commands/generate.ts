import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { generate, loadModel, type BackendChoice, type GenerateOptions, type Model } from "@quantlab/runtime";
import { UsageError, type OptionSpec, type ParsedArgs } from "../args.js";
import { defineCommand } from "../command.js";
import { print, printJson, type CliIO } from "../io.js";
import { processEscapes } from "./tokenize.js";

const BACKENDS = ["auto", "cpu", "cpu-ref", "gpu"] as const;

/** Options shared by `generate` and `compare` (llama-cli's spellings). */
export const SAMPLING_OPTIONS: readonly OptionSpec[] = [
  { name: "prompt", flags: ["-p", "--prompt"], kind: "string", arg: "TEXT", description: "the prompt (\\n, \\t, \\xNN escapes are processed)" },
  { name: "file", flags: ["-f", "--file"], kind: "string", arg: "FILE", description: "read the prompt from a file" },
  { name: "nPredict", flags: ["-n", "--n-predict"], kind: "number", arg: "N", description: "tokens to generate (default 64)" },
  { name: "temp", flags: ["--temp"], kind: "number", arg: "T", description: "temperature; 0 = greedy (default 0)" },
  { name: "topK", flags: ["--top-k"], kind: "number", arg: "K", description: "top-k sampling (default 40; 0 = off)" },
  { name: "topP", flags: ["--top-p"], kind: "number", arg: "P", description: "top-p (nucleus) sampling (default 0.95; 1 = off)" },
  { name: "seed", flags: ["-s", "--seed"], kind: "number", arg: "N", description: "random seed for sampling (default 0)" },
  { name: "ctx", flags: ["-c", "--ctx-size"], kind: "number", arg: "N", description: "context size (default: prompt + n, at most the model's)" },
  { name: "threads", flags: ["-t", "--threads"], kind: "number", arg: "N", description: "CPU threads (default: all cores)" },
  { name: "backend", flags: ["--backend"], kind: "string", arg: "NAME", description: "auto, cpu, cpu-ref or gpu (default cpu)" },
  { name: "noEscape", flags: ["--no-escape"], kind: "boolean", description: "take the prompt literally" },
];

export interface SamplingArgs {
  readonly prompt: string;
  readonly gen: GenerateOptions;
  readonly backend: BackendChoice;
  readonly threads: number | undefined;
}

export async function samplingArgs(args: ParsedArgs, io: CliIO, command: string): Promise<SamplingArgs> {
  const o = args.options;
  if (o.prompt !== undefined && o.file !== undefined) throw new UsageError("-p and -f are mutually exclusive", command);
  let prompt: string;
  if (typeof o.file === "string") prompt = await readFile(resolve(io.cwd, o.file), "utf8");
  else if (typeof o.prompt === "string") prompt = o.noEscape === true ? o.prompt : processEscapes(o.prompt);
  else throw new UsageError("a prompt is required (-p TEXT or -f FILE)", command);
  const backend = (typeof o.backend === "string" ? o.backend : "cpu") as BackendChoice;
  if (!BACKENDS.includes(backend as (typeof BACKENDS)[number])) throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}`, command);
  const num = (v: unknown, name: string, ok: (n: number) => boolean): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !ok(v)) throw new UsageError(`bad value for ${name}: ${String(v)}`, command);
    return v;
  };
  const gen: GenerateOptions = {
    maxTokens: num(o.nPredict, "-n", (n) => Number.isInteger(n) && n >= 0) ?? 64,
    temperature: num(o.temp, "--temp", (n) => n >= 0) ?? 0,
    ...(o.topK !== undefined ? { topK: num(o.topK, "--top-k", (n) => Number.isInteger(n) && n >= 0)! } : {}),
    ...(o.topP !== undefined ? { topP: num(o.topP, "--top-p", (n) => n > 0 && n <= 1)! } : {}),
    ...(o.seed !== undefined ? { seed: num(o.seed, "--seed", Number.isInteger)! } : {}),
    ...(o.ctx !== undefined ? { nCtx: num(o.ctx, "-c", (n) => Number.isInteger(n) && n > 0)! } : {}),
  };
  const threads = num(o.threads, "-t", (n) => Number.isInteger(n) && n > 0);
  return { prompt, gen, backend, threads };
}

export interface Completion {
  readonly text: string;
  readonly tokens: number;
  readonly promptTokens: number;
  readonly promptTokensPerSecond: number;
  readonly tokensPerSecond: number;
}

/** Runs the generation, calling `onText` with each piece as it arrives. */
export async function complete(model: Model, s: SamplingArgs, signal: AbortSignal, onText?: (t: string) => void): Promise<Completion> {
  let text = "";
  let last = { index: -1, promptTokens: 0, promptTokensPerSecond: 0, tokensPerSecond: 0 };
  for await (const step of generate(model, s.prompt, { ...s.gen, signal })) {
    text += step.text;
    onText?.(step.text);
    last = step;
  }
  return { text, tokens: last.index + 1, promptTokens: last.promptTokens, promptTokensPerSecond: last.promptTokensPerSecond, tokensPerSecond: last.tokensPerSecond };
}

/** `quantlab generate`: complete a prompt with a GGUF model, streaming tokens to the terminal. */
export const generateCommand = defineCommand(
  {
    name: "generate",
    summary: "complete a prompt with a model (greedy or sampled), streaming tokens; tokens/s at the end",
    usage: "-m FILE -p TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--seed N] [-t N] [--backend NAME]",
    options: [{ name: "model", flags: ["-m", "--model"], kind: "string", arg: "FILE", description: "GGUF model (any block type)" }, ...SAMPLING_OPTIONS],
    details: [
      "examples:",
      '  quantlab generate -m tinystories-5m-Q4_K_M.gguf -p "Once upon a time" -n 64',
      '  quantlab generate -m model.gguf -p "Lily went to" --temp 0.8 --seed 42',
      "The prompt is printed, then the completion as it is generated; speeds go to stderr.",
    ].join("\n"),
  },
  async ({ io, mode, args, signal }) => {
    const path = args.options.model;
    if (typeof path !== "string") throw new UsageError("model path is required (use -m or --model)", "generate");
    const s = await samplingArgs(args, io, "generate");
    const model = await loadModel(resolve(io.cwd, path), { backend: s.backend, ...(s.threads !== undefined ? { threads: s.threads } : {}) });
    try {
      if (!mode.json) io.stdout.write(s.prompt);
      const c = await complete(model, s, signal, mode.json ? undefined : (t) => io.stdout.write(t));
      if (mode.json) {
        printJson(io, { model: path, backend: model.backend, prompt: s.prompt, ...c });
        return 0;
      }
      print(io);
      if (!mode.quiet) {
        io.stderr.write(
          `\nprompt: ${c.promptTokens} tokens, ${c.promptTokensPerSecond.toFixed(1)} t/s | generated: ${c.tokens} tokens, ${c.tokensPerSecond.toFixed(1)} t/s (${model.backend})\n`,
        );
      }
      return 0;
    } finally {
      await model.dispose();
    }
  },
);

/** Wraps text to `width` columns (words kept whole; a word longer than a line is cut). */
export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const para of text.split("\n")) {
    let line = "";
    for (let word of para.split(/\s+/).filter(Boolean)) {
      while (word.length > width) {
        if (line.length > 0) out.push(line);
        out.push(word.slice(0, width));
        line = "";
        word = word.slice(width);
      }
      if (line.length > 0 && line.length + 1 + word.length > width) {
        out.push(line);
        line = "";
      }
      line = line.length > 0 ? `${line} ${word}` : word;
    }
    out.push(line);
  }
  return out;
}

/** `quantlab compare`: the same prompt through several quantizations, answers side by side. */
export const compareCommand = defineCommand(
  {
    name: "compare",
    summary: "answer one prompt with several models (e.g. quantizations of one model) and print the answers side by side",
    usage: "-p TEXT [options] a.gguf b.gguf ...",
    positionals: [{ name: "models", description: "GGUF files to compare", optional: false, variadic: true }],
    options: [...SAMPLING_OPTIONS, { name: "width", flags: ["--width"], kind: "number", arg: "N", description: "column width (default: fit the terminal, stacked when too narrow)" }],
    details: [
      "examples:",
      '  quantlab compare -p "The capital of France is" -n 24 model-Q8_0.gguf model-Q4_K_M.gguf model-IQ2_XXS.gguf',
      "Greedy by default, so differences come from the weights, not from sampling.",
    ].join("\n"),
  },
  async ({ io, mode, args, signal }) => {
    const files = args.positionals;
    if (files.length === 0) throw new UsageError("give at least one model file", "compare");
    const s = await samplingArgs(args, io, "compare");
    const results: { file: string; backend: string; completion: Completion }[] = [];
    for (const f of files) {
      const model = await loadModel(resolve(io.cwd, f), { backend: s.backend, ...(s.threads !== undefined ? { threads: s.threads } : {}) });
      try {
        if (!mode.quiet && !mode.json) io.stderr.write(`${f} ...\n`);
        results.push({ file: f, backend: model.backend, completion: await complete(model, s, signal) });
      } finally {
        await model.dispose();
      }
    }
    if (mode.json) {
      printJson(io, { prompt: s.prompt, results: results.map((r) => ({ file: r.file, backend: r.backend, ...r.completion })) });
      return 0;
    }
    const names = results.map((r) => r.file.replace(/^.*[\\/]/, ""));
    const cols = typeof args.options.width === "number" ? args.options.width : Math.floor(((io.stdout as { columns?: number }).columns ?? 120) / results.length) - 3;
    print(io, `prompt: ${s.prompt}`);
    print(io);
    if (cols < 24) {
      for (let i = 0; i < results.length; i++) {
        print(io, `== ${names[i]}`);
        print(io, results[i]!.completion.text.trim());
        print(io);
      }
    } else {
      const wrapped = results.map((r) => wrap(r.completion.text.trim(), cols));
      const head = names.map((n) => n.slice(0, cols).padEnd(cols)).join(" | ");
      print(io, head);
      print(io, names.map(() => "-".repeat(cols)).join("-+-"));
      const n = Math.max(...wrapped.map((w) => w.length));
      for (let i = 0; i < n; i++) print(io, wrapped.map((w) => (w[i] ?? "").padEnd(cols)).join(" | ").trimEnd());
      print(io);
    }
    print(io, results.map((r, i) => `${names[i]}: ${r.completion.tokens} tokens, ${r.completion.tokensPerSecond.toFixed(1)} t/s`).join("; "));
    return 0;
  },
);
