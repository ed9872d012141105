/**
 * Format constants of GGUF and the named safety limits applied to untrusted input.
 *
 * Every limit is a named constant with the reason it exists, so a reader can see what a hostile file could do
 * without it. The C reader (`gguf_init_from_reader`, ggml/src/gguf.cpp) applies the same kind of checks; where it has
 * a number (`GGUF_MAX_STRING_LENGTH`, `GGUF_MAX_ARRAY_ELEMENTS`, `GGML_MAX_DIMS`, `GGML_MAX_NAME`, its 1 MiB
 * alignment cap) we use the same one.
 */

/** The 4 magic bytes at offset 0: ASCII "GGUF" (`GGUF_MAGIC`, include/gguf.h). Stored in this byte order in both endiannesses. */
export const GGUF_MAGIC = new Uint8Array([0x47, 0x47, 0x55, 0x46]);

/** Newest GGUF version (`GGUF_VERSION`). The reader accepts 1, 2 and 3; the writer emits 3 unless told otherwise. */
export const GGUF_VERSION = 3;

/** Versions this reader understands. v1 uses 32-bit counts and lengths; v2 and v3 use 64-bit ones. */
export const GGUF_SUPPORTED_VERSIONS: readonly number[] = [1, 2, 3];

/** `GGUF_DEFAULT_ALIGNMENT`: alignment of the data section and of every tensor when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** `GGUF_KEY_GENERAL_ALIGNMENT`: the one reserved key; it must be UINT32 and a power of two. */
export const GGUF_KEY_GENERAL_ALIGNMENT = "general.alignment";

/** `GGML_PAD(x, n)`: `x` rounded up to a multiple of `n` (`n` a power of two or any positive integer). */
export function ggmlPad(x: number, n: number): number {
  const r = x % n;
  return r === 0 ? x : x + (n - r);
}

/**
 * Largest accepted number of key/value pairs. Real models have 20–60 and tokenizers add a handful.
 * Reason: a count is read before anything else, so a corrupt count must be refused before the loop runs
 * (CWE-770, allocation without limits; CWE-835, a loop bounded only by a 64-bit count).
 */
export const MAX_KV_COUNT = 100_000;

/**
 * Largest accepted number of tensors. The biggest public MoE checkpoints have a few thousand tensors per file.
 * Reason: as {@link MAX_KV_COUNT} (each tensor info also costs memory and a name lookup).
 */
export const MAX_TENSOR_COUNT = 1_000_000;

/**
 * Largest string (key, value or array element), in bytes: 64 MiB, the C reader's `GGUF_MAX_STRING_LENGTH`.
 * Reason: a chat template is a few KB; a hostile length would make the reader allocate or fetch gigabytes (CWE-770).
 */
export const MAX_STRING_LENGTH = 64 * 1024 * 1024;

/**
 * Largest array, in elements: 64 Mi, the C reader's `GGUF_MAX_ARRAY_ELEMENTS`. The biggest vocabularies have ~260K
 * tokens. Reason: arrays are materialised as JS arrays; a hostile length must not size one (CWE-770, CWE-1284).
 */
export const MAX_ARRAY_LENGTH = 64 * 1024 * 1024;

/**
 * Deepest array nesting (an ARRAY of ARRAY counts 2). The C reader refuses nested arrays altogether; the spec allows
 * them and gguf-py reads them. Reason: recursion on attacker-chosen depth (CWE-674, uncontrolled recursion).
 */
export const MAX_ARRAY_NESTING_DEPTH = 4;

/**
 * Largest metadata section (header + KV pairs + tensor infos), in bytes: 256 MiB. Real headers are under 20 MB
 * (large vocabularies with merges). Reason: bounds how much a remote parse downloads and how much memory the
 * parsed metadata may take, whatever the individual counts say (CWE-400).
 */
export const MAX_METADATA_BYTES = 256 * 1024 * 1024;

/** `GGML_MAX_DIMS`: a ggml tensor has at most 4 dimensions; the C reader refuses more. */
export const MAX_TENSOR_DIMS = 4;

/**
 * `GGML_MAX_NAME`: ggml stores names in a 64-byte char array, so a name must be shorter than 64 bytes; the C reader
 * refuses longer ones. Reason: compatibility (a file we accept must load in llama.cpp) and bounded name lookups.
 */
export const MAX_TENSOR_NAME_LENGTH = 63;

/**
 * Largest accepted `general.alignment`: 1 MiB, as the C reader (`GGUF_MAX_ALIGNMENT`). Reason: a huge alignment turns
 * padding into gigabytes of zeros between tensors (CWE-400).
 */
export const MAX_ALIGNMENT = 1 << 20;
