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
export {
  loadModel,
  readModelConfig,
  SUPPORTED_ARCHS,
  ModelError,
  generate,
  createSampler,
  createRng,
  argmax,
  type Model,
  type Session,
  type EvaluateOptions,
  type AppendOptions,
  type ForwardHooks,
  type LoadModelOptions,
  type ModelConfig,
  type ModelArch,
  type ModelErrorCode,
  type GenerateOptions,
  type GenerateStep,
  type SamplerOptions,
  type ModelWeights,
  type LayerWeights,
} from "./model/index.js";
export type { BackendChoice, BackendName, KernelRegistry } from "@quantlab/kernels";
