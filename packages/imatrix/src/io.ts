/** Reading and writing imatrix files in either format. */
import { randomBytes } from "node:crypto";
import { readFile, rename, unlink, writeFile } from "node:fs/promises";
import { parseImatrixDatFile, serializeImatrixDatFile } from "./dat-format.js";
import { ImatrixError } from "./errors.js";
import { parseImatrixGguf, writeImatrixGguf } from "./gguf-format.js";
import type { Imatrix } from "./imatrix.js";

export type ImatrixFormat = "gguf" | "dat";

export interface LoadImatrixOptions {
  /**
   * Chunk size to assume where the file does not store one (a `.dat`, or a GGUF without `imatrix.chunk_size`).
   * llama.cpp takes its current `n_ctx / n_parallel` (512 by default). Default 512.
   */
  readonly chunkSize?: number | undefined;
}

/** `gguf` when the bytes start with the GGUF magic, else `dat` (llama.cpp tries GGUF, then falls back to legacy). */
export function sniffImatrixFormat(bytes: Uint8Array): ImatrixFormat {
  return bytes.length >= 4 && bytes[0] === 0x47 && bytes[1] === 0x47 && bytes[2] === 0x55 && bytes[3] === 0x46 ? "gguf" : "dat";
}

/** Parses imatrix bytes of either format. */
export function parseImatrix(bytes: Uint8Array, options: LoadImatrixOptions & { file?: string | undefined } = {}): Imatrix & { format: ImatrixFormat } {
  const format = sniffImatrixFormat(bytes);
  const im = format === "gguf" ? parseImatrixGguf(bytes, options) : parseImatrixDatFile(bytes, options);
  return Object.assign(im, { format });
}

/** Loads an imatrix file, GGUF or legacy `.dat` (sniffed from the content, not the name). */
export async function loadImatrix(path: string, options: LoadImatrixOptions = {}): Promise<Imatrix & { format: ImatrixFormat }> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw new ImatrixError("IMATRIX_IO", `cannot read ${path}: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return parseImatrix(bytes, { ...options, file: path });
}

/** The format for an output path: `.dat` → legacy, anything else GGUF (llama-imatrix's default since PR #9400). */
export function formatForPath(path: string): ImatrixFormat {
  return path.toLowerCase().endsWith(".dat") ? "dat" : "gguf";
}

/** Writes an imatrix atomically (temp file + rename). Format: `options.format`, else from the extension. */
export async function saveImatrix(path: string, im: Imatrix, options: { format?: ImatrixFormat | undefined } = {}): Promise<ImatrixFormat> {
  const format = options.format ?? formatForPath(path);
  if (format === "gguf") {
    await writeImatrixGguf(path, im);
    return format;
  }
  const bytes = serializeImatrixDatFile(im);
  const tmp = `${path}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw new ImatrixError("IMATRIX_IO", `cannot write ${path}: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return format;
}
