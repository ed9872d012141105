/**
 * Non-linear 4-bit types: every value is one of the 16 levels of `kvalues_iq4nl` times a scale.
 *
 * - IQ4_NL: 32 values, one fp16 scale (4.5 bits per weight).
 * - IQ4_XS: 256 values, fp16 super-scale and eight 6-bit signed sub-scales (4.25 bits per weight).
 *
 * Both go through `quantize_row_iq4_nl_impl`, a weighted least-squares scale search; the importance
 * vector (optional) replaces the default weights x².
 *
 * @see quantize_row_iq4_nl_impl, quantize_iq4_nl, quantize_iq4_xs, quantize_row_iq4_nl_ref,
 *      quantize_row_iq4_xs_ref, dequantize_row_iq4_nl, dequantize_row_iq4_xs (ggml/src/ggml-quants.c)
 */
import { GGMLQuantizationType, QK_K } from "@quantlab/gguf";
import { defineScheme, type QuantScheme } from "../scheme.js";
import { readFp16, writeFp16 } from "../math/fp16.js";
import { nearestInt } from "../math/round.js";
import { wasmDequantizer } from "../wasm/quants.js";

/** `QK4_NL` (ggml/src/ggml-common.h); block_iq4_nl = `ggml_half d; uint8_t qs[QK4_NL/2];` */
export const QK4_NL = 32;
const IQ4_NL_TYPE_SIZE = 2 + QK4_NL / 2; // 18
/** block_iq4_xs = `ggml_half d; uint16_t scales_h; uint8_t scales_l[QK_K/64]; uint8_t qs[QK_K/2];` */
const IQ4_XS_SCALES_H = 2;
const IQ4_XS_SCALES_L = 4;
const IQ4_XS_QS = 8;
const IQ4_XS_TYPE_SIZE = 2 + 2 + QK_K / 64 + QK_K / 2; // 136

/** The 16 non-linear levels. Data, transcribed from `kvalues_iq4nl` in ggml/src/ggml-common.h. */
export const kvaluesIq4nl: Int8Array = Int8Array.from([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);

/** `GROUP_MAX_EPS` (ggml/src/ggml-quants.c) as a float. */
const GROUP_MAX_EPS = Math.fround(1e-15);

/**
 * Index of the level in the sorted table `val` (n entries) nearest to `x`; on a tie the upper one.
 * @see best_index_int8 (ggml/src/ggml-quants.c)
 */
export function bestIndexInt8(n: number, val: Int8Array, x: number): number {
  if (x <= val[0]) return 0;
  if (x >= val[n - 1]) return n - 1;
  let ml = 0;
  let mu = n - 1;
  while (mu - ml > 1) {
    const mav = (ml + mu) >> 1;
    if (x < val[mav]) mu = mav;
    else ml = mav;
  }
  return Math.fround(x - val[mu - 1]) < Math.fround(val[mu] - x) ? mu - 1 : mu;
}

// Scratch buffers (one super-block), shared by every call: no allocation per block.
const scratchL = new Uint8Array(QK_K);
const scratchWeight = new Float32Array(32);
const scratchScales = new Float32Array(QK_K / 32);

/**
 * Quantizes one super-block of `superBlockSize` values at `x[xo..]` into the block at `y[yo..]`.
 * The C writes through separate pointers (`dh`, `q4`, `scales_h`, `scales_l`); here they are byte offsets
 * into `y` (`scalesHo`/`scalesLo` are unused, -1, when there is one block per super-block).
 * `ntry > 0` searches 2·ntry+1 scales; `ntry <= 0` is the fast path of `quantize_row_iq4_nl_ref`.
 * @see quantize_row_iq4_nl_impl (ggml/src/ggml-quants.c)
 */
export function quantizeRowIq4NlImpl(
  superBlockSize: number,
  blockSize: number,
  x: Float32Array,
  xo: number,
  y: Uint8Array,
  dho: number,
  q4o: number,
  scalesHo: number,
  scalesLo: number,
  values: Int8Array,
  quantWeights: Float32Array | null,
  qwo: number,
  ntry: number,
): void {
  const scales = scratchScales;
  const weight = scratchWeight;
  const L = scratchL;

  let sigma2 = 0;
  for (let j = 0; j < superBlockSize; ++j) sigma2 = Math.fround(sigma2 + Math.fround(x[xo + j] * x[xo + j]));
  sigma2 = Math.fround(sigma2 * Math.fround(2 / superBlockSize));

  for (let j = 0; j < superBlockSize / 2; ++j) y[q4o + j] = 0;
  writeFp16(y, dho, 0);

  const v0 = values[0];
  let maxScale = 0;
  let amaxScale = 0;
  for (let ib = 0; ib < superBlockSize / blockSize; ++ib) {
    const xb = xo + ib * blockSize;
    const Lb = ib * blockSize;
    if (quantWeights) {
      const qw = qwo + ib * blockSize;
      for (let j = 0; j < blockSize; ++j) {
        weight[j] = quantWeights[qw + j] * Math.fround(Math.sqrt(Math.fround(sigma2 + Math.fround(x[xb + j] * x[xb + j]))));
      }
    } else {
      for (let j = 0; j < blockSize; ++j) weight[j] = x[xb + j] * x[xb + j];
    }
    let amax = 0;
    let max = 0;
    for (let j = 0; j < blockSize; ++j) {
      const ax = Math.abs(x[xb + j]);
      if (ax > amax) {
        amax = ax;
        max = x[xb + j];
      }
    }
    if (amax < GROUP_MAX_EPS) {
      scales[ib] = 0;
      continue;
    }
    let d = ntry > 0 ? Math.fround(-max / v0) : Math.fround(max / v0);
    let id = Math.fround(1 / d);
    let sumqx = 0;
    let sumq2 = 0;
    for (let j = 0; j < blockSize; ++j) {
      const xj = x[xb + j];
      const al = Math.fround(id * xj);
      const l = bestIndexInt8(16, values, al);
      L[Lb + j] = l;
      const q = values[l];
      const wq = Math.fround(weight[j] * q);
      sumqx = Math.fround(sumqx + Math.fround(wq * xj));
      sumq2 = Math.fround(sumq2 + Math.fround(wq * q));
    }
    d = sumq2 > 0 ? Math.fround(sumqx / sumq2) : 0;
    let best = Math.fround(d * sumqx);
    for (let itry = -ntry; itry <= ntry; ++itry) {
      id = Math.fround((itry + v0) / max);
      sumqx = 0;
      sumq2 = 0;
      for (let j = 0; j < blockSize; ++j) {
        const xj = x[xb + j];
        const al = Math.fround(id * xj);
        const l = bestIndexInt8(16, values, al);
        const q = values[l];
        const wq = Math.fround(weight[j] * q);
        sumqx = Math.fround(sumqx + Math.fround(wq * xj));
        sumq2 = Math.fround(sumq2 + Math.fround(wq * q));
      }
      if (sumq2 > 0 && Math.fround(sumqx * sumqx) > Math.fround(best * sumq2)) {
        d = Math.fround(sumqx / sumq2);
        best = Math.fround(d * sumqx);
      }
    }
    scales[ib] = d;
    const absD = Math.abs(d);
    if (absD > amaxScale) {
      amaxScale = absD;
      maxScale = d;
    }
  }

  if (superBlockSize / blockSize > 1) {
    const nb = superBlockSize / blockSize;
    for (let b = 0; b < 2 * ((nb + 7) >> 3); ++b) y[scalesHo + b] = 0;
    let scalesH = 0;
    const d = Math.fround(-maxScale / 32);
    writeFp16(y, dho, d);
    const id = d ? Math.fround(1 / d) : 0;
    for (let ib = 0; ib < nb; ++ib) {
      let l = nearestInt(Math.fround(id * scales[ib]));
      l = l < -32 ? -32 : l > 31 ? 31 : l;
      const dl = Math.fround(d * l);
      const idl = dl ? Math.fround(1 / dl) : 0;
      const Lb = ib * blockSize;
      const xb = xo + ib * blockSize;
      for (let j = 0; j < blockSize; ++j) {
        L[Lb + j] = bestIndexInt8(16, values, Math.fround(idl * x[xb + j]));
      }
      l += 32;
      const lL = l & 0xf;
      const lH = l >> 4;
      if (ib % 2 === 0) y[scalesLo + (ib >> 1)] = lL;
      else y[scalesLo + (ib >> 1)] |= lL << 4;
      scalesH |= lH << (2 * (ib % 8));
    }
    // scales_h is one uint16_t (nb = 8), little-endian
    y[scalesHo] = scalesH & 0xff;
    y[scalesHo + 1] = (scalesH >> 8) & 0xff;
  } else {
    writeFp16(y, dho, scales[0]);
    if (ntry > 0) {
      const id = scales[0] ? Math.fround(1 / scales[0]) : 0;
      for (let j = 0; j < superBlockSize; ++j) {
        L[j] = bestIndexInt8(16, values, Math.fround(id * x[xo + j]));
      }
    }
  }

  for (let i = 0; i < superBlockSize / 32; ++i) {
    for (let j = 0; j < 16; ++j) {
      y[q4o + 16 * i + j] = L[32 * i + j] | (L[32 * i + 16 + j] << 4);
    }
  }
}

/**
 * `ggml_quantize_chunk` path for IQ4_NL (with or without importance): a 15-scale search per block.
 * @see quantize_iq4_nl (ggml/src/ggml-quants.c)
 */
export function quantizeIq4Nl(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): number {
  const nblock = nPerRow / QK4_NL;
  let qrow = 0;
  let s = 0;
  for (let row = 0; row < nrows; ++row) {
    for (let ibl = 0; ibl < nblock; ++ibl) {
      const o = qrow + ibl * IQ4_NL_TYPE_SIZE;
      quantizeRowIq4NlImpl(QK4_NL, 32, src, s + QK4_NL * ibl, dst, o, o + 2, -1, -1, kvaluesIq4nl, importance, QK4_NL * ibl, 7);
    }
    s += nPerRow;
    qrow += nblock * IQ4_NL_TYPE_SIZE;
  }
  return nrows * nblock * IQ4_NL_TYPE_SIZE;
}

/**
 * Reference IQ4_NL quantization: the fast path (`ntry = -1`, no scale search).
 * @see quantize_row_iq4_nl_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowIq4NlRef(x: Float32Array, y: Uint8Array, k: number): void {
  const nblock = k / QK4_NL;
  // The C's L[] is a local array that an all-zero block (skipped by the impl on this path) leaves as it was:
  // the previous block's indices, or uninitialised memory for the first block. Start from zeros so that the
  // bytes are deterministic (the decoded values are 0 either way, since d = 0).
  scratchL.fill(0);
  for (let ibl = 0; ibl < nblock; ++ibl) {
    const o = ibl * IQ4_NL_TYPE_SIZE;
    quantizeRowIq4NlImpl(QK4_NL, 32, x, QK4_NL * ibl, y, o, o + 2, -1, -1, kvaluesIq4nl, null, 0, -1);
  }
}

/**
 * @see dequantize_row_iq4_nl (ggml/src/ggml-quants.c)
 */
export function dequantizeRowIq4Nl(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK4_NL;
  for (let i = 0; i < nb; i++) {
    const xo = i * IQ4_NL_TYPE_SIZE;
    const yo = i * QK4_NL;
    const d = readFp16(x, xo);
    for (let j = 0, qo = xo + 2; j < QK4_NL / 2; j += 2, qo += 2) {
      const q = x[qo];
      const r = x[qo + 1];
      y[yo + j] = d * kvaluesIq4nl[q & 0xf];
      y[yo + j + 1] = d * kvaluesIq4nl[r & 0xf];
      y[yo + j + QK4_NL / 2] = d * kvaluesIq4nl[q >> 4];
      y[yo + j + 1 + QK4_NL / 2] = d * kvaluesIq4nl[r >> 4];
    }
  }
}

/**
 * `ggml_quantize_chunk` path for IQ4_XS (with or without importance).
 * @see quantize_iq4_xs (ggml/src/ggml-quants.c)
 */
export function quantizeIq4Xs(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, importance: Float32Array | null): number {
  const nblock = nPerRow / QK_K;
  let qrow = 0;
  let s = 0;
  for (let row = 0; row < nrows; ++row) {
    for (let ibl = 0; ibl < nblock; ++ibl) {
      const o = qrow + ibl * IQ4_XS_TYPE_SIZE;
      quantizeRowIq4NlImpl(
        QK_K, 32, src, s + QK_K * ibl, dst, o, o + IQ4_XS_QS, o + IQ4_XS_SCALES_H, o + IQ4_XS_SCALES_L,
        kvaluesIq4nl, importance, QK_K * ibl, 7,
      );
    }
    s += nPerRow;
    qrow += nblock * IQ4_XS_TYPE_SIZE;
  }
  return nrows * nblock * IQ4_XS_TYPE_SIZE;
}

/**
 * Reference IQ4_XS quantization: `quantize_iq4_xs` on one row with no importance.
 * @see quantize_row_iq4_xs_ref (ggml/src/ggml-quants.c)
 */
export function quantizeRowIq4XsRef(x: Float32Array, y: Uint8Array, k: number): void {
  quantizeIq4Xs(x, y, 1, k, null);
}

/**
 * @see dequantize_row_iq4_xs (ggml/src/ggml-quants.c)
 */
export function dequantizeRowIq4Xs(x: Uint8Array, y: Float32Array, k: number): void {
  const nb = k / QK_K;
  let yo = 0;
  for (let i = 0; i < nb; i++) {
    const xo = i * IQ4_XS_TYPE_SIZE;
    const d = readFp16(x, xo);
    const scalesH = x[xo + IQ4_XS_SCALES_H] | (x[xo + IQ4_XS_SCALES_H + 1] << 8);
    let qs = xo + IQ4_XS_QS;
    for (let ib = 0; ib < QK_K / 32; ++ib) {
      const ls = ((x[xo + IQ4_XS_SCALES_L + (ib >> 1)] >> (4 * (ib % 2))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = Math.fround(d * (ls - 32));
      for (let j = 0; j < 16; j += 2) {
        const q = x[qs + j];
        const r = x[qs + j + 1];
        y[yo + j] = dl * kvaluesIq4nl[q & 0xf];
        y[yo + j + 1] = dl * kvaluesIq4nl[r & 0xf];
        y[yo + j + 16] = dl * kvaluesIq4nl[q >> 4];
        y[yo + j + 17] = dl * kvaluesIq4nl[r >> 4];
      }
      yo += 32;
      qs += 16;
    }
  }
}

/** Built-in schemes of this family. */
export const iq4Schemes: readonly QuantScheme[] = [
  defineScheme({
    name: "iq4_nl",
    ggmlType: GGMLQuantizationType.IQ4_NL,
    description: "non-linear 4-bit: 16 fixed levels x fp16 scale per 32 (4.5 bits per weight)",
    layout: {
      blockSize: QK4_NL,
      typeSize: IQ4_NL_TYPE_SIZE,
      fields: [
        { name: "d", type: "f16", count: 1, doc: "block scale" },
        { name: "qs", type: "u8", count: QK4_NL / 2, doc: "level indices: low nibble = element j, high = j + 16" },
      ],
    },
    needs: { importance: "optional" },
    quantizeRowRef: quantizeRowIq4NlRef,
    dequantizeRow: wasmDequantizer("dq_iq4_nl", QK4_NL, IQ4_NL_TYPE_SIZE, dequantizeRowIq4Nl),
    quantize: (src, dst, nRows, nPerRow, options) => quantizeIq4Nl(src, dst, nRows, nPerRow, options?.importance ?? null),
  }),
  defineScheme({
    name: "iq4_xs",
    ggmlType: GGMLQuantizationType.IQ4_XS,
    description: "non-linear 4-bit: 16 fixed levels x 6-bit sub-scale per 32 x fp16 scale per 256 (4.25 bits per weight)",
    layout: {
      blockSize: QK_K,
      typeSize: IQ4_XS_TYPE_SIZE,
      fields: [
        { name: "d", type: "f16", count: 1, doc: "super-block scale" },
        { name: "scales_h", type: "u16", count: 1, doc: "high 2 bits of the eight 6-bit sub-scales" },
        { name: "scales_l", type: "u8", count: QK_K / 64, doc: "low 4 bits of the sub-scales, two per byte" },
        { name: "qs", type: "u8", count: QK_K / 2, doc: "level indices: per 32, low nibble = j, high = j + 16" },
      ],
    },
    needs: { importance: "optional" },
    quantizeRowRef: quantizeRowIq4XsRef,
    dequantizeRow: wasmDequantizer("dq_iq4_xs", QK_K, IQ4_XS_TYPE_SIZE, dequantizeRowIq4Xs),
    quantize: (src, dst, nRows, nPerRow, options) => quantizeIq4Xs(src, dst, nRows, nPerRow, options?.importance ?? null),
  }),
];
