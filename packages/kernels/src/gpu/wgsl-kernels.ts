/**
 * WGSL compute shaders of the gpu backend. Every shader reads its sizes from a uniform `P` (binding 0); the matmul,
 * matvec and dequantize shaders are generated per weight scheme around `fn dq(row, col)` (wgsl-dequant.ts).
 * All arithmetic is f32.
 */
import { wgslDequantFn, type WgslScheme } from "./wgsl-dequant.js";

/** matmul tile: 32 weight rows × 32 tokens per workgroup of 8 × 8 threads, each thread 4 rows × 4 tokens, k step 32. */
export const MM_TILE_ROWS = 32;
export const MM_TILE_TOKENS = 32;
/** matvec: one workgroup of 64 threads per weight row, up to this many tokens at once. */
export const MV_MAX_TOKENS = 4;
export const MV_WG = 64;
/** Row ops: threads per workgroup (one workgroup per row / head). */
export const ROW_WG = 64;
/** Invocations per grid row of 1-D dispatches of 64-wide workgroups (32768 workgroups). */
const GRID_ROWS = 32768 * 64;

const MATMUL_PARAMS = /* wgsl */ `
struct Params {
  rows: u32,      // weight rows in this dispatch
  cols: u32,
  nTokens: u32,
  rowBytes: u32,
  rowBase: u32,   // first weight row of this dispatch, relative to the weight chunk buffer
  outStride: u32, // w.rows: output row length
  outBase: u32,   // first output column of this dispatch (absolute weight row)
  _pad: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> W: array<u32>;
`;

/**
 * Tiled matmul with the weight dequantized into workgroup memory one 32 × 32 tile at a time
 * (the shape of ggml's `mul_mm` shaders: dequantize a tile of A to shared memory, multiply with a tile of B).
 * out[t * outStride + outBase + r] = Σ_c x[t * cols + c] · W[rowBase + r, c].
 */
export function matmulShader(s: WgslScheme): string {
  return /* wgsl */ `${MATMUL_PARAMS}
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${wgslDequantFn(s)}
var<workgroup> ws: array<f32, 1056>; // 32 rows × 33 (padded)
var<workgroup> xs: array<f32, 1056>; // 32 tokens × 33
@compute @workgroup_size(8, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let r0 = wid.x * 32u;
  let t0 = wid.y * 32u;
  let tid = lid.y * 8u + lid.x;
  var acc: array<f32, 16>;
  for (var z = 0u; z < 16u; z++) { acc[z] = 0.0; }
  for (var k0 = 0u; k0 < P.cols; k0 += 32u) {
    for (var e = tid; e < 1024u; e += 64u) {
      let rr = e >> 5u;
      let kk = e & 31u;
      let row = r0 + rr;
      var wv = 0.0;
      if (row < P.rows && k0 + kk < P.cols) { wv = dq(P.rowBase + row, k0 + kk); }
      ws[rr * 33u + kk] = wv;
      let t = t0 + rr;
      var xv = 0.0;
      if (t < P.nTokens && k0 + kk < P.cols) { xv = X[t * P.cols + k0 + kk]; }
      xs[rr * 33u + kk] = xv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 32u; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var q = 0u; q < 4u; q++) {
        a[q] = ws[(lid.x + 8u * q) * 33u + kk];
        b[q] = xs[(lid.y + 8u * q) * 33u + kk];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += a[i] * b[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + lid.x + 8u * i;
    for (var j = 0u; j < 4u; j++) {
      let t = t0 + lid.y + 8u * j;
      if (r < P.rows && t < P.nTokens) { O[t * P.outStride + P.outBase + r] = acc[i * 4u + j]; }
    }
  }
}
`;
}

/**
 * Matrix-vector product for 1..4 tokens (decode): one workgroup per weight row, its threads stride over the columns,
 * each weight dequantized once and used for every token, then a tree reduction (ggml's `mul_mat_vec` shape).
 */
export function matvecShader(s: WgslScheme): string {
  return /* wgsl */ `${MATMUL_PARAMS}
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${wgslDequantFn(s)}
var<workgroup> red: array<f32, ${MV_WG * MV_MAX_TOKENS}>;
@compute @workgroup_size(${MV_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let r = wid.x + wid.y * 32768u;
  let tid = lid.x;
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  if (r < P.rows) {
    for (var c = tid; c < P.cols; c += ${MV_WG}u) {
      let wv = dq(P.rowBase + r, c);
      for (var t = 0u; t < P.nTokens; t++) { acc[t] += wv * X[t * P.cols + c]; }
    }
  }
  for (var t = 0u; t < 4u; t++) { red[t * ${MV_WG}u + tid] = acc[t]; }
  workgroupBarrier();
  for (var s = ${MV_WG / 2}u; s > 0u; s >>= 1u) {
    if (tid < s) {
      for (var t = 0u; t < 4u; t++) { red[t * ${MV_WG}u + tid] += red[t * ${MV_WG}u + tid + s]; }
    }
    workgroupBarrier();
  }
  if (tid == 0u && r < P.rows) {
    for (var t = 0u; t < P.nTokens; t++) { O[t * P.outStride + P.outBase + r] = red[t * ${MV_WG}u]; }
  }
}
`;
}

/**
 * Matrix-vector product for `nt` (1..4) tokens with one invocation per weight row and no workgroup memory or barriers:
 * the fastest shape on CPU Vulkan drivers (lavapipe, SwiftShader), where an invocation is a SIMD lane and a barrier
 * is a coroutine switch. The token loop is unrolled at generation time.
 */
export function matvecRowShader(s: WgslScheme, nt: number): string {
  const ts = Array.from({ length: nt }, (_, t) => t);
  const body =
    s.subSize === 1
      ? `for (var c = 0u; c < P.cols; c++) {
    let wv = dqq(row, c);
    ${ts.map((t) => `a${t} += wv * X[${t}u * P.cols + c];`).join("\n    ")}
  }`
      : // Per sub-block: Σ q·x (and Σ x when there is an offset), then scale · Σ q·x + offset · Σ x (ggml's vec_dot shape).
        `for (var c0 = 0u; c0 < P.cols; c0 += ${s.subSize}u) {
    let sm = dsub(row, c0);
    ${ts.map((t) => `var s${t} = 0.0;${s.hasOffset ? ` var x${t} = 0.0;` : ""}`).join(" ")}
    for (var k = 0u; k < ${s.subSize}u; k++) {
      let c = c0 + k;
      let qv = dqq(row, c);
      ${ts.map((t) => `let xv${t} = X[${t}u * P.cols + c]; s${t} += qv * xv${t};${s.hasOffset ? ` x${t} += xv${t};` : ""}`).join("\n      ")}
    }
    ${ts.map((t) => `a${t} += sm.x * s${t}${s.hasOffset ? ` + sm.y * x${t}` : ""};`).join("\n    ")}
  }`;
  return /* wgsl */ `${MATMUL_PARAMS}
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${wgslDequantFn(s)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x + gid.y * ${GRID_ROWS}u;
  if (r >= P.rows) { return; }
  let row = P.rowBase + r;
  ${ts.map((t) => `var a${t} = 0.0;`).join(" ")}
  ${body}
  ${ts.map((t) => `O[${t}u * P.outStride + P.outBase + r] = a${t};`).join("\n  ")}
}
`;
}

/** Dequantize rows: out[(r) * cols + c] = W[rowBase + r, c] for r < rows (`P.nTokens` unused). 256 elements per workgroup. */
export function dequantShader(s: WgslScheme): string {
  return /* wgsl */ `${MATMUL_PARAMS}
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
${wgslDequantFn(s)}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * 8388608u; // 32768 workgroups × 256 per y step
  if (idx >= P.rows * P.cols) { return; }
  let r = idx / P.cols;
  let c = idx % P.cols;
  O[P.outBase + idx] = dq(P.rowBase + r, c);
}
`;
}

/** Row-wise softmax in place: one workgroup per row. @see ggml_compute_forward_soft_max_f32 (max, Σ exp(x - max), scale). */
export const SOFTMAX_SHADER = /* wgsl */ `
struct Params { rows: u32, cols: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
var<workgroup> red: array<f32, ${ROW_WG}>;
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x + wid.y * 32768u;
  if (row >= P.rows) { return; }
  let o = row * P.cols;
  let tid = lid.x;
  var m = -3.4028234663852886e38;
  for (var c = tid; c < P.cols; c += ${ROW_WG}u) { m = max(m, X[o + c]); }
  red[tid] = m;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] = max(red[tid], red[tid + s]); }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var c = tid; c < P.cols; c += ${ROW_WG}u) { let e = exp(X[o + c] - mx); X[o + c] = e; sum += e; }
  red[tid] = sum;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] += red[tid + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / red[0];
  for (var c = tid; c < P.cols; c += ${ROW_WG}u) { X[o + c] = X[o + c] * inv; }
}
`;

/**
 * RoPE in place on [nTokens, nHeads, headDim]; one invocation per rotated pair.
 * @see ggml_rope_cache_init / rotate_pairs (ggml/src/ggml-cpu/ops.cpp): theta = pos · freqScale · base^(-2i/nRot),
 * mode 0 rotates (2i, 2i + 1), mode 2 (NeoX) rotates (i, i + nRot/2).
 */
export const ROPE_SHADER = /* wgsl */ `
struct Params { nTokens: u32, nHeads: u32, headDim: u32, nRot: u32, mode: u32, freqBase: f32, freqScale: f32, _a: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read> POS: array<i32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = P.nRot / 2u;
  let idx = gid.x + gid.y * 2097152u;
  if (idx >= P.nTokens * P.nHeads * half) { return; }
  let i = idx % half;
  let th = idx / half; // token * nHeads + head
  let t = th / P.nHeads;
  let o = th * P.headDim;
  let theta = f32(POS[t]) * P.freqScale * pow(P.freqBase, -f32(2u * i) / f32(P.nRot));
  let c = cos(theta);
  let s = sin(theta);
  var i0 = o + 2u * i;
  var i1 = i0 + 1u;
  if (P.mode == 2u) { i0 = o + i; i1 = o + i + half; }
  let x0 = X[i0];
  let x1 = X[i1];
  X[i0] = x0 * c - x1 * s;
  X[i1] = x0 * s + x1 * c;
}
`;

/**
 * Causal GQA attention, one workgroup per (token, head): scores q·k · scale for positions 0..pos into a scratch row,
 * softmax, then out = Σ p · v. Scratch S holds `nTokens × nHead × ctx` floats.
 */
export const ATTENTION_SHADER = /* wgsl */ `
struct Params { nTokens: u32, nHead: u32, nKvHead: u32, headDim: u32, ctx: u32, scale: f32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> POS: array<i32>;
@group(0) @binding(5) var<storage, read_write> S: array<f32>;
@group(0) @binding(6) var<storage, read_write> O: array<f32>;
var<workgroup> red: array<f32, ${ROW_WG}>;
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.x;
  let t = wid.y;
  let tid = lid.x;
  let kvh = h / (P.nHead / P.nKvHead);
  let n = u32(POS[t]) + 1u;
  let qo = (t * P.nHead + h) * P.headDim;
  let so = (t * P.nHead + h) * P.ctx;
  let kvStride = P.nKvHead * P.headDim;
  var m = -3.4028234663852886e38;
  for (var j = tid; j < n; j += ${ROW_WG}u) {
    let ko = j * kvStride + kvh * P.headDim;
    var dot = 0.0;
    for (var d = 0u; d < P.headDim; d++) { dot += Q[qo + d] * K[ko + d]; }
    let sc = dot * P.scale;
    S[so + j] = sc;
    m = max(m, sc);
  }
  red[tid] = m;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] = max(red[tid], red[tid + s]); }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = tid; j < n; j += ${ROW_WG}u) { let e = exp(S[so + j] - mx); S[so + j] = e; sum += e; }
  red[tid] = sum;
  storageBarrier();
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] += red[tid + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / red[0];
  for (var d = tid; d < P.headDim; d += ${ROW_WG}u) {
    var acc = 0.0;
    for (var j = 0u; j < n; j++) { acc += S[so + j] * V[j * kvStride + kvh * P.headDim + d]; }
    O[qo + d] = acc * inv;
  }
}
`;

/** swiglu (used when gpu.js is unavailable or the size is beyond it). @see ggml_vec_swiglu_f32 */
export const SWIGLU_SHADER = /* wgsl */ `
struct Params { n: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> U: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 8388608u;
  if (i >= P.n) { return; }
  let g = G[i];
  O[i] = (g / (1.0 + exp(-g))) * U[i];
}
`;

/** rmsnorm, one workgroup per token (used when gpu.js is unavailable). @see ggml_compute_forward_rms_norm_f32 */
export const RMSNORM_SHADER = /* wgsl */ `
struct Params { nTokens: u32, dim: u32, eps: f32, _a: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
var<workgroup> red: array<f32, ${ROW_WG}>;
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = wid.x + wid.y * 32768u;
  if (t >= P.nTokens) { return; }
  let o = t * P.dim;
  let tid = lid.x;
  var s = 0.0;
  for (var i = tid; i < P.dim; i += ${ROW_WG}u) { let v = X[o + i]; s += v * v; }
  red[tid] = s;
  workgroupBarrier();
  for (var k = ${ROW_WG / 2}u; k > 0u; k >>= 1u) {
    if (tid < k) { red[tid] += red[tid + k]; }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(red[0] / f32(P.dim) + P.eps);
  for (var i = tid; i < P.dim; i += ${ROW_WG}u) { O[o + i] = (X[o + i] * scale) * Wt[i]; }
}
`;
