export { sharedRoot, sharedPath, readShared, readSharedJson, readSharedF32 } from "./shared.js";
