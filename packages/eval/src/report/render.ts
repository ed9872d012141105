/**
 * report.md and the self-contained report.html of a quantization study, with the charts as inline SVG (also
 * written as separate .svg files by the sweep).
 */
import { paretoFrontier, renderScatterSvg, type ChartPoint, type ScatterChart } from "./svg.js";
import type { SweepReport, SweepRow } from "./types.js";

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const num = (v: number | undefined, digits: number): string => (v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits));
const mib = (b: number | undefined): string => (b === undefined ? "–" : (b / 1048576).toFixed(2));

/** The rows that have quality figures. */
function measured(r: SweepReport): SweepRow[] {
  return r.rows.filter((x) => x.status === "ok" && x.bpw !== undefined);
}

interface Point extends ChartPoint {
  readonly row: SweepRow;
}

function pointsOf(rows: readonly SweepRow[], y: (r: SweepRow) => number | undefined): Point[] {
  const out: Point[] = [];
  for (const row of rows) {
    const v = y(row);
    if (row.bpw !== undefined && v !== undefined && Number.isFinite(v)) out.push({ x: row.bpw, y: v, label: row.label, row });
  }
  return out;
}

/** Splits rows into series: without imatrix, with imatrix, budget targets. */
function seriesOf(points: readonly Point[]): { name: string; points: Point[] }[] {
  const groups: { name: string; test: (r: SweepRow) => boolean }[] = [
    { name: "preset", test: (r) => !r.imatrix && r.targetBpw === undefined },
    { name: "preset + imatrix", test: (r) => r.imatrix && r.targetBpw === undefined },
    { name: "--target-bpw", test: (r) => r.targetBpw !== undefined },
  ];
  return groups.map((g) => ({ name: g.name, points: points.filter((p) => g.test(p.row)) })).filter((s) => s.points.length > 0);
}

export interface ReportChart {
  /** File stem for the .svg (`kld-vs-bpw`). */
  readonly id: string;
  readonly chart: ScatterChart;
  /** Labels of the frontier points. */
  readonly frontier: readonly string[];
}

/** The charts of a report: KLD vs bpw (log), PPL vs bpw, and accuracy vs bpw for each multiple-choice task. */
export function reportCharts(r: SweepReport): ReportChart[] {
  const rows = measured(r);
  const charts: ReportChart[] = [];
  const kld = pointsOf(rows, (x) => x.meanKld);
  if (kld.length > 0) {
    const front = paretoFrontier(kld.filter((p) => p.y > 0));
    charts.push({
      id: "kld-vs-bpw",
      frontier: front.map((p) => p.label!),
      chart: { title: "Mean KL divergence vs bits per weight", xLabel: "bits per weight", yLabel: "mean KLD vs base", logY: true, series: seriesOf(kld), frontier: front },
    });
  }
  const ppl = pointsOf(rows, (x) => x.ppl);
  if (ppl.length > 0) {
    const front = paretoFrontier(ppl);
    charts.push({
      id: "ppl-vs-bpw",
      frontier: front.map((p) => p.label!),
      chart: {
        title: "Perplexity vs bits per weight",
        xLabel: "bits per weight",
        yLabel: "perplexity",
        series: seriesOf(ppl),
        frontier: front,
        ...(r.baseline.ppl !== undefined ? { reference: { y: r.baseline.ppl, label: `${r.baseline.label} ${r.baseline.ppl.toFixed(3)}` } } : {}),
      },
    });
  }
  const tasks = [...new Set(rows.flatMap((x) => (x.mc ?? []).map((m) => m.task)))];
  for (const task of tasks) {
    const acc = pointsOf(rows, (x) => x.mc?.find((m) => m.task === task)?.accuracy);
    // For accuracy higher is better: the frontier of (x, −y).
    const front = paretoFrontier(acc.map((p) => ({ ...p, y: -p.y }))).map((p) => ({ ...p, y: -p.y }));
    const base = r.baseline.mc?.find((m) => m.task === task);
    charts.push({
      id: `${task}-accuracy-vs-bpw`,
      frontier: front.map((p) => p.label!),
      chart: {
        title: `${task} accuracy vs bits per weight`,
        xLabel: "bits per weight",
        yLabel: "accuracy %",
        series: seriesOf(acc),
        frontier: front,
        ...(base ? { reference: { y: base.accuracy, label: `${r.baseline.label} ${base.accuracy.toFixed(1)} %` } } : {}),
      },
    });
  }
  return charts;
}

function mcHeader(r: SweepReport): string[] {
  return [...new Set([r.baseline, ...r.rows].flatMap((x) => (x.mc ?? []).map((m) => m.task)))];
}

/** The rows of the main table, baseline first, then by bpw descending. */
function tableRows(r: SweepReport): SweepRow[] {
  const ok = [...r.rows].sort((a, b) => (b.bpw ?? -1) - (a.bpw ?? -1));
  return [r.baseline, ...ok];
}

/** report.md: the summary table, the recommendation, failures, and the prompts' answers. */
export function renderReportMarkdown(r: SweepReport): string {
  const tasks = mcHeader(r);
  const head = ["label", "size MiB", "bpw", "PPL", "ΔPPL %", "mean KLD", "same top %", "RMS Δp %", ...tasks.map((t) => `${t} %`), "pp t/s"];
  if (r.settings.vram !== undefined) head.push("fits");
  const lines: string[] = [];
  lines.push(`# Quantization study: ${r.model.file}`);
  lines.push("");
  lines.push(
    `${r.model.arch}, ${r.model.nLayer} layers, ${r.model.nWeights.toLocaleString("en-US")} weights. Perplexity on ${r.settings.text ?? "(none)"} with ctx ${r.settings.ctx}` +
      `${r.settings.chunks !== undefined ? `, ${r.settings.chunks} chunks` : ""}; KLD against the ${r.baseline.label} logits; backend ${r.settings.backend}, ${r.settings.threads} threads.`,
  );
  lines.push("");
  lines.push(`| ${head.join(" | ")} |`);
  lines.push(`|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`);
  for (const x of tableRows(r)) {
    if (x.status !== "ok") continue;
    const cells = [
      x.label,
      mib(x.fileBytes),
      num(x.bpw, 2),
      x.ppl !== undefined ? `${x.ppl.toFixed(4)} ± ${num(x.pplErr, 4)}` : "–",
      num(x.dPplPct, 2),
      x.meanKld !== undefined ? x.meanKld.toFixed(6) : "–",
      num(x.sameTopP, 2),
      num(x.rmsDp, 2),
      ...tasks.map((t) => {
        const m = x.mc?.find((y) => y.task === t);
        return m ? `${m.accuracy.toFixed(1)} ± ${m.stderr.toFixed(1)}` : "–";
      }),
      num(x.ppTokensPerSecond, 0),
    ];
    if (r.settings.vram !== undefined) cells.push(x.fits === undefined ? "–" : x.fits ? "yes" : "no");
    lines.push(`| ${cells.join(" | ")} |`);
  }
  const bad = r.rows.filter((x) => x.status !== "ok");
  if (bad.length > 0) {
    lines.push("");
    lines.push("Not evaluated:");
    for (const x of bad) lines.push(`- ${x.label}: ${x.status}${x.error ? ` — ${x.error}` : ""}`);
  }
  if (r.recommendation) {
    lines.push("");
    lines.push(`**Recommendation: ${r.recommendation.label}** — ${r.recommendation.reason}`);
  }
  const charts = reportCharts(r);
  if (charts.length > 0) {
    lines.push("");
    for (const c of charts) lines.push(`![${c.chart.title}](${c.id}.svg) — Pareto frontier: ${c.frontier.join(", ") || "–"}`);
  }
  if (r.prompts && r.prompts.length > 0) {
    lines.push("");
    lines.push("## Answers");
    r.prompts.forEach((p, i) => {
      lines.push("");
      lines.push(`### ${p.replace(/\n/g, " ")}`);
      lines.push("");
      for (const x of tableRows(r)) {
        const a = x.answers?.[i];
        if (a !== undefined) lines.push(`- **${x.label}**: ${a.replace(/\s+/g, " ").trim()}`);
      }
    });
  }
  return lines.join("\n") + "\n";
}

/** report.html: self-contained (inline CSS and SVG, no scripts, no external resources). */
export function renderReportHtml(r: SweepReport): string {
  const md = renderReportMarkdown(r);
  const charts = reportCharts(r);
  const tasks = mcHeader(r);
  const o: string[] = [];
  o.push("<!doctype html>");
  o.push(`<html lang="en"><head><meta charset="utf-8"><title>${esc(`Quantization study: ${r.model.file}`)}</title>`);
  o.push(
    "<style>body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}table{border-collapse:collapse;font-size:13px}" +
      "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}" +
      "tr.frontier td:first-child{font-weight:600}tr.recommended{background:#eef7ee}.charts{display:flex;flex-wrap:wrap;gap:12px}" +
      "figure{margin:0}figcaption{font-size:12px;color:#555}.answers li{margin:.3em 0}</style>",
  );
  o.push("</head><body>");
  o.push(`<h1>Quantization study: ${esc(r.model.file)}</h1>`);
  const intro = md.split("\n")[2] ?? "";
  o.push(`<p>${esc(intro)}</p>`);
  if (r.recommendation) o.push(`<p class="recommendation"><strong>Recommendation: ${esc(r.recommendation.label)}</strong> — ${esc(r.recommendation.reason)}</p>`);
  const onFrontier = new Set(charts.find((c) => c.id === "kld-vs-bpw")?.frontier ?? []);
  o.push("<table><thead><tr>");
  const head = ["label", "size MiB", "bpw", "PPL", "±", "ΔPPL %", "mean KLD", "same top %", "RMS Δp %", ...tasks.map((t) => `${t} %`), "pp t/s"];
  if (r.settings.vram !== undefined) head.push("fits");
  for (const h of head) o.push(`<th>${esc(h)}</th>`);
  o.push("</tr></thead><tbody>");
  for (const x of tableRows(r)) {
    if (x.status !== "ok") continue;
    const cls = [onFrontier.has(x.label) ? "frontier" : "", r.recommendation?.label === x.label ? "recommended" : ""].filter(Boolean).join(" ");
    const cells = [
      x.label,
      mib(x.fileBytes),
      num(x.bpw, 2),
      num(x.ppl, 4),
      num(x.pplErr, 4),
      num(x.dPplPct, 2),
      x.meanKld !== undefined ? x.meanKld.toFixed(6) : "–",
      num(x.sameTopP, 2),
      num(x.rmsDp, 2),
      ...tasks.map((t) => num(x.mc?.find((y) => y.task === t)?.accuracy, 1)),
      num(x.ppTokensPerSecond, 0),
    ];
    if (r.settings.vram !== undefined) cells.push(x.fits === undefined ? "–" : x.fits ? "yes" : "no");
    o.push(`<tr${cls ? ` class="${cls}"` : ""}>${cells.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`);
  }
  o.push("</tbody></table>");
  const bad = r.rows.filter((x) => x.status !== "ok");
  if (bad.length > 0) {
    o.push("<p>Not evaluated:</p><ul>");
    for (const x of bad) o.push(`<li>${esc(x.label)}: ${esc(x.status)}${x.error ? ` — ${esc(x.error)}` : ""}</li>`);
    o.push("</ul>");
  }
  o.push('<div class="charts">');
  for (const c of charts) {
    o.push(`<figure id="${esc(c.id)}">${renderScatterSvg(c.chart)}<figcaption>Pareto frontier (dashed): ${esc(c.frontier.join(", ") || "–")}</figcaption></figure>`);
  }
  o.push("</div>");
  if (r.prompts && r.prompts.length > 0) {
    o.push("<h2>Answers</h2>");
    r.prompts.forEach((p, i) => {
      o.push(`<h3>${esc(p)}</h3><ul class="answers">`);
      for (const x of tableRows(r)) {
        const a = x.answers?.[i];
        if (a !== undefined) o.push(`<li><strong>${esc(x.label)}</strong>: ${esc(a.trim())}</li>`);
      }
      o.push("</ul>");
    });
  }
  o.push("</body></html>");
  return o.join("\n") + "\n";
}
