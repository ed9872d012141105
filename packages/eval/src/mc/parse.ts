/**
 * Parsers for multiple-choice data: HellaSwag in llama.cpp's 6-lines-per-task text format, ARC (HF `ai2_arc`
 * jsonl), MMLU (csv `question,choice0..3,answer`), and llama.cpp's binary `--multiple-choice` files. Malformed input
 * throws `MC_PARSE` naming the file and the (1-based) line.
 */
import { EvalErrorCode, evalError } from "../errors.js";

/** One multiple-choice question: a context, the candidate continuations and the index of the right one. */
export interface McTask {
  /** The text the answers continue (llama.cpp scores `context + " " + choice`). */
  readonly context: string;
  readonly choices: readonly string[];
  /** Index of the correct choice. */
  readonly answer: number;
  /** Data set id or `file:line`. */
  readonly id?: string | undefined;
}

function parseError(message: string, file: string | undefined, line: number): never {
  throw evalError(EvalErrorCode.MC_PARSE, `${message} at line ${line}`, { file, line });
}

/** Lines as `std::getline(stream, line, '\n')` yields them (no empty last line after a final newline; `\r` kept). */
export function cLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * HellaSwag in llama.cpp's text format (hellaswag_score): 6 lines per task: `activity_label: ctx`, the gold ending
 * index (0-3), then the 4 endings.
 */
export function parseHellaswag(text: string, file?: string): McTask[] {
  const lines = cLines(text);
  if (lines.length % 6 !== 0) {
    parseError(`number of lines (${lines.length}) is not a multiple of 6; the last task is incomplete`, file, lines.length - (lines.length % 6) + 1);
  }
  const tasks: McTask[] = [];
  for (let t = 0; t < lines.length / 6; t++) {
    const l = t * 6;
    // std::stoi: optional whitespace, sign, digits; the rest of the line is ignored
    const m = /^\s*([+-]?\d+)/.exec(lines[l + 1]);
    if (!m) parseError(`gold ending index '${lines[l + 1]}' is not a number`, file, l + 2);
    const gold = Number(m[1]);
    if (gold < 0 || gold > 3) parseError(`gold ending index ${gold} is not in 0..3`, file, l + 2);
    tasks.push({ context: lines[l], choices: [lines[l + 2], lines[l + 3], lines[l + 4], lines[l + 5]], answer: gold, id: `${file ?? "hellaswag"}:${l + 1}` });
  }
  return tasks;
}

/** How a question becomes the context for ARC/MMLU (lm-evaluation-harness style; the answer follows after a space). */
export type McPrompt = (question: string, subject?: string) => string;

/** `Question: <q>\nAnswer:` — the choice text is appended as ` <choice>`. */
export const defaultMcPrompt: McPrompt = (q) => `Question: ${q}\nAnswer:`;

/** ARC jsonl (HF `allenai/ai2_arc`: `{id, question, choices: {text[], label[]}, answerKey}`), one task per line. */
export function parseArcJsonl(text: string, file?: string, prompt: McPrompt = defaultMcPrompt): McTask[] {
  const tasks: McTask[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === "") continue;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch (e) {
      parseError(`invalid JSON (${(e as Error).message})`, file, i + 1);
    }
    const rec = o as { id?: unknown; question?: unknown; choices?: { text?: unknown; label?: unknown }; answerKey?: unknown };
    if (typeof rec !== "object" || rec === null) parseError("a line is not a JSON object", file, i + 1);
    if (typeof rec.question !== "string") parseError("missing string field 'question'", file, i + 1);
    const texts = rec.choices?.text;
    const labels = rec.choices?.label;
    if (!Array.isArray(texts) || !Array.isArray(labels) || texts.length !== labels.length || texts.length < 2) {
      parseError("'choices' must have 'text' and 'label' arrays of the same length (at least 2)", file, i + 1);
    }
    if (!texts.every((t) => typeof t === "string") || !labels.every((t) => typeof t === "string")) parseError("choice texts and labels must be strings", file, i + 1);
    const answer = (labels as unknown[]).indexOf(rec.answerKey);
    if (answer < 0) parseError(`answerKey ${JSON.stringify(rec.answerKey)} is not one of the labels ${JSON.stringify(labels)}`, file, i + 1);
    tasks.push({ context: prompt(rec.question), choices: texts as string[], answer, id: typeof rec.id === "string" ? rec.id : `${file ?? "arc"}:${i + 1}` });
  }
  return tasks;
}

/** RFC 4180 CSV records with the 1-based line each starts on (quoted fields may span lines; `""` is a quote). */
export function parseCsv(text: string, file?: string): { fields: string[]; line: number }[] {
  const out: { fields: string[]; line: number }[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    for (;;) {
      let field = "";
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= n) parseError("unterminated quoted field", file, startLine);
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === "\n") line++;
          field += c;
          i++;
        }
        if (i < n && text[i] !== "," && text[i] !== "\n" && text[i] !== "\r") parseError("text after a closing quote", file, line);
      } else {
        while (i < n && text[i] !== "," && text[i] !== "\n" && !(text[i] === "\r" && text[i + 1] === "\n")) field += text[i++];
      }
      fields.push(field);
      if (i < n && text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "\r") i++;
      if (i < n && text[i] === "\n") {
        i++;
        line++;
      }
      break;
    }
    if (!(fields.length === 1 && fields[0] === "")) out.push({ fields, line: startLine });
  }
  return out;
}

/**
 * MMLU csv with header `question,choice0,choice1,choice2,choice3,answer` (answer = 0-based index), the converted
 * format of data/mmlu. `subject` is passed to the prompt (default: none).
 */
export function parseMmluCsv(text: string, file?: string, opts: { prompt?: McPrompt; subject?: string } = {}): McTask[] {
  const prompt = opts.prompt ?? defaultMcPrompt;
  const records = parseCsv(text, file);
  if (records.length === 0) parseError("empty file (no header)", file, 1);
  const header = records[0].fields.map((h) => h.trim());
  const want = ["question", "choice0", "choice1", "choice2", "choice3", "answer"];
  if (header.length !== want.length || header.some((h, k) => h !== want[k])) {
    parseError(`header must be '${want.join(",")}', found '${header.join(",")}'`, file, records[0].line);
  }
  const tasks: McTask[] = [];
  for (const r of records.slice(1)) {
    if (r.fields.length !== 6) parseError(`expected 6 fields, found ${r.fields.length}`, file, r.line);
    const a = r.fields[5].trim();
    if (!/^[0-3]$/.test(a)) parseError(`answer '${a}' is not an index 0..3`, file, r.line);
    tasks.push({ context: prompt(r.fields[0], opts.subject), choices: r.fields.slice(1, 5), answer: Number(a), id: `${file ?? "mmlu"}:${r.line}` });
  }
  return tasks;
}

/**
 * llama.cpp's binary multiple-choice file (`--multiple-choice -bf FILE`, e.g. arc-easy-validation.bin): uint32
 * n_task, uint32 task_pos[n_task], then per task a string question and two answer sets (mc1: single correct, mc2:
 * multiple correct; each uint32 n <= 100, n strings, int32 labels[n]); strings are uint32 length + bytes.
 * Returns the mc1 sets (what `multiple_choice_score` scores). Errors name the byte offset (reported as `line`-less).
 * @see multiple_choice_task::deserialize (perplexity.cpp)
 */
export function parseLlamaMcBinary(bytes: Uint8Array, file?: string): McTask[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder("utf-8");
  let off = 0;
  const fail = (msg: string): never => {
    throw evalError(EvalErrorCode.MC_PARSE, msg, { file, offset: off });
  };
  const u32 = (): number => {
    if (off + 4 > bytes.length) fail("file ends inside a uint32");
    const v = dv.getUint32(off, true);
    off += 4;
    return v;
  };
  const str = (): string => {
    const n = u32();
    if (off + n > bytes.length) fail(`file ends inside a string of ${n} bytes`);
    const s = dec.decode(bytes.subarray(off, off + n));
    off += n;
    return s;
  };
  const answers = (): { answers: string[]; labels: number[] } => {
    const n = u32();
    if (n > 100) fail(`${n} answers (at most 100)`);
    const a: string[] = [];
    for (let i = 0; i < n; i++) a.push(str());
    const labels: number[] = [];
    for (let i = 0; i < n; i++) labels.push(dv.getInt32((u32(), off - 4), true));
    return { answers: a, labels };
  };
  const nTask = u32();
  if (nTask === 0) fail("no tasks");
  const pos: number[] = [];
  for (let i = 0; i < nTask; i++) pos.push(u32());
  const tasks: McTask[] = [];
  for (let t = 0; t < nTask; t++) {
    off = pos[t];
    const question = str();
    const mc1 = answers();
    answers(); // mc2, not scored
    const answer = mc1.labels.indexOf(1);
    tasks.push({ context: question, choices: mc1.answers, answer, id: `${file ?? "mc"}#${t}` });
  }
  return tasks;
}
