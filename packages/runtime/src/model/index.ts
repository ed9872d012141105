export { loadModel, type Model, type Session, type EvaluateOptions, type AppendOptions, type ForwardHooks, type LoadModelOptions } from "./model.js";
export { readModelConfig, SUPPORTED_ARCHS, type ModelConfig, type ModelArch } from "./config.js";
export { ModelError, type ModelErrorCode } from "./errors.js";
export { generate, createSampler, createRng, argmax, type GenerateOptions, type GenerateStep, type SamplerOptions } from "./generate.js";
export type { ModelWeights, LayerWeights } from "./weights.js";
export { ActivationRounder, VEC_DOT_TYPE, type ActivationMode } from "./activations.js";
