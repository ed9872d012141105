/**
 * llama / qwen2 / qwen3 graphs on small random models written as GGUF, against a naive double-precision forward pass
 * written here from the llama.cpp graph definitions (llm_build_llama / llm_build_qwen2 / llm_build_qwen3): q/k/v biases,
 * per-head q/k RMSNorm, NeoX vs normal RoPE, GQA, tied output.
 */
import { describe, expect, it } from "vitest";
import { GGUFValueType, ggufValue, parseGgufBytes, writeGgufToBytes, type GgufValue } from "@quantlab/gguf";
import { Lcg64, readShared } from "@quantlab/testing";
import { loadModel } from "../index.js";

const V = 512;
const E = 32;
const NH = 4;
const NKV = 2;
const HD = 8;
const FF = 48;
const NL = 2;
const EPS = 1e-5;
const BASE = 10000;

type Arch = "llama" | "qwen2" | "qwen3";

function rand(n: number, seed: number, scale: number): Float32Array {
  const g = new Lcg64(seed);
  return Float32Array.from({ length: n }, () => g.gauss() * scale);
}

function makeWeights(arch: Arch, tied: boolean): Map<string, { shape: number[]; data: Float32Array }> {
  const w = new Map<string, { shape: number[]; data: Float32Array }>();
  let seed = 100;
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    const d = rand(shape.reduce((a, b) => a * b, 1), seed++, scale);
    if (offset) for (let i = 0; i < d.length; i++) d[i] = d[i]! + offset;
    w.set(name, { shape, data: d });
  };
  add("token_embd.weight", [E, V], 1);
  add("output_norm.weight", [E], 0.1, 1);
  if (!tied) add("output.weight", [E, V], 0.2);
  for (let l = 0; l < NL; l++) {
    const b = `blk.${l}.`;
    add(`${b}attn_norm.weight`, [E], 0.1, 1);
    add(`${b}attn_q.weight`, [E, NH * HD], 0.3);
    add(`${b}attn_k.weight`, [E, NKV * HD], 0.3);
    add(`${b}attn_v.weight`, [E, NKV * HD], 0.3);
    add(`${b}attn_output.weight`, [NH * HD, E], 0.2);
    if (arch === "qwen2") {
      add(`${b}attn_q.bias`, [NH * HD], 0.3);
      add(`${b}attn_k.bias`, [NKV * HD], 0.3);
      add(`${b}attn_v.bias`, [NKV * HD], 0.3);
    }
    if (arch === "qwen3") {
      add(`${b}attn_q_norm.weight`, [HD], 0.1, 1);
      add(`${b}attn_k_norm.weight`, [HD], 0.1, 1);
    }
    add(`${b}ffn_norm.weight`, [E], 0.1, 1);
    add(`${b}ffn_gate.weight`, [E, FF], 0.3);
    add(`${b}ffn_up.weight`, [E, FF], 0.3);
    add(`${b}ffn_down.weight`, [FF, E], 0.2);
  }
  return w;
}

async function writeModel(arch: Arch, weights: Map<string, { shape: number[]; data: Float32Array }>): Promise<Uint8Array> {
  const stories = parseGgufBytes(readShared("models", "stories260K.gguf"));
  const meta = new Map<string, GgufValue>();
  meta.set("general.architecture", ggufValue.string(arch));
  const u32 = (k: string, v: number) => meta.set(`${arch}.${k}`, { type: GGUFValueType.UINT32, value: v } as GgufValue);
  u32("embedding_length", E);
  u32("block_count", NL);
  u32("attention.head_count", NH);
  u32("attention.head_count_kv", NKV);
  u32("feed_forward_length", FF);
  u32("context_length", 64);
  meta.set(`${arch}.attention.layer_norm_rms_epsilon`, { type: GGUFValueType.FLOAT32, value: EPS } as GgufValue);
  meta.set(`${arch}.rope.freq_base`, { type: GGUFValueType.FLOAT32, value: BASE } as GgufValue);
  for (const [k, v] of stories.metadata) if (k.startsWith("tokenizer.")) meta.set(k, v);
  const tensors = [...weights].map(([name, t]) => ({ name, shape: t.shape, type: 0, data: new Uint8Array(t.data.buffer.slice(0)) }));
  return writeGgufToBytes({ metadata: meta, tensors });
}

/** Naive forward in doubles: logits [n, V]. */
function naive(arch: Arch, W: Map<string, { data: Float32Array }>, tokens: number[]): Float64Array {
  const g = (n: string) => W.get(n)!.data;
  const n = tokens.length;
  const rms = (x: Float64Array, o: number, d: number, w: Float32Array) => {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[o + i]! ** 2;
    const s = 1 / Math.sqrt(ss / d + EPS);
    for (let i = 0; i < d; i++) x[o + i] = x[o + i]! * s * w[i]!;
  };
  const mv = (w: Float32Array, rows: number, cols: number, x: Float64Array, xo: number, out: Float64Array, oo: number) => {
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += w[r * cols + c]! * x[xo + c]!;
      out[oo + r] = acc;
    }
  };
  const rope = (x: Float64Array, o: number, pos: number) => {
    for (let i = 0; i < HD / 2; i++) {
      const th = pos * Math.pow(BASE, (-2 * i) / HD);
      const a = arch === "llama" ? o + 2 * i : o + i;
      const b = arch === "llama" ? a + 1 : a + HD / 2;
      const x0 = x[a]!;
      const x1 = x[b]!;
      x[a] = x0 * Math.cos(th) - x1 * Math.sin(th);
      x[b] = x0 * Math.sin(th) + x1 * Math.cos(th);
    }
  };
  const x = new Float64Array(n * E);
  const emb = g("token_embd.weight");
  for (let t = 0; t < n; t++) for (let i = 0; i < E; i++) x[t * E + i] = emb[tokens[t]! * E + i]!;
  for (let l = 0; l < NL; l++) {
    const b = `blk.${l}.`;
    const h = x.slice();
    const q = new Float64Array(n * NH * HD);
    const k = new Float64Array(n * NKV * HD);
    const v = new Float64Array(n * NKV * HD);
    for (let t = 0; t < n; t++) {
      rms(h, t * E, E, g(`${b}attn_norm.weight`));
      mv(g(`${b}attn_q.weight`), NH * HD, E, h, t * E, q, t * NH * HD);
      mv(g(`${b}attn_k.weight`), NKV * HD, E, h, t * E, k, t * NKV * HD);
      mv(g(`${b}attn_v.weight`), NKV * HD, E, h, t * E, v, t * NKV * HD);
      if (arch === "qwen2") {
        for (let i = 0; i < NH * HD; i++) q[t * NH * HD + i] = q[t * NH * HD + i]! + g(`${b}attn_q.bias`)[i]!;
        for (let i = 0; i < NKV * HD; i++) k[t * NKV * HD + i] = k[t * NKV * HD + i]! + g(`${b}attn_k.bias`)[i]!;
        for (let i = 0; i < NKV * HD; i++) v[t * NKV * HD + i] = v[t * NKV * HD + i]! + g(`${b}attn_v.bias`)[i]!;
      }
      for (let hh = 0; hh < NH; hh++) {
        if (arch === "qwen3") rms(q, (t * NH + hh) * HD, HD, g(`${b}attn_q_norm.weight`));
        rope(q, (t * NH + hh) * HD, t);
      }
      for (let hh = 0; hh < NKV; hh++) {
        if (arch === "qwen3") rms(k, (t * NKV + hh) * HD, HD, g(`${b}attn_k_norm.weight`));
        rope(k, (t * NKV + hh) * HD, t);
      }
    }
    const att = new Float64Array(n * NH * HD);
    for (let t = 0; t < n; t++)
      for (let hh = 0; hh < NH; hh++) {
        const kv = Math.floor(hh / (NH / NKV));
        const s: number[] = [];
        for (let j = 0; j <= t; j++) {
          let d = 0;
          for (let i = 0; i < HD; i++) d += q[(t * NH + hh) * HD + i]! * k[(j * NKV + kv) * HD + i]!;
          s.push(d / Math.sqrt(HD));
        }
        const m = Math.max(...s);
        const e = s.map((z) => Math.exp(z - m));
        const sum = e.reduce((a, c) => a + c, 0);
        for (let i = 0; i < HD; i++) {
          let acc = 0;
          for (let j = 0; j <= t; j++) acc += (e[j]! / sum) * v[(j * NKV + kv) * HD + i]!;
          att[(t * NH + hh) * HD + i] = acc;
        }
      }
    const o = new Float64Array(E);
    const hf = new Float64Array(E);
    const gate = new Float64Array(FF);
    const up = new Float64Array(FF);
    for (let t = 0; t < n; t++) {
      mv(g(`${b}attn_output.weight`), E, NH * HD, att, t * NH * HD, o, 0);
      for (let i = 0; i < E; i++) x[t * E + i] = x[t * E + i]! + o[i]!;
      for (let i = 0; i < E; i++) hf[i] = x[t * E + i]!;
      rms(hf, 0, E, g(`${b}ffn_norm.weight`));
      mv(g(`${b}ffn_gate.weight`), FF, E, hf, 0, gate, 0);
      mv(g(`${b}ffn_up.weight`), FF, E, hf, 0, up, 0);
      for (let i = 0; i < FF; i++) gate[i] = (gate[i]! / (1 + Math.exp(-gate[i]!))) * up[i]!;
      mv(g(`${b}ffn_down.weight`), E, FF, gate, 0, o, 0);
      for (let i = 0; i < E; i++) x[t * E + i] = x[t * E + i]! + o[i]!;
    }
  }
  const out = new Float64Array(n * V);
  const wout = W.has("output.weight") ? g("output.weight") : g("token_embd.weight");
  for (let t = 0; t < n; t++) {
    rms(x, t * E, E, g("output_norm.weight"));
    mv(wout, V, E, x, t * E, out, t * V);
  }
  return out;
}

describe("architectures vs a naive double-precision forward", () => {
  for (const [arch, tied] of [
    ["llama", false],
    ["llama", true],
    ["qwen2", true],
    ["qwen3", false],
  ] as const) {
    it(`${arch}${tied ? " (tied output)" : ""}`, async () => {
      const W = makeWeights(arch, tied);
      const m = await loadModel(parseGgufBytes(await writeModel(arch, W)), { backend: "cpu-ref" });
      try {
        expect(m.config).toMatchObject({ arch, tiedOutput: tied, qkvBias: arch === "qwen2", qkNorm: arch === "qwen3", rope: { mode: arch === "llama" ? 0 : 2 } });
        const tokens = [1, 17, 300, 42, 5, 511, 99, 7];
        const got = await m.evaluate(tokens);
        const want = naive(arch, W, tokens);
        let maxAbs = 0;
        let maxDiff = 0;
        for (let i = 0; i < want.length; i++) {
          maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
          maxDiff = Math.max(maxDiff, Math.abs(want[i]! - got[i]!));
        }
        expect(maxDiff).toBeLessThanOrEqual(1e-5 * maxAbs + 1e-5);
      } finally {
        await m.dispose();
      }
    });
  }
});
