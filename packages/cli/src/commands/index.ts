import type { Command } from "../command.js";
import { inspectCommand } from "./inspect.js";
import { tokenizeCommand } from "./tokenize.js";
import { quantizeCommand } from "./quantize.js";
import { typesCommand } from "./types.js";
import { compareCommand, generateCommand } from "./generate.js";
import { sweepCommand } from "./sweep.js";
import { perplexityCommand } from "./perplexity.js";
import { kldCommand } from "./kld.js";
import { mcCommand } from "./mc.js";
import { fitCommand } from "./fit.js";
import { imatrixCommand } from "./imatrix.js";

/** Every command, in the order `quantlab --help` lists them. */
export const commands: readonly Command[] = [quantizeCommand, sweepCommand, inspectCommand, typesCommand, tokenizeCommand, generateCommand, compareCommand, perplexityCommand, kldCommand, mcCommand, imatrixCommand, fitCommand];
