/**
 * Golden conformance: every (type, input, variant) in ../shared/golden/quants/manifest.json, produced by ggml
 * d99724f's `ggml_quantize_chunk` and `to_float`, must match byte for byte (quantize) and bit for bit (dequantize).
 * Pairs the manifest marks as skipped by design are listed here with the manifest's reason.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readShared, readSharedF32, readSharedJson } from "@quantlab/testing";
import { builtinRegistry } from "./builtin.js";
import { dequantizeTensor, quantizeTensor } from "./registry.js";
import { quantCoreWasmActive, setQuantCoreWasm } from "./wasm/quants.js";

interface FileRef { file: string; bytes: number; sha256: string }
interface Variant { q?: FileRef; deq?: FileRef; invalid_rows?: number[] | null; skipped?: boolean; reason?: string }
interface TypeEntry {
  type_id: number;
  type_name: string;
  quantizable: boolean;
  requires_imatrix: boolean;
  inputs?: Record<string, { plain?: Variant; imatrix?: Variant }>;
}
interface InputEntry { name: string; nrows: number; n_per_row: number; file: string; imatrix_file: string }
interface Manifest { types: TypeEntry[]; inputs: InputEntry[]; skipped: { type_name: string; input: string; variant: string; kind: string; reason: string }[] }

const manifest = readSharedJson<Manifest>("golden", "quants", "manifest.json");
const registry = builtinRegistry();

/** Index of the first differing byte, or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

const inputsByName = new Map(manifest.inputs.map((i) => [i.name, i]));

// Both implementations must match: the WebAssembly kernels (the default where WebAssembly exists) and the
// TypeScript reference they fall back to.
for (const path of ["wasm", "js"] as const) {
describe(`golden quants (ggml d99724f), ${path} path`, () => {
  let prev = true;
  beforeAll(() => {
    prev = setQuantCoreWasm(path === "wasm");
  });
  afterAll(() => {
    setQuantCoreWasm(prev);
  });

  it(`the ${path} path is the one in use`, () => {
    expect(quantCoreWasmActive()).toBe(path === "wasm");
  });

  it("the manifest lists every quantizable ggml type", () => {
    expect(manifest.types.filter((t) => t.quantizable).length).toBe(30);
  });

  for (const t of manifest.types.filter((x) => x.quantizable)) {
    const scheme = registry.findByType(t.type_id);
    describe(t.type_name, () => {
      if (!scheme) {
        it.todo(`${t.type_name}: scheme not implemented yet`);
        return;
      }
      for (const [inputName, variants] of Object.entries(t.inputs ?? {})) {
        const meta = inputsByName.get(inputName)!;
        for (const variant of ["plain", "imatrix"] as const) {
          const v = variants[variant];
          if (!v) continue;
          if (v.skipped) {
            it.skip(`${inputName} ${variant}: skipped by design: ${v.reason}`, () => {});
            continue;
          }
          it(`${inputName} ${variant}: quantize byte-identical${v.deq ? ", dequantize bit-identical" : ""}`, () => {
            const x = readSharedF32("golden", "quants", "inputs", meta.file);
            const w = variant === "imatrix" ? readSharedF32("golden", "quants", "inputs", meta.imatrix_file) : null;
            const expected = readShared("golden", "quants", v.q!.file);
            // The reference harness pre-filled its output with 0xA5, so bytes ggml leaves unwritten (q8_K's bsums
            // of an all-zero super-block) read 0xA5; the same fill here also catches any byte a port forgets.
            const dst = new Uint8Array(expected.length).fill(0xa5);
            const got = quantizeTensor(scheme, x, meta.nrows, meta.n_per_row, {
              importance: w,
              dst,
              tensorName: inputName,
              // edge inputs include values above the fp16 range on purpose; ggml quantizes them anyway
              skipFiniteCheck: true,
            });
            const d = firstDiff(got, expected);
            if (d >= 0) {
              const block = Math.floor(d / scheme.layout.typeSize);
              const blocksPerRow = meta.n_per_row / scheme.layout.blockSize;
              expect.fail(
                `first differing byte ${d} (row ${Math.floor(block / blocksPerRow)}, block ${block % blocksPerRow}, ` +
                  `byte ${d % scheme.layout.typeSize} of the block): got ${got[d]}, ggml wrote ${expected[d]}`,
              );
            }
            if (v.deq) {
              const deq = dequantizeTensor(scheme, expected, meta.nrows * meta.n_per_row);
              const gotBits = new Uint32Array(deq.buffer, deq.byteOffset, deq.length);
              const want = readShared("golden", "quants", v.deq.file);
              const wantBits = new Uint32Array(want.buffer.slice(want.byteOffset, want.byteOffset + want.byteLength));
              let bad = -1;
              for (let i = 0; i < wantBits.length; i++) if (gotBits[i] !== wantBits[i]) { bad = i; break; }
              if (bad >= 0) {
                expect.fail(`dequantized value ${bad} has bits 0x${gotBits[bad]!.toString(16)}, ggml gave 0x${wantBits[bad]!.toString(16)}`);
              }
            }
          });
        }
      }
    });
  }

  it("skipped pairs are exactly the ones the manifest records as by design", () => {
    const byDesign = manifest.skipped.filter((s) => s.kind === "by design");
    expect(byDesign.length).toBe(manifest.skipped.length);
  });
});
}
