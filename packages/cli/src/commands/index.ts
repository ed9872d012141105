import type { Command } from "../command.js";
import { inspectCommand } from "./inspect.js";
import { tokenizeCommand } from "./tokenize.js";
import { quantizeCommand } from "./quantize.js";
import { typesCommand } from "./types.js";

/** Every command, in the order `quantlab --help` lists them. */
export const commands: readonly Command[] = [quantizeCommand, inspectCommand, typesCommand, tokenizeCommand];
