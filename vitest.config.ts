import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Workspace packages resolve to their TypeScript sources (the "source" export condition),
    // so tests never need a build first.
    conditions: ["source", "module", "node", "import", "default"],
    // The private test kit is used by every package's tests without being a dependency of any
    // (it depends on them: a declared dependency would make a cycle).
    alias: [
      { find: /^@quantlab\/testing\/fixtures$/, replacement: fileURLToPath(new URL("./packages/testing/src/fixtures.ts", import.meta.url)) },
      // docs/examples import packages by name like a plugin author would; docs/ is not a workspace package.
      { find: /^@quantlab\/gguf$/, replacement: fileURLToPath(new URL("./packages/gguf/src/index.ts", import.meta.url)) },
      { find: /^@quantlab\/quant-core$/, replacement: fileURLToPath(new URL("./packages/quant-core/src/index.ts", import.meta.url)) },
      { find: /^@quantlab\/testing$/, replacement: fileURLToPath(new URL("./packages/testing/src/index.ts", import.meta.url)) },
    ],
  },
  ssr: {
    resolve: { conditions: ["source", "node", "import", "default"], externalConditions: ["source"] },
  },
  test: {
    include: ["packages/*/src/**/*.test.ts", "packages/*/test/**/*.test.ts", "docs/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
