/**
 * The built-in schemes: the only place that lists them. Order = ggml type id order within each family.
 */
import type { QuantScheme } from "./scheme.js";
import { floatSchemes } from "./schemes/float.js";
import { legacySchemes } from "./schemes/legacy.js";
import { kquantsSchemes } from "./schemes/kquants.js";
import { iq2Schemes } from "./schemes/iq2.js";
import { iq3Schemes } from "./schemes/iq3.js";
import { iq1Schemes } from "./schemes/iq1.js";
import { iq4Schemes } from "./schemes/iq4.js";
import { ternarySchemes } from "./schemes/ternary.js";
import { fp4Schemes } from "./schemes/fp4.js";
import { q1q2Schemes } from "./schemes/q1q2.js";
import { createSchemeRegistry, type SchemeRegistry } from "./registry.js";

export const builtinSchemes: readonly QuantScheme[] = Object.freeze(
  [
    ...floatSchemes,
    ...legacySchemes,
    ...kquantsSchemes,
    ...iq2Schemes,
    ...iq3Schemes,
    ...iq1Schemes,
    ...iq4Schemes,
    ...ternarySchemes,
    ...fp4Schemes,
    ...q1q2Schemes,
  ].sort((a, b) => (a.ggmlType ?? 1e9) - (b.ggmlType ?? 1e9)),
);

let defaultRegistry: SchemeRegistry | undefined;
/** A registry of the built-in schemes (created on first use). */
export function builtinRegistry(): SchemeRegistry {
  defaultRegistry ??= createSchemeRegistry(builtinSchemes);
  return defaultRegistry;
}
