/**
 * KL-divergence mode of llama-perplexity (`--kl-divergence-base FILE --kl-divergence`): the model's logits are
 * compared position by position with the base model's packed log-probs.
 *
 * Same statistics, same formulas, same float/double mix as `kl_divergence()` and its `log_softmax(..., const
 * uint16_t * base_log_prob, int tok, kl_divergence_result & kld)` in examples/perplexity/perplexity.cpp
 * (llama.cpp c392e50). Every C `float` operation is a `Math.fround`, `expf` is `fround(exp)`.
 */
import { EvalErrorCode, evalError } from "./errors.js";
import { decodeLogProbRow, type KldBaseSource } from "./kld-base.js";
import type { Cancellable, LogitsModel, TextTokenizer } from "./model.js";
import { bosPolicy, evaluateChunk } from "./perplexity.js";

/** A value with llama.cpp's uncertainty. */
export interface ValueWithError {
  readonly value: number;
  readonly error: number;
}

/** Every figure of the llama.cpp KLD summary. Probabilities are fractions (multiply by 100 for percent). */
export interface KldSummary {
  /** Scored positions. */
  readonly count: number;
  readonly pplQ: ValueWithError;
  readonly pplBase: ValueWithError;
  /** Cor(ln PPL(Q), ln PPL(base)), a fraction. */
  readonly corLnPpl: number;
  /** Mean ln(PPL(Q)/PPL(base)). */
  readonly lnPplRatio: ValueWithError;
  readonly pplRatio: ValueWithError;
  readonly pplDiff: ValueWithError;
  readonly kld: {
    readonly mean: number;
    readonly error: number;
    readonly max: number;
    readonly p999: number;
    readonly p99: number;
    readonly p95: number;
    readonly p90: number;
    readonly median: number;
    readonly p10: number;
    readonly p5: number;
    readonly p1: number;
    readonly p01: number;
    readonly min: number;
  };
  /** Δp = p_Q(correct token) - p_base(correct token). */
  readonly deltaP: {
    readonly mean: number;
    readonly error: number;
    readonly max: number;
    readonly p999: number;
    readonly p99: number;
    readonly p95: number;
    readonly p90: number;
    readonly p75: number;
    readonly median: number;
    readonly p25: number;
    readonly p10: number;
    readonly p5: number;
    readonly p1: number;
    readonly p01: number;
    readonly min: number;
  };
  readonly rmsDeltaP: ValueWithError;
  /** Fraction of positions where the argmax token agrees. */
  readonly sameTopP: ValueWithError;
}

/** `mean_and_uncertainty` (perplexity.cpp `kl_divergence`). */
export function meanAndUncertainty(sum: number, sum2: number, count: number): [number, number] {
  if (count < 1) return [0, 0];
  const f = sum / count;
  let df = sum2 / count - f * f;
  df = df > 0 && count > 10 ? Math.sqrt(df / (count - 1)) : 0;
  return [f, df];
}

/** `covariance` (perplexity.cpp `kl_divergence`). */
export function covariance(suma: number, sumb: number, sumab: number, count: number): number {
  if (count < 10) return 0;
  let v = sumab / count - (suma / count) * (sumb / count);
  v /= count - 1;
  return v;
}

/** The `percentile` lambda of `kl_divergence` on a sorted float array (float arithmetic, linear interpolation). */
export function percentileF32(sorted: Float32Array, fraction: number): number {
  const fr = Math.fround(fraction);
  if (fr <= 0) return sorted[0];
  if (fr >= 1) return sorted[sorted.length - 1];
  let p = Math.fround(fr * Math.fround(sorted.length - 1));
  const ip = Math.trunc(p);
  p = Math.fround(p - ip);
  const hi = sorted[Math.min(ip + 1, sorted.length - 1)];
  return Math.fround(Math.fround(Math.fround(1 - p) * sorted[ip]) + Math.fround(p * hi));
}

function medianF32(sorted: Float32Array): number {
  const n = sorted.length;
  return n % 2 === 0 ? Math.fround(0.5 * Math.fround(sorted[n / 2] + sorted[n / 2 - 1])) : sorted[(n - 1) / 2];
}

/**
 * The running sums of `kl_divergence_result` plus the per-position KLD and Δp values (for percentiles).
 * Feed it rows with {@link addPackedRow} (base file rows) or {@link addRow} (base log-probs as floats).
 */
export class KldAccumulator {
  sumNll = 0;
  sumNll2 = 0;
  sumNllBase = 0;
  sumNllBase2 = 0;
  sumNllNllBase = 0;
  sumKld = 0;
  sumKld2 = 0;
  sumPDiff = 0;
  sumPDiff2 = 0;
  sumPDiff4 = 0;
  maxPDiff = 0;
  nSameTop = 0;
  count = 0;
  private kldValues: Float32Array;
  private pDiffValues: Float32Array;
  private scratch = new Float32Array(0);

  constructor(capacity = 1024) {
    this.kldValues = new Float32Array(Math.max(1, capacity));
    this.pDiffValues = new Float32Array(Math.max(1, capacity));
  }

  private grow(): void {
    const k = new Float32Array(this.kldValues.length * 2);
    k.set(this.kldValues);
    this.kldValues = k;
    const p = new Float32Array(this.pDiffValues.length * 2);
    p.set(this.pDiffValues);
    this.pDiffValues = p;
  }

  /** One position: the model's float logits row and a packed base row (`rowStride` uint16 at `packedOffset`). */
  addPackedRow(logits: Float32Array, logitsOffset: number, nVocab: number, packed: Uint16Array, packedOffset: number, token: number): void {
    if (this.scratch.length < nVocab) this.scratch = new Float32Array(nVocab);
    decodeLogProbRow(packed, packedOffset, nVocab, this.scratch);
    this.addRow(logits, logitsOffset, nVocab, this.scratch, 0, token);
  }

  /**
   * One position, with the base model's log-probs given as float32 values.
   * @see log_softmax(int n_vocab, const float * logits, const uint16_t * base_log_prob, int tok, kl_divergence_result & kld) (perplexity.cpp)
   */
  addRow(logits: Float32Array, logitsOffset: number, nVocab: number, baseLogProbs: Float32Array, baseOffset: number, token: number): void {
    let maxLogit = logits[logitsOffset];
    let imax = 0;
    for (let i = 1; i < nVocab; i++) {
      if (logits[logitsOffset + i] > maxLogit) {
        maxLogit = logits[logitsOffset + i];
        imax = i;
      }
    }
    let sumExp = 0;
    for (let i = 0; i < nVocab; i++) sumExp += Math.fround(Math.exp(Math.fround(logits[logitsOffset + i] - maxLogit)));
    const logSumExp = Math.fround(Math.log(sumExp));

    const nll = Math.fround(Math.fround(maxLogit + logSumExp) - logits[logitsOffset + token]);
    this.sumNll += nll;
    this.sumNll2 += Math.fround(nll * nll);

    const nllBase = -baseLogProbs[baseOffset + token];
    this.sumNllBase += nllBase;
    this.sumNllBase2 += Math.fround(nllBase * nllBase);
    this.sumNllNllBase += Math.fround(nll * nllBase);

    const maxPlusLse = Math.fround(maxLogit + logSumExp);
    let sum = 0; // double
    let imaxBase = -1;
    let pLogBaseMax = 0;
    for (let i = 0; i < nVocab; i++) {
      const pLogBase = baseLogProbs[baseOffset + i];
      if (i === 0 || pLogBase > pLogBaseMax) {
        pLogBaseMax = pLogBase;
        imaxBase = i;
      }
      if (pLogBase > -16) {
        const pBase = Math.fround(Math.exp(pLogBase));
        sum += Math.fround(pBase * Math.fround(Math.fround(pLogBase - logits[logitsOffset + i]) + maxPlusLse));
      }
    }
    this.sumKld += sum;
    this.sumKld2 += sum * sum;
    if (this.count === this.kldValues.length) this.grow();
    const k = this.count;
    this.count++;
    if (imax === imaxBase) this.nSameTop++;

    const pBase = Math.fround(Math.exp(-nllBase));
    const p = Math.fround(Math.exp(-nll));
    const pDiff = Math.fround(p - pBase);
    this.sumPDiff += pDiff;
    const pDiff2 = Math.fround(pDiff * pDiff);
    this.sumPDiff2 += pDiff2;
    this.sumPDiff4 += pDiff2 * pDiff2;
    this.maxPDiff = Math.max(this.maxPDiff, Math.abs(pDiff));
    this.kldValues[k] = sum;
    this.pDiffValues[k] = pDiff;
  }

  /** The per-position KLD values so far (a copy, unsorted). */
  kldPerPosition(): Float32Array {
    return this.kldValues.slice(0, this.count);
  }

  /** The per-position Δp values so far (a copy, unsorted). */
  deltaPPerPosition(): Float32Array {
    return this.pDiffValues.slice(0, this.count);
  }

  /** The running figures llama-perplexity prints after each chunk. */
  running(): { pplQ: ValueWithError; lnPplRatio: ValueWithError; kld: ValueWithError; rmsDeltaP: ValueWithError; sameTopP: ValueWithError } {
    const logPpl = meanAndUncertainty(this.sumNll, this.sumNll2, this.count);
    const pplVal = Math.exp(logPpl[0]);
    const logPplBase = meanAndUncertainty(this.sumNllBase, this.sumNllBase2, this.count);
    const cov = covariance(this.sumNll, this.sumNllBase, this.sumNllNllBase, this.count);
    const ratioVal = logPpl[0] - logPplBase[0];
    const ratioUnc = Math.sqrt(logPpl[1] * logPpl[1] + logPplBase[1] * logPplBase[1] - 2.0 * cov);
    const kl = meanAndUncertainty(this.sumKld, this.sumKld2, this.count);
    const mse = meanAndUncertainty(this.sumPDiff2, this.sumPDiff4, this.count);
    const rms = Math.sqrt(mse[0]);
    const top = (1 * this.nSameTop) / this.count;
    return {
      pplQ: { value: pplVal, error: pplVal * logPpl[1] },
      lnPplRatio: { value: ratioVal, error: ratioUnc },
      kld: { value: kl[0], error: kl[1] },
      rmsDeltaP: { value: rms, error: (0.5 / rms) * mse[1] },
      sameTopP: { value: top, error: Math.sqrt((top * (1 - top)) / (this.count - 1)) },
    };
  }

  /** The final statistics block (llama.cpp prints it only when count >= 100). */
  summary(): KldSummary {
    const n = this.count;
    if (n < 1) throw evalError(EvalErrorCode.EVAL_BAD_OPTION, "no positions were scored");
    const kldSorted = this.kldValues.slice(0, n).sort();
    const pSorted = this.pDiffValues.slice(0, n).sort();

    const logPpl = meanAndUncertainty(this.sumNll, this.sumNll2, n);
    const pplVal = Math.exp(logPpl[0]);
    const pplUnc = pplVal * logPpl[1];
    const logPplBase = meanAndUncertainty(this.sumNllBase, this.sumNllBase2, n);
    const pplBaseVal = Math.exp(logPplBase[0]);
    const pplBaseUnc = pplBaseVal * logPplBase[1];
    const logPplCov = covariance(this.sumNll, this.sumNllBase, this.sumNllNllBase, n);
    const logPplCor = logPplCov / (logPpl[1] * logPplBase[1]);
    const ratioVal = logPpl[0] - logPplBase[0];
    const ratioUnc = Math.sqrt(logPpl[1] * logPpl[1] + logPplBase[1] * logPplBase[1] - 2.0 * logPplCov);
    const pplRatioVal = Math.exp(ratioVal);
    const pplCov = pplVal * pplBaseVal * logPplCov;
    const kl = meanAndUncertainty(this.sumKld, this.sumKld2, n);
    const pd = meanAndUncertainty(this.sumPDiff, this.sumPDiff2, n);
    const mse = meanAndUncertainty(this.sumPDiff2, this.sumPDiff4, n);
    const rms = Math.sqrt(mse[0]);
    const top = (1.0 * this.nSameTop) / n;
    const pc = (s: Float32Array, f: number) => percentileF32(s, f);
    return {
      count: n,
      pplQ: { value: pplVal, error: pplUnc },
      pplBase: { value: pplBaseVal, error: pplBaseUnc },
      corLnPpl: logPplCor,
      lnPplRatio: { value: ratioVal, error: ratioUnc },
      pplRatio: { value: pplRatioVal, error: pplRatioVal * ratioUnc },
      pplDiff: { value: pplVal - pplBaseVal, error: Math.sqrt(pplUnc * pplUnc + pplBaseUnc * pplBaseUnc - 2.0 * pplCov) },
      kld: {
        mean: kl[0],
        error: kl[1],
        max: kldSorted[n - 1],
        p999: pc(kldSorted, 0.999),
        p99: pc(kldSorted, 0.99),
        p95: pc(kldSorted, 0.95),
        p90: pc(kldSorted, 0.9),
        median: medianF32(kldSorted),
        p10: pc(kldSorted, 0.1),
        p5: pc(kldSorted, 0.05),
        p1: pc(kldSorted, 0.01),
        p01: pc(kldSorted, 0.001),
        min: kldSorted[0],
      },
      deltaP: {
        mean: pd[0],
        error: pd[1],
        max: pSorted[n - 1],
        p999: pc(pSorted, 0.999),
        p99: pc(pSorted, 0.99),
        p95: pc(pSorted, 0.95),
        p90: pc(pSorted, 0.9),
        p75: pc(pSorted, 0.75),
        median: medianF32(pSorted),
        p25: pc(pSorted, 0.25),
        p10: pc(pSorted, 0.1),
        p5: pc(pSorted, 0.05),
        p1: pc(pSorted, 0.01),
        p01: pc(pSorted, 0.001),
        min: pSorted[0],
      },
      rmsDeltaP: { value: rms, error: (0.5 / rms) * mse[1] },
      sameTopP: { value: top, error: Math.sqrt((top * (1.0 - top)) / (n - 1)) },
    };
  }
}

/** Progress after each chunk of {@link klDivergence}. */
export interface KldProgress {
  readonly chunk: number;
  readonly nChunk: number;
  /** The line llama-perplexity prints for this chunk (without the header line). */
  readonly line: string;
  readonly running: ReturnType<KldAccumulator["running"]>;
}

export interface KlDivergenceOptions extends Cancellable {
  /** Score only the first N chunks of the base file (llama.cpp always scores all of them). */
  readonly chunks?: number | undefined;
  /** Replace the first token of each chunk by BOS; default from `tokenizer` (as llama.cpp: when the vocab adds BOS). */
  readonly addBos?: boolean | undefined;
  readonly bos?: number | undefined;
  /** Where BOS settings come from when not given (runtime's `Model.tokenizer`). */
  readonly tokenizer?: TextTokenizer | undefined;
  readonly onChunk?: ((p: KldProgress) => void) | undefined;
}

export interface KlDivergenceResult {
  readonly nChunk: number;
  readonly nCtx: number;
  readonly summary: KldSummary;
  readonly accumulator: KldAccumulator;
}

/**
 * Evaluate a model against a base file (`--kl-divergence`): a parsed one ({@link parseKldBase}) or a streamed one
 * ({@link openKldBase}). The tokens come from the base file; the model must have the same vocabulary size.
 */
export async function klDivergence(model: LogitsModel & { readonly tokenizer?: TextTokenizer }, base: KldBaseSource, opts: KlDivergenceOptions = {}): Promise<KlDivergenceResult> {
  if (model.nVocab !== base.nVocab) {
    throw evalError(EvalErrorCode.KLD_MISMATCH, `inconsistent vocabulary (${base.nVocab} in the base file vs ${model.nVocab} in the model)`, { file: base.file });
  }
  const { addBos, bos } = bosPolicy(opts.tokenizer ?? model.tokenizer, opts);
  const nChunk = opts.chunks === undefined || opts.chunks < 0 ? base.nChunk : Math.min(opts.chunks, base.nChunk);
  const nCtx = base.nCtx;
  const nVocab = base.nVocab;
  const first = base.first;
  const acc = new KldAccumulator(nChunk * base.rowsPerChunk);
  for (let i = 0; i < nChunk; i++) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new DOMException("aborted", "AbortError");
    const start = i * nCtx;
    const logits = await evaluateChunk(model, base.tokens.subarray(start, start + nCtx), addBos, bos);
    const rows = await base.chunkRows(i);
    for (let j = 0; j < base.rowsPerChunk; j++) {
      acc.addPackedRow(logits, (first + j) * nVocab, nVocab, rows, j * base.rowStride, base.tokens[start + first + j + 1]);
    }
    if (opts.onChunk) {
      const r = acc.running();
      opts.onChunk({ chunk: i + 1, nChunk, line: formatKldChunkLine(i + 1, r), running: r });
    }
  }
  return { nChunk, nCtx, summary: acc.summary(), accumulator: acc };
}

// ---------------------------------------------------------------------------------------------- formatting (printf)

/**
 * `toFixed` rounds exact ties away from zero, glibc's printf to even: for a value that is exactly halfway at
 * this precision (its exact decimal expansion ends in 5 right after the last kept digit), keep the even neighbour.
 */
function fixedHalfEven(a: number, prec: number): string {
  const s = a.toFixed(prec);
  const extra = 25;
  if (prec + extra > 100) return s;
  const ext = a.toFixed(prec + extra);
  if (!/^50*$/.test(ext.slice(ext.length - extra))) return s;
  let trunc = ext.slice(0, ext.length - extra);
  if (prec === 0) trunc = trunc.slice(0, -1); // drop the "."
  const last = trunc.charCodeAt(trunc.length - 1) - 48;
  return last % 2 === 0 ? trunc : s;
}

/** C printf `%W.Pf` for a double: fixed notation, right-aligned to width W (C prints the sign of -0). */
export function cFixed(v: number, prec: number, width = 0): string {
  let s: string;
  if (Number.isNaN(v)) s = "nan";
  else if (!Number.isFinite(v)) s = v > 0 ? "inf" : "-inf";
  else {
    s = fixedHalfEven(Math.abs(v), prec);
    if (v < 0 || Object.is(v, -0)) s = "-" + s;
  }
  return s.padStart(width);
}

/** The header line printed before the per-chunk lines. */
export const KLD_CHUNK_HEADER = "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS            Same top p";

/** One per-chunk line of `kl_divergence` (`%4d    %9.4lf ± %9.4lf    %10.5lf ± %10.5lf ...`). */
export function formatKldChunkLine(chunk: number, r: ReturnType<KldAccumulator["running"]>): string {
  return (
    String(chunk).padStart(4) +
    `    ${cFixed(r.pplQ.value, 4, 9)} ± ${cFixed(r.pplQ.error, 4, 9)}` +
    `    ${cFixed(r.lnPplRatio.value, 5, 10)} ± ${cFixed(r.lnPplRatio.error, 5, 10)}` +
    `    ${cFixed(r.kld.value, 5, 10)} ± ${cFixed(r.kld.error, 5, 10)}` +
    `    ${cFixed(100 * r.rmsDeltaP.value, 3, 6)} ± ${cFixed(100 * r.rmsDeltaP.error, 3, 6)} %` +
    `    ${cFixed(100 * r.sameTopP.value, 3, 6)} ± ${cFixed(100 * r.sameTopP.error, 3, 6)} %`
  );
}

export interface FormatKldOptions {
  /**
   * `"c392e50"` (default): exactly the block of llama.cpp c392e50 (the golden files), whose KLD section prints
   * the 99.0% line twice and has no 95/90/0.1% lines. `"current"`: the later layout (PR #16321) with
   * 99.9/99/95/90/median/10/5/1/0.1%.
   */
  readonly style?: "c392e50" | "current";
}

/** The three statistics blocks llama-perplexity prints at the end of a KLD run. */
export function formatKldSummary(s: KldSummary, opts: FormatKldOptions = {}): string {
  const style = opts.style ?? "c392e50";
  const L: string[] = [];
  const f6 = (v: number) => cFixed(v, 6, 10);
  L.push("====== Perplexity statistics ======");
  L.push(`Mean PPL(Q)                   : ${f6(s.pplQ.value)} ± ${f6(s.pplQ.error)}`);
  L.push(`Mean PPL(base)                : ${f6(s.pplBase.value)} ± ${f6(s.pplBase.error)}`);
  L.push(`Cor(ln(PPL(Q)), ln(PPL(base))): ${cFixed(100.0 * s.corLnPpl, 2, 6)}%`);
  L.push(`Mean ln(PPL(Q)/PPL(base))     : ${f6(s.lnPplRatio.value)} ± ${f6(s.lnPplRatio.error)}`);
  L.push(`Mean PPL(Q)/PPL(base)         : ${f6(s.pplRatio.value)} ± ${f6(s.pplRatio.error)}`);
  L.push(`Mean PPL(Q)-PPL(base)         : ${f6(s.pplDiff.value)} ± ${f6(s.pplDiff.error)}`);
  L.push("");
  L.push("====== KL divergence statistics ======");
  L.push(`Mean    KLD: ${f6(s.kld.mean)} ± ${f6(s.kld.error)}`);
  L.push(`Maximum KLD: ${f6(s.kld.max)}`);
  L.push(`99.9%   KLD: ${f6(s.kld.p999)}`);
  L.push(`99.0%   KLD: ${f6(s.kld.p99)}`);
  if (style === "c392e50") {
    L.push(`99.0%   KLD: ${f6(s.kld.p99)}`);
  } else {
    L.push(`95.0%   KLD: ${f6(s.kld.p95)}`);
    L.push(`90.0%   KLD: ${f6(s.kld.p90)}`);
  }
  L.push(`Median  KLD: ${f6(s.kld.median)}`);
  L.push(`10.0%   KLD: ${f6(s.kld.p10)}`);
  L.push(` 5.0%   KLD: ${f6(s.kld.p5)}`);
  L.push(` 1.0%   KLD: ${f6(s.kld.p1)}`);
  if (style !== "c392e50") L.push(` 0.1%   KLD: ${f6(s.kld.p01)}`);
  L.push(`Minimum KLD: ${f6(s.kld.min)}`);
  L.push("");
  L.push("====== Token probability statistics ======");
  const pc = (v: number) => cFixed(100.0 * v, 3, 6);
  const d = s.deltaP;
  L.push(`Mean    Δp: ${pc(d.mean)} ± ${cFixed(100.0 * d.error, 3, 5)} %`);
  L.push(`Maximum Δp: ${pc(d.max)}%`);
  L.push(`99.9%   Δp: ${pc(d.p999)}%`);
  L.push(`99.0%   Δp: ${pc(d.p99)}%`);
  L.push(`95.0%   Δp: ${pc(d.p95)}%`);
  L.push(`90.0%   Δp: ${pc(d.p90)}%`);
  L.push(`75.0%   Δp: ${pc(d.p75)}%`);
  L.push(`Median  Δp: ${pc(d.median)}%`);
  L.push(`25.0%   Δp: ${pc(d.p25)}%`);
  L.push(`10.0%   Δp: ${pc(d.p10)}%`);
  L.push(` 5.0%   Δp: ${pc(d.p5)}%`);
  L.push(` 1.0%   Δp: ${pc(d.p1)}%`);
  L.push(` 0.1%   Δp: ${pc(d.p01)}%`);
  L.push(`Minimum Δp: ${pc(d.min)}%`);
  L.push(`RMS Δp    : ${pc(s.rmsDeltaP.value)} ± ${cFixed(100.0 * s.rmsDeltaP.error, 3, 5)} %`);
  L.push(`Same top p: ${pc(s.sameTopP.value)} ± ${cFixed(100.0 * s.sameTopP.error, 3, 5)} %`);
  return L.join("\n") + "\n";
}

/** Parse one `### name` block of a llama.cpp KLD summary text (as in the golden kld_summaries.txt) into numbers. */
export function parseKldSummaryText(text: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const line of text.split("\n")) {
    const m = /^([^:]+?)\s*:\s*(.*)$/.exec(line);
    if (!m) continue;
    const nums = m[2].match(/-?\d+(?:\.\d+)?/g);
    if (!nums) continue;
    let key = m[1].replace(/\s+/g, " ").trim();
    while (key in out) key += "'";
    out[key] = nums.map(Number);
  }
  return out;
}
