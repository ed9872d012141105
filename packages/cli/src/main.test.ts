import { describe, expect, it } from "vitest";
import { runCli } from "./main.js";
import { commands } from "./commands/index.js";
import { capture } from "./test-utils/capture.js";

describe("runCli", () => {
  it("every command has --help that names its usage", async () => {
    for (const c of commands) {
      const cap = capture();
      expect(await runCli([c.spec.name, "--help"], cap.io)).toBe(0);
      expect(cap.out()).toContain(`usage: quantlab ${c.spec.name}`);
    }
  });

  it("lists commands with no arguments and rejects unknown ones", async () => {
    const cap = capture();
    expect(await runCli([], cap.io)).toBe(1);
    expect(cap.out()).toContain("commands:");
    const cap2 = capture();
    expect(await runCli(["frobnicate"], cap2.io)).toBe(1);
    expect(cap2.err()).toContain("unknown command 'frobnicate'");
  });

  it("reports usage errors with a code and exit 2, as JSON with --json", async () => {
    const cap = capture();
    expect(await runCli(["types", "--bogus", "--json"], cap.io)).toBe(2);
    expect(JSON.parse(cap.out()).error.code).toBe("CLI_USAGE");
  });

  it("types lists the ggml table with q4_K at 4.5 bpw", async () => {
    const cap = capture();
    expect(await runCli(["types", "--json"], cap.io)).toBe(0);
    const rows = JSON.parse(cap.out()).types as { name: string; bitsPerWeight: number; typeSize: number }[];
    expect(rows.find((r) => r.name === "q4_K")).toMatchObject({ bitsPerWeight: 4.5, typeSize: 144 });
    expect(rows.find((r) => r.name === "q8_1")?.typeSize).toBe(36);
  });
});
