/**
 * The part of the test kit that depends on nothing but @quantlab/gguf: the ../shared locator, the reference
 * generator and the GGUF byte builder. `@quantlab/gguf`'s own tests import this subpath so that checking them never
 * pulls in the packages above gguf.
 */
export { sharedRoot, sharedPath, readShared, readSharedJson, readSharedF32 } from "./shared.js";
export { Lcg64, gaussianMatrix, syntheticImportance } from "./lcg.js";
export { GgufByteBuilder, buildGguf, T as GGUF_T, type BuildSpec, type BuildKv, type BuildTensor } from "./gguf-builder.js";
