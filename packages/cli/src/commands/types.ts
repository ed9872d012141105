import { GGML_REMOVED_TYPES, GGML_TYPE_LIST } from "@quantlab/gguf";
import { builtinRegistry } from "@quantlab/quant-core";
import { defineCommand } from "../command.js";
import { print, printJson, table } from "../io.js";

/** `quantlab types`: the ggml type table and which types quantlab can quantize. */
export const typesCommand = defineCommand(
  {
    name: "types",
    summary: "list ggml tensor types: block size, bytes, bits per weight, quantlab support",
    usage: "[--json] [--all]",
    options: [{ name: "all", flags: ["--all"], kind: "boolean", description: "include integer types and removed ids" }],
  },
  async ({ io, mode, args }) => {
    const reg = builtinRegistry();
    const rows = GGML_TYPE_LIST.filter((t) => args.options.all === true || t.quantized || ["f32", "f16", "bf16"].includes(t.name)).map((t) => {
      const s = reg.findByType(t.id);
      return {
        id: t.id,
        name: t.name,
        blockSize: t.blockSize,
        typeSize: t.typeSize,
        bitsPerWeight: t.bitsPerWeight,
        quantize: s !== undefined,
        importance: s?.needs.importance ?? null,
      };
    });
    if (mode.json) {
      printJson(io, { types: rows, removed: args.options.all === true ? GGML_REMOVED_TYPES : undefined });
      return 0;
    }
    print(
      io,
      table(
        ["id", "name", "block", "bytes", "bpw", "quantlab", "imatrix"],
        rows.map((r) => [r.id, r.name, r.blockSize, r.typeSize, Number(r.bitsPerWeight.toFixed(4)), r.quantize ? "yes" : "-", r.importance ?? "-"]),
      ),
    );
    if (args.options.all === true) {
      print(io, `\nremoved ids: ${Object.entries(GGML_REMOVED_TYPES).map(([id, n]) => `${id} (${n})`).join(", ")}`);
    }
    return 0;
  },
);
