/**
 * Measures how well schemes reproduce real weights: each named tensor of a GGUF model is quantized and decoded
 * with each scheme, with and without the tensor's importance vector, through the host API (`quantizeTensor` /
 * `dequantizeTensor`), so built-in and plugin schemes are treated alike.
 */
import { openGguf, GGMLQuantizationType } from "@quantlab/gguf";
import { dequantizeTensor, parseImatrixDat, quantizeTensor, type SchemeRegistry } from "@quantlab/quant-core";

export interface ErrorRow {
  readonly tensor: string;
  readonly scheme: string;
  /** Bits per weight of the scheme. */
  readonly bpw: number;
  /** sqrt(Σ(x − x̂)² / Σx²) without importance. */
  readonly relRmse: number;
  /** Σ w(x − x̂)² / Σ w x² without importance (w = the tensor's imatrix entry, per column). */
  readonly weightedErr: number;
  /** The same weighted error when the scheme is given the importance vector. */
  readonly weightedErrImatrix: number;
}

/** Σ w_col (x − y)² and Σ w_col x² over a row-major nRows × nPerRow tensor (w = null: all weights 1). */
function sums(x: Float32Array, y: Float32Array, nPerRow: number, w: Float32Array | null): [err: number, ref: number] {
  let err = 0;
  let ref = 0;
  for (let i = 0; i < x.length; i++) {
    const wi = w === null ? 1 : w[i % nPerRow]!;
    const e = x[i]! - y[i]!;
    err += wi * e * e;
    ref += wi * x[i]! * x[i]!;
  }
  return [err, ref];
}

export async function evaluateSchemes(options: {
  readonly registry: SchemeRegistry;
  readonly schemes: readonly string[];
  readonly modelPath: string;
  /** Bytes of a legacy llama.cpp imatrix `.dat` for the model. */
  readonly imatrixBytes: Uint8Array;
  readonly tensors: readonly string[];
}): Promise<ErrorRow[]> {
  const imatrix = parseImatrixDat(options.imatrixBytes);
  const file = await openGguf(options.modelPath);
  const rows: ErrorRow[] = [];
  try {
    for (const name of options.tensors) {
      const info = file.tensor(name);
      if (!info || info.type !== GGMLQuantizationType.F32 || info.shape.length !== 2) {
        throw new Error(`${name}: expected a 2-D F32 tensor in ${options.modelPath}`);
      }
      const bytes = await file.readTensorData(info);
      // copy into an aligned Float32Array (the bytes may start at any offset of a larger buffer)
      const x = new Float32Array(bytes.slice().buffer);
      const nPerRow = info.shape[0]!;
      const nRows = info.shape[1]!;
      const importance = imatrix.entries.get(name)?.importance;
      if (!importance) throw new Error(`${name}: no imatrix entry`);
      for (const schemeName of options.schemes) {
        const scheme = options.registry.get(schemeName);
        const y = dequantizeTensor(scheme, quantizeTensor(scheme, x, nRows, nPerRow, { tensorName: name }), x.length);
        const yImp = dequantizeTensor(scheme, quantizeTensor(scheme, x, nRows, nPerRow, { tensorName: name, importance }), x.length);
        const [e2, x2] = sums(x, y, nPerRow, null);
        const [we, wx] = sums(x, y, nPerRow, importance);
        const [weImp] = sums(x, yImp, nPerRow, importance);
        rows.push({
          tensor: name,
          scheme: scheme.name,
          bpw: (8 * scheme.layout.typeSize) / scheme.layout.blockSize,
          relRmse: Math.sqrt(e2 / x2),
          weightedErr: we / wx,
          weightedErrImatrix: weImp / wx,
        });
      }
    }
  } finally {
    await file.close();
  }
  return rows;
}
