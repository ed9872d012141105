/**
 * Per-tensor and per-layer statistics of an imatrix, as `llama-imatrix --show-statistics` prints them.
 *
 * @see compute_vector_statistics, compute_tensor_statistics, compute_layer_statistics, show_statistics
 *   (tools/imatrix/imatrix.cpp). Accumulators are double where the C has double and float (Math.fround) where it has
 *   float, so printed figures match the C to its printed precision.
 *
 * "Legacy mode" (no `in_sum`, e.g. a `.dat`): the per-column value is E[x²] = Σx²/count. With activation sums the
 * value is E[x] = Σx/count, and the first column shows the L2 distance to the previous layer instead of Σ E[x²].
 */
import type { Imatrix, ImatrixTensor } from "./imatrix.js";

const f = Math.fround;

export interface TensorStatistics {
  /** Full weight name. */
  readonly name: string;
  /** Block index (`blk.N.`), -1 for other tensors. */
  readonly layer: number;
  /** Short tensor name (the part before `.weight`, e.g. `attn_q`). */
  readonly tensor: string;
  /** Σ of the per-column values (Σ E[x²] in legacy mode). */
  readonly sum: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  /** Sample standard deviation of the per-column values. */
  readonly std: number;
  /** Columns with data (over all matrices with a non-zero count). */
  readonly elements: number;
  /** Shannon entropy (bits) of the E[x²] distribution over columns. */
  readonly entropy: number;
  /** Entropy as a percentage of its maximum log2(elements) ("H Norm"). */
  readonly entropyNorm: number;
  /** Share of columns whose z-score exceeds 1 in magnitude ("ZD"), 0..1. */
  readonly zdScore: number;
  /** Cosine similarity of the column means with the same tensor of the previous block (0 when there is none). */
  readonly cossim: number;
  /** Euclidean distance of the column means to the same tensor of the previous block. */
  readonly l2Dist: number;
  /** Euclidean-cosine score `100 · exp(-0.01 · l2) · |cossim|^10` ("ECS"). */
  readonly ecs: number;
  /** Not printed by llama.cpp: share of Σ E[x²] held by the largest 1 % of columns (at least one), 0..1. */
  readonly topShare: number;
}

export interface LayerStatistics {
  readonly layer: number;
  /** Σ of the tensors' `sum` (float, as the C adds them). */
  readonly sum: number;
  /** Share of columns with |z| > 1 over all tensors of the layer, 0..1. */
  readonly zdScore: number;
  /** Cosine similarity of the concatenated column means with those of the previous layer. */
  readonly cossim: number;
  readonly l2Dist: number;
  readonly ecs: number;
  readonly elements: number;
}

export interface ImatrixStatistics {
  /** True when no tensor has activation sums (values are E[x²]). */
  readonly legacy: boolean;
  /** In llama.cpp's print order: by short tensor name, then by `sum` (legacy) or `cossim`, descending. */
  readonly tensors: TensorStatistics[];
  readonly layers: LayerStatistics[];
}

/** `process_tensor_name`: the block number and the short name. */
export function splitTensorName(input: string): { layer: string; tensor: string } {
  const parts = input.split(".");
  let layer = "";
  let tensor = "";
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === "blk" && i + 1 < parts.length) {
      layer = parts[i + 1]!;
      break;
    }
  }
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === "weight" && i > 0) {
      tensor = parts[i - 1]!;
      break;
    }
  }
  return { layer: layer === "" ? "-" : layer, tensor: tensor === "" ? input : tensor };
}

/** `compute_tensor_averages`: per column E[x] (with activations) or E[x²], zero rows for matrices without tokens. */
function tensorAverages(e: ImatrixTensor): Float32Array {
  const src = e.activationSums ?? e.sums;
  const out = new Float32Array(src.length);
  for (let m = 0; m < e.nMat; m++) {
    const c = f(e.counts[m]!);
    if (c <= 0) continue;
    const off = m * e.nPerRow;
    for (let j = 0; j < e.nPerRow; j++) out[off + j] = src[off + j]! / c;
  }
  return out;
}

interface Partial {
  name: string;
  e: ImatrixTensor;
  sum: number;
  mean: number;
  min: number;
  max: number;
  std: number;
  elements: number;
  entropy: number;
  zdScore: number;
  topShare: number;
  cossim: number;
  l2Dist: number;
}

/** `compute_vector_statistics`; undefined when the tensor has no tokens. */
function vectorStatistics(name: string, e: ImatrixTensor): Partial | undefined {
  const legacy = e.activationSums === undefined;
  const rowSize = e.nPerRow;
  let mean = 0;
  let M2 = 0;
  let sum = 0;
  let vmin = Infinity;
  let vmax = -Infinity;
  let energySum = 0;
  let validN = 0;
  for (let i = 0; i < e.nMat; i++) {
    const c = f(e.counts[i]!);
    if (c <= 0) continue;
    const off = i * rowSize;
    for (let j = 0; j < rowSize; j++) {
      const vAvg = legacy ? 0 : e.activationSums![off + j]! / c;
      const vEnergy = e.sums[off + j]! / c;
      const v = legacy ? vEnergy : vAvg;
      ++validN;
      sum += v;
      vmin = Math.min(vmin, f(v));
      vmax = Math.max(vmax, f(v));
      const delta = v - mean;
      mean += delta / validN;
      M2 += delta * (v - mean);
      energySum += Math.max(0, vEnergy);
    }
  }
  if (validN === 0) return undefined;
  let entropy = 0;
  let zdCount = 0;
  const variance = Math.max(validN > 1 ? M2 / (validN - 1) : 0, 0);
  const std = f(Math.sqrt(f(variance)));
  const energies = new Float64Array(validN);
  let k = 0;
  for (let i = 0; i < e.nMat; i++) {
    const c = f(e.counts[i]!);
    if (c <= 0) continue;
    const off = i * rowSize;
    for (let j = 0; j < rowSize; j++) energies[k++] = Math.max(0, e.sums[off + j]! / c);
  }
  if (energySum > 0) {
    for (let n = 0; n < validN; n++) {
      const p = energies[n]! / energySum;
      if (p > 0) entropy = f(entropy - f(p * Math.log2(p)));
    }
  }
  if (std > 0) {
    const fm = f(mean);
    for (let i = 0; i < e.nMat; i++) {
      const c = f(e.counts[i]!);
      if (c <= 0) continue;
      const off = i * rowSize;
      for (let j = 0; j < rowSize; j++) {
        const v = f(legacy ? e.sums[off + j]! / c : e.activationSums![off + j]! / c);
        const z = f(f(v - fm) / std);
        if (Math.abs(z) > 1) zdCount += 1;
      }
    }
  }
  // share of the energy held by the top 1 % of columns
  let topShare = 0;
  if (energySum > 0) {
    const sorted = energies.slice().sort().reverse();
    const nTop = Math.max(1, Math.ceil(validN / 100));
    let top = 0;
    for (let n = 0; n < nTop; n++) top += sorted[n]!;
    topShare = top / energySum;
  }
  return { name, e, sum: f(sum), mean: f(mean), min: vmin, max: vmax, std, elements: validN, entropy, zdScore: f(zdCount / validN), topShare, cossim: 0, l2Dist: 0 };
}

const BLK = /blk\.(\d+)\./;

function previousLayerName(name: string): { blk: number; prev: string } | undefined {
  const m = BLK.exec(name);
  if (!m) return undefined;
  const blk = Number.parseInt(m[1]!, 10);
  if (blk <= 0) return undefined;
  const start = m.index + 4;
  return { blk, prev: name.slice(0, start) + String(blk - 1) + name.slice(start + m[1]!.length) };
}

function ecsOf(l2: number, cossim: number): number {
  return f(100 * f(Math.exp(f(-0.01 * l2))) * f(Math.pow(Math.abs(cossim), 10)));
}

/** Computes the statistics llama-imatrix `--show-statistics` prints. */
export function computeImatrixStatistics(im: Pick<Imatrix, "entries">): ImatrixStatistics {
  const parts: Partial[] = [];
  let legacy = true;
  for (const [name, e] of im.entries) {
    const s = vectorStatistics(name, e);
    if (!s) continue;
    parts.push(s);
    legacy = legacy && e.activationSums === undefined;
  }
  const byName = new Map(parts.map((p) => [p.name, p]));
  // compute_tensor_statistics: float accumulators
  for (const ts of parts) {
    const pl = previousLayerName(ts.name);
    if (!pl) continue;
    const prev = byName.get(pl.prev);
    if (!prev) continue;
    const curr = tensorAverages(ts.e);
    const pa = tensorAverages(prev.e);
    if (curr.length === 0 || curr.length !== pa.length) continue;
    let dot = 0;
    let n1 = 0;
    let n2 = 0;
    let l2 = 0;
    for (let i = 0; i < curr.length; i++) {
      const c = curr[i]!;
      const p = pa[i]!;
      dot = f(dot + f(c * p));
      n1 = f(n1 + f(c * c));
      n2 = f(n2 + f(p * p));
      const d = f(c - p);
      l2 = f(l2 + f(d * d));
    }
    let cs = 0;
    if (n1 > 0 && n2 > 0) cs = Math.max(-1, Math.min(1, f(dot / f(f(Math.sqrt(n1)) * f(Math.sqrt(n2))))));
    else if (n1 === 0 && n2 === 0) cs = 1;
    ts.cossim = cs;
    ts.l2Dist = f(Math.sqrt(l2));
  }
  // print order (tensor_comparer)
  const keyed = parts.map((p) => ({ p, ...splitTensorName(p.name) }));
  keyed.sort((a, b) => {
    if (a.tensor !== b.tensor) return a.tensor < b.tensor ? -1 : 1;
    const x = legacy ? a.p.sum : a.p.cossim;
    const y = legacy ? b.p.sum : b.p.cossim;
    return y - x;
  });
  const tensors: TensorStatistics[] = keyed.map(({ p, layer, tensor }) => {
    const n = Number.parseInt(layer, 10);
    return {
      name: p.name,
      layer: Number.isNaN(n) ? -1 : n,
      tensor,
      sum: p.sum,
      mean: p.mean,
      min: p.min,
      max: p.max,
      std: p.std,
      elements: p.elements,
      entropy: p.entropy,
      entropyNorm: p.elements > 1 ? f(100 * f(p.entropy / f(Math.log2(p.elements)))) : 0,
      zdScore: p.zdScore,
      cossim: p.cossim,
      l2Dist: p.l2Dist,
      ecs: ecsOf(p.l2Dist, p.cossim),
      topShare: p.topShare,
    };
  });
  // per-layer sums (show_statistics) and compute_layer_statistics (double accumulators)
  const ls = new Map<number, { sum: number; zd: number; n: number }>();
  for (const t of tensors) {
    const zd = f(t.elements * t.zdScore);
    const cur = ls.get(t.layer);
    if (cur) {
      cur.sum = f(cur.sum + t.sum);
      cur.zd = f(cur.zd + zd);
      cur.n += t.elements;
    } else ls.set(t.layer, { sum: t.sum, zd, n: t.elements });
  }
  const agr = new Map<number, { curr: number[]; prev: number[] }>();
  for (const t of tensors) {
    const pl = previousLayerName(t.name);
    if (!pl) continue;
    const prev = byName.get(pl.prev);
    if (!prev) continue;
    const curr = tensorAverages(im.entries.get(t.name)!);
    const pa = tensorAverages(prev.e);
    if (curr.length === 0 || curr.length !== pa.length) continue;
    const a = agr.get(pl.blk) ?? { curr: [], prev: [] };
    for (let i = 0; i < curr.length; i++) {
      a.curr.push(curr[i]!);
      a.prev.push(pa[i]!);
    }
    agr.set(pl.blk, a);
  }
  const layerCs = new Map<number, { cs: number; l2: number }>();
  for (const [blk, a] of agr) {
    let dot = 0;
    let n1 = 0;
    let n2 = 0;
    let l2 = 0;
    for (let i = 0; i < a.curr.length; i++) {
      const c = a.curr[i]!;
      const p = a.prev[i]!;
      dot += c * p;
      n1 += c * c;
      n2 += p * p;
      l2 += (c - p) * (c - p);
    }
    let cs = 0;
    if (n1 > 0 && n2 > 0) cs = Math.max(-1, Math.min(1, f(dot / (Math.sqrt(n1) * Math.sqrt(n2)))));
    else if (n1 === 0 && n2 === 0) cs = 1;
    layerCs.set(blk, { cs, l2: f(Math.sqrt(l2)) });
  }
  const layers: LayerStatistics[] = [...ls.entries()]
    .filter(([layer, s]) => layer >= 0 && s.n > 0)
    .sort((a, b) => a[0] - b[0])
    .map(([layer, s]) => {
      const c = layerCs.get(layer);
      const cossim = c?.cs ?? 0;
      const l2Dist = c?.l2 ?? 0;
      return { layer, sum: s.sum, zdScore: s.zd / s.n, cossim, l2Dist, ecs: ecsOf(l2Dist, cossim), elements: s.n };
    });
  return { legacy, tensors, layers };
}

function pad(s: string, w: number, left = false): string {
  // width in code points, like printf on UTF-8 would count bytes; we align for humans instead
  const n = [...s].length;
  if (n >= w) return s;
  return left ? s + " ".repeat(w - n) : " ".repeat(w - n) + s;
}

function fx(x: number, d: number): string {
  return Number.isFinite(x) ? x.toFixed(d) : String(x);
}

/**
 * The two tables `show_statistics` prints (tab-separated columns, same headers, same number formats), optionally with
 * an extra "Top1%" column (share of Σ E[x²] in the largest 1 % of columns).
 */
export function formatImatrixStatistics(stats: ImatrixStatistics, options: { title?: string | undefined; topShare?: boolean | undefined } = {}): string {
  const L = stats.legacy;
  const out: string[] = [];
  out.push(`Computing tensor statistics${options.title ? ` for ${options.title}` : ""} (${stats.tensors.length} tensors)`, "");
  const head = [pad("Layer", 6), pad("Tensor", 18), pad(L ? "Σ E[Act²]" : "L₂ Dist", 13), pad("Min", 8), pad("Max", 8), pad("μ", 7), pad("σ", 15), pad("N", 13), pad("H Norm", 11), pad(L ? "H" : "ECS", 8), pad("ZD", 5), pad("CosSim", 10)];
  if (options.topShare) head.push(pad("Top1%", 8));
  out.push(head.join("\t"));
  out.push("=".repeat(171));
  for (const t of stats.tensors) {
    const row = [
      pad(t.layer < 0 ? "-" : String(t.layer), 5),
      pad(t.tensor, 20, true),
      pad(fx(L ? t.sum : t.l2Dist, 4), 11),
      pad(fx(t.min, 4), 10),
      pad(fx(t.max, 4), 10),
      pad(fx(t.mean, 4), 8),
      pad(fx(t.std, 4), 8),
      pad(String(t.elements), 7),
      pad(`${fx(t.entropyNorm, 2)}%`, 11),
      pad(fx(L ? t.entropy : t.ecs, 4), 10),
      pad(`${fx(100 * t.zdScore, 2)}%`, 7),
      pad(fx(t.cossim, 4), 10),
    ];
    if (options.topShare) row.push(pad(`${fx(100 * t.topShare, 2)}%`, 8));
    out.push(row.join("\t"));
  }
  out.push("", `Computing layer statistics (${stats.layers.length} layers)`, "");
  out.push([pad("Layer", 6), pad(L ? "Σ E[Act²]" : "L₂ Dist", 13), pad("ZD", 6), pad("CosSim", 11), pad(L ? "" : "ECS", 6)].join("\t"));
  out.push("=".repeat(L ? 44 : 57));
  for (const l of stats.layers) {
    const row = [pad(String(l.layer), 5), pad(fx(L ? l.sum : l.l2Dist, 4), 11), pad(`${fx(100 * l.zdScore, 2)}%`, 7), pad(fx(l.cossim, 4), 11)];
    if (!L) row.push(pad(fx(l.ecs, 4), 8));
    out.push(row.join("\t"));
  }
  return out.join("\n") + "\n";
}
