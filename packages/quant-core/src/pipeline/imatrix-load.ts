/**
 * Loading an importance matrix file for quantization: llama.cpp's legacy `.dat` (via {@link parseImatrixDat}) or
 * the GGUF imatrix format (`<name>.in_sum2` and `<name>.counts` tensors, `imatrix.datasets`,
 * `imatrix.chunk_count`, `imatrix.chunk_size` keys), reduced to the same {@link ImatrixData}.
 *
 * @see load_imatrix / load_legacy_imatrix (tools/quantize/quantize.cpp, after c392e50): for a GGUF imatrix the
 * importance of matrix `j` is `in_sum2[j] / counts[j]` (float division), one count per expert matrix.
 */
import { readFile } from "node:fs/promises";
import { GGMLQuantizationType, parseGgufBytes } from "@quantlab/gguf";
import { parseImatrixDat, type ImatrixData, type ImatrixEntry } from "../imatrix-file.js";
import { QuantizePipelineError } from "./errors.js";

const GGUF_MAGIC = [0x47, 0x47, 0x55, 0x46];

/** Reads an imatrix from bytes: GGUF when the bytes start with `GGUF`, else the legacy `.dat` layout. */
export function parseImatrixBytes(bytes: Uint8Array, file?: string): ImatrixData {
  const isGguf = bytes.length >= 4 && GGUF_MAGIC.every((b, i) => bytes[i] === b);
  return isGguf ? parseImatrixGguf(bytes, file) : parseImatrixDat(bytes, file);
}

/** Reads an imatrix file (`.dat` or `.gguf`). */
export async function loadImatrixFile(path: string): Promise<ImatrixData> {
  return parseImatrixBytes(new Uint8Array(await readFile(path)), path);
}

function f32Tensor(bytes: Uint8Array, offset: number, n: number): Float32Array {
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, n * 4);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** The GGUF imatrix format: one `in_sum2` (ne0 × nmat) and one `counts` (1 × nmat) F32 tensor per weight. */
export function parseImatrixGguf(bytes: Uint8Array, file?: string): ImatrixData {
  const g = parseGgufBytes(bytes, file === undefined ? {} : { name: file });
  const entries = new Map<string, ImatrixEntry>();
  const SUM = ".in_sum2";
  const CNT = ".counts";
  for (const t of g.tensors) {
    if (!t.name.endsWith(SUM)) continue;
    const name = t.name.slice(0, -SUM.length);
    const c = g.tensor(name + CNT);
    if (!c) throw new QuantizePipelineError("QUANTIZE_IMATRIX_FORMAT", `imatrix tensor '${t.name}' has no '${name}${CNT}'`, { file, tensor: t.name });
    if (t.type !== GGMLQuantizationType.F32 || c.type !== GGMLQuantizationType.F32) {
      throw new QuantizePipelineError("QUANTIZE_IMATRIX_FORMAT", `imatrix tensors of '${name}' must be F32`, { file, tensor: t.name });
    }
    const ne0 = t.shape[0] ?? 1;
    const nmat = t.nElements / ne0;
    if (c.nElements !== nmat) {
      throw new QuantizePipelineError("QUANTIZE_IMATRIX_FORMAT", `'${name}${CNT}' has ${c.nElements} values for ${nmat} matrices`, { file, tensor: t.name });
    }
    const sums = f32Tensor(bytes, t.absoluteOffset, t.nElements);
    const counts = f32Tensor(bytes, c.absoluteOffset, nmat);
    const importance = new Float32Array(t.nElements);
    for (let j = 0; j < nmat; j++) {
      const count = counts[j];
      for (let k = 0; k < ne0; k++) importance[j * ne0 + k] = count > 0 ? sums[j * ne0 + k] / count : 0;
    }
    entries.set(name, { name, ncall: Math.round(counts[0] ?? 0), stored: sums, importance });
  }
  const ds = g.get("imatrix.datasets");
  const datasets = Array.isArray(ds) ? ds.map(String) : typeof ds === "string" ? [ds] : [];
  const cc = g.get("imatrix.chunk_count");
  const chunkCount = typeof cc === "number" ? cc : typeof cc === "bigint" ? Number(cc) : undefined;
  return { format: "gguf", entries, datasets, chunkCount, ...(file === undefined ? {} : { file }) };
}
