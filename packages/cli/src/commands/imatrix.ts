import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  collectImatrix,
  combineImatrix,
  computeImatrixStatistics,
  formatImatrixStatistics,
  loadImatrix,
  saveImatrix,
  type Imatrix,
  type ImatrixFormat,
} from "@quantlab/imatrix";
import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";
import { print, printJson, Progress } from "../io.js";
import { inputPath, intOption, loadEvalModel, MODEL_OPTIONS, note } from "./perplexity.js";

const CMD = "imatrix";

function listOption(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : [];
}

/** `quantlab imatrix`: llama-imatrix (collect, combine/convert with --in-file, --show-statistics). */
export const imatrixCommand = defineCommand(
  {
    name: "imatrix",
    summary: "compute an importance matrix like llama-imatrix; combine/convert imatrix files; show their statistics",
    usage: "-m FILE -f FILE [-o FILE] [-c N] [--chunks N] [options] | --in-file FILE... [-o FILE | --show-statistics]",
    options: [
      ...MODEL_OPTIONS,
      { name: "file", flags: ["-f", "--file"], kind: "string", arg: "FILE", description: "calibration text" },
      { name: "output", flags: ["-o", "--output-file", "--output"], kind: "string", arg: "FILE", description: ".gguf: GGUF imatrix; .dat: legacy format", default: "imatrix.gguf" },
      { name: "outputFormat", flags: ["--output-format"], kind: "string", arg: "gguf|dat", description: "format regardless of the extension" },
      { name: "ctx", flags: ["-c", "--ctx-size"], kind: "number", arg: "N", description: "tokens per chunk", default: 512 },
      { name: "chunks", flags: ["--chunks"], kind: "number", arg: "N", description: "at most N chunks (default all)" },
      { name: "fromChunk", flags: ["--from-chunk", "--chunk"], kind: "number", arg: "N", description: "skip the first N chunks" },
      { name: "outputFrequency", flags: ["-ofreq", "--output-frequency"], kind: "number", arg: "N", description: "save to -o every N chunks (0: only at the end)", default: 10 },
      { name: "saveFrequency", flags: ["--save-frequency"], kind: "number", arg: "N", description: "also keep a copy <out>.at_<chunk> every N chunks (0: never)", default: 0 },
      { name: "processOutput", flags: ["--process-output"], kind: "boolean", description: "also collect output.weight" },
      { name: "noPpl", flags: ["--no-ppl"], kind: "boolean", description: "do not compute the perplexity" },
      { name: "parseSpecial", flags: ["--parse-special"], kind: "boolean", description: "tokenize special-token texts such as <s>" },
      { name: "inFile", flags: ["--in-file"], kind: "list", arg: "FILE", description: "existing imatrix to start from / combine (without -f: combine or convert to -o)" },
      { name: "showStatistics", flags: ["--show-statistics"], kind: "boolean", description: "with --in-file: print per-tensor and per-layer statistics and exit" },
    ],
    details: [
      "examples:",
      "  quantlab imatrix -m model-f16.gguf -f calibration.txt -o imatrix.gguf -c 512 --chunks 100",
      "  quantlab imatrix --in-file a.gguf --in-file b.gguf -o ab.gguf        # combine",
      "  quantlab imatrix --in-file imatrix.dat -o imatrix.gguf                 # convert",
      "  quantlab imatrix --in-file imatrix.gguf --show-statistics",
      "A .dat --in-file has no chunk size: -c gives it (default 512, as llama-imatrix).",
    ].join("\n"),
  },
  async ({ io, mode, args, signal }) => {
    const o = args.options;
    const nCtx = intOption(args, "ctx", "-c", CMD)!;
    const chunks = intOption(args, "chunks", "--chunks", CMD);
    const fromChunk = intOption(args, "fromChunk", "--from-chunk", CMD, 0);
    const outputFrequency = intOption(args, "outputFrequency", "--output-frequency", CMD, 0)!;
    const saveFrequency = intOption(args, "saveFrequency", "--save-frequency", CMD, 0)!;
    const output = String(o.output);
    let format: ImatrixFormat | undefined;
    if (o.outputFormat !== undefined) {
      const f = String(o.outputFormat).toLowerCase();
      if (f !== "gguf" && f !== "dat") throw new UsageError(`--output-format must be gguf or dat (got '${String(o.outputFormat)}')`, CMD);
      format = f;
    }
    const outPath = resolve(io.cwd, output);
    const inFiles = listOption(o.inFile);
    const text = typeof o.file === "string" ? o.file : undefined;

    // --in-file: load (and combine) existing matrices
    let initial: Imatrix | undefined;
    if (inFiles.length > 0) {
      const list: Imatrix[] = [];
      for (const f of inFiles) list.push(await loadImatrix(await inputPath(io, f, "--in-file"), { chunkSize: nCtx }));
      initial = list.length === 1 ? list[0]! : combineImatrix(list);
    }
    if (o.showStatistics === true) {
      if (!initial) throw new UsageError("--show-statistics needs --in-file FILE", CMD);
      const stats = computeImatrixStatistics(initial);
      if (mode.json) printJson(io, { files: inFiles, entries: initial.entries.size, chunkCount: initial.chunkCount, datasets: initial.datasets, ...stats });
      else print(io, formatImatrixStatistics(stats, { title: inFiles.join(", ") }));
      return 0;
    }
    if (text === undefined) {
      if (!initial) throw new UsageError("a calibration text (-f FILE) or --in-file FILE is required", CMD);
      const written = await saveImatrix(outPath, initial, { format });
      if (mode.json) printJson(io, { output, format: written, inFiles, entries: initial.entries.size, chunkCount: initial.chunkCount, chunkSize: initial.chunkSize, datasets: initial.datasets });
      else print(io, `saved ${inFiles.length > 1 ? "the combination of" : "the conversion of"} ${inFiles.join(", ")} to ${output} (${written}, ${initial.entries.size} entries, ${initial.chunkCount} chunks)`);
      return 0;
    }

    const calibration = await readFile(await inputPath(io, text, "-f"), "utf8");
    const { model, path } = await loadEvalModel(args, io, mode, CMD);
    try {
      const progress = new Progress(io, mode, "imatrix");
      const r = await collectImatrix(model, calibration, {
        nCtx,
        chunks,
        fromChunk,
        parseSpecial: o.parseSpecial === true,
        processOutput: o.processOutput === true,
        computePpl: o.noPpl !== true,
        dataset: text,
        initial,
        outputFrequency,
        saveFrequency,
        signal,
        onSave: async (im, chunk, snapshot) => {
          await saveImatrix(snapshot ? `${outPath}.at_${chunk}` : outPath, im, { format });
        },
        onProgress: (p) =>
          progress.update({
            done: p.chunk,
            total: p.nChunks,
            label: `chunk ${p.chunk}/${p.nChunks} ${p.tokensPerSecond.toFixed(0)} tok/s${p.ppl !== undefined ? ` [${p.chunk}]${p.ppl.toFixed(4)}` : ""}`,
            unit: "chunks",
          }),
      });
      progress.done();
      const written = await saveImatrix(outPath, r.imatrix, { format });
      if (mode.json) {
        printJson(io, {
          model: path,
          backend: model.backend,
          file: text,
          output,
          format: written,
          nCtx,
          chunks: r.nChunks,
          chunkCount: r.imatrix.chunkCount,
          entries: r.imatrix.entries.size,
          tokens: r.tokens,
          seconds: r.seconds,
          tokensPerSecond: r.tokensPerSecond,
          ppl: r.ppl ?? null,
          chunkPpl: r.chunkPpl,
        });
        return 0;
      }
      if (r.chunkPpl.length > 0) print(io, r.chunkPpl.map((p, i) => `[${i + 1}]${p.toFixed(4)},`).join(""));
      if (r.ppl) print(io, `Final estimate: PPL = ${r.ppl.value.toFixed(4)} +/- ${r.ppl.stderr.toFixed(5)}`);
      note(io, mode, `${r.tokens} tokens in ${r.seconds.toFixed(1)} s (${r.tokensPerSecond.toFixed(0)} tokens/s)`);
      print(io, `saved imatrix to ${output} (${written}, ${r.imatrix.entries.size} entries, ${r.imatrix.chunkCount} chunks)`);
      return 0;
    } finally {
      await model.dispose();
    }
  },
);
