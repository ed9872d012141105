export {
  Tokenizer,
  loadTokenizer,
  wpmPreprocess,
  TokenType,
  TokenAttr,
  type TokenizerType,
  type EncodeOptions,
  type DecodeOptions,
  type TokenData,
} from "./tokenizer/tokenizer.js";
export { preTokenizerConfig, preTokenizerRegexes, regexSplit, type PreTokenizerKind, type PreTokenizerConfig } from "./tokenizer/pretokenize.js";
export { BYTE_TO_UNICODE, byteEncode } from "./tokenizer/unicode.js";
