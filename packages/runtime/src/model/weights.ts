/**
 * Reads a model's tensors into memory once: 2-D weights stay in their block format as `QuantMatrix` views into one
 * SharedArrayBuffer (so worker threads can read them without copies), norm vectors and biases become Float32Array.
 * Nothing is dequantized to f32 in bulk: peak memory ≈ the file size.
 */
import type { GgufFile, GgufTensorInfo } from "@quantlab/gguf";
import { builtinRegistry, ensureSchemeInit } from "@quantlab/quant-core";
import type { QuantMatrix } from "@quantlab/kernels";
import type { ModelConfig } from "./config.js";
import { ModelError } from "./errors.js";

export interface LayerWeights {
  readonly attnNorm: Float32Array;
  readonly wq: QuantMatrix;
  readonly wk: QuantMatrix;
  readonly wv: QuantMatrix;
  readonly wo: QuantMatrix;
  readonly bq: Float32Array | undefined;
  readonly bk: Float32Array | undefined;
  readonly bv: Float32Array | undefined;
  readonly bo: Float32Array | undefined;
  readonly qNorm: Float32Array | undefined;
  readonly kNorm: Float32Array | undefined;
  readonly ffnNorm: Float32Array;
  readonly wGate: QuantMatrix;
  readonly wUp: QuantMatrix;
  readonly wDown: QuantMatrix;
}

export interface ModelWeights {
  readonly tokenEmbd: QuantMatrix;
  readonly outputNorm: Float32Array;
  /** `output.weight`, or `token_embd.weight` when tied. */
  readonly output: QuantMatrix;
  readonly layers: readonly LayerWeights[];
  /** The shared buffer holding every matrix. */
  readonly buffer: ArrayBufferLike;
  readonly bytes: number;
}

const ALIGN = 64;

function schemeFor(file: GgufFile, t: GgufTensorInfo) {
  const s = builtinRegistry().findByType(t.type);
  if (!s) throw new ModelError("MODEL_UNSUPPORTED_TYPE", `tensor type ${t.typeName} (id ${t.type}) has no decoder`, { file: file.file, tensor: t.name });
  ensureSchemeInit(s);
  return s;
}

/** Loads and shape-checks every tensor the forward pass needs. Returns the config completed with nVocab/tiedOutput/qkvBias. */
export async function loadWeights(file: GgufFile, cfg: ModelConfig): Promise<{ weights: ModelWeights; config: ModelConfig }> {
  const where = (tensor: string) => ({ file: file.file, tensor });
  const need = (name: string): GgufTensorInfo => {
    const t = file.tensor(name);
    if (!t) throw new ModelError("MODEL_MISSING_TENSOR", `required tensor '${name}' is missing`, where(name));
    return t;
  };
  const shapeCheck = (t: GgufTensorInfo, expected: readonly number[]) => {
    const got = t.shape.length === expected.length ? t.shape : t.shape.filter((d, i) => i < expected.length || d !== 1);
    if (got.length !== expected.length || got.some((d, i) => d !== expected[i])) {
      throw new ModelError("MODEL_BAD_SHAPE", `tensor '${t.name}' has shape [${t.shape.join(", ")}], expected [${expected.join(", ")}]`, where(t.name));
    }
  };

  const embdInfo = need("token_embd.weight");
  if (embdInfo.shape.length < 2 || embdInfo.shape[0] !== cfg.nEmbd) {
    throw new ModelError("MODEL_BAD_SHAPE", `tensor 'token_embd.weight' has shape [${embdInfo.shape.join(", ")}], expected [${cfg.nEmbd}, n_vocab]`, where(embdInfo.name));
  }
  const nVocab = embdInfo.shape[1]!;
  const outInfo = file.tensor("output.weight");
  const qDim = cfg.nHead * cfg.headDim;
  const kvDim = cfg.nKvHead * cfg.headDim;
  const hasBias = file.tensor("blk.0.attn_q.bias") !== undefined;

  // Plan: every 2-D matrix with its expected [cols, rows].
  const mats: { name: string; cols: number; rows: number }[] = [{ name: "token_embd.weight", cols: cfg.nEmbd, rows: nVocab }];
  if (outInfo) mats.push({ name: "output.weight", cols: cfg.nEmbd, rows: nVocab });
  const vecs: { name: string; n: number; optional?: boolean }[] = [{ name: "output_norm.weight", n: cfg.nEmbd }];
  for (let il = 0; il < cfg.nLayer; il++) {
    const b = `blk.${il}.`;
    mats.push(
      { name: `${b}attn_q.weight`, cols: cfg.nEmbd, rows: qDim },
      { name: `${b}attn_k.weight`, cols: cfg.nEmbd, rows: kvDim },
      { name: `${b}attn_v.weight`, cols: cfg.nEmbd, rows: kvDim },
      { name: `${b}attn_output.weight`, cols: qDim, rows: cfg.nEmbd },
      { name: `${b}ffn_gate.weight`, cols: cfg.nEmbd, rows: cfg.nFf },
      { name: `${b}ffn_up.weight`, cols: cfg.nEmbd, rows: cfg.nFf },
      { name: `${b}ffn_down.weight`, cols: cfg.nFf, rows: cfg.nEmbd },
    );
    vecs.push({ name: `${b}attn_norm.weight`, n: cfg.nEmbd }, { name: `${b}ffn_norm.weight`, n: cfg.nEmbd });
    if (hasBias) vecs.push({ name: `${b}attn_q.bias`, n: qDim }, { name: `${b}attn_k.bias`, n: kvDim }, { name: `${b}attn_v.bias`, n: kvDim });
    vecs.push({ name: `${b}attn_output.bias`, n: cfg.nEmbd, optional: true });
    if (cfg.qkNorm) vecs.push({ name: `${b}attn_q_norm.weight`, n: cfg.headDim }, { name: `${b}attn_k_norm.weight`, n: cfg.headDim });
  }

  let total = 0;
  const infos = mats.map((m) => {
    const t = need(m.name);
    shapeCheck(t, [m.cols, m.rows]);
    const s = schemeFor(file, t);
    if (m.cols % s.layout.blockSize !== 0) {
      throw new ModelError("MODEL_BAD_SHAPE", `tensor '${m.name}' rows of ${m.cols} are not a multiple of ${s.name}'s block ${s.layout.blockSize}`, where(m.name));
    }
    const rowBytes = (m.cols / s.layout.blockSize) * s.layout.typeSize;
    const off = total;
    total += Math.ceil((rowBytes * m.rows) / ALIGN) * ALIGN;
    return { m, t, s, rowBytes, off };
  });
  const buffer: ArrayBufferLike = typeof SharedArrayBuffer !== "undefined" ? new SharedArrayBuffer(Math.max(total, ALIGN)) : new ArrayBuffer(Math.max(total, ALIGN));
  const matrices = new Map<string, QuantMatrix>();
  for (const { m, t, s, rowBytes, off } of infos) {
    const data = new Uint8Array(buffer, off, rowBytes * m.rows);
    const bytes = await file.readTensorData(t);
    if (bytes.length !== data.length) {
      throw new ModelError("MODEL_BAD_SHAPE", `tensor '${m.name}' holds ${bytes.length} bytes, expected ${data.length}`, where(m.name));
    }
    data.set(bytes);
    matrices.set(m.name, Object.freeze({ name: m.name, scheme: s.name, typeId: t.type, rows: m.rows, cols: m.cols, data, rowBytes }));
  }

  const vectors = new Map<string, Float32Array>();
  for (const v of vecs) {
    const t = file.tensor(v.name);
    if (!t) {
      if (v.optional) continue;
      need(v.name);
      continue;
    }
    shapeCheck(t, [v.n]);
    const s = schemeFor(file, t);
    const bytes = await file.readTensorData(t);
    const out = new Float32Array(v.n);
    s.dequantizeRow(bytes, out, v.n);
    vectors.set(v.name, out);
  }

  const mat = (n: string) => matrices.get(n)!;
  const vec = (n: string) => vectors.get(n)!;
  const layers: LayerWeights[] = [];
  for (let il = 0; il < cfg.nLayer; il++) {
    const b = `blk.${il}.`;
    layers.push({
      attnNorm: vec(`${b}attn_norm.weight`),
      wq: mat(`${b}attn_q.weight`),
      wk: mat(`${b}attn_k.weight`),
      wv: mat(`${b}attn_v.weight`),
      wo: mat(`${b}attn_output.weight`),
      bq: vectors.get(`${b}attn_q.bias`),
      bk: vectors.get(`${b}attn_k.bias`),
      bv: vectors.get(`${b}attn_v.bias`),
      bo: vectors.get(`${b}attn_output.bias`),
      qNorm: vectors.get(`${b}attn_q_norm.weight`),
      kNorm: vectors.get(`${b}attn_k_norm.weight`),
      ffnNorm: vec(`${b}ffn_norm.weight`),
      wGate: mat(`${b}ffn_gate.weight`),
      wUp: mat(`${b}ffn_up.weight`),
      wDown: mat(`${b}ffn_down.weight`),
    });
  }
  const tokenEmbd = mat("token_embd.weight");
  return {
    weights: { tokenEmbd, outputNorm: vec("output_norm.weight"), output: outInfo ? mat("output.weight") : tokenEmbd, layers, buffer, bytes: total },
    config: { ...cfg, nVocab, tiedOutput: !outInfo, qkvBias: hasBias },
  };
}
