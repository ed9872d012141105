/**
 * The quantization study behind `quantlab sweep`: quantize one model to many presets (and budget targets), evaluate
 * each, and write report.json / report.md / report.html with SVG charts.
 *
 * How evaluation is done is a parameter ({@link SweepEvaluator}): the default one (createDefaultEvaluator) runs the
 * model with @quantlab/runtime and measures perplexity, KL divergence against the baseline's logits, multiple-choice
 * accuracy and the answers to prompts; a test or another harness can plug its own.
 *
 * Resumable: every finished row is saved in `<outDir>/sweep-state.json` at once; a new run with the same settings
 * reuses a row whose quantized file is still there with the recorded size, so an interrupted study goes on where it
 * stopped. A failed preset is recorded (status "failed" / "refused") and the others go on; failed rows are retried on
 * the next run.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { openGguf, QuantlabError } from "@quantlab/gguf";
import { builtinRecipeRegistry, loadImatrixFile, planBudget, quantizeModel, type QuantizeModelOptions } from "@quantlab/quant-core";
import { renderReportHtml, renderReportMarkdown, reportCharts } from "../report/render.js";
import { renderScatterSvg } from "../report/svg.js";
import type { MultipleChoiceFigure, SweepModelInfo, SweepReport, SweepRow } from "../report/types.js";

/** What an evaluator measures for one file. Everything optional: a row shows what was measured. */
export interface RowFigures {
  readonly ppl?: number | undefined;
  readonly pplErr?: number | undefined;
  readonly meanKld?: number | undefined;
  readonly meanKldErr?: number | undefined;
  readonly sameTopP?: number | undefined;
  readonly rmsDp?: number | undefined;
  readonly mc?: readonly MultipleChoiceFigure[] | undefined;
  readonly ppTokensPerSecond?: number | undefined;
  readonly answers?: readonly string[] | undefined;
  readonly memoryBytes?: number | undefined;
  readonly fits?: boolean | undefined;
}

export interface SweepEvaluator {
  /** Settings that change the figures (text, ctx, chunks, tasks...): part of the resume key. */
  readonly settingsKey: string;
  /** Evaluates the source model; also prepares what the quants are compared with (e.g. writes the KLD base logits). */
  baseline(file: string): Promise<RowFigures>;
  /** Evaluates one quantized file against the baseline. */
  evaluate(file: string, label: string): Promise<RowFigures>;
}

export type SweepEvent =
  | { readonly kind: "imatrix"; readonly file: string; readonly reused: boolean }
  | { readonly kind: "start"; readonly label: string; readonly index: number; readonly total: number }
  | { readonly kind: "quantized"; readonly label: string; readonly bytes: number; readonly seconds: number }
  | { readonly kind: "row"; readonly row: SweepRow; readonly reused: boolean }
  | { readonly kind: "report"; readonly files: readonly string[] };

export interface SweepOptions {
  /** The source model (F32/F16/BF16 GGUF). */
  readonly model: string;
  readonly outDir: string;
  /** Preset names (`Q4_K_M`, ...; case-insensitive). */
  readonly presets: readonly string[];
  /** Budget rows (`quantlab quantize --target-bpw`), each with the given bits per weight. */
  readonly targetBpw?: readonly number[] | undefined;
  /** An imatrix file to use, or `auto` to compute one once with {@link SweepOptions.collectImatrix}. */
  readonly imatrix?: string | undefined;
  /** Computes the imatrix for `auto` into the given path. */
  readonly collectImatrix?: ((outPath: string) => Promise<void>) | undefined;
  /**
   * With an imatrix: also evaluate each preset without it, where llama-quantize allows that, to show what the
   * imatrix buys (default true).
   */
  readonly compareWithoutImatrix?: boolean | undefined;
  readonly evaluator: SweepEvaluator;
  /**
   * Memory needed by a file at the wanted context and whether it fits (eval's `fitModels`). Applied to every row at
   * report time, saved rows included, so changing `--vram`/`--ctx` needs no re-evaluation. The recommendation is
   * then the most faithful row that fits.
   */
  readonly memory?: ((file: string) => Promise<{ readonly memoryBytes: number; readonly fits: boolean }>) | undefined;
  readonly threads?: number | undefined;
  /** Settings echoed in report.json. */
  readonly reportSettings: SweepReport["settings"];
  readonly prompts?: readonly string[] | undefined;
  /** Ignore saved rows. */
  readonly fresh?: boolean | undefined;
  readonly onEvent?: ((e: SweepEvent) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Quantize with these extra pipeline options (e.g. a registry for plugin recipes). */
  readonly quantizeOptions?: Partial<QuantizeModelOptions> | undefined;
  /** Model facts for the report header (from the GGUF). */
  readonly modelInfo: SweepModelInfo;
}

export interface SweepResult {
  readonly report: SweepReport;
  /** report.json, report.md, report.html and the .svg charts. */
  readonly files: readonly string[];
}

interface Job {
  readonly label: string;
  readonly preset: string;
  readonly imatrix: boolean;
  readonly targetBpw?: number | undefined;
}

interface SavedState {
  readonly key: string;
  readonly rows: Record<string, SweepRow>;
  readonly baseline?: SweepRow | undefined;
}

/** Writes a file atomically (temp + rename), so an interrupted sweep never leaves a torn state or report. */
function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function errorText(e: unknown): string {
  if (QuantlabError.isInstance(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

/** The presets that llama-quantize refuses without an importance matrix (its up-front check in quantize.cpp). */
const NEEDS_IMATRIX = new Set(["IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "Q2_K_S"]);

/** Plans the rows of a sweep: every preset with the imatrix (if any) and, optionally, without. */
export function planSweepJobs(presets: readonly string[], hasImatrix: boolean, compareWithout: boolean, targets: readonly number[] = []): Job[] {
  const reg = builtinRecipeRegistry();
  const jobs: Job[] = [];
  for (const p of presets) {
    const r = reg.find(p);
    if (!r) throw new QuantlabError("SWEEP_BAD_PRESET", `unknown preset '${p}' (see 'quantlab types')`);
    const name = r.name;
    if (!hasImatrix || compareWithout) {
      if (!NEEDS_IMATRIX.has(name) || !hasImatrix) jobs.push({ label: name, preset: name, imatrix: false });
    }
    if (hasImatrix) jobs.push({ label: `${name}-imatrix`, preset: name, imatrix: true });
  }
  for (const t of targets) {
    if (!(t > 0)) throw new QuantlabError("SWEEP_BAD_TARGET", `bad --target-bpw ${t}`);
    jobs.push({ label: `target-${t}bpw${hasImatrix ? "-imatrix" : ""}`, preset: "Q4_K_M", imatrix: hasImatrix, targetBpw: t });
  }
  const seen = new Set<string>();
  return jobs.filter((j) => (seen.has(j.label) ? false : (seen.add(j.label), true)));
}

/** Picks the row to recommend: the lowest mean KLD (then PPL) among rows that fit; if none are marked, among all. */
export function recommend(rows: readonly SweepRow[], vramGiven: boolean): SweepReport["recommendation"] {
  const ok = rows.filter((r) => r.status === "ok" && (r.meanKld !== undefined || r.ppl !== undefined));
  const pool = vramGiven ? ok.filter((r) => r.fits === true) : ok;
  if (pool.length === 0) {
    return vramGiven && ok.length > 0 ? { label: "none", reason: "no quantization fits the memory and context given" } : undefined;
  }
  const score = (r: SweepRow): number => r.meanKld ?? (r.ppl ?? Infinity);
  if (vramGiven) {
    const best = [...pool].sort((a, b) => score(a) - score(b))[0]!;
    return {
      label: best.label,
      reason: `the most faithful quantization that fits (${best.meanKld !== undefined ? `mean KLD ${best.meanKld.toFixed(5)}` : `PPL ${best.ppl?.toFixed(3)}`}, ${((best.fileBytes ?? 0) / 1048576).toFixed(2)} MiB)`,
    };
  }
  // Without a memory limit: the smallest row within 1 % of the best PPL (or KLD ≤ 0.01), the usual "knee".
  const withKld = pool.filter((r) => r.meanKld !== undefined);
  const good = withKld.length > 0 ? withKld.filter((r) => r.meanKld! <= 0.01) : pool;
  const chosen = (good.length > 0 ? good : pool).sort((a, b) => (a.fileBytes ?? Infinity) - (b.fileBytes ?? Infinity))[0]!;
  return {
    label: chosen.label,
    reason:
      good.length > 0 && withKld.length > 0
        ? `the smallest file with mean KLD ≤ 0.01 (${chosen.meanKld!.toFixed(5)}, ${((chosen.fileBytes ?? 0) / 1048576).toFixed(2)} MiB); give --vram and --ctx to choose by memory`
        : `the smallest file (${((chosen.fileBytes ?? 0) / 1048576).toFixed(2)} MiB)`,
  };
}

/** Runs the study. */
export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  mkdirSync(o.outDir, { recursive: true });
  const quantDir = join(o.outDir, "models");
  mkdirSync(quantDir, { recursive: true });
  const statePath = join(o.outDir, "sweep-state.json");
  let imatrixPath: string | undefined;
  if (o.imatrix === "auto") {
    imatrixPath = join(o.outDir, "imatrix.gguf");
    const reused = existsSync(imatrixPath) && !o.fresh;
    if (!reused) {
      if (!o.collectImatrix) throw new QuantlabError("SWEEP_BAD_OPTIONS", "--imatrix auto needs calibration text (--calib)");
      await o.collectImatrix(imatrixPath);
    }
    o.onEvent?.({ kind: "imatrix", file: imatrixPath, reused });
  } else if (o.imatrix !== undefined) {
    imatrixPath = o.imatrix;
  }
  const key = JSON.stringify({ model: o.model, eval: o.evaluator.settingsKey, imatrix: imatrixPath ? statSync(imatrixPath).size : null });
  let saved: SavedState = { key, rows: {} };
  if (!o.fresh && existsSync(statePath)) {
    try {
      const s = JSON.parse(readFileSync(statePath, "utf8")) as SavedState;
      if (s.key === key) saved = s;
    } catch {
      // A corrupt state file is ignored: everything is recomputed.
    }
  }
  const save = (): void => writeAtomic(statePath, JSON.stringify(saved, null, 1));

  let baseline = saved.baseline;
  const baseReused = baseline !== undefined;
  if (!baseline) {
    const t0 = performance.now();
    const figures = await o.evaluator.baseline(o.model);
    baseline = {
      label: "F32",
      preset: "F32",
      imatrix: false,
      status: "ok",
      file: o.model,
      fileBytes: statSync(o.model).size,
      bpw: (8 * statSync(o.model).size) / Math.max(1, o.modelInfo.nWeights),
      ...figures,
      meanKld: undefined,
      seconds: (performance.now() - t0) / 1000,
    };
    saved = { ...saved, baseline };
    save();
  }
  o.onEvent?.({ kind: "row", row: baseline, reused: baseReused });

  const jobs = planSweepJobs(o.presets, imatrixPath !== undefined, o.compareWithoutImatrix !== false, o.targetBpw ?? []);
  const rows: SweepRow[] = [];
  for (let i = 0; i < jobs.length; i++) {
    if (o.signal?.aborted) throw new QuantlabError("SWEEP_ABORTED", "sweep interrupted; run it again to resume");
    const job = jobs[i]!;
    o.onEvent?.({ kind: "start", label: job.label, index: i, total: jobs.length });
    const out = join(quantDir, `${basename(o.model).replace(/\.gguf$/i, "").replace(/-f32$|-f16$|-bf16$/i, "")}-${job.label}.gguf`);
    const prev = saved.rows[job.label];
    if (prev && prev.status === "ok" && prev.file && existsSync(prev.file) && statSync(prev.file).size === prev.fileBytes) {
      rows.push(prev);
      o.onEvent?.({ kind: "row", row: prev, reused: true });
      continue;
    }
    const t0 = performance.now();
    let row: SweepRow;
    try {
      let overrides: QuantizeModelOptions["tensorTypeOverrides"] = undefined;
      if (job.targetBpw !== undefined) {
        const f = await openGguf(o.model);
        try {
          const plan = await planBudget(f, {
            targetBpw: job.targetBpw,
            imatrix: job.imatrix && imatrixPath ? await loadImatrixFile(imatrixPath) : undefined,
            threads: o.threads,
          });
          overrides = plan.overrides;
        } finally {
          await f.close();
        }
      }
      const q = await quantizeModel(o.model, out, {
        type: job.preset,
        imatrix: job.imatrix ? imatrixPath : undefined,
        // Recorded in quantize.imatrix.file: the base name, as when llama-quantize runs beside the file.
        ...(job.imatrix && imatrixPath ? { imatrixFile: basename(imatrixPath) } : {}),
        threads: o.threads,
        signal: o.signal,
        ...(overrides ? { tensorTypeOverrides: overrides } : {}),
        ...o.quantizeOptions,
      });
      o.onEvent?.({ kind: "quantized", label: job.label, bytes: q.fileBytes, seconds: q.seconds });
      const figures = await o.evaluator.evaluate(out, job.label);
      row = {
        label: job.label,
        preset: job.preset,
        imatrix: job.imatrix,
        targetBpw: job.targetBpw,
        status: "ok",
        file: out,
        fileBytes: q.fileBytes,
        bpw: q.bpw,
        ...figures,
        dPplPct: figures.ppl !== undefined && baseline.ppl !== undefined ? (figures.ppl / baseline.ppl - 1) * 100 : undefined,
        seconds: (performance.now() - t0) / 1000,
      };
    } catch (e) {
      if (o.signal?.aborted) throw e;
      const refused = QuantlabError.isInstance(e) && /REFUS|IMATRIX_REQUIRED|IMPORTANCE_REQUIRED|UNSUPPORTED_SHAPE/.test(e.code);
      row = { label: job.label, preset: job.preset, imatrix: job.imatrix, targetBpw: job.targetBpw, status: refused ? "refused" : "failed", error: errorText(e) };
    }
    rows.push(row);
    saved = { ...saved, rows: { ...saved.rows, [job.label]: row } };
    save();
    o.onEvent?.({ kind: "row", row, reused: false });
  }

  if (o.memory) {
    const withMemory = async (r: SweepRow): Promise<SweepRow> => (r.status === "ok" && r.file ? { ...r, ...(await o.memory!(r.file)) } : r);
    baseline = await withMemory(baseline);
    for (let i = 0; i < rows.length; i++) rows[i] = await withMemory(rows[i]!);
  }
  const report: SweepReport = {
    version: 1,
    createdAt: new Date().toISOString(),
    model: o.modelInfo,
    settings: o.reportSettings,
    baseline,
    rows,
    prompts: o.prompts,
    recommendation: recommend(rows, o.reportSettings.vram !== undefined),
  };
  const files: string[] = [];
  const put = (name: string, text: string): void => {
    const p = join(o.outDir, name);
    writeAtomic(p, text);
    files.push(p);
  };
  put("report.json", JSON.stringify(report, null, 2) + "\n");
  put("report.md", renderReportMarkdown(report));
  put("report.html", renderReportHtml(report));
  for (const c of reportCharts(report)) put(`${c.id}.svg`, renderScatterSvg(c.chart));
  o.onEvent?.({ kind: "report", files });
  return { report, files };
}
