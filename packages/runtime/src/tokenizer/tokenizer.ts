/**
 * Tokenizers built from GGUF metadata, matching llama.cpp (c392e50) token for token.
 *
 * - `spm` (`tokenizer.ggml.model = "llama"`): SentencePiece-style merges by score, `▁` for spaces, a space prefix,
 *   byte fallback to `<0xNN>` tokens. @see llm_tokenizer_spm_session (llama.cpp src/llama-vocab.cpp)
 * - `bpe` (`"gpt2"`): regex pre-tokenizer chosen by `tokenizer.ggml.pre`, GPT-2 byte-level encoding, merges by rank.
 *   @see llm_tokenizer_bpe_session
 * - `wpm` (`"bert"`): BERT normalization and greedy longest-match WordPiece. @see llm_tokenizer_wpm_session
 *
 * Special tokens (control, user-defined, unknown) are cut out of the text first. @see tokenizer_st_partition
 */
import { GGUFValueType, QuantlabError, type GgufFile } from "@quantlab/gguf";
import { BigramHeap } from "./heap.js";
import { preTokenizerConfig, preTokenizerRegexes, regexSplit, type PreTokenizerKind } from "./pretokenize.js";
import {
  BYTE_TO_UNICODE,
  UNICODE_TO_BYTE,
  byteEncode,
  isAccentMark,
  isControl,
  isPunctuation,
  isSymbol,
  isWhitespace,
  nfdFirst,
  toLowerCpt,
  utf8Bytes,
  utf8Decode,
  utf8Length,
} from "./unicode.js";

export type TokenizerType = "spm" | "bpe" | "wpm";

/** `llama_token_type` values stored in `tokenizer.ggml.token_type`. */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** `llama_token_attr` bit flags. */
export const TokenAttr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  NORMALIZED: 1 << 6,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
  SINGLE_WORD: 1 << 9,
} as const;

const ATTR_SPECIAL = TokenAttr.UNKNOWN | TokenAttr.CONTROL;

export interface EncodeOptions {
  /**
   * llama.cpp's `add_special`: add BOS (and EOS) as the vocab says (`tokenizer.ggml.add_bos_token` /
   * `add_eos_token`; for WPM: CLS and SEP). Default false.
   */
  readonly addSpecial?: boolean;
  /** Alias of `addSpecial` (what llama-tokenize passes: the vocab's add_bos flag and not `--no-bos`). */
  readonly addBos?: boolean;
  /** Match control/unknown token texts such as `<s>` in the input (user-defined tokens always match). Default false. */
  readonly parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Drop a leading BOS / trailing EOS when the vocab adds them. Default false. */
  readonly removeSpecial?: boolean;
  /** Render control/unknown tokens as their text (`<s>`); otherwise they are empty. Default false. */
  readonly unparseSpecial?: boolean;
}

/** One vocab entry. */
export interface TokenData {
  readonly text: string;
  readonly score: number;
  /** {@link TokenAttr} bits. */
  readonly attr: number;
}

type Fragment = string | number;

const EOT_TEXTS = new Set(["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<|end_of_text|>"]);
const EOG_EXTRA_TEXTS = new Set(["<|eom_id|>"]);
const FIM_TEXTS = new Set([
  "<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
  "<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
  "<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
  "<|fim_pad|>", "<fim-pad>", "<PAD>",
  "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
  "<|file_sep|>",
]);

function cIsSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function fail(code: string, message: string, file?: string): never {
  throw new QuantlabError(code, message, file === undefined ? {} : { file });
}

/** A tokenizer read from a GGUF file's `tokenizer.ggml.*` keys. Build one with {@link loadTokenizer}. */
export class Tokenizer {
  readonly type: TokenizerType;
  /** `tokenizer.ggml.model` (llama, gpt2, bert). */
  readonly model: string;
  /** `tokenizer.ggml.pre` as stored ("" when absent). */
  readonly pre: string;
  /** Pre-tokenizer regex family (BPE only). */
  readonly preKind: PreTokenizerKind | undefined;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly unk: number | undefined;
  readonly sep: number | undefined;
  readonly pad: number | undefined;
  /** Whether `addSpecial` prepends BOS (`tokenizer.ggml.add_bos_token`, default true for SPM and WPM). */
  readonly addBosToken: boolean;
  readonly addEosToken: boolean;
  /** SPM `add_space_prefix`: a space is put before the text (and removed again by decode). */
  readonly addSpacePrefix: boolean;
  readonly cleanSpaces: boolean;
  readonly ignoreMerges: boolean;

  private readonly tokens: string[];
  private readonly scores: Float32Array;
  private readonly attrs: Uint16Array;
  private readonly tokenToId: Map<string, number>;
  private readonly bpeRanks: Map<string, number>;
  private readonly regexes: RegExp[];
  private readonly specialCache: number[];
  private readonly maxTokenLen: number;
  private readonly pieceCache: (Uint8Array | undefined)[];
  private readonly heap = new BigramHeap();

  /** @internal use {@link loadTokenizer} */
  constructor(file: GgufFile) {
    const name = file.file;
    const str = (k: string): string | undefined => {
      const v = file.getTyped(k);
      if (v === undefined) return undefined;
      if (v.type !== GGUFValueType.STRING) fail("TOKENIZER_INVALID", `'${k}' is not a string`, name);
      return v.value;
    };
    const num = (k: string): number | undefined => {
      const v = file.get(k);
      if (v === undefined) return undefined;
      if (typeof v !== "number" && typeof v !== "bigint") fail("TOKENIZER_INVALID", `'${k}' is not a number`, name);
      return Number(v);
    };
    const bool = (k: string): boolean | undefined => {
      const v = file.get(k);
      if (v === undefined) return undefined;
      if (typeof v !== "boolean") fail("TOKENIZER_INVALID", `'${k}' is not a bool`, name);
      return v;
    };
    const arr = (k: string): unknown[] | undefined => {
      const v = file.getTyped(k);
      if (v === undefined) return undefined;
      if (v.type !== GGUFValueType.ARRAY) fail("TOKENIZER_INVALID", `'${k}' is not an array`, name);
      return v.value as unknown[];
    };

    // @see llama_vocab::impl::load
    const model = str("tokenizer.ggml.model");
    if (model === undefined) fail("TOKENIZER_MISSING", "no tokenizer.ggml.model in this file", name);
    this.model = model;
    this.pre = str("tokenizer.ggml.pre") ?? "";
    let bos: number | undefined;
    let eos: number | undefined;
    let unk: number | undefined;
    let sep: number | undefined;
    let pad: number | undefined;
    let addBos = false;
    let addEos = false;
    let addSpacePrefix = false;
    let cleanSpaces = false;
    let ignoreMerges = false;
    this.bpeRanks = new Map();
    if (model === "llama") {
      this.type = "spm";
      bos = 1;
      eos = 2;
      unk = 0;
      addSpacePrefix = true;
      addBos = true;
      this.preKind = undefined;
    } else if (model === "bert") {
      this.type = "wpm";
      bos = 101;
      unk = 100;
      sep = 102;
      pad = 0;
      cleanSpaces = true;
      addBos = true;
      this.preKind = undefined;
    } else if (model === "gpt2") {
      this.type = "bpe";
      const merges = arr("tokenizer.ggml.merges");
      if (merges === undefined) fail("TOKENIZER_INVALID", "cannot find tokenizer merges in model file", name);
      for (let i = 0; i < merges.length; i++) {
        const w = merges[i];
        if (typeof w !== "string") fail("TOKENIZER_INVALID", "tokenizer.ggml.merges is not a string array", name);
        const pos = w.indexOf(" ", 1);
        const key = pos < 0 ? " " : w;
        if (!this.bpeRanks.has(key)) this.bpeRanks.set(key, i);
      }
      bos = 11;
      eos = 11;
      const cfg = preTokenizerConfig(this.pre);
      if (cfg === undefined) fail("TOKENIZER_UNSUPPORTED", `unknown pre-tokenizer type: '${this.pre}'`, name);
      this.preKind = cfg.kind;
      cleanSpaces = cfg.cleanSpaces;
      ignoreMerges = cfg.ignoreMerges;
      addBos = cfg.addBos;
    } else {
      fail("TOKENIZER_UNSUPPORTED", `unsupported tokenizer model '${model}' (supported: llama, gpt2, bert)`, name);
    }
    addSpacePrefix = bool("tokenizer.ggml.add_space_prefix") ?? addSpacePrefix;

    const tokens = arr("tokenizer.ggml.tokens");
    if (tokens === undefined) fail("TOKENIZER_INVALID", "cannot find tokenizer vocab in model file", name);
    const n = tokens.length;
    const scores = arr("tokenizer.ggml.scores");
    const types = arr("tokenizer.ggml.token_type");
    if (scores !== undefined && scores.length < n) fail("TOKENIZER_INVALID", `${scores.length} scores for ${n} tokens`, name);
    if (types !== undefined && types.length < n) fail("TOKENIZER_INVALID", `${types.length} token types for ${n} tokens`, name);
    this.tokens = new Array<string>(n);
    this.scores = new Float32Array(n);
    this.attrs = new Uint16Array(n);
    this.tokenToId = new Map();
    let maxLen = 0;
    for (let i = 0; i < n; i++) {
      const w = tokens[i];
      if (typeof w !== "string") fail("TOKENIZER_INVALID", "tokenizer.ggml.tokens is not a string array", name);
      let word: string = w;
      if (word === "") word = `[EMPTY_${i}]`;
      if (this.tokenToId.has(word)) fail("TOKENIZER_INVALID", `duplicate token in vocabulary: '${word}' has ids ${this.tokenToId.get(word)} and ${i}`, name);
      this.tokenToId.set(word, i);
      this.tokens[i] = word;
      maxLen = Math.max(maxLen, utf8Length(word));
      this.scores[i] = scores === undefined ? 0 : Number(scores[i]);
      let attr: number = TokenAttr.NORMAL;
      if (types !== undefined) {
        switch (Number(types[i])) {
          case TokenType.UNKNOWN: attr = TokenAttr.UNKNOWN; break;
          case TokenType.UNUSED: attr = TokenAttr.UNUSED; break;
          case TokenType.NORMAL: attr = TokenAttr.NORMAL; break;
          case TokenType.CONTROL: attr = TokenAttr.CONTROL; break;
          case TokenType.USER_DEFINED: attr = TokenAttr.USER_DEFINED; break;
          case TokenType.BYTE: attr = TokenAttr.BYTE; break;
          default: attr = TokenAttr.UNDEFINED;
        }
      }
      this.attrs[i] = attr;
    }
    this.maxTokenLen = maxLen;

    // special token ids: defaults above, then the keys (an out-of-range id keeps the default)
    const special = (key: string, def: number | undefined): number | undefined => {
      let id = def !== undefined && def >= n ? undefined : def;
      const v = num(key);
      if (v !== undefined && v >= 0 && v < n) id = v;
      return id;
    };
    this.bos = special("tokenizer.ggml.bos_token_id", this.type === "wpm" ? (num("tokenizer.ggml.cls_token_id") ?? bos) : bos);
    this.eos = special("tokenizer.ggml.eos_token_id", eos);
    this.unk = special("tokenizer.ggml.unknown_token_id", unk);
    this.sep = special("tokenizer.ggml.seperator_token_id", sep);
    this.pad = special("tokenizer.ggml.padding_token_id", pad);
    this.addBosToken = bool("tokenizer.ggml.add_bos_token") ?? addBos;
    this.addEosToken = bool("tokenizer.ggml.add_eos_token") ?? addEos;
    this.addSpacePrefix = addSpacePrefix;
    this.cleanSpaces = cleanSpaces;
    this.ignoreMerges = ignoreMerges;
    if (this.addBosToken && this.bos === undefined && this.type !== "wpm") fail("TOKENIZER_INVALID", "add_bos_token is true, but bos_token_id is not set", name);

    // text-detected end-of-generation / FIM tokens are forced to CONTROL (llama.cpp does the same)
    for (let i = 0; i < n; i++) {
      const t = this.tokens[i]!;
      if (EOT_TEXTS.has(t) || EOG_EXTRA_TEXTS.has(t) || FIM_TEXTS.has(t)) this.attrs[i]! |= TokenAttr.CONTROL;
    }

    // special tokens cache: control / user-defined / unknown, longest text first
    const cache: number[] = [];
    for (let i = 0; i < n; i++) if (this.attrs[i]! & (TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN)) cache.push(i);
    cache.sort((a, b) => utf8Length(this.tokens[b]!) - utf8Length(this.tokens[a]!) || a - b);
    this.specialCache = cache;

    // per-model attributes: phi-3 strips spaces after its special tokens
    const modelName = (str("general.name") ?? "").toLowerCase();
    if (modelName.includes("phi-3") || modelName.includes("phi3")) {
      for (const id of cache) this.attrs[id]! |= TokenAttr.RSTRIP;
      const setR = (t: string, on: boolean): void => {
        const id = this.tokenToId.get(t);
        if (id === undefined) return;
        this.attrs[id] = on ? this.attrs[id]! | TokenAttr.RSTRIP : this.attrs[id]! & ~TokenAttr.RSTRIP;
      };
      setR("</s>", true);
      for (const t of ["<unk>", "<s>", "<|endoftext|>"]) setR(t, false);
    }

    this.regexes = this.preKind === undefined ? [] : preTokenizerRegexes(this.preKind);
    this.pieceCache = new Array<Uint8Array | undefined>(n);
  }

  /** Number of tokens in the vocab. */
  get vocabSize(): number {
    return this.tokens.length;
  }

  /** Number of BPE merges (0 for SPM/WPM). */
  get mergeCount(): number {
    return this.bpeRanks.size;
  }

  /** The vocab entry of one id. */
  token(id: number): TokenData {
    this.checkId(id);
    return { text: this.tokens[id]!, score: this.scores[id]!, attr: this.attrs[id]! };
  }

  /** Id of an exact token text, or undefined. */
  textToToken(text: string): number | undefined {
    return this.tokenToId.get(text);
  }

  /** Whether a token is control/unknown (rendered only with `unparseSpecial`). */
  isSpecial(id: number): boolean {
    this.checkId(id);
    return (this.attrs[id]! & ATTR_SPECIAL) !== 0;
  }

  /**
   * Text to token ids. Same result as llama.cpp `llama_tokenize(vocab, text, add_special, parse_special)`.
   * @see llama_vocab::impl::tokenize
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecial = options.addSpecial ?? options.addBos ?? false;
    const parseSpecial = options.parseSpecial ?? false;
    const output: number[] = [];
    const fragments: Fragment[] = text.length > 0 ? this.partition(text, parseSpecial) : [];
    switch (this.type) {
      case "spm": {
        let isPrevSpecial = true; // prefix with space if first token
        if (addSpecial && this.addBosToken) {
          output.push(this.bos!);
          isPrevSpecial = true;
        }
        for (const f of fragments) {
          if (typeof f === "string") {
            let t = this.addSpacePrefix && isPrevSpecial ? " " + f : f;
            t = t.replaceAll(" ", "\u2581"); // llama_escape_whitespace
            this.tokenizeSpm(t, output);
            isPrevSpecial = false;
          } else {
            output.push(f);
            isPrevSpecial = true;
          }
        }
        if (addSpecial && this.addEosToken && this.eos !== undefined) output.push(this.eos);
        break;
      }
      case "bpe": {
        if (addSpecial && this.addBosToken) output.push(this.bos!);
        for (const f of fragments) {
          if (typeof f === "string") this.tokenizeBpe(f, output);
          else output.push(f);
        }
        if (addSpecial && this.addEosToken && this.eos !== undefined) output.push(this.eos);
        break;
      }
      case "wpm": {
        if (addSpecial && this.bos !== undefined) output.push(this.bos);
        for (const f of fragments) {
          if (typeof f === "string") this.tokenizeWpm(f, output);
          else output.push(f);
        }
        if (addSpecial && this.sep !== undefined) output.push(this.sep);
        break;
      }
    }
    return output;
  }

  /** The bytes a token stands for. `special` renders control/unknown tokens (default true, like llama-tokenize). */
  tokenToPieceBytes(id: number, special = true): Uint8Array {
    this.checkId(id);
    const attr = this.attrs[id]!;
    if (!special && attr & ATTR_SPECIAL) return new Uint8Array(0);
    let piece = this.pieceCache[id];
    if (piece === undefined) {
      piece = this.computePiece(id);
      this.pieceCache[id] = piece;
    }
    return piece;
  }

  /**
   * The text of one token as llama.cpp's `common_token_to_piece(ctx, id, special)` returns it, decoded as UTF-8
   * (a token holding part of a multi-byte character decodes to U+FFFD; use {@link tokenToPieceBytes} for the bytes).
   */
  tokenToPiece(id: number, special = true): string {
    return utf8Decode(this.tokenToPieceBytes(id, special));
  }

  /** Token ids back to bytes. @see llama_vocab::impl::detokenize */
  decodeBytes(ids: readonly number[], options: DecodeOptions = {}): Uint8Array {
    const removeSpecial = options.removeSpecial ?? false;
    const unparseSpecial = options.unparseSpecial ?? false;
    let start = 0;
    let end = ids.length;
    let removeSpace = this.addSpacePrefix;
    if (removeSpecial && this.addBosToken && end > 0 && ids[0] === this.bos) {
      removeSpace = false;
      start++;
    }
    if (removeSpecial && this.addEosToken && end > start && ids[end - 1] === this.eos) end--;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = start; i < end; i++) {
      let p: Uint8Array = this.tokenToPieceBytes(ids[i]!, unparseSpecial);
      if (removeSpace && p.length > 0 && p[0] === 0x20) p = p.subarray(1);
      removeSpace = false;
      parts.push(p);
      total += p.length;
    }
    let text: Uint8Array = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      text.set(p, o);
      o += p.length;
    }
    if (this.cleanSpaces) text = cleanSpacesPass(text);
    return text;
  }

  /** Token ids back to text (UTF-8 decoded {@link decodeBytes}). */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    return utf8Decode(this.decodeBytes(ids, options));
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.tokens.length) {
      throw new QuantlabError("TOKENIZER_BAD_TOKEN", `token id ${id} is out of range [0, ${this.tokens.length})`);
    }
  }

  /** @see llama_vocab::impl::token_to_piece */
  private computePiece(id: number): Uint8Array {
    const attr = this.attrs[id]!;
    const text = this.tokens[id]!;
    if (attr & (ATTR_SPECIAL | TokenAttr.USER_DEFINED)) return utf8Bytes(text);
    if (attr & TokenAttr.NORMAL) {
      if (this.type === "bpe") return decodeByteLevel(text);
      return utf8Bytes(text.replaceAll("\u2581", " "));
    }
    if (attr & TokenAttr.BYTE) {
      if (this.type === "wpm") return new Uint8Array(0);
      return Uint8Array.of(parseInt(text.slice(3, 5), 16));
    }
    return new Uint8Array(0);
  }

  /**
   * Cut special-token texts out of the input, longest token first. Control and unknown tokens only with
   * `parseSpecial`; user-defined tokens always. @see llama_vocab::impl::tokenizer_st_partition
   */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    let buffer: Fragment[] = [text];
    for (const id of this.specialCache) {
      const attr = this.attrs[id]!;
      if (!parseSpecial && attr & ATTR_SPECIAL) continue;
      const tt = this.tokens[id]!;
      let changed = false;
      const next: Fragment[] = [];
      for (const frag of buffer) {
        if (typeof frag !== "string" || !frag.includes(tt)) {
          next.push(frag);
          continue;
        }
        changed = true;
        let base = 0;
        let len = frag.length;
        for (;;) {
          const match = frag.indexOf(tt, base);
          if (match < 0 || match + tt.length > base + len) {
            if (len > 0) next.push(frag.slice(base, base + len));
            break;
          }
          if (match > base) {
            let leftLen = match - base;
            if (attr & TokenAttr.LSTRIP) while (leftLen > 0 && cIsSpace(frag.charCodeAt(base + leftLen - 1))) leftLen--;
            if (leftLen > 0) next.push(frag.slice(base, base + leftLen));
          }
          next.push(id);
          let rOff = match + tt.length;
          let rLen = base + len - rOff;
          if (attr & TokenAttr.RSTRIP) {
            while (rLen > 0 && cIsSpace(frag.charCodeAt(rOff))) {
              rOff++;
              rLen--;
            }
          }
          base = rOff;
          len = rLen;
          if (len <= 0) break;
        }
      }
      if (changed) buffer = next;
    }
    return buffer;
  }

  /** @see llm_tokenizer_spm_session::tokenize */
  private tokenizeSpm(text: string, output: number[]): void {
    // split into code points
    const nChars = text.length;
    const start = new Int32Array(nChars);
    const len = new Int32Array(nChars);
    const prev = new Int32Array(nChars);
    const next = new Int32Array(nChars);
    let count = 0;
    for (let offs = 0; offs < nChars; ) {
      const c = text.charCodeAt(offs);
      const l = c >= 0xd800 && c <= 0xdbff && offs + 1 < nChars ? 2 : 1;
      start[count] = offs;
      len[count] = l;
      offs += l;
      prev[count] = count - 1;
      next[count] = offs === nChars ? -1 : count + 1;
      count++;
    }
    const heap = this.heap;
    heap.clear();
    const revMerge = new Map<string, number>(); // rev_merge: text -> index into revLeft/revRight
    const revLeft: number[] = [];
    const revRight: number[] = [];
    const tryAddBigram = (left: number, right: number): void => {
      if (left === -1 || right === -1) return;
      const size = len[left]! + len[right]!;
      const t = text.substr(start[left]!, size);
      const token = this.tokenToId.get(t);
      if (token === undefined) return;
      heap.push(-this.scores[token]!, left, right, size);
      revMerge.set(t, revLeft.length);
      revLeft.push(left);
      revRight.push(right);
    };
    for (let i = 1; i < count; i++) tryAddBigram(i - 1, i);
    while (heap.pop()) {
      const l = heap.topLeft;
      const r = heap.topRight;
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== heap.topSize) continue;
      len[l]! += len[r]!;
      len[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      tryAddBigram(prev[l]!, l);
      tryAddBigram(l, next[l]!);
    }
    const resegment = (i: number): void => {
      const t = text.substr(start[i]!, len[i]!);
      const token = this.tokenToId.get(t);
      if (token !== undefined) {
        output.push(token);
        return;
      }
      const p = revMerge.get(t);
      if (p === undefined) {
        // output any symbols that did not form tokens as bytes
        for (const b of utf8Bytes(t)) output.push(this.byteToToken(b));
        return;
      }
      resegment(revLeft[p]!);
      resegment(revRight[p]!);
    };
    if (count > 0) for (let i = 0; i !== -1; i = next[i]!) resegment(i);
  }

  /** @see llama_vocab::byte_to_token */
  private byteToToken(b: number): number {
    if (this.type === "spm") {
      const hex = b.toString(16).toUpperCase().padStart(2, "0");
      const id = this.tokenToId.get(`<0x${hex}>`);
      if (id !== undefined) return id;
      const id2 = b < 0x80 ? this.tokenToId.get(String.fromCharCode(b)) : undefined;
      if (id2 !== undefined) return id2;
    } else {
      const id = this.tokenToId.get(BYTE_TO_UNICODE[b]!);
      if (id !== undefined) return id;
    }
    if (this.unk !== undefined) return this.unk;
    throw new QuantlabError("TOKENIZER_NO_BYTE_TOKEN", `the vocab has no token for byte 0x${b.toString(16)}`);
  }

  // BPE session state, reused across words and calls (grown on demand)
  private symLen = new Int32Array(256);
  private symPrev = new Int32Array(256);
  private symNext = new Int32Array(256);
  private word = "";

  /** `add_new_bigram`: queue the pair (left, right) if the merges know it. */
  private addBpeBigram(left: number, right: number): void {
    if (left === -1 || right === -1) return;
    const len = this.symLen;
    const w = this.word;
    const rank = this.bpeRanks.get(w.substr(left, len[left]!) + " " + w.substr(right, len[right]!));
    if (rank === undefined) return;
    this.heap.push(rank, left, right, len[left]! + len[right]!);
  }

  /** @see llm_tokenizer_bpe_session::tokenize */
  private tokenizeBpe(text: string, output: number[]): void {
    const words = regexSplit(text, this.regexes);
    const heap = this.heap;
    for (const raw of words) {
      const word = byteEncode(raw);
      const n = word.length; // byte-level code points are all single UTF-16 units
      if (this.ignoreMerges) {
        const id = this.tokenToId.get(word);
        if (id !== undefined) {
          output.push(id);
          continue;
        }
      }
      if (n > this.symLen.length) {
        this.symLen = new Int32Array(n * 2);
        this.symPrev = new Int32Array(n * 2);
        this.symNext = new Int32Array(n * 2);
      }
      const len = this.symLen;
      const prev = this.symPrev;
      const next = this.symNext;
      this.word = word;
      for (let i = 0; i < n; i++) {
        len[i] = 1;
        prev[i] = i - 1;
        next[i] = i + 1 === n ? -1 : i + 1;
      }
      heap.clear();
      for (let i = 1; i < n; i++) this.addBpeBigram(i - 1, i);
      while (heap.pop()) {
        const l = heap.topLeft;
        const r = heap.topRight;
        // skip entries made outdated by an earlier merge
        if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== heap.topSize) continue;
        len[l]! += len[r]!;
        len[r] = 0;
        next[l] = next[r]!;
        if (next[r]! >= 0) prev[next[r]!] = l;
        this.addBpeBigram(prev[l]!, l);
        this.addBpeBigram(l, next[l]!);
      }
      for (let i = 0; i < n; i++) {
        if (len[i] === 0) continue;
        const s = word.substr(i, len[i]!);
        const id = this.tokenToId.get(s);
        if (id !== undefined) {
          output.push(id);
          continue;
        }
        // no token: fall back to the single-byte strings of the symbol (only ASCII ones can exist)
        for (let j = 0; j < s.length; j++) {
          if (s.charCodeAt(j) >= 0x80) continue;
          const b = this.tokenToId.get(s[j]!);
          if (b !== undefined) output.push(b);
        }
      }
    }
  }

  /** @see llm_tokenizer_wpm_session::tokenize */
  private tokenizeWpm(text: string, output: number[]): void {
    for (const word of wpmPreprocess(text)) {
      if (word.length === 0) continue;
      const word1 = "\u2581" + word;
      const cps = Array.from(word1);
      // UTF-8 byte offsets of each code point boundary
      const off = new Int32Array(cps.length + 1);
      const uoff = new Int32Array(cps.length + 1);
      for (let k = 0; k < cps.length; k++) {
        off[k + 1] = off[k]! + utf8Length(cps[k]!);
        uoff[k + 1] = uoff[k]! + cps[k]!.length;
      }
      const current = output.length;
      const m = cps.length;
      for (let i = 0; i < m; i++) {
        let match = false;
        for (let j = m; j > i; j--) {
          if (off[j]! - off[i]! > this.maxTokenLen) continue;
          const id = this.tokenToId.get(word1.slice(uoff[i]!, uoff[j]!));
          if (id !== undefined) {
            output.push(id);
            match = true;
            i = j - 1;
            break;
          }
        }
        if (!match) {
          output.length = current;
          break;
        }
      }
      if (current === output.length && this.unk !== undefined) output.push(this.unk);
    }
  }
}

/** `is_chinese_char` of llama.cpp's WPM pre-processor. */
function isChineseChar(cpt: number): boolean {
  return (
    (cpt >= 0x04e00 && cpt <= 0x09fff) ||
    (cpt >= 0x03400 && cpt <= 0x04dbf) ||
    (cpt >= 0x20000 && cpt <= 0x2a6df) ||
    (cpt >= 0x2a700 && cpt <= 0x2b73f) ||
    (cpt >= 0x2b740 && cpt <= 0x2b81f) ||
    (cpt >= 0x2b920 && cpt <= 0x2ceaf) ||
    (cpt >= 0x0f900 && cpt <= 0x0faff) ||
    (cpt >= 0x2f800 && cpt <= 0x2fa1f)
  );
}

/** BERT normalization and word split. @see llm_tokenizer_wpm_session::preprocess */
export function wpmPreprocess(text: string): string[] {
  const words: string[] = [""];
  for (const ch0 of text) {
    const ch = nfdFirst(ch0);
    const cpt = ch.codePointAt(0)!;
    if (isWhitespace(ch)) {
      if (words[words.length - 1]!.length) words.push("");
      continue;
    }
    if (cpt === 0 || cpt === 0xfffd || isControl(ch)) continue;
    if (isAccentMark(ch)) continue;
    const s = toLowerCpt(ch);
    if (isPunctuation(ch) || (cpt < 0x7f && isSymbol(ch)) || isChineseChar(cpt)) {
      if (words[words.length - 1]!.length) words.push("");
      words[words.length - 1] = s;
      words.push("");
    } else {
      words[words.length - 1] += s;
    }
  }
  if (!words[words.length - 1]!.length) words.pop();
  return words;
}

/** `llama_decode_text`: byte-level code points back to bytes. */
function decodeByteLevel(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    const b = c < 512 ? UNICODE_TO_BYTE[c]! : -1;
    if (b >= 0) out.push(b);
    else {
      out.push(...utf8Bytes("[UNK_BYTE_0x"));
      for (const x of utf8Bytes(ch)) out.push(...utf8Bytes(x.toString(16).padStart(2, "0")));
      out.push(...utf8Bytes(text + "]"));
    }
  }
  return Uint8Array.from(out);
}

/** The three `clean_spaces` passes of `llama_vocab::impl::detokenize`, on bytes. */
function cleanSpacesPass(input: Uint8Array): Uint8Array {
  const text = Uint8Array.from(input);
  const SP = 0x20;
  const Q = 0x27;
  let total = text.length;
  // first pass: " ?", " !", " .", " ,"
  const total1 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total1; i++) {
    const x = text[i]!;
    if (text[i - 1] === SP && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) total--;
    text[total++] = x;
  }
  // second pass: " ' "
  const total2 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total2; i++) {
    const x = text[i]!;
    if (x === Q && i + 1 < total2 && text[i - 1] === SP && text[i + 1] === SP) {
      total--;
      text[++i] = 0;
    }
    text[total++] = x;
  }
  // third pass: " 's", " 'm", " 're", " 've"
  const total3 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total3; i++) {
    const x = text[i]!;
    if (text[i - 1] === SP && x === Q && i + 1 < total3) {
      const x1 = text[i + 1]!;
      if (x1 === 0x74 || x1 === 0x64) {
        // " 't", " 'd": kept
      } else if (x1 === 0x73 || x1 === 0x6d) {
        total--;
      } else if (i + 2 < total3) {
        const x2 = text[i + 2]!;
        if ((x1 === 0x72 && x2 === 0x65) || (x1 === 0x76 && x2 === 0x65)) total--;
      }
    }
    text[total++] = x;
  }
  return text.subarray(0, total);
}

/**
 * Build the tokenizer of a GGUF file from its `tokenizer.ggml.*` metadata (the tensors are not read).
 * Throws `TOKENIZER_MISSING` when the file has no tokenizer and `TOKENIZER_UNSUPPORTED` for a model or
 * pre-tokenizer it does not implement.
 */
export function loadTokenizer(file: GgufFile): Tokenizer {
  return new Tokenizer(file);
}
