export { runCli, reportError, VERSION } from "./main.js";
export { parseArgs, formatHelp, checkPositionals, UsageError, COMMON_OPTIONS, type CommandSpec, type OptionSpec, type PositionalSpec, type ParsedArgs } from "./args.js";
export { defineCommand, type Command, type CommandContext } from "./command.js";
export { commands } from "./commands/index.js";
export { Progress, table, fmtBytes, fmtDuration, nodeIO, type CliIO, type OutputMode } from "./io.js";
