/**
 * Metadata-only edits: rewrite the header, copy the tensor data unchanged (like gguf-py's `gguf_new_metadata.py`).
 */
import type { GgufFile } from "./file.js";
import { openGguf, type GgufSourceInput, type OpenOptions } from "./open.js";
import type { GgufMetadata, GgufValue } from "./types.js";
import { writeGguf, type GgufWriteResult, type GgufWriteSpec, type GgufWriteTensor, type WritableSink } from "./write.js";

export interface GgufMetadataEdits {
  /** Keys to set: an existing key keeps its position, a new key is appended. */
  set?: Map<string, GgufValue> | Record<string, GgufValue>;
  /** Keys to remove. */
  remove?: readonly string[];
}

/** A function that edits a copy of the metadata in place (or returns a new Map). */
export type GgufMetadataEditor = (metadata: GgufMetadata) => GgufMetadata | void;

/** Applies edits to a copy of `metadata`. */
export function applyMetadataEdits(metadata: GgufMetadata, edits: GgufMetadataEdits | GgufMetadataEditor): GgufMetadata {
  const copy: GgufMetadata = new Map(metadata);
  if (typeof edits === "function") return edits(copy) ?? copy;
  for (const k of edits.remove ?? []) copy.delete(k);
  const set = edits.set instanceof Map ? edits.set : Object.entries(edits.set ?? {});
  for (const [k, v] of set) copy.set(k, v);
  return copy;
}

/** A write spec that reproduces `file` (streaming each tensor's bytes from it), with the given metadata. */
export function ggufWriteSpecFrom(file: GgufFile, metadata: GgufMetadata = file.metadata): GgufWriteSpec {
  // A tensor of unknown type has no known size: writing it fails with GGUF_UNKNOWN_TENSOR_TYPE unless the caller
  // replaces the entry with one that gives `nBytes`.
  const tensors: GgufWriteTensor[] = file.tensors.map((t) => {
    const w: GgufWriteTensor = { name: t.name, shape: t.shape, type: t.type, data: () => file.readTensorChunks(t) };
    if (t.hasKnownSize) w.nBytes = t.nBytes;
    return w;
  });
  const noTensorsButPadded = file.tensors.length === 0 && file.fileSize !== undefined && file.fileSize >= file.dataOffset && file.dataOffset > file.tensorInfoRange[1];
  return {
    metadata,
    tensors,
    version: file.version as 1 | 2 | 3,
    littleEndian: file.littleEndian,
    alignEmptyDataSection: noTensorsButPadded,
  };
}

/**
 * Writes a copy of `input` with edited metadata to `output` (a path, written atomically, or a sink). The tensor data is
 * copied byte for byte, streamed one chunk at a time; tensors are re-laid-out only if the alignment changes.
 * `output` may be the same path as `input`.
 */
export async function editGgufMetadata(
  input: GgufSourceInput | GgufFile,
  output: string | WritableSink,
  edits: GgufMetadataEdits | GgufMetadataEditor,
  options: OpenOptions = {},
): Promise<GgufWriteResult> {
  const isFile = typeof input === "object" && input !== null && "tensors" in input && "metadata" in input && "readTensorData" in input;
  const file = isFile ? (input as GgufFile) : await openGguf(input as GgufSourceInput, options);
  try {
    return await writeGguf(output, ggufWriteSpecFrom(file, applyMetadataEdits(file.metadata, edits)));
  } finally {
    if (!isFile) await file.close();
  }
}
