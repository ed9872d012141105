import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";
import { inputPath, intOption, loadEvalModel, MODEL_OPTIONS, printKld, requireString, runKld } from "./perplexity.js";

/** `quantlab kld`: the friendly form of `perplexity --kl-divergence-base FILE --kl-divergence`. */
export const kldCommand = defineCommand(
  {
    name: "kld",
    summary: "KL divergence of a model against a base file (= perplexity --kl-divergence-base FILE --kl-divergence)",
    usage: "--base FILE -m FILE [--chunks N] [options]",
    options: [
      { name: "base", flags: ["--base", "--kl-divergence-base"], kind: "string", arg: "FILE", description: "KL-divergence base file (llama-perplexity's, or 'quantlab perplexity --kl-divergence-base')" },
      ...MODEL_OPTIONS,
      { name: "chunks", flags: ["--chunks"], kind: "number", arg: "N", description: "only the first N chunks of the base file (default all)" },
      { name: "kld", flags: ["--kl-divergence"], kind: "boolean", description: "accepted for llama-perplexity compatibility (always on)" },
    ],
    details: [
      "examples:",
      "  quantlab perplexity -m model-f16.gguf -f wiki.test.raw --kl-divergence-base base.bin",
      "  quantlab kld --base base.bin -m model-Q4_K_M.gguf",
      "Prints a line per chunk and llama.cpp's statistics block; the tokens come from the base file.",
    ].join("\n"),
  },
  async ({ io, mode, args, signal }) => {
    const base = requireString(args, "base", "base file (--base FILE)", "kld");
    requireString(args, "model", "model path (-m FILE)", "kld");
    const chunks = intOption(args, "chunks", "--chunks", "kld");
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`, "kld");
    const basePath = await inputPath(io, base, "--base");
    const { model, path, nBatch } = await loadEvalModel(args, io, mode, "kld");
    try {
      const r = await runKld(model, basePath, chunks, io, mode, signal);
      printKld(io, mode, { model: path, backend: model.backend, base, ...(nBatch !== undefined ? { nBatch } : {}) }, r);
      return 0;
    } finally {
      await model.dispose();
    }
  },
);
