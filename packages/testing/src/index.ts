export { sharedRoot, sharedPath, readShared, readSharedJson, readSharedF32 } from "./shared.js";
export { Lcg64, gaussianMatrix, syntheticImportance } from "./lcg.js";
