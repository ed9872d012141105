import { PassThrough } from "node:stream";
import type { CliIO } from "../io.js";

/** In-memory stdout/stderr for running commands in-process in tests. */
export function capture(): { io: CliIO; out: () => string; err: () => string } {
  const o = new PassThrough();
  const e = new PassThrough();
  let so = "";
  let se = "";
  o.on("data", (d: Buffer) => (so += d.toString()));
  e.on("data", (d: Buffer) => (se += d.toString()));
  return { io: { stdout: o, stderr: e, cwd: process.cwd() }, out: () => so, err: () => se };
}
