import type { QuantScheme } from "../scheme.js";

/** Built-in schemes of this family (filled in by the family's implementation). */
export const ternarySchemes: readonly QuantScheme[] = [];
