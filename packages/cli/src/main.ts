/**
 * Entry point of the `quantlab` command: picks the command, parses its arguments, runs it, and turns
 * typed errors into a one-line message (or a JSON object with `--json`) and exit code 1.
 */
import { QuantlabError } from "@quantlab/gguf";
import { checkPositionals, formatHelp, parseArgs, UsageError } from "./args.js";
import type { Command } from "./command.js";
import { commands } from "./commands/index.js";
import { nodeIO, printJson, type CliIO, type OutputMode } from "./io.js";

export const VERSION = "0.1.0";

function topHelp(list: readonly Command[]): string {
  const w = Math.max(...list.map((c) => c.spec.name.length)) + 2;
  return [
    `quantlab ${VERSION}: quantize, inspect and evaluate GGUF models (llama.cpp-compatible)`,
    "",
    "usage: quantlab <command> [options]",
    "",
    "commands:",
    ...list.map((c) => `  ${c.spec.name.padEnd(w)}${c.spec.summary}`),
    "",
    "Run 'quantlab <command> --help' for a command's options.",
    "",
  ].join("\n");
}

export async function runCli(argv: readonly string[], io: CliIO = nodeIO(), list: readonly Command[] = commands): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    const sub = name === "help" ? rest[0] : undefined;
    const cmd = sub !== undefined ? list.find((c) => c.spec.name === sub) : undefined;
    io.stdout.write(cmd ? formatHelp(cmd.spec) : topHelp(list));
    return name === undefined ? 1 : 0;
  }
  if (name === "-v" || name === "--version" || name === "version") {
    io.stdout.write(`quantlab ${VERSION}\n`);
    return 0;
  }
  const cmd = list.find((c) => c.spec.name === name);
  if (!cmd) {
    io.stderr.write(`quantlab: unknown command '${name}'\n\n${topHelp(list)}`);
    return 1;
  }
  const jsonRequested = rest.includes("--json");
  const controller = new AbortController();
  const onSigint = () => controller.abort(new QuantlabError("CLI_INTERRUPTED", "interrupted"));
  process.once("SIGINT", onSigint);
  try {
    const args = parseArgs(cmd.spec, rest);
    if (args.options.help === true) {
      io.stdout.write(formatHelp(cmd.spec));
      return 0;
    }
    checkPositionals(cmd.spec, args.positionals);
    const mode: OutputMode = { json: args.options.json === true, quiet: args.options.quiet === true };
    return await cmd.run({ io, mode, args, signal: controller.signal });
  } catch (e) {
    reportError(io, e, jsonRequested, cmd.spec.name);
    return e instanceof UsageError ? 2 : 1;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}

export function reportError(io: CliIO, e: unknown, json: boolean, command: string): void {
  if (QuantlabError.isInstance(e)) {
    if (json) printJson(io, { error: { code: e.code, message: e.message, context: e.context } });
    else io.stderr.write(`quantlab ${command}: error [${e.code}]: ${e.message}\n`);
    return;
  }
  const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
  if (json) printJson(io, { error: { code: "INTERNAL", message: e instanceof Error ? e.message : String(e) } });
  else io.stderr.write(`quantlab ${command}: internal error: ${msg}\n`);
}
