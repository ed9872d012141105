import { describe, expect, it } from "vitest";
import { readdirSync } from "node:fs";
import { QuantlabError } from "@quantlab/gguf";
import { readShared, sharedPath } from "@quantlab/testing";
import type { LogitsModel, TextTokenizer } from "../model.js";
import { parseArcJsonl, parseCsv, parseHellaswag, parseLlamaMcBinary, parseMmluCsv, type McTask } from "./parse.js";
import { formatHellaswagLine, formatMcFinal, hellaswagScore, hellaswagSelection, multipleChoiceScore, multipleChoiceSelection, wilson95 } from "./score.js";

const text = (...p: string[]) => new TextDecoder().decode(readShared(...p));

function expectParseError(f: () => unknown, line: number, file = "f.txt"): void {
  try {
    f();
  } catch (e) {
    expect(QuantlabError.isInstance(e)).toBe(true);
    expect((e as QuantlabError).code).toBe("MC_PARSE");
    expect((e as QuantlabError).context["line"]).toBe(line);
    expect((e as QuantlabError).file).toBe(file);
    expect((e as QuantlabError).message).toContain(`line ${line}`);
    return;
  }
  throw new Error("expected MC_PARSE");
}

describe("parsers on the real data", () => {
  it("HellaSwag: 1000 tasks of 4 endings, gold 0..3", () => {
    const t = parseHellaswag(text("data", "hellaswag", "hellaswag_val_first1000.txt"), "hellaswag_val_first1000.txt");
    expect(t.length).toBe(1000);
    expect(t[0]!.context).toBe("Roof shingle removal: A man is sitting on a roof. he");
    expect(t[0]!.answer).toBe(3);
    expect(t[0]!.choices[3]).toBe("starts pulling up roofing on a roof.");
    expect(t.every((x) => x.choices.length === 4 && x.answer >= 0 && x.answer <= 3)).toBe(true);
  });

  it("ARC Easy / Challenge: 2376 / 1172 questions, 3-5 choices, answer among labels (A-E or 1-4)", () => {
    const easy = parseArcJsonl(text("data", "arc", "ARC-Easy-test.jsonl"), "ARC-Easy-test.jsonl");
    const ch = parseArcJsonl(text("data", "arc", "ARC-Challenge-test.jsonl"), "ARC-Challenge-test.jsonl");
    expect(easy.length).toBe(2376);
    expect(ch.length).toBe(1172);
    expect(easy[0]!.id).toBe("Mercury_417466");
    expect(easy[0]!.context).toBe("Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:");
    expect(easy[0]!.answer).toBe(0);
    expect(easy[1]!.answer).toBe(1);
    for (const t of [...easy, ...ch]) {
      expect(t.choices.length).toBeGreaterThanOrEqual(3);
      expect(t.choices.length).toBeLessThanOrEqual(5);
      expect(t.answer).toBeLessThan(t.choices.length);
    }
  });

  it("MMLU: every dev (57 x 5) and test file (1274 questions), multi-line quoted fields", () => {
    let dev = 0;
    for (const f of readdirSync(sharedPath("data", "mmlu", "dev"))) dev += parseMmluCsv(text("data", "mmlu", "dev", f), f).length;
    expect(dev).toBe(285);
    let test = 0;
    for (const f of readdirSync(sharedPath("data", "mmlu", "test"))) test += parseMmluCsv(text("data", "mmlu", "test", f), f).length;
    expect(test).toBe(1274);
    const aa = parseMmluCsv(text("data", "mmlu", "dev", "abstract_algebra_dev.csv"), "abstract_algebra_dev.csv");
    expect(aa[0]!.choices).toEqual(["0", "1", "2", "3"]);
    expect(aa[0]!.answer).toBe(1);
    expect(aa[1]!.choices).toEqual(["True, True", "False, False", "True, False", "False, True"]);
  });
});

describe("parser errors name file and line", () => {
  it("HellaSwag: incomplete task, bad gold label", () => {
    expectParseError(() => parseHellaswag("ctx\n1\na\nb\nc\nd\nctx2\n0\n", "f.txt"), 7);
    expectParseError(() => parseHellaswag("ctx\nx\na\nb\nc\nd\n", "f.txt"), 2);
    expectParseError(() => parseHellaswag("c\n0\na\nb\nc\nd\nctx\n7\na\nb\nc\nd\n", "f.txt"), 8);
  });
  it("ARC: bad JSON, missing fields, unknown answerKey", () => {
    const ok = '{"id":"a","question":"q?","choices":{"text":["x","y"],"label":["A","B"]},"answerKey":"B"}';
    expect(parseArcJsonl(ok + "\n\n", "f.txt")[0]!.answer).toBe(1);
    expectParseError(() => parseArcJsonl(ok + "\n{nope", "f.txt"), 2);
    expectParseError(() => parseArcJsonl('{"question":"q","choices":{"text":["x"],"label":["A","B"]},"answerKey":"A"}', "f.txt"), 1);
    expectParseError(() => parseArcJsonl(ok + "\n" + ok.replace('"answerKey":"B"', '"answerKey":"E"'), "f.txt"), 2);
  });
  it("MMLU / CSV: header, field count, answer, unterminated quote", () => {
    const h = "question,choice0,choice1,choice2,choice3,answer\n";
    expect(parseCsv('a,"b\nc",d\ne,f\n').map((r) => r.line)).toEqual([1, 3]);
    expectParseError(() => parseMmluCsv("q,a,b\n", "f.txt"), 1);
    expectParseError(() => parseMmluCsv(h + 'x,1,2,3,4,0\n"multi\nline",1,2,3\n', "f.txt"), 3);
    expectParseError(() => parseMmluCsv(h + "x,1,2,3,4,0\ny,1,2,3,4,B\n", "f.txt"), 3);
    expectParseError(() => parseMmluCsv(h + 'x,1,2,3,4,0\n"open,1,2,3,4,0\n', "f.txt"), 3);
  });
  it("llama.cpp binary multiple-choice file: round trip of a hand-made file, truncation error with offset", () => {
    const enc = new TextEncoder();
    const parts: number[] = [];
    const u32 = (v: number) => parts.push(v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255);
    const str = (s: string) => {
      const b = enc.encode(s);
      u32(b.length);
      parts.push(...b);
    };
    u32(1);
    u32(8); // task_pos[0]
    str("Q?");
    u32(2);
    str("yes");
    str("no");
    u32(0);
    u32(1); // mc1 labels: answer 1
    u32(0); // mc2: no answers
    const bytes = new Uint8Array(parts);
    const t = parseLlamaMcBinary(bytes, "x.bin");
    expect(t).toEqual([{ context: "Q?", choices: ["yes", "no"], answer: 1, id: "x.bin#0" }]);
    try {
      parseLlamaMcBinary(bytes.subarray(0, 15), "x.bin");
      throw new Error("no throw");
    } catch (e) {
      expect((e as QuantlabError).code).toBe("MC_PARSE");
      expect((e as QuantlabError).offset).toBeGreaterThan(0);
    }
  });
});

/** Character-level tokenizer: BOS = 1, token = char code (< 128). */
const charTok: TextTokenizer = {
  bos: 1,
  addBosToken: true,
  encode: (s, o) => [...(o?.addBos ? [1] : []), ...Array.from(s, (c) => c.charCodeAt(0) & 127)],
};

/** A model that always predicts 'x' with logit A (0 elsewhere), whatever the context. */
class LikesX implements LogitsModel {
  readonly nVocab = 128;
  readonly tokenizer = charTok;
  calls = 0;
  constructor(readonly a = 3) {}
  async evaluate(tokens: ArrayLike<number>): Promise<Float32Array> {
    this.calls++;
    const out = new Float32Array(tokens.length * 128);
    for (let p = 0; p < tokens.length; p++) out[p * 128 + 120] = this.a;
    return out;
  }
}

describe("scoring with a fake model (known answers)", () => {
  const tasks: McTask[] = [
    { context: "ctx one", choices: ["xxxx", "abab", "cdcd", "yzyz"], answer: 0 },
    { context: "ctx two", choices: ["abc", "dex", "xxx", "qqq"], answer: 2 },
    { context: "ctx three", choices: ["ab", "xx"], answer: 1 },
    { context: "ctx four", choices: ["xxxx", "aaaa", "bbbb"], answer: 2 }, // the model picks 0: wrong
  ];

  it("picks the choice with the highest average log-prob; accuracy 3/4 with llama.cpp's statistics", async () => {
    const m = new LikesX(3);
    const r = await multipleChoiceScore(m, tasks);
    expect(r.tasks.map((t) => t.predicted)).toEqual([0, 2, 1, 0]);
    expect(r.nCorrect).toBe(3);
    expect(r.accuracy).toBe(0.75);
    expect(r.stderr).toBeCloseTo(Math.sqrt((0.75 * 0.25) / 3), 6);
    expect(r.randomChance.value).toBeCloseTo(4 / 13, 6);
    // analytic score: after the common prefix "ctx one " every x has log p = 3 - log(e^3 + 127)
    const lx = 3 - Math.log(Math.exp(3) + 127);
    const lo = -Math.log(Math.exp(3) + 127);
    expect(r.tasks[0]!.commonPrefix).toBe(1 + "ctx one ".length);
    expect(r.tasks[0]!.scores[0]).toBeCloseTo(lx, 5);
    expect(r.tasks[0]!.scores[1]).toBeCloseTo(lo, 5);
    expect(r.tasks[1]!.scores[1]).toBeCloseTo((2 * lo + lx) / 3, 5);
    expect(m.calls).toBe(4 + 4 + 2 + 3); // one pass per choice
    expect(formatMcFinal(r)).toBe("Final result: 75.0000 +/- 25.0000\nRandom chance: 30.7692 +/- 26.6469\n");
  });

  it("hellaswag path (double sums) gives the same predictions; noShuffle keeps the order", async () => {
    const r = await hellaswagScore(new LikesX(3), tasks, { noShuffle: true });
    expect(r.tasks.map((t) => t.index)).toEqual([0, 1, 2, 3]);
    expect(r.nCorrect).toBe(3);
    const [lo, hi] = r.wilson95;
    expect(lo).toBeLessThan(0.75);
    expect(hi).toBeGreaterThan(0.75);
    expect(formatHellaswagLine(4, 3)).toMatch(/^4\t75\.00000000%\t\[\d+\.\d{4}%, \d+\.\d{4}%\]$/);
  });

  it("default HellaSwag selection is llama.cpp's mt19937(1) pick (a permutation prefix, no repeats)", async () => {
    const sel = hellaswagSelection(1000, 400);
    expect(new Set(sel).size).toBe(400);
    expect(sel.every((i) => i >= 0 && i < 1000)).toBe(true);
    const first = hellaswagSelection(1000, 3);
    expect(first).toEqual(sel.slice(0, 3));
    // first pick: floor(1791095845 * 1000 / 2^32) = 417 (Lemire on the first mt19937(1) output)
    expect(first[0]).toBe(417);
    const r = await hellaswagScore(new LikesX(3), tasks, { tasks: 2 });
    expect(r.n).toBe(2);
    expect(new Set(multipleChoiceSelection(50, 50)).size).toBe(50);
  });

  it("errors: a choice that is a prefix of another, a task too long for n_ctx", async () => {
    await expect(multipleChoiceScore(new LikesX(), [{ context: "c", choices: ["", "a"], answer: 0 }])).rejects.toSatisfy(
      (e: unknown) => QuantlabError.isInstance(e) && e.code === "MC_BAD_TASK",
    );
    await expect(multipleChoiceScore(new LikesX(), tasks, { nCtx: 10 })).rejects.toSatisfy(
      (e: unknown) => QuantlabError.isInstance(e) && e.code === "MC_BAD_TASK" && /does not fit/.test(e.message),
    );
  });

  it("wilson95 matches the closed form", () => {
    const [a, b] = wilson95(50, 100);
    expect(a).toBeCloseTo(0.4038, 4);
    expect(b).toBeCloseTo(0.5962, 4);
  });
});
