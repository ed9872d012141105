/**
 * Terminal output: human text, `--json`, `--quiet`, and a progress bar that only draws on a TTY.
 */
import type { Writable } from "node:stream";

export interface CliIO {
  readonly stdout: Writable & { isTTY?: boolean; columns?: number };
  readonly stderr: Writable & { isTTY?: boolean; columns?: number };
  /** Working directory for relative paths. */
  readonly cwd: string;
}

export interface OutputMode {
  json: boolean;
  quiet: boolean;
}

export function nodeIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() };
}

export function print(io: CliIO, text = ""): void {
  io.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

export function printJson(io: CliIO, value: unknown): void {
  io.stdout.write(
    `${JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v), 2)}\n`,
  );
}

export interface ProgressUpdate {
  /** Units done so far (bytes, tensors, tokens...). */
  done: number;
  total: number;
  /** What is being worked on now (tensor name...). */
  label?: string;
  /** Unit name for the rate, e.g. "MB" with `scale` 1e6. */
  unit?: string;
  scale?: number;
}

/**
 * Progress reporting on stderr. On a TTY: one redrawn line with a bar, rate and ETA. Not on a TTY: a line every
 * ~5 s. Silent with --quiet or --json.
 */
export class Progress {
  private readonly start = Date.now();
  private lastDraw = 0;
  private lastLine = 0;
  private drawn = false;

  constructor(
    private readonly io: CliIO,
    private readonly mode: OutputMode,
    private readonly title: string,
  ) {}

  update(u: ProgressUpdate): void {
    if (this.mode.quiet || this.mode.json) return;
    const now = Date.now();
    const tty = this.io.stderr.isTTY === true;
    if (tty && now - this.lastDraw < 80 && u.done < u.total) return;
    if (!tty && now - this.lastLine < 5000 && u.done < u.total) return;
    this.lastDraw = now;
    const elapsed = (now - this.start) / 1000;
    const frac = u.total > 0 ? Math.min(1, u.done / u.total) : 0;
    const scale = u.scale ?? 1;
    const rate = elapsed > 0 ? u.done / scale / elapsed : 0;
    const eta = frac > 0 && frac < 1 ? (elapsed / frac) * (1 - frac) : 0;
    const rateText = u.unit ? `${rate.toFixed(rate < 10 ? 2 : 1)} ${u.unit}/s` : "";
    const pct = `${(frac * 100).toFixed(1).padStart(5)}%`;
    if (tty) {
      const width = Math.max(10, Math.min(30, (this.io.stderr.columns ?? 80) - 70));
      const filled = Math.round(frac * width);
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      const label = (u.label ?? "").slice(0, 32);
      this.io.stderr.write(`\r\x1b[2K${this.title} ${bar} ${pct} ${rateText} ETA ${fmtDuration(eta)} ${label}`);
      this.drawn = true;
    } else {
      this.lastLine = now;
      this.io.stderr.write(`${this.title}: ${pct} ${rateText}${u.label ? ` ${u.label}` : ""}${frac < 1 ? ` ETA ${fmtDuration(eta)}` : ""}\n`);
    }
  }

  done(message?: string): void {
    if (this.mode.quiet || this.mode.json) return;
    if (this.drawn) this.io.stderr.write("\r\x1b[2K");
    if (message) this.io.stderr.write(`${message}\n`);
  }
}

export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s <= 0) return "0s";
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s - m * 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

export function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** Formats rows as an aligned text table. Numbers are right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number"));
  const line = (r: readonly string[]) =>
    r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}
