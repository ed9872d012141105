import {
  GGUFValueType,
  ggmlTypeInfo,
  ggmlTypeName,
  LlamaFileType,
  modelInfo,
  openGgufModel,
  plainValue,
  type GgufTensorInfo,
  type GgufValue,
} from "@quantlab/gguf";
import { defineCommand } from "../command.js";
import { fmtBytes, print, printJson, table } from "../io.js";

const MAX_ARRAY_PREVIEW = 6;
const MAX_STRING_PREVIEW = 80;

function preview(v: GgufValue): string {
  if (v.type === GGUFValueType.ARRAY) {
    const els = v.value as unknown[];
    const shown = els.slice(0, MAX_ARRAY_PREVIEW).map((e) => (typeof e === "string" ? JSON.stringify(truncate(e, 24)) : String(e)));
    return `[${shown.join(", ")}${els.length > MAX_ARRAY_PREVIEW ? `, … ${els.length} items` : ""}]`;
  }
  if (v.type === GGUFValueType.STRING) return JSON.stringify(truncate(String(v.value), MAX_STRING_PREVIEW));
  return String(v.value);
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function typeLabel(v: GgufValue): string {
  const t = GGUFValueType[v.type] ?? String(v.type);
  return v.type === GGUFValueType.ARRAY ? `${t}[${GGUFValueType[v.elementType] ?? v.elementType}]` : t;
}

function tensorBytes(t: GgufTensorInfo): number | undefined {
  const info = ggmlTypeInfo(t.type);
  return info ? (t.nElements / info.blockSize) * info.typeSize : undefined;
}

/** `quantlab inspect`: metadata and tensors of a GGUF file (local, sharded or http(s) URL). */
export const inspectCommand = defineCommand(
  {
    name: "inspect",
    summary: "show a GGUF file's metadata, tensor types, parameter count, size and bpw (file, shards or URL)",
    usage: "[--tensors] [--json] FILE|URL",
    positionals: [{ name: "file", description: "a .gguf path (first shard of a split model) or an http(s) URL" }],
    options: [
      { name: "tensors", flags: ["-t", "--tensors"], kind: "boolean", description: "list every tensor (name, shape, type, size)" },
      { name: "full", flags: ["--full"], kind: "boolean", description: "print metadata values in full (long arrays included)" },
    ],
    details: "Only the header is read: a multi-GB local file or a remote URL costs a few range reads.",
  },
  async ({ io, mode, args }) => {
    const src = args.positionals[0]!;
    const model = await openGgufModel(src);
    try {
      const first = model.shards[0]!;
      const tensors = model.tensors.map((t) => t.info);
      const byType = new Map<number, { count: number; params: number; bytes: number }>();
      let params = 0;
      let dataBytes = 0;
      for (const t of tensors) {
        const b = tensorBytes(t) ?? 0;
        params += t.nElements;
        dataBytes += b;
        const e = byType.get(t.type) ?? { count: 0, params: 0, bytes: 0 };
        e.count++;
        e.params += t.nElements;
        e.bytes += b;
        byType.set(t.type, e);
      }
      const info = modelInfo(first);
      const fileSize = model.shards.reduce((s, f) => s + (f.fileSize ?? 0), 0);
      const bpw = params > 0 ? (8 * dataBytes) / params : 0;
      const ftype = info.fileType;
      const summary = {
        file: src,
        shards: model.shards.length,
        version: first.version,
        littleEndian: first.littleEndian,
        alignment: first.alignment,
        dataOffset: first.dataOffset,
        fileSize,
        architecture: info.architecture ?? null,
        name: info.name ?? null,
        fileType: ftype ?? null,
        fileTypeName: ftype === undefined ? null : (LlamaFileType[ftype] ?? `unknown(${ftype})`),
        kvCount: model.metadata.size,
        tensorCount: tensors.length,
        parameters: params,
        tensorDataBytes: dataBytes,
        bitsPerWeight: bpw,
        types: [...byType.entries()]
          .sort((a, b) => b[1].bytes - a[1].bytes)
          .map(([id, e]) => ({ type: ggmlTypeName(id), id, tensors: e.count, parameters: e.params, bytes: e.bytes })),
      };
      if (mode.json) {
        printJson(io, {
          ...summary,
          metadata: [...model.metadata.entries()].map(([key, v]) => ({
            key,
            type: typeLabel(v),
            value: args.options.full === true || v.type !== GGUFValueType.ARRAY || (v.value as unknown[]).length <= 64 ? plainValue(v) : undefined,
            length: v.type === GGUFValueType.ARRAY ? (v.value as unknown[]).length : undefined,
          })),
          tensors:
            args.options.tensors === true
              ? tensors.map((t) => ({ name: t.name, shape: t.shape, type: ggmlTypeName(t.type), offset: t.absoluteOffset, bytes: tensorBytes(t) ?? null }))
              : undefined,
        });
        return 0;
      }
      print(io, `${src}: GGUF v${summary.version}${summary.littleEndian ? "" : " (big-endian)"}, ${fmtBytes(fileSize)}${summary.shards > 1 ? ` in ${summary.shards} shards` : ""}`);
      print(
        io,
        `${summary.architecture ?? "?"} "${summary.name ?? ""}", file type ${summary.fileTypeName ?? "-"}, ` +
          `${params.toLocaleString("en-US")} parameters in ${tensors.length} tensors, ${(bpw || 0).toFixed(4)} bpw, ` +
          `alignment ${summary.alignment}, data at ${summary.dataOffset}`,
      );
      print(io, `\nmetadata (${model.metadata.size} keys):`);
      print(
        io,
        table(
          ["key", "type", "value"],
          [...model.metadata.entries()].map(([k, v]) => [k, typeLabel(v), args.options.full === true ? JSON.stringify(plainValue(v), (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x)) : preview(v)]),
        ),
      );
      if (tensors.length) {
        print(io, "\ntensor types:");
        print(
          io,
          table(
            ["type", "tensors", "parameters", "size", "share"],
            summary.types.map((t) => [t.type, t.tensors, t.parameters, fmtBytes(t.bytes), `${((100 * t.bytes) / (dataBytes || 1)).toFixed(1)}%`]),
          ),
        );
      }
      if (args.options.tensors === true && tensors.length) {
        print(io, "\ntensors:");
        print(
          io,
          table(
            ["name", "shape", "type", "offset", "size"],
            tensors.map((t) => [t.name, `[${t.shape.join(", ")}]`, ggmlTypeName(t.type), t.absoluteOffset, fmtBytes(tensorBytes(t) ?? 0)]),
          ),
        );
      }
      return 0;
    } finally {
      for (const f of model.shards) await f.close?.();
    }
  },
);
