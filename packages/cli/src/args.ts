/**
 * A small declarative argument parser. It exists (instead of commander/yargs) because quantlab accepts
 * llama.cpp's own spellings beside friendlier long forms: multi-letter single-dash flags (`-ngl`, `-ctk`),
 * `-c 512`, `--chunks=8`, repeatable options (`--tensor-type a=q4_K --tensor-type b=q8_0`), and
 * positionals interleaved with options (`quantize --imatrix f.dat in.gguf out.gguf Q4_K_M 2`).
 */
import { QuantlabError } from "@quantlab/gguf";

export type OptionKind = "boolean" | "string" | "number" | "list";

export interface OptionSpec {
  /** Property name in the parsed result (camelCase). */
  readonly name: string;
  /** Every spelling, with dashes: `["-m", "--model"]`. */
  readonly flags: readonly string[];
  readonly kind: OptionKind;
  readonly description: string;
  /** Placeholder shown in help (`FILE`, `N`). */
  readonly arg?: string;
  readonly default?: string | number | boolean;
}

export interface PositionalSpec {
  readonly name: string;
  readonly description: string;
  readonly optional?: boolean;
  /** Takes all remaining positionals. */
  readonly variadic?: boolean;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  /** One-line usage after `quantlab <name>`. */
  readonly usage: string;
  readonly options: readonly OptionSpec[];
  readonly positionals?: readonly PositionalSpec[];
  /** Free text printed after the option list (examples, notes). */
  readonly details?: string;
}

export type ParsedValue = string | number | boolean | string[] | undefined;
export interface ParsedArgs {
  readonly options: Record<string, ParsedValue>;
  readonly positionals: string[];
}

/** Options every command has. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { name: "help", flags: ["-h", "--help"], kind: "boolean", description: "show this help" },
  { name: "json", flags: ["--json"], kind: "boolean", description: "machine-readable JSON on stdout (no progress bar)" },
  { name: "quiet", flags: ["-q", "--quiet"], kind: "boolean", description: "no progress output" },
];

export class UsageError extends QuantlabError {
  constructor(message: string, readonly command?: string) {
    super("CLI_USAGE", message, command === undefined ? {} : { command });
    this.name = "UsageError";
  }
}

export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const all = [...spec.options, ...COMMON_OPTIONS];
  const byFlag = new Map<string, OptionSpec>();
  for (const o of all) for (const f of o.flags) byFlag.set(f, o);
  const options: Record<string, ParsedValue> = {};
  for (const o of all) {
    if (o.default !== undefined) options[o.name] = o.default;
    else if (o.kind === "list") options[o.name] = [];
  }
  const positionals: string[] = [];
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (onlyPositionals || a === "-" || !a.startsWith("-") || /^-\d/.test(a)) {
      positionals.push(a);
      continue;
    }
    if (a === "--") {
      onlyPositionals = true;
      continue;
    }
    let flag = a;
    let inline: string | undefined;
    const eq = a.indexOf("=");
    if (eq > 0 && a.startsWith("--")) {
      flag = a.slice(0, eq);
      inline = a.slice(eq + 1);
    }
    const o = byFlag.get(flag);
    if (!o) {
      const near = nearest(flag, [...byFlag.keys()]);
      throw new UsageError(`unknown option ${flag}${near ? ` (did you mean ${near}?)` : ""}; see 'quantlab ${spec.name} --help'`, spec.name);
    }
    if (o.kind === "boolean") {
      if (inline !== undefined) {
        if (!/^(true|false|1|0|on|off)$/i.test(inline)) throw new UsageError(`${flag} takes no value (got '${inline}')`, spec.name);
        options[o.name] = /^(true|1|on)$/i.test(inline);
      } else {
        options[o.name] = true;
      }
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value${o.arg ? ` (${o.arg})` : ""}`, spec.name);
      value = argv[++i]!;
    }
    if (o.kind === "number") {
      const n = Number(value);
      if (value.trim() === "" || !Number.isFinite(n)) throw new UsageError(`${flag} expects a number, got '${value}'`, spec.name);
      options[o.name] = n;
    } else if (o.kind === "list") {
      (options[o.name] as string[]).push(value);
    } else {
      options[o.name] = value;
    }
  }
  return { options, positionals };
}

/** Checks positional counts against the spec (after --help was handled). */
export function checkPositionals(spec: CommandSpec, positionals: readonly string[]): void {
  const ps = spec.positionals ?? [];
  const required = ps.filter((p) => !p.optional && !p.variadic).length;
  const variadic = ps.some((p) => p.variadic);
  if (positionals.length < required) {
    const missing = ps.filter((p) => !p.optional && !p.variadic).slice(positionals.length).map((p) => p.name.toUpperCase());
    throw new UsageError(`missing ${missing.join(", ")}; usage: quantlab ${spec.name} ${spec.usage}`, spec.name);
  }
  if (!variadic && positionals.length > ps.length) {
    throw new UsageError(`unexpected argument '${positionals[ps.length]}'; usage: quantlab ${spec.name} ${spec.usage}`, spec.name);
  }
}

export function formatHelp(spec: CommandSpec): string {
  const lines: string[] = [];
  lines.push(`quantlab ${spec.name}: ${spec.summary}`, "", `usage: quantlab ${spec.name} ${spec.usage}`);
  if (spec.positionals?.length) {
    lines.push("", "arguments:");
    for (const p of spec.positionals) lines.push(`  ${pad(p.name.toUpperCase(), 24)} ${p.description}${p.optional ? " (optional)" : ""}`);
  }
  lines.push("", "options:");
  for (const o of [...spec.options, ...COMMON_OPTIONS]) {
    const left = o.flags.join(", ") + (o.kind === "boolean" ? "" : ` ${o.arg ?? (o.kind === "number" ? "N" : "VALUE")}`);
    const def = o.default !== undefined && o.kind !== "boolean" ? ` (default ${String(o.default)})` : "";
    const rep = o.kind === "list" ? " (repeatable)" : "";
    lines.push(`  ${pad(left, 34)} ${o.description}${def}${rep}`);
  }
  if (spec.details) lines.push("", spec.details.trimEnd());
  return lines.join("\n") + "\n";
}

function pad(s: string, n: number): string {
  return s.length >= n ? `${s} ` : s + " ".repeat(n - s.length);
}

function nearest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}
