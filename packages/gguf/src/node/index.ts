/**
 * `@quantlab/gguf/node`: the Node-only pieces, for static import. The core (`@quantlab/gguf`) loads the same module
 * lazily when given a local path, so browser bundles never include `node:fs`.
 */
export { FileByteSource, AtomicFileSink } from "./io.js";
