import { describe, expect, it } from "vitest";
import { checkPositionals, formatHelp, parseArgs, type CommandSpec } from "./args.js";
import { QuantlabError } from "@quantlab/gguf";

const spec: CommandSpec = {
  name: "demo",
  summary: "demo",
  usage: "[options] IN OUT TYPE [THREADS]",
  options: [
    { name: "model", flags: ["-m", "--model"], kind: "string", description: "model", arg: "FILE" },
    { name: "ctx", flags: ["-c", "--ctx-size"], kind: "number", description: "context", default: 512 },
    { name: "ngl", flags: ["-ngl", "--n-gpu-layers"], kind: "number", description: "gpu layers" },
    { name: "tensorType", flags: ["--tensor-type"], kind: "list", description: "override" },
    { name: "pure", flags: ["--pure"], kind: "boolean", description: "pure" },
  ],
  positionals: [
    { name: "in", description: "input" },
    { name: "out", description: "output" },
    { name: "type", description: "type" },
    { name: "threads", description: "threads", optional: true },
  ],
};

describe("parseArgs", () => {
  it("accepts llama.cpp spellings, long forms, = values and interleaved positionals", () => {
    const r = parseArgs(spec, ["--pure", "in.gguf", "-m", "x.gguf", "--ctx-size=1024", "-ngl", "99", "out.gguf", "--tensor-type", "a=q4_K", "--tensor-type=b=q8_0", "Q4_K_M", "2"]);
    expect(r.positionals).toEqual(["in.gguf", "out.gguf", "Q4_K_M", "2"]);
    expect(r.options).toMatchObject({ pure: true, model: "x.gguf", ctx: 1024, ngl: 99, tensorType: ["a=q4_K", "b=q8_0"] });
  });

  it("applies defaults and treats negative numbers as values", () => {
    const r = parseArgs(spec, ["-c", "-1", "a", "b", "c"]);
    expect(r.options.ctx).toBe(-1);
    expect(parseArgs(spec, ["a", "b", "c"]).options.ctx).toBe(512);
  });

  it("rejects unknown options with a suggestion, missing values and non-numbers", () => {
    expect(() => parseArgs(spec, ["--pur"])).toThrow(/unknown option --pur \(did you mean --pure\?\)/);
    expect(() => parseArgs(spec, ["-m"])).toThrow(/needs a value/);
    expect(() => parseArgs(spec, ["-c", "abc"])).toThrow(/expects a number/);
    try {
      parseArgs(spec, ["--nope"]);
    } catch (e) {
      expect(QuantlabError.isInstance(e) && e.code).toBe("CLI_USAGE");
    }
  });

  it("checks positional counts", () => {
    expect(() => checkPositionals(spec, ["a", "b"])).toThrow(/missing TYPE/);
    expect(() => checkPositionals(spec, ["a", "b", "c", "d", "e"])).toThrow(/unexpected argument 'e'/);
    expect(() => checkPositionals(spec, ["a", "b", "c", "4"])).not.toThrow();
  });

  it("formats help with every spelling", () => {
    const h = formatHelp(spec);
    expect(h).toContain("-ngl, --n-gpu-layers N");
    expect(h).toContain("--tensor-type VALUE");
    expect(h).toContain("(repeatable)");
    expect(h).toContain("--json");
  });
});
