export * from "./fixtures.js";
export {
  SchemeTester,
  describeSchemeConformance,
  defaultRmseBound,
  bitsPerWeight,
  llamaSyntheticData,
  arrayRmse,
  syntheticColumnImportance,
  LLAMA_RMSE_BOUNDS,
  type SchemeConformanceOptions,
  type SchemeConformanceCheck,
  type SchemeGoldenVector,
} from "./scheme-tester.js";
