/**
 * BPE pre-tokenizers: the regex lists llama.cpp applies per `tokenizer.ggml.pre`, and the split that applies them.
 *
 * llama.cpp runs each regex of the list over every fragment left by the previous one and keeps the text between
 * matches as fragments too (`unicode_regex_split`, `unicode_regex_split_stl`, src/unicode.cpp). Its std::regex
 * cannot read `\p{..}`, so it matches a "collapsed" copy of the text where each non-ASCII code point stands for its
 * category (`k_ucat_cpt`) and every non-ASCII whitespace becomes `\v`. That is the same as matching Unicode
 * categories directly, which is what JS `u` regexes do. Two spellings differ and are rewritten here:
 * - `\s` (std::regex: ASCII whitespace + every non-ASCII White_Space code point) is `\p{White_Space}`
 *   (JS `\s` would add U+FEFF and miss U+0085);
 * - `\S` is `\P{White_Space}`.
 * The GPT-2 and Llama-3 patterns have hand-written splitters in llama.cpp (`unicode_regex_split_custom_gpt2`,
 * `unicode_regex_split_custom_llama3`) that implement the same patterns.
 * @see llm_tokenizer_bpe::llm_tokenizer_bpe (llama.cpp src/llama-vocab.cpp) for the lists
 */

const WS = String.raw`\p{White_Space}`;
const NWS = String.raw`\P{White_Space}`;

/** `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)` */
const GPT2 = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^${WS}\p{L}\p{N}]+|${WS}+(?!${NWS})`;

/** `(?:'[sS]|…)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` */
function llama3Like(digits: string): string {
  return (
    String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}${digits}` +
    String.raw`| ?[^${WS}\p{L}\p{N}]+[\r\n]*|${WS}*[\r\n]+|${WS}+(?!${NWS})|${WS}+`
  );
}

/** Letters of the deepseek-llm pre-tokenizer: transcribed from llama.cpp (LLAMA_VOCAB_PRE_TYPE_DEEPSEEK_LLM). */
const DEEPSEEK_LLM_LETTERS =
  String.raw`\u{41}-\u{5A}\u{61}-\u{7A}\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}`;
const CJK_HANGUL = "[一-龥ࠀ-一가-퟿]+";

/** Pre-tokenizer families (`llama_vocab_pre_type`) that have their own regex list. */
export type PreTokenizerKind =
  | "default"
  | "llama3"
  | "deepseek-llm"
  | "deepseek-coder"
  | "falcon"
  | "starcoder"
  | "gpt2"
  | "qwen2"
  | "chatglm4"
  | "poro"
  | "viking";

const REGEX_SETS: Record<PreTokenizerKind, readonly string[]> = {
  default: [String.raw`[\p{P}\$\+<=>\^~\|]+`, GPT2, String.raw`\p{N}+`, "[0-9][0-9][0-9]"],
  llama3: [llama3Like("{1,3}")],
  chatglm4: [llama3Like("{1,3}")],
  qwen2: [llama3Like("")],
  "deepseek-llm": [
    "[\r\n]",
    `${WS}?[${DEEPSEEK_LLM_LETTERS}]+`,
    `${WS}?[!-/:-~！-／：-～‘-‟　-。]+`,
    `${WS}+$`,
    CJK_HANGUL,
    String.raw`\p{N}+`,
  ],
  "deepseek-coder": ["[\r\n]", String.raw`${WS}?\p{L}+`, String.raw`${WS}?\p{P}+`, CJK_HANGUL, String.raw`\p{N}`],
  falcon: [String.raw`[\p{P}\$\+<=>\^~\|\x60]+`, GPT2, "[0-9][0-9][0-9]"],
  starcoder: [String.raw`\p{N}`, GPT2],
  gpt2: [GPT2],
  poro: [String.raw` ?[^(${WS}|.,!?…。，、।۔،)]+`],
  viking: [String.raw` ?[^(${WS}|.,!?…。，、।۔،)]+`, String.raw`\p{N}`],
};

/** What llama.cpp's vocab loader sets for one `tokenizer.ggml.pre` value. */
export interface PreTokenizerConfig {
  readonly kind: PreTokenizerKind;
  /** `clean_spaces`: detokenize removes the space before `?!.,` and some contractions. */
  readonly cleanSpaces: boolean;
  /** `ignore_merges`: a pre-token that is a whole vocab entry is kept as one token. */
  readonly ignoreMerges: boolean;
  /** `add_bos` default (before the `tokenizer.ggml.add_bos_token` key). */
  readonly addBos: boolean;
}

/**
 * Map a `tokenizer.ggml.pre` name to its regex family and flags, as `llama_vocab::impl::load` does.
 * Returns undefined for an unknown name.
 */
export function preTokenizerConfig(pre: string | undefined): PreTokenizerConfig | undefined {
  const c = (kind: PreTokenizerKind, cleanSpaces = true, ignoreMerges = false, addBos = false): PreTokenizerConfig => ({
    kind,
    cleanSpaces,
    ignoreMerges,
    addBos,
  });
  if (pre === undefined || pre === "" || pre === "default") return c("default");
  switch (pre) {
    case "llama3":
    case "llama-v3":
    case "llama-bpe":
    case "falcon3":
    case "pixtral":
      return c("llama3", true, true, true);
    case "dbrx":
    case "smaug-bpe":
      return c("llama3");
    case "deepseek-llm":
      return c("deepseek-llm", false);
    case "deepseek-coder":
      return c("deepseek-coder", false);
    case "falcon":
      return c("falcon");
    case "mpt":
    case "gpt-2":
    case "phi-2":
    case "jina-es":
    case "jina-de":
    case "gigachat":
    case "jina-v1-en":
    case "jina-v2-es":
    case "jina-v2-de":
    case "jina-v2-code":
    case "roberta-bpe":
    case "olmo":
    case "jais":
    case "exaone":
      return c(pre === "exaone" ? "starcoder" : "gpt2");
    case "starcoder":
    case "refact":
    case "codeshell":
    case "minerva-7b":
      return c("starcoder");
    case "command-r":
    case "smollm":
      return c("starcoder", false);
    case "qwen2":
    case "deepseek-r1-qwen":
      return c("qwen2", false);
    case "megrez":
    case "stablelm2":
      return c("qwen2");
    case "chatglm-bpe":
    case "glm4":
      return c("chatglm4");
    case "poro-chat":
      return c("poro", false);
    case "bloom":
    case "gpt3-finnish":
      return c("poro");
    case "viking":
      return c("viking", false);
    default:
      return undefined;
  }
}

const compiled = new Map<PreTokenizerKind, RegExp[]>();

/** The compiled regexes of one family (global + unicode flags). */
export function preTokenizerRegexes(kind: PreTokenizerKind): RegExp[] {
  let r = compiled.get(kind);
  if (r === undefined) {
    r = REGEX_SETS[kind].map((s) => new RegExp(s, "gu"));
    compiled.set(kind, r);
  }
  return r;
}

/**
 * Split `text` with each regex in turn; the text between matches stays as its own piece, so the pieces always
 * concatenate back to `text`. @see unicode_regex_split_stl (llama.cpp src/unicode.cpp)
 */
export function regexSplit(text: string, regexes: readonly RegExp[]): string[] {
  let pieces = [text];
  for (const re of regexes) {
    const next: string[] = [];
    for (const piece of pieces) {
      let start = 0;
      re.lastIndex = 0;
      for (let m = re.exec(piece); m !== null; m = re.exec(piece)) {
        const len = m[0].length;
        if (len === 0) {
          re.lastIndex = m.index + 1;
          continue;
        }
        if (m.index > start) next.push(piece.slice(start, m.index));
        next.push(m[0]);
        start = m.index + len;
      }
      if (start < piece.length) next.push(piece.slice(start));
    }
    pieces = next;
  }
  return pieces;
}
