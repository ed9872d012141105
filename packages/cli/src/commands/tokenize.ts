import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { openGguf } from "@quantlab/gguf";
import { loadTokenizer } from "@quantlab/runtime";
import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";
import { printJson } from "../io.js";

/**
 * `string_process_escapes` (llama.cpp common/common.cpp): `\n`, `\r`, `\t`, `\'`, `\"`, `\\` and `\xNN`;
 * any other backslash sequence is kept as written.
 */
export function processEscapes(input: string): string {
  let out = "";
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c !== "\\" || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const n = input[++i]!;
    switch (n) {
      case "n": out += "\n"; break;
      case "r": out += "\r"; break;
      case "t": out += "\t"; break;
      case "'": out += "'"; break;
      case '"': out += '"'; break;
      case "\\": out += "\\"; break;
      case "x": {
        const hex = input.slice(i + 1, i + 3);
        if (/^[0-9a-fA-F]{2}$/.test(hex)) {
          out += String.fromCharCode(parseInt(hex, 16));
          i += 2;
        } else {
          out += "\\x";
        }
        break;
      }
      default:
        out += `\\${n}`;
    }
  }
  return out;
}

/** `quantlab tokenize`: llama-tokenize for a GGUF file's own tokenizer. */
export const tokenizeCommand = defineCommand(
  {
    name: "tokenize",
    summary: "tokenize text with a GGUF model's tokenizer (spm, bpe, wpm), printed like llama-tokenize",
    usage: "-m FILE (-p TEXT | -f FILE) [--ids] [--no-bos] [--no-parse-special] [--no-escape] [--show-count] [--json]",
    options: [
      { name: "model", flags: ["-m", "--model"], kind: "string", arg: "FILE", description: "GGUF file with tokenizer.ggml.* metadata (tensors are not read)" },
      { name: "prompt", flags: ["-p", "--prompt"], kind: "string", arg: "TEXT", description: "text to tokenize" },
      { name: "file", flags: ["-f", "--file"], kind: "string", arg: "FILE", description: "read the text from a file" },
      { name: "ids", flags: ["--ids"], kind: "boolean", description: "print only the ids, as one line [id, id, ...]" },
      { name: "noBos", flags: ["--no-bos"], kind: "boolean", description: "do not add BOS even when the vocab asks for it" },
      { name: "noParseSpecial", flags: ["--no-parse-special"], kind: "boolean", description: "treat texts like <s> as plain text" },
      { name: "noEscape", flags: ["--no-escape"], kind: "boolean", description: "do not turn \\n, \\t, \\xNN ... into characters" },
      { name: "showCount", flags: ["--show-count"], kind: "boolean", description: "print the number of tokens at the end" },
    ],
    details:
      "BOS (and EOS) are added as the vocab says (tokenizer.ggml.add_bos_token; llama-style vocabs default to BOS).\n" +
      "Without --ids each token prints as `    id -> 'piece'`, control tokens as their text.",
  },
  async ({ io, mode, args }) => {
    const o = args.options;
    const modelPath = o.model as string | undefined;
    if (modelPath === undefined) throw new UsageError("model path is required (use -m or --model)", "tokenize");
    const prompt = o.prompt as string | undefined;
    const file = o.file as string | undefined;
    if (prompt !== undefined && file !== undefined) throw new UsageError("-p and -f are mutually exclusive", "tokenize");
    if (prompt === undefined && file === undefined) throw new UsageError("a prompt is required (use -p TEXT or -f FILE)", "tokenize");

    const gguf = await openGguf(resolve(io.cwd, modelPath));
    let tok;
    try {
      tok = loadTokenizer(gguf);
    } finally {
      await gguf.close();
    }
    let text = file !== undefined ? await readFile(resolve(io.cwd, file), "utf8") : prompt!;
    if (o.noEscape !== true) text = processEscapes(text);
    const addBos = tok.addBosToken && o.noBos !== true;
    const ids = tok.encode(text, { addSpecial: addBos, parseSpecial: o.noParseSpecial !== true });

    if (mode.json) {
      printJson(io, {
        model: modelPath,
        tokenizer: { type: tok.type, model: tok.model, pre: tok.pre || null, vocabSize: tok.vocabSize, bos: tok.bos ?? null, eos: tok.eos ?? null },
        addBos,
        count: ids.length,
        ids,
        pieces: o.ids === true ? undefined : ids.map((id) => tok.tokenToPiece(id)),
      });
      return 0;
    }
    const chunks: Buffer[] = [];
    if (o.ids === true) {
      chunks.push(Buffer.from(`[${ids.join(", ")}]\n`));
    } else {
      for (const id of ids) {
        // the piece's raw bytes, as llama-tokenize writes them (a partial UTF-8 character stays partial)
        chunks.push(Buffer.from(`${String(id).padStart(6)} -> '`), Buffer.from(tok.tokenToPieceBytes(id)), Buffer.from("'\n"));
      }
    }
    if (o.showCount === true) chunks.push(Buffer.from(`Total number of tokens: ${ids.length}\n`));
    io.stdout.write(Buffer.concat(chunks));
    return 0;
  },
);
