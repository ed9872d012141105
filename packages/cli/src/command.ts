import type { CommandSpec, ParsedArgs } from "./args.js";
import type { CliIO, OutputMode } from "./io.js";

export interface CommandContext {
  readonly io: CliIO;
  readonly mode: OutputMode;
  readonly args: ParsedArgs;
  /** Aborted on Ctrl-C; long work checks it and cleans up. */
  readonly signal: AbortSignal;
}

export interface Command {
  readonly spec: CommandSpec;
  /** Returns the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}

export function defineCommand(spec: CommandSpec, run: Command["run"]): Command {
  return { spec, run };
}
