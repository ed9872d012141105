import { readFile } from "node:fs/promises";
import { formatHellaswagLine, formatMcFinal, parseHellaswag, type McTask } from "@quantlab/eval";
import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { hellaswagLines, inputPath, intOption, loadEvalModel, mcJson, MODEL_OPTIONS, note, readMcTasks, requireString, runMc } from "./perplexity.js";

const TASKS = ["hellaswag", "arc", "mmlu", "binary"] as const;
type TaskKind = (typeof TASKS)[number];

/** `quantlab mc`: multiple-choice accuracy (HellaSwag, ARC, MMLU, llama.cpp binary files). */
export const mcCommand = defineCommand(
  {
    name: "mc",
    summary: "multiple-choice accuracy: HellaSwag, ARC (.jsonl), MMLU (.csv or a folder of them), llama.cpp binary task files",
    usage: "-m FILE --task hellaswag|arc|mmlu|binary -f FILE [--tasks N] [options]",
    options: [
      ...MODEL_OPTIONS,
      { name: "task", flags: ["--task"], kind: "string", arg: "NAME", description: "hellaswag, arc, mmlu or binary (llama.cpp's --multiple-choice file)" },
      { name: "file", flags: ["-f", "--file"], kind: "string", arg: "FILE", description: "task file (MMLU: a .csv or a folder of .csv files)" },
      { name: "tasks", flags: ["--tasks"], kind: "number", arg: "N", description: "tasks to score, picked at random as llama.cpp does (mt19937(1)); HellaSwag default 400, others all" },
      { name: "noShuffle", flags: ["--no-shuffle"], kind: "boolean", description: "take the first N tasks in file order instead" },
      { name: "ctx", flags: ["-c", "--ctx-size"], kind: "number", arg: "N", description: "context size: a longer task is an error (default: no limit)" },
    ],
    details: [
      "examples:",
      "  quantlab mc -m model.gguf --task hellaswag -f hellaswag_val_full.txt --tasks 400",
      "  quantlab mc -m model.gguf --task arc -f ARC-Easy-test.jsonl",
      "  quantlab mc -m model.gguf --task mmlu -f mmlu/test",
      "Accuracy is acc_norm for HellaSwag (llama.cpp's hellaswag_score) and the log-likelihood pick otherwise.",
    ].join("\n"),
  },
  async ({ io, mode, args, signal }) => {
    const cmd = "mc";
    const task = requireString(args, "task", "--task (hellaswag, arc, mmlu or binary)", cmd).toLowerCase();
    if (!TASKS.includes(task as TaskKind)) throw new UsageError(`unknown --task '${task}' (one of ${TASKS.join(", ")})`, cmd);
    const file = requireString(args, "file", "task file (-f FILE)", cmd);
    requireString(args, "model", "model path (-m FILE)", cmd);
    const n = intOption(args, "tasks", "--tasks", cmd, 0);
    const nCtx = intOption(args, "ctx", "-c", cmd);
    const input = await inputPath(io, file, "-f");
    // parse before loading the model: a malformed file fails fast, naming the file and line
    const tasks: McTask[] = task === "hellaswag" ? parseHellaswag(await readFile(input, "utf8"), file) : await readMcTasks(input, task as "arc" | "mmlu" | "binary");
    const { model, path } = await loadEvalModel(args, io, mode, cmd);
    try {
      note(io, mode, `${tasks.length} tasks in ${file}`);
      const hs = task === "hellaswag";
      const r = await runMc(model, tasks, hs ? "hellaswag" : "mc", { tasks: n, nCtx, noShuffle: args.options.noShuffle === true }, io, mode, signal);
      if (mode.json) {
        printJson(io, { model: path, backend: model.backend, task, file, ...mcJson(r) });
        return 0;
      }
      const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
      if (hs && !mode.quiet) print(io, `task\tacc_norm\t95% confidence interval\n${hellaswagLines(r).join("\n")}\n`);
      else if (!hs && !mode.quiet) print(io, formatMcFinal(r));
      print(io, `${task}: accuracy ${pct(r.accuracy)} ± ${pct(r.stderr)} (${r.nCorrect}/${r.n})` + (hs ? `, 95% Wilson interval [${pct(r.wilson95[0])}, ${pct(r.wilson95[1])}]` : "") + `; random chance ${pct(r.randomChance.value)}`);
      if (hs && mode.quiet) print(io, formatHellaswagLine(r.n, r.nCorrect));
      return 0;
    } finally {
      await model.dispose();
    }
  },
);
