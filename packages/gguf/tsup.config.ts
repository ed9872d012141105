import { defineConfig } from "tsup";

export default defineConfig({
  // node/io.ts is its own entry so the core's lazy `import("./node/io.js")` stays a separate file that browsers
  // never load (package.json "browser" maps it to false for bundlers).
  entry: ["src/index.ts", "src/node/index.ts", "src/node/io.ts"],
  format: ["esm"],
  target: "node20",
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
});
