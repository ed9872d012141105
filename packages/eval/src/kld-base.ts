/**
 * llama.cpp's KL-divergence base-logit files (`llama-perplexity --kl-divergence-base FILE`), read and written
 * byte for byte.
 *
 * Layout (little-endian), written by `perplexity()` and read by `kl_divergence()` in
 * examples/perplexity/perplexity.cpp (llama.cpp c392e50; tools/perplexity/ in later versions):
 *
 * ```
 * "_logits_"                 8 bytes
 * int32 n_ctx
 * int32 n_vocab
 * int32 n_chunk
 * int32 tokens[n_chunk * n_ctx]            the tokenized text (BOS first when the vocab adds it), NOT BOS-replaced
 * for each chunk, for each scored position i in [0, n_ctx - 1 - n_ctx/2):
 *   uint16 row[nv], nv = 2*((n_vocab + 1)/2) + 4
 *     row[0..1] = float32 scale, row[2..3] = float32 min_log_prob,
 *     row[4 + t] = nearest_int((logit_t - min_logit) / scale) for logit_t > min_logit, else 0
 *     (a padding uint16, always 0, when n_vocab is odd)
 * ```
 *
 * Row i of a chunk holds the log-probs the model gave at position `n_ctx/2 + i`, i.e. for the token at
 * `n_ctx/2 + i + 1`. Decoded log-prob: `scale * q + min_log_prob` (float32 arithmetic).
 */
import { nearestInt } from "@quantlab/quant-core";
import { EvalErrorCode, evalError } from "./errors.js";

/** The 8 magic bytes `_logits_`. */
export const KLD_BASE_MAGIC = "_logits_";
const MAGIC_BYTES = new TextEncoder().encode(KLD_BASE_MAGIC);
const HEADER_BYTES = 8 + 3 * 4;

/** uint16 entries per packed row: `2*((n_vocab + 1)/2) + 4` (perplexity.cpp `nv`). */
export function kldRowStride(nVocab: number): number {
  return 2 * Math.floor((nVocab + 1) / 2) + 4;
}

/** Scored positions per chunk: `n_ctx - 1 - n_ctx/2` (the first one is at `first = n_ctx/2`). */
export function kldRowsPerChunk(nCtx: number): number {
  return nCtx - 1 - Math.floor(nCtx / 2);
}

/** Total byte size of a base file with these dimensions. */
export function kldBaseByteLength(nCtx: number, nVocab: number, nChunk: number): number {
  return HEADER_BYTES + 4 * nCtx * nChunk + 2 * nChunk * kldRowsPerChunk(nCtx) * kldRowStride(nVocab);
}

/**
 * What the KL-divergence evaluator reads from a base file: dimensions, tokens and one chunk of packed rows at a
 * time. Both a parsed file ({@link KldBase}) and a streamed one ({@link openKldBase}) are sources.
 */
export interface KldBaseSource {
  readonly file: string | undefined;
  readonly nCtx: number;
  readonly nVocab: number;
  readonly nChunk: number;
  readonly tokens: Int32Array;
  readonly first: number;
  readonly rowsPerChunk: number;
  readonly rowStride: number;
  /** The packed rows of one chunk (`rowsPerChunk * rowStride` uint16). */
  chunkRows(chunk: number): Uint16Array | Promise<Uint16Array>;
}

/** A parsed base file. Views share memory with the bytes given to {@link parseKldBase} when they are aligned. */
export interface KldBase extends KldBaseSource {
  /** File name given to the parser (for messages). */
  readonly file: string | undefined;
  readonly nCtx: number;
  readonly nVocab: number;
  readonly nChunk: number;
  /** The evaluated tokens, `nChunk * nCtx` of them, as tokenized (chunk c is `tokens[c*nCtx .. (c+1)*nCtx)`). */
  readonly tokens: Int32Array;
  /** `n_ctx/2`: position of the first scored row of each chunk. */
  readonly first: number;
  /** `n_ctx - 1 - n_ctx/2` packed rows per chunk. */
  readonly rowsPerChunk: number;
  /** uint16 entries per row (`nv`). */
  readonly rowStride: number;
  /** All packed rows, `nChunk * rowsPerChunk * rowStride` uint16 (header floats included). */
  readonly packed: Uint16Array;
  /** The packed rows of one chunk (`rowsPerChunk * rowStride` uint16), a view. */
  chunkRows(chunk: number): Uint16Array;
  /** The float32 `scale` of row i of a chunk. */
  rowScale(chunk: number, i: number): number;
  /** The float32 `min_log_prob` of row i of a chunk. */
  rowMinLogProb(chunk: number, i: number): number;
  /**
   * Decode row i of a chunk into `out` (length >= nVocab): `out[t] = scale*q[t] + min_log_prob` in float32,
   * exactly as `kl_divergence` reads it.
   */
  logProbRow(chunk: number, i: number, out: Float32Array): void;
  /** The decoded log-prob of one token of row i (what llama.cpp uses for `nll_base`). */
  logProb(chunk: number, i: number, token: number): number;
}

/** The inputs of {@link writeKldBase}. */
export interface KldBaseData {
  readonly nCtx: number;
  readonly nVocab: number;
  readonly nChunk: number;
  /** `nChunk * nCtx` tokens. */
  readonly tokens: ArrayLike<number>;
  /** `nChunk * rowsPerChunk * rowStride` packed uint16 (see {@link packLogProbRow}). */
  readonly packed: Uint16Array;
}

const f32 = new Float32Array(1);
const u16OfF32 = new Uint16Array(f32.buffer);

class ParsedKldBase implements KldBase {
  readonly first: number;
  readonly rowsPerChunk: number;
  readonly rowStride: number;
  private readonly floats: Float32Array;

  constructor(
    readonly file: string | undefined,
    readonly nCtx: number,
    readonly nVocab: number,
    readonly nChunk: number,
    readonly tokens: Int32Array,
    readonly packed: Uint16Array,
  ) {
    this.first = Math.floor(nCtx / 2);
    this.rowsPerChunk = kldRowsPerChunk(nCtx);
    this.rowStride = kldRowStride(nVocab);
    // rowStride is even and the rows start 4-aligned, so the two header floats of every row are float32-aligned.
    this.floats = new Float32Array(packed.buffer, packed.byteOffset, packed.length >> 1);
  }

  private rowIndex(chunk: number, i: number): number {
    if (!(chunk >= 0 && chunk < this.nChunk && i >= 0 && i < this.rowsPerChunk) || !Number.isInteger(chunk) || !Number.isInteger(i)) {
      throw evalError(EvalErrorCode.EVAL_BAD_OPTION, `row (${chunk}, ${i}) is outside ${this.nChunk} chunks x ${this.rowsPerChunk} rows`, { file: this.file });
    }
    return chunk * this.rowsPerChunk + i;
  }

  chunkRows(chunk: number): Uint16Array {
    const n = this.rowsPerChunk * this.rowStride;
    this.rowIndex(chunk, 0);
    return this.packed.subarray(chunk * n, (chunk + 1) * n);
  }

  rowScale(chunk: number, i: number): number {
    return this.floats[(this.rowIndex(chunk, i) * this.rowStride) >> 1];
  }

  rowMinLogProb(chunk: number, i: number): number {
    return this.floats[((this.rowIndex(chunk, i) * this.rowStride) >> 1) + 1];
  }

  logProbRow(chunk: number, i: number, out: Float32Array): void {
    const r = this.rowIndex(chunk, i);
    decodeLogProbRow(this.packed, r * this.rowStride, this.nVocab, out);
  }

  logProb(chunk: number, i: number, token: number): number {
    const r = this.rowIndex(chunk, i);
    const base = r * this.rowStride;
    const scale = this.floats[base >> 1];
    const minLogProb = this.floats[(base >> 1) + 1];
    return Math.fround(Math.fround(scale * this.packed[base + 4 + token]) + minLogProb);
  }
}

/**
 * Decode one packed row starting at `offset` (in uint16) of `packed` into `out[0..nVocab)`.
 * @see kl_divergence / log_softmax(..., const uint16_t * base_log_prob, ...) (perplexity.cpp): `scale*base_log_prob[i] + min_log_prob`
 */
export function decodeLogProbRow(packed: Uint16Array, offset: number, nVocab: number, out: Float32Array): void {
  u16OfF32[0] = packed[offset];
  u16OfF32[1] = packed[offset + 1];
  const scale = f32[0];
  u16OfF32[0] = packed[offset + 2];
  u16OfF32[1] = packed[offset + 3];
  const minLogProb = f32[0];
  const q = offset + 4;
  for (let t = 0; t < nVocab; t++) out[t] = Math.fround(Math.fround(scale * packed[q + t]) + minLogProb);
}

/** Read the `scale` / `min_log_prob` floats of a packed row at `offset` (in uint16). */
export function packedRowHeader(packed: Uint16Array, offset: number): { scale: number; minLogProb: number } {
  u16OfF32[0] = packed[offset];
  u16OfF32[1] = packed[offset + 1];
  const scale = f32[0];
  u16OfF32[0] = packed[offset + 2];
  u16OfF32[1] = packed[offset + 3];
  return { scale, minLogProb: f32[0] };
}

function alignedCopy(bytes: Uint8Array, start: number, length: number, align: number): { buffer: ArrayBufferLike; byteOffset: number } {
  if ((bytes.byteOffset + start) % align === 0) return { buffer: bytes.buffer, byteOffset: bytes.byteOffset + start };
  const copy = new Uint8Array(length);
  copy.set(bytes.subarray(start, start + length));
  return { buffer: copy.buffer, byteOffset: 0 };
}

/**
 * Parse a base file. Throws `KLD_BAD_MAGIC`, `KLD_TRUNCATED` (file ends early; the offset is where data is
 * missing) or `KLD_BAD_SIZE` (negative or zero dimensions, or trailing bytes). `file` is only used in messages.
 *
 * The views (`tokens`, `packed`) share memory with `bytes` when it is 4-byte aligned; otherwise they are copies.
 * Assumes a little-endian host (every platform Node runs on).
 */
export function parseKldBase(bytes: Uint8Array, file?: string): KldBase {
  const ctx = (offset: number) => ({ file, offset });
  if (bytes.length < 8) throw evalError(EvalErrorCode.KLD_TRUNCATED, `KL-divergence base file is ${bytes.length} bytes, shorter than its 8-byte magic`, ctx(bytes.length));
  for (let i = 0; i < 8; i++) {
    if (bytes[i] !== MAGIC_BYTES[i]) {
      throw evalError(EvalErrorCode.KLD_BAD_MAGIC, "does not look like a file containing log-probabilities (no '_logits_' magic)", ctx(0));
    }
  }
  if (bytes.length < HEADER_BYTES) throw evalError(EvalErrorCode.KLD_TRUNCATED, "KL-divergence base file ends inside its header (n_ctx, n_vocab, n_chunk)", ctx(bytes.length));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nCtx = dv.getInt32(8, true);
  const nVocab = dv.getInt32(12, true);
  const nChunk = dv.getInt32(16, true);
  if (nCtx < 2) throw evalError(EvalErrorCode.KLD_BAD_SIZE, `n_ctx = ${nCtx} is not a usable context size`, ctx(8));
  if (nVocab < 1) throw evalError(EvalErrorCode.KLD_BAD_SIZE, `n_vocab = ${nVocab} is not a usable vocabulary size`, ctx(12));
  if (nChunk < 1) throw evalError(EvalErrorCode.KLD_BAD_SIZE, `n_chunk = ${nChunk} is not a usable chunk count`, ctx(16));
  const tokenBytes = 4 * nCtx * nChunk;
  const rowStride = kldRowStride(nVocab);
  const rowsPerChunk = kldRowsPerChunk(nCtx);
  const chunkBytes = 2 * rowsPerChunk * rowStride;
  const dataStart = HEADER_BYTES + tokenBytes;
  const expected = dataStart + nChunk * chunkBytes;
  if (bytes.length < dataStart) {
    throw evalError(EvalErrorCode.KLD_TRUNCATED, `KL-divergence base file ends inside its ${nChunk * nCtx} tokens (n_ctx ${nCtx} x n_chunk ${nChunk})`, ctx(bytes.length));
  }
  if (bytes.length < expected) {
    const whole = Math.floor((bytes.length - dataStart) / chunkBytes);
    throw evalError(
      EvalErrorCode.KLD_TRUNCATED,
      `KL-divergence base file ends inside the log-probs of chunk ${whole} of ${nChunk}: ${bytes.length} bytes, header says ${expected}`,
      ctx(dataStart + whole * chunkBytes),
    );
  }
  if (bytes.length > expected) {
    throw evalError(
      EvalErrorCode.KLD_BAD_SIZE,
      `KL-divergence base file has ${bytes.length - expected} bytes after the ${nChunk} chunks its header announces (n_ctx ${nCtx}, n_vocab ${nVocab})`,
      ctx(expected),
    );
  }
  const tok = alignedCopy(bytes, HEADER_BYTES, tokenBytes, 4);
  const tokens = new Int32Array(tok.buffer, tok.byteOffset, nCtx * nChunk);
  const pk = alignedCopy(bytes, dataStart, expected - dataStart, 4);
  const packed = new Uint16Array(pk.buffer, pk.byteOffset, (expected - dataStart) >> 1);
  return new ParsedKldBase(file, nCtx, nVocab, nChunk, tokens, packed);
}

/** The header and tokens of a base file (what `perplexity()` writes before the first chunk). */
export function kldBaseHeader(nCtx: number, nVocab: number, nChunk: number, tokens: ArrayLike<number>): Uint8Array {
  if (tokens.length < nCtx * nChunk) {
    throw evalError(EvalErrorCode.KLD_BAD_SIZE, `${tokens.length} tokens given, the header needs n_ctx x n_chunk = ${nCtx * nChunk}`);
  }
  const out = new Uint8Array(HEADER_BYTES + 4 * nCtx * nChunk);
  out.set(MAGIC_BYTES, 0);
  const dv = new DataView(out.buffer);
  dv.setInt32(8, nCtx, true);
  dv.setInt32(12, nVocab, true);
  dv.setInt32(16, nChunk, true);
  for (let i = 0; i < nCtx * nChunk; i++) dv.setInt32(HEADER_BYTES + 4 * i, tokens[i], true);
  return out;
}

/**
 * Serialize a base file. `writeKldBase(parseKldBase(b))` gives back `b` byte for byte.
 */
export function writeKldBase(data: KldBaseData): Uint8Array {
  const { nCtx, nVocab, nChunk } = data;
  const nPacked = nChunk * kldRowsPerChunk(nCtx) * kldRowStride(nVocab);
  if (data.packed.length !== nPacked) {
    throw evalError(EvalErrorCode.KLD_BAD_SIZE, `${data.packed.length} packed uint16 given, n_chunk ${nChunk} x rows ${kldRowsPerChunk(nCtx)} x nv ${kldRowStride(nVocab)} = ${nPacked} expected`);
  }
  const header = kldBaseHeader(nCtx, nVocab, nChunk, data.tokens);
  const out = new Uint8Array(header.length + 2 * nPacked);
  out.set(header, 0);
  out.set(new Uint8Array(data.packed.buffer, data.packed.byteOffset, 2 * nPacked), header.length);
  return out;
}

/**
 * Pack one row of float32 logits into llama.cpp's uint16 log-prob format and return the NLL of `token`
 * (`max_logit + log_sum_exp - logits[tok]`, float32). `out` receives `kldRowStride(nVocab)` uint16 at `outOffset`
 * (the padding entry, when n_vocab is odd, is set to 0).
 * @see log_softmax(int n_vocab, const float * logits, uint16_t * log_prob, int tok) (perplexity.cpp)
 */
export function packLogProbRow(logits: Float32Array, logitsOffset: number, nVocab: number, token: number, out: Uint16Array, outOffset: number): number {
  let maxLogit = logits[logitsOffset];
  let minLogit = logits[logitsOffset];
  for (let i = 1; i < nVocab; i++) {
    const v = logits[logitsOffset + i];
    if (v > maxLogit) maxLogit = v; // std::max(max_logit, logits[i])
    if (v < minLogit) minLogit = v; // std::min(min_logit, logits[i])
  }
  const floor = Math.fround(maxLogit - 16);
  if (floor > minLogit) minLogit = floor; // std::max(min_logit, max_logit - 16)
  let sumExp = 0; // double
  for (let i = 0; i < nVocab; i++) sumExp += Math.fround(Math.exp(Math.fround(logits[logitsOffset + i] - maxLogit)));
  const logSumExp = Math.fround(Math.log(sumExp));
  const minLogProb = Math.fround(Math.fround(minLogit - maxLogit) - logSumExp);
  const scale = Math.fround(Math.fround(maxLogit - minLogit) / 65535);
  f32[0] = scale;
  out[outOffset] = u16OfF32[0];
  out[outOffset + 1] = u16OfF32[1];
  f32[0] = minLogProb;
  out[outOffset + 2] = u16OfF32[0];
  out[outOffset + 3] = u16OfF32[1];
  const q = outOffset + 4;
  if (scale !== 0) {
    const invScale = Math.fround(1 / scale);
    for (let i = 0; i < nVocab; i++) {
      const v = logits[logitsOffset + i];
      // (uint16_t) of an int: modulo 2^16, as C converts
      out[q + i] = v > minLogit ? nearestInt(Math.fround(invScale * Math.fround(v - minLogit))) & 0xffff : 0;
    }
  } else {
    out.fill(0, q, q + nVocab);
  }
  const stride = kldRowStride(nVocab);
  if (stride - 4 > nVocab) out.fill(0, q + nVocab, outOffset + stride);
  return Math.fround(Math.fround(maxLogit + logSumExp) - logits[logitsOffset + token]);
}

/** A base file read chunk by chunk from disk (for base files too large to hold in memory). */
export interface KldBaseReader extends KldBaseSource {
  chunkRows(chunk: number): Promise<Uint16Array>;
  close(): Promise<void>;
}

/**
 * Open a base file for streaming: reads and checks the header and tokens (same errors as {@link parseKldBase}:
 * the file size must match the header), then reads one chunk of packed rows per {@link KldBaseReader.chunkRows}.
 */
export async function openKldBase(path: string): Promise<KldBaseReader> {
  const { open } = await import("node:fs/promises");
  const fh = await open(path, "r");
  try {
    const size = (await fh.stat()).size;
    const head = new Uint8Array(Math.min(size, HEADER_BYTES));
    await fh.read(head, 0, head.length, 0);
    const dims = headerDims(head, size, path);
    const tokBytes = new Uint8Array(4 * dims.nCtx * dims.nChunk);
    await fh.read(tokBytes, 0, tokBytes.length, HEADER_BYTES);
    const tokens = new Int32Array(tokBytes.buffer, 0, dims.nCtx * dims.nChunk);
    const rowStride = kldRowStride(dims.nVocab);
    const rowsPerChunk = kldRowsPerChunk(dims.nCtx);
    const chunkBytes = 2 * rowsPerChunk * rowStride;
    const dataStart = HEADER_BYTES + tokBytes.length;
    return {
      file: path,
      nCtx: dims.nCtx,
      nVocab: dims.nVocab,
      nChunk: dims.nChunk,
      tokens,
      first: Math.floor(dims.nCtx / 2),
      rowsPerChunk,
      rowStride,
      async chunkRows(chunk: number): Promise<Uint16Array> {
        if (!(Number.isInteger(chunk) && chunk >= 0 && chunk < dims.nChunk)) {
          throw evalError(EvalErrorCode.EVAL_BAD_OPTION, `chunk ${chunk} is outside the ${dims.nChunk} chunks`, { file: path });
        }
        const buf = new Uint8Array(chunkBytes);
        const { bytesRead } = await fh.read(buf, 0, chunkBytes, dataStart + chunk * chunkBytes);
        if (bytesRead !== chunkBytes) throw evalError(EvalErrorCode.KLD_TRUNCATED, `short read of chunk ${chunk}`, { file: path, offset: dataStart + chunk * chunkBytes + bytesRead });
        return new Uint16Array(buf.buffer, 0, chunkBytes >> 1);
      },
      close: () => fh.close(),
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

function headerDims(head: Uint8Array, size: number, file: string | undefined): { nCtx: number; nVocab: number; nChunk: number } {
  // parse the header through the in-memory checks with a fake total size
  const ctx = (offset: number) => ({ file, offset });
  if (size < 8) throw evalError(EvalErrorCode.KLD_TRUNCATED, `KL-divergence base file is ${size} bytes, shorter than its 8-byte magic`, ctx(size));
  for (let i = 0; i < 8; i++) {
    if (head[i] !== MAGIC_BYTES[i]) throw evalError(EvalErrorCode.KLD_BAD_MAGIC, "does not look like a file containing log-probabilities (no '_logits_' magic)", ctx(0));
  }
  if (size < HEADER_BYTES) throw evalError(EvalErrorCode.KLD_TRUNCATED, "KL-divergence base file ends inside its header (n_ctx, n_vocab, n_chunk)", ctx(size));
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const nCtx = dv.getInt32(8, true);
  const nVocab = dv.getInt32(12, true);
  const nChunk = dv.getInt32(16, true);
  if (nCtx < 2) throw evalError(EvalErrorCode.KLD_BAD_SIZE, `n_ctx = ${nCtx} is not a usable context size`, ctx(8));
  if (nVocab < 1) throw evalError(EvalErrorCode.KLD_BAD_SIZE, `n_vocab = ${nVocab} is not a usable vocabulary size`, ctx(12));
  if (nChunk < 1) throw evalError(EvalErrorCode.KLD_BAD_SIZE, `n_chunk = ${nChunk} is not a usable chunk count`, ctx(16));
  const expected = kldBaseByteLength(nCtx, nVocab, nChunk);
  if (size < expected) throw evalError(EvalErrorCode.KLD_TRUNCATED, `KL-divergence base file has ${size} bytes, its header says ${expected}`, ctx(size));
  if (size > expected) throw evalError(EvalErrorCode.KLD_BAD_SIZE, `KL-divergence base file has ${size - expected} bytes after the ${nChunk} chunks its header announces`, ctx(expected));
  return { nCtx, nVocab, nChunk };
}
